//! Typed identifiers over ULIDs: sortable by creation time, 26 characters of Crockford base32,
//! and impossible to mix up (a `MediaId` is not a `TenantId`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// A string that is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id {value:?}: expected a 26-character ULID")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Ulid);

        impl $name {
            /// A new id for a record created now.
            pub fn generate() -> Self {
                Self(Ulid::new())
            }

            /// The id whose creation time is `ms` (Unix milliseconds) with the given randomness;
            /// used where ids must be deterministic.
            pub fn from_parts(ms: u64, random: u128) -> Self {
                Self(Ulid::from_parts(ms, random))
            }

            pub fn as_ulid(&self) -> Ulid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                // Only the canonical upper-case form is accepted, so one id has one spelling in keys.
                if s.len() != 26 || s.bytes().any(|b| b.is_ascii_lowercase()) {
                    return Err(InvalidId { kind: $kind, value: s.to_owned() });
                }
                Ulid::from_string(s)
                    .map(Self)
                    .map_err(|_| InvalidId { kind: $kind, value: s.to_owned() })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

ulid_id!(
    /// A tenant: the unit of isolation. Every key starts with it.
    TenantId,
    "tenant"
);
ulid_id!(
    /// An uploaded video.
    MediaId,
    "media"
);
ulid_id!(
    /// A person using the platform.
    UserId,
    "user"
);
ulid_id!(
    /// An API key (the public half; the secret is never stored).
    ApiKeyId,
    "api key"
);
ulid_id!(
    /// A login session: one refresh-token family.
    SessionId,
    "session"
);
ulid_id!(
    /// A token-signing key (the JWT `kid`).
    SigningKeyId,
    "signing key"
);
ulid_id!(
    /// An invitation to join a tenant.
    InviteId,
    "invite"
);
ulid_id!(
    /// A person whose plays a tenant records (an app's end user, a household member): the
    /// subject of recommendations. Not an account: profiles never sign in.
    ProfileId,
    "profile"
);
ulid_id!(
    /// An analytics event.
    EventId,
    "event"
);
ulid_id!(
    /// An artist in a tenant's library.
    ArtistId,
    "artist"
);
ulid_id!(
    /// A report job: one rendering of one report, asked for or scheduled.
    ReportId,
    "report"
);
ulid_id!(
    /// A tenant's standing order for a report on a cron cadence.
    ScheduleId,
    "report schedule"
);
ulid_id!(
    /// A tenant's threshold rule on its analytics.
    AlertRuleId,
    "alert rule"
);
ulid_id!(
    /// One breach of an alert rule in one window.
    AlertId,
    "alert"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings_and_json() {
        let id = MediaId::generate();
        assert_eq!(id.to_string().parse::<MediaId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<MediaId>(&json).unwrap(), id);
    }

    #[test]
    fn ids_refuse_anything_but_a_canonical_ulid() {
        for bad in [
            "",
            "default",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            "01arz3ndektsv4rrffq69g5fav",
            "../../etc/passwd",
        ] {
            assert!(bad.parse::<TenantId>().is_err(), "{bad:?} accepted");
        }
        assert!("01ARZ3NDEKTSV4RRFFQ69G5FAV".parse::<TenantId>().is_ok());
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = MediaId::from_parts(1_000, u128::MAX);
        let b = MediaId::from_parts(2_000, 0);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }
}
