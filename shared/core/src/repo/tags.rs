use crate::ids::{MediaId, TenantId};
use crate::keys::table as keys;
use crate::ports::{Condition, Item, Query, Table};
use crate::tag::{Decision, Tag, TagName, TagSource, TagStatus};

use super::{
    RepoError, Versioned, decode, encode, put_over, query_all, query_versioned, versioned,
};

/// What became of a decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Decided {
    Done(Versioned<Tag>),
    /// The tag changed since the decider saw it, or another decision landed at the same time:
    /// nothing was written; here is the tag as it is now.
    Conflict(Versioned<Tag>),
    NoSuchTag,
}

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
        if existing.status.is_decided() {
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

    /// One tag of a media and its stored version (what a reviewer decides against).
    pub async fn get(
        &self,
        tenant: TenantId,
        media: MediaId,
        name: &TagName,
    ) -> Result<Option<Versioned<Tag>>, RepoError> {
        self.table
            .get(
                &keys::media_items_pk(tenant, media),
                &keys::tag_sk(name.as_str()),
            )
            .await?
            .map(versioned)
            .transpose()
    }

    /// Records a person's decision on a tag: its status becomes accepted or rejected and the
    /// decision is appended to the tag's decisions. `expected` is the version the person saw,
    /// if they say: a tag changed since (by another reviewer, or a new proposal) is a
    /// conflict and nothing is written. Two concurrent decisions never both win.
    pub async fn decide(
        &self,
        tenant: TenantId,
        media: MediaId,
        name: &TagName,
        decision: Decision,
        expected: Option<u64>,
    ) -> Result<Decided, RepoError> {
        let Some(current) = self.get(tenant, media, name).await? else {
            return Ok(Decided::NoSuchTag);
        };
        if expected.is_some_and(|v| v != current.version) {
            return Ok(Decided::Conflict(current));
        }
        let mut tag = current.record.clone();
        tag.status = if decision.accepted {
            TagStatus::Accepted
        } else {
            TagStatus::Rejected
        };
        tag.decisions.push(decision);
        self.replace(tenant, media, tag, current).await
    }

    /// A tag a person adds by hand: accepted, certain, attributed to them. Adding one that
    /// exists accepts it (a decision by the same person), keeping its source and evidence.
    pub async fn add_by_hand(
        &self,
        tenant: TenantId,
        media: MediaId,
        name: &TagName,
        decision: Decision,
    ) -> Result<Decided, RepoError> {
        let tag = Tag {
            name: name.clone(),
            confidence: 1.0,
            source: TagSource::Person {
                actor: decision.by.clone(),
            },
            status: TagStatus::Accepted,
            evidence: serde_json::Value::Null,
            decisions: vec![decision.clone()],
        };
        let item = Item::new(
            keys::media_items_pk(tenant, media),
            keys::tag_sk(name.as_str()),
            encode(&tag),
        );
        let version = item.version;
        if put_over(self.table, item, None).await? {
            return Ok(Decided::Done(Versioned {
                version,
                record: tag,
            }));
        }
        self.decide(tenant, media, name, decision, None).await
    }

    /// Writes `tag` over `current` if nobody changed it since.
    async fn replace(
        &self,
        tenant: TenantId,
        media: MediaId,
        tag: Tag,
        current: Versioned<Tag>,
    ) -> Result<Decided, RepoError> {
        let item = Item::new(
            keys::media_items_pk(tenant, media),
            keys::tag_sk(tag.name.as_str()),
            encode(&tag),
        );
        if put_over(self.table, item, Some(current.version)).await? {
            return Ok(Decided::Done(Versioned {
                version: current.version + 1,
                record: tag,
            }));
        }
        match self.get(tenant, media, &tag.name).await? {
            Some(now) => Ok(Decided::Conflict(now)),
            None => Ok(Decided::NoSuchTag),
        }
    }

    /// Every tag of a media with its stored version.
    pub async fn list_versioned(
        &self,
        tenant: TenantId,
        media: MediaId,
    ) -> Result<Vec<Versioned<Tag>>, RepoError> {
        let query =
            Query::partition(keys::media_items_pk(tenant, media)).prefix(keys::tag_prefix());
        query_versioned(self.table, query).await
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
