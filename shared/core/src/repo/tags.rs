use crate::ids::{MediaId, TenantId};
use crate::keys::table as keys;
use crate::ports::{Condition, Item, Query, Table};
use crate::tag::{Tag, TagStatus};

use super::{RepoError, decode, encode, query_all};

pub struct TagRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> TagRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Propose a tag. A tag a person already decided on is left as it is: people's decisions
    /// outrank machines, and a re-run step must not undo them.
    pub async fn propose(
        &self,
        tenant: TenantId,
        media: MediaId,
        tag: &Tag,
    ) -> Result<(), RepoError> {
        let pk = keys::media_items_pk(tenant, media);
        let sk = keys::tag_sk(tag.name.as_str());
        let item = Item::new(pk.clone(), sk.clone(), encode(tag));
        // The common case, a new tag, is one conditional write.
        match self.table.put(item.clone(), Condition::Absent).await {
            Err(e) if e.is_conflict() => {}
            other => return Ok(other?),
        }
        let Some(existing) = self.table.get(&pk, &sk).await? else {
            return Ok(self.table.put(item, Condition::Absent).await?);
        };
        let version = existing.version;
        let existing: Tag = decode(existing)?;
        if existing.status != TagStatus::Proposed {
            return Ok(());
        }
        // Replace the proposal only if no decision landed since it was read.
        let item = Item {
            version: version + 1,
            ..item
        };
        match self.table.put(item, Condition::VersionIs(version)).await {
            Err(e) if e.is_conflict() => Ok(()),
            other => Ok(other?),
        }
    }

    pub async fn list(&self, tenant: TenantId, media: MediaId) -> Result<Vec<Tag>, RepoError> {
        let query =
            Query::partition(keys::media_items_pk(tenant, media)).prefix(keys::tag_prefix());
        query_all(self.table, query).await
    }

    /// Every tag of each of `media`, in the same order (a few requests at a time).
    pub async fn list_each(
        &self,
        tenant: TenantId,
        media: &[MediaId],
    ) -> Result<Vec<Vec<Tag>>, RepoError> {
        let requests = media.iter().map(|&m| self.list(tenant, m)).collect();
        super::a_few_at_a_time(requests).await
    }
}
