//! Who may do what: the one policy table mapping roles to permissions. Handlers declare the
//! permission they need; nothing else decides.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A person's role in a tenant, from least to most powerful (the order is meaningful:
/// nobody may grant a role above their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Editor, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// What this role may do.
    pub fn permissions(self) -> Permissions {
        POLICY
            .iter()
            .find(|(role, _)| *role == self)
            .map(|(_, perms)| Permissions::from_iter(perms.iter().copied()))
            .unwrap_or_default()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "role",
                name: s.to_owned(),
            })
    }
}

/// One thing a handler may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Permission {
    MediaRead,
    MediaWrite,
    MediaDelete,
    TagsReview,
    /// Define the tag vocabulary and thresholds; promote or roll back tag models.
    TagsManage,
    ReportsRead,
    /// Create, list and revoke API keys.
    ApiKeysManage,
    /// Invite users, change roles, erase users.
    AdminUsers,
    /// Plan, retention and other tenant settings.
    AdminSettings,
    AuditRead,
    /// Record what people did (plays, likes…) and the profiles they did it as: what an app
    /// reports for its users, so every role has it.
    EventsWrite,
    /// Report schedules and alert rules: what runs on the tenant's behalf later.
    ReportsManage,
}

impl Permission {
    pub const ALL: [Permission; 12] = [
        Permission::MediaRead,
        Permission::MediaWrite,
        Permission::MediaDelete,
        Permission::TagsReview,
        Permission::TagsManage,
        Permission::ReportsRead,
        Permission::ApiKeysManage,
        Permission::AdminUsers,
        Permission::AdminSettings,
        Permission::AuditRead,
        Permission::EventsWrite,
        Permission::ReportsManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::MediaRead => "media:read",
            Permission::MediaWrite => "media:write",
            Permission::MediaDelete => "media:delete",
            Permission::TagsReview => "tags:review",
            Permission::TagsManage => "tags:manage",
            Permission::ReportsRead => "reports:read",
            Permission::ApiKeysManage => "api-keys:manage",
            Permission::AdminUsers => "admin:users",
            Permission::AdminSettings => "admin:settings",
            Permission::AuditRead => "audit:read",
            Permission::EventsWrite => "events:write",
            Permission::ReportsManage => "reports:manage",
        }
    }

    fn bit(self) -> u32 {
        1 << self as u8
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "permission",
                name: s.to_owned(),
            })
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
}

use Permission::*;

/// The policy: each role's permissions, spelled out in full (no inheritance to trace).
pub const POLICY: &[(Role, &[Permission])] = &[
    (Role::Viewer, &[MediaRead, ReportsRead, EventsWrite]),
    (
        Role::Editor,
        &[
            MediaRead,
            ReportsRead,
            EventsWrite,
            MediaWrite,
            TagsReview,
            ReportsManage,
        ],
    ),
    (
        Role::Admin,
        &[
            MediaRead,
            ReportsRead,
            EventsWrite,
            MediaWrite,
            TagsReview,
            ReportsManage,
            TagsManage,
            MediaDelete,
            ApiKeysManage,
            AdminUsers,
            AuditRead,
        ],
    ),
    (
        Role::Owner,
        &[
            MediaRead,
            ReportsRead,
            EventsWrite,
            MediaWrite,
            TagsReview,
            ReportsManage,
            TagsManage,
            MediaDelete,
            ApiKeysManage,
            AdminUsers,
            AuditRead,
            AdminSettings,
        ],
    ),
];

/// A set of permissions (a bit set: checked on every request).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u32);

impl Permissions {
    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }
    pub fn is_subset_of(self, other: Permissions) -> bool {
        self.0 & !other.0 == 0
    }
    pub fn intersection(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }
    /// Space-separated names, the OAuth `scope` form (also the authorizer's context value).
    pub fn to_scope_string(self) -> String {
        self.iter()
            .map(Permission::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
    pub fn parse_scope_string(s: &str) -> Result<Permissions, UnknownName> {
        s.split_ascii_whitespace()
            .map(str::parse::<Permission>)
            .collect()
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Permissions(iter.into_iter().fold(0, |bits, p| bits | p.bit()))
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Permission>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_a_policy_row_and_each_includes_the_one_below() {
        for pair in Role::ALL.windows(2) {
            let (lower, higher) = (pair[0].permissions(), pair[1].permissions());
            assert!(!lower.is_empty());
            assert!(lower.is_subset_of(higher), "{:?} ⊄ {:?}", pair[0], pair[1]);
            assert_ne!(
                lower, higher,
                "{:?} adds nothing over {:?}",
                pair[1], pair[0]
            );
        }
        assert_eq!(POLICY.len(), Role::ALL.len());
    }

    #[test]
    fn the_owner_may_do_everything_and_a_viewer_only_read_and_record_events() {
        assert_eq!(
            Role::Owner.permissions(),
            Permissions::from_iter(Permission::ALL)
        );
        for p in Role::Viewer.permissions().iter() {
            assert!(
                p.as_str().ends_with(":read") || p == EventsWrite,
                "viewer may {p}"
            );
        }
    }

    #[test]
    fn every_role_may_record_events_and_a_key_may_be_scoped_to_it() {
        for role in Role::ALL {
            assert!(role.permissions().contains(EventsWrite), "{role}");
        }
        let scope = Permissions::parse_scope_string("events:write").unwrap();
        assert_eq!(scope.iter().collect::<Vec<_>>(), [EventsWrite]);
        assert!(scope.is_subset_of(Role::Viewer.permissions()));
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        let all = Permissions::from_iter(Permission::ALL);
        assert_eq!(
            Permissions::parse_scope_string(&all.to_scope_string()).unwrap(),
            all
        );
        assert!(Permissions::parse_scope_string("media:read media:destroy").is_err());
        assert!("root".parse::<Role>().is_err());
        let json = serde_json::to_string(&Role::Editor.permissions()).unwrap();
        assert_eq!(
            serde_json::from_str::<Permissions>(&json).unwrap(),
            Role::Editor.permissions()
        );
    }
}
