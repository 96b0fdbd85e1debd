use crate::Timestamp;
use crate::external::{ExternalId, ExternalRef};
use crate::ids::{ProfileId, TenantId};
use crate::keys::ExternalKind;
use crate::keys::table as keys;
use crate::ports::table::MAX_PAGE_ITEMS;
use crate::ports::{Condition, Item, Query, Table};
use crate::profile::Profile;

use super::external::{ExternalIndex, Imported, NewRecord};
use super::{RepoError, decode, encode, query_all};

pub struct ProfileRepo<'a, T> {
    table: &'a T,
}

fn profile_item(profile: &Profile) -> Item {
    Item::new(
        keys::profiles_pk(profile.tenant),
        keys::profile_sk(profile.id),
        encode(profile),
    )
}

impl<'a, T: Table> ProfileRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    fn index(&self, tenant: TenantId) -> ExternalIndex<'a, T> {
        ExternalIndex {
            table: self.table,
            tenant,
            kind: ExternalKind::Profile,
        }
    }

    /// A new profile, or — when `external_id` is given and a profile of the tenant already has
    /// it — that one. `created` says which. Idempotent: creating the same external id again,
    /// or twice at once, yields one profile.
    pub async fn create(
        &self,
        tenant: TenantId,
        external_id: Option<ExternalId>,
        now: Timestamp,
    ) -> Result<(Profile, bool), RepoError> {
        let Some(external_id) = external_id else {
            let profile = new_profile(tenant, None, now);
            self.table
                .put(profile_item(&profile), Condition::Absent)
                .await?;
            return Ok((profile, true));
        };
        // The common repeat is one read.
        if let Some(id) = self.index(tenant).lookup(&external_id).await? {
            return Ok((self.require(tenant, id).await?, false));
        }
        let profile = new_profile(tenant, Some(&external_id), now);
        let what = format!("profile ext:{external_id}");
        let imported = self
            .index(tenant)
            .create_all(vec![record(profile.clone(), external_id)])
            .await?
            .pop()
            .ok_or(RepoError::NotFound(what))?;
        if imported.created {
            Ok((profile, true))
        } else {
            Ok((self.require(tenant, imported.id).await?, false))
        }
    }

    /// Profiles for many external ids at once (an import): for each, in order, its profile id
    /// and whether this call created it. Idempotent like [`ProfileRepo::create`].
    pub async fn import(
        &self,
        tenant: TenantId,
        external_ids: Vec<ExternalId>,
        now: Timestamp,
    ) -> Result<Vec<Imported<ProfileId>>, RepoError> {
        let records = external_ids
            .into_iter()
            .map(|ext| record(new_profile(tenant, Some(&ext), now), ext))
            .collect();
        self.index(tenant).create_all(records).await
    }

    pub async fn get(&self, tenant: TenantId, id: ProfileId) -> Result<Option<Profile>, RepoError> {
        self.table
            .get(&keys::profiles_pk(tenant), &keys::profile_sk(id))
            .await?
            .map(decode)
            .transpose()
    }

    /// The profile, or `NotFound`.
    pub async fn require(&self, tenant: TenantId, id: ProfileId) -> Result<Profile, RepoError> {
        self.get(tenant, id)
            .await?
            .ok_or_else(|| RepoError::NotFound(format!("profile {id}")))
    }

    /// The profile of the tenant a reference names, if there is one (an id of another
    /// tenant's profile names none).
    pub async fn resolve(
        &self,
        tenant: TenantId,
        reference: &ExternalRef<ProfileId>,
    ) -> Result<Option<ProfileId>, RepoError> {
        match reference {
            ExternalRef::Id(id) => Ok(self.get(tenant, *id).await?.map(|p| p.id)),
            ExternalRef::External(ext) => self.index(tenant).lookup(ext).await,
        }
    }

    /// Every profile of the tenant, oldest first.
    pub async fn list_all(&self, tenant: TenantId) -> Result<Vec<Profile>, RepoError> {
        query_all(
            self.table,
            Query::partition(keys::profiles_pk(tenant)).limit(MAX_PAGE_ITEMS),
        )
        .await
    }
}

fn new_profile(tenant: TenantId, external_id: Option<&ExternalId>, now: Timestamp) -> Profile {
    Profile {
        id: ProfileId::generate(),
        tenant,
        external_id: external_id.map(|e| e.as_str().to_owned()),
        created_at: now,
    }
}

fn record(profile: Profile, external_id: ExternalId) -> NewRecord<ProfileId> {
    NewRecord {
        external_id,
        id: profile.id,
        item: profile_item(&profile),
    }
}
