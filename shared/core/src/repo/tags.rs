use std::collections::BTreeMap;

use serde::Serialize;

use crate::ids::{MediaId, TenantId};
use crate::keys::table as keys;
use crate::ports::{Index, Item, Query, Table};
use crate::tag::{Decision, Tag, TagName, TagSource, TagStatus, review_priority};

use super::{
    RepoError, Versioned, decode, encode, put_over, query_all, query_all_with, query_versioned,
    versioned,
};

/// The index partition each status is found in (see [`keys::tag_index_pk`]).
fn place(status: TagStatus) -> &'static str {
    match status {
        TagStatus::Applied | TagStatus::Accepted => "visible",
        TagStatus::Review => "review",
        TagStatus::Hidden => "hidden",
        TagStatus::Rejected => "rejected",
    }
}

/// A tag's item, indexed where its status puts it. `impact` orders the review queue (see
/// [`crate::tag::review_impact`]); other statuses ignore it.
fn tag_item(tenant: TenantId, media: MediaId, tag: &Tag, impact: f64) -> Item {
    let name = tag.name.as_str();
    let sk = match tag.status {
        TagStatus::Review => {
            keys::review_index_sk(review_priority(tag.confidence, impact), media, name)
        }
        _ => keys::tag_index_sk(name, media),
    };
    Item::new(
        keys::media_items_pk(tenant, media),
        keys::tag_sk(name),
        encode(tag),
    )
    .with_index(keys::tag_index_pk(tenant, place(tag.status)), sk)
}

/// The media an item of a media's partition belongs to (`t/{tenant}/media/{media}`).
fn media_of(item: &Item) -> Option<MediaId> {
    item.pk.rsplit('/').next()?.parse().ok()
}

/// A tag found through the index, with the media it is on.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundTag {
    pub media: MediaId,
    pub tag: Versioned<Tag>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FoundPage {
    pub items: Vec<FoundTag>,
    pub next_cursor: Option<String>,
}

/// How many media carry a tag, by where it stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TagCounts {
    pub applied: u64,
    pub accepted: u64,
    pub review: u64,
    pub hidden: u64,
    pub rejected: u64,
}

impl TagCounts {
    fn add(&mut self, status: TagStatus) {
        match status {
            TagStatus::Applied => self.applied += 1,
            TagStatus::Accepted => self.accepted += 1,
            TagStatus::Review => self.review += 1,
            TagStatus::Hidden => self.hidden += 1,
            TagStatus::Rejected => self.rejected += 1,
        }
    }

    /// Media the tag is shown on.
    pub fn visible(&self) -> u64 {
        self.applied + self.accepted
    }
}

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

    /// Propose a tag (its status placed by the caller from the tenant's thresholds). A tag a
    /// person already decided on is left as it is: people's decisions outrank machines, and a
    /// re-run step must not undo them. A proposal equal to the stored one writes nothing, so
    /// re-scoring a catalogue only writes what changed. Whether anything was written.
    pub async fn propose(
        &self,
        tenant: TenantId,
        media: MediaId,
        tag: &Tag,
        impact: f64,
    ) -> Result<bool, RepoError> {
        let item = tag_item(tenant, media, tag, impact);
        // The common case, a new tag, is one conditional write.
        if put_over(self.table, item.clone(), None).await? {
            return Ok(true);
        }
        let Some(existing) = self.table.get(&item.pk, &item.sk).await? else {
            return put_over(self.table, item, None).await;
        };
        let same_place = existing.gsi1sk == item.gsi1sk && existing.gsi1pk == item.gsi1pk;
        let indexed = existing.gsi1pk.is_some();
        let read_at = existing.version;
        let stored: Tag = decode(existing)?;
        let same = same_place
            && stored.status == tag.status
            && (stored.confidence - tag.confidence).abs() < 1e-6
            && stored.source == tag.source
            && stored.evidence == tag.evidence;
        if stored.status.is_decided() {
            // A decision stored before tags were indexed: index it as it is, so it counts as
            // training data and in search (a decision landing meanwhile indexes itself).
            if !indexed {
                let item = tag_item(tenant, media, &stored, 0.0);
                put_over(self.table, item, Some(read_at)).await?;
            }
            return Ok(false);
        }
        if same {
            return Ok(false);
        }
        // Replace the proposal only if no decision landed since it was read.
        put_over(self.table, item, Some(read_at)).await
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

    /// A tag a person sets by hand, attributed to them: accepted (they say the media has it)
    /// or rejected (they say it has not: a negative example for the tag's model). Setting one
    /// that exists decides it, keeping its source and evidence.
    pub async fn add_by_hand(
        &self,
        tenant: TenantId,
        media: MediaId,
        name: &TagName,
        decision: Decision,
    ) -> Result<Decided, RepoError> {
        let tag = Tag {
            name: name.clone(),
            // A person's word: certain either way.
            confidence: if decision.accepted { 1.0 } else { 0.0 },
            source: TagSource::Person {
                actor: decision.by.clone(),
            },
            status: if decision.accepted {
                TagStatus::Accepted
            } else {
                TagStatus::Rejected
            },
            evidence: serde_json::Value::Null,
            decisions: vec![decision.clone()],
        };
        let item = tag_item(tenant, media, &tag, 0.0);
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
        let item = tag_item(tenant, media, &tag, 0.0);
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

    /// One page of the review queue, highest priority first (the priority stored when the
    /// tag was proposed). The index is eventually consistent on DynamoDB: an entry may show a
    /// tag as it was a moment ago, and deciding on it is then a 409 with the tag as it is now.
    pub async fn review_queue(
        &self,
        tenant: TenantId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<FoundPage, RepoError> {
        let query = Query::partition(keys::tag_index_pk(tenant, "review"))
            .on_index(Index::Gsi1)
            .limit(limit)
            .after(cursor);
        let mut page = self.found_page(query).await?;
        page.items
            .retain(|f| f.tag.record.status == TagStatus::Review);
        Ok(page)
    }

    /// Media whose visible tags are `name` or under it (`genre/rock` finds `genre/rock/punk`),
    /// in the order of tag name then media. A media with several matching tags appears once
    /// per tag: callers de-duplicate within a page.
    pub async fn with_tag(
        &self,
        tenant: TenantId,
        name: &TagName,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<FoundPage, RepoError> {
        let query = Query::partition(keys::tag_index_pk(tenant, "visible"))
            .on_index(Index::Gsi1)
            .prefix(keys::tag_index_branch_prefix(name.as_str()))
            .limit(limit)
            .after(cursor);
        let mut page = self.found_page(query).await?;
        page.items.retain(|f| f.tag.record.status.is_visible());
        Ok(page)
    }

    /// Counts of every tag name the tenant has, by status. Reads the whole index: a report,
    /// not a per-request path for very large catalogues.
    pub async fn counts(
        &self,
        tenant: TenantId,
    ) -> Result<BTreeMap<TagName, TagCounts>, RepoError> {
        let mut counts: BTreeMap<TagName, TagCounts> = BTreeMap::new();
        for place in ["visible", "review", "hidden", "rejected"] {
            for found in self.all_in(tenant, place, "").await? {
                let tag = found.tag.record;
                counts.entry(tag.name).or_default().add(tag.status);
            }
        }
        Ok(counts)
    }

    /// Every tag a person decided (accepted, added by hand, or rejected): the training data.
    pub async fn decided(&self, tenant: TenantId) -> Result<Vec<FoundTag>, RepoError> {
        let mut out = self.all_in(tenant, "rejected", "").await?;
        out.extend(
            self.all_in(tenant, "visible", "")
                .await?
                .into_iter()
                .filter(|f| f.tag.record.status == TagStatus::Accepted),
        );
        out.retain(|f| f.tag.record.status.is_decided());
        Ok(out)
    }

    /// Every machine proposal named exactly `name`, wherever its status put it: what a change
    /// of the tag's thresholds re-places.
    pub async fn proposals_named(
        &self,
        tenant: TenantId,
        name: &TagName,
    ) -> Result<Vec<FoundTag>, RepoError> {
        let exact = keys::tag_index_exact_prefix(name.as_str());
        let mut out = self.all_in(tenant, "visible", &exact).await?;
        out.extend(self.all_in(tenant, "hidden", &exact).await?);
        out.extend(
            self.all_in(tenant, "review", "")
                .await?
                .into_iter()
                .filter(|f| f.tag.record.name == *name),
        );
        out.retain(|f| !f.tag.record.status.is_decided() && f.tag.record.name == *name);
        Ok(out)
    }

    /// Re-places every machine proposal of `name` by new thresholds (after the vocabulary
    /// changed them). How many moved. A proposal decided meanwhile is left alone.
    pub async fn replace_by(
        &self,
        tenant: TenantId,
        name: &TagName,
        thresholds: crate::tag::Thresholds,
    ) -> Result<usize, RepoError> {
        let mut moved = 0;
        for found in self.proposals_named(tenant, name).await? {
            let status = thresholds.place(found.tag.record.confidence);
            if status == found.tag.record.status {
                continue;
            }
            let tag = Tag {
                status,
                ..found.tag.record
            };
            let item = tag_item(tenant, found.media, &tag, 1.0);
            if put_over(self.table, item, Some(found.tag.version)).await? {
                moved += 1;
            }
        }
        Ok(moved)
    }

    async fn all_in(
        &self,
        tenant: TenantId,
        place: &str,
        prefix: &str,
    ) -> Result<Vec<FoundTag>, RepoError> {
        let query = Query::partition(keys::tag_index_pk(tenant, place))
            .on_index(Index::Gsi1)
            .prefix(prefix);
        query_all_with(self.table, query, found).await
    }

    async fn found_page(&self, query: Query) -> Result<FoundPage, RepoError> {
        let page = self.table.query(query).await?;
        Ok(FoundPage {
            items: page
                .items
                .into_iter()
                .map(found)
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        })
    }
}

fn found(item: Item) -> Result<FoundTag, RepoError> {
    let Some(media) = media_of(&item) else {
        return Err(RepoError::Corrupt {
            source: serde::de::Error::custom("a tag's partition does not name a media"),
            pk: item.pk,
            sk: item.sk,
        });
    };
    Ok(FoundTag {
        media,
        tag: versioned(item)?,
    })
}
