use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use crate::Timestamp;
use crate::event::{BatchRejected, ClientEvent, EventError, Rejection, StoredEvent};
use crate::ids::{ProfileId, TenantId};
use crate::keys::table as keys;
use crate::ports::table::{MAX_PAGE_ITEMS, MAX_TRANSACT_ITEMS};
use crate::ports::{Condition, Index, Item, Query, Table, TableError, WriteOp};

use super::{MediaRepo, ProfileRepo, RepoError, a_few_at_a_time, decode, encode, query_all};

/// What appending a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendOutcome {
    /// Events stored now.
    pub stored: usize,
    /// Events already stored under their id (an earlier delivery of the same event).
    pub duplicates: usize,
}

/// Why a batch of client events was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Some events are invalid; nothing was stored.
    #[error(transparent)]
    Rejected(#[from] BatchRejected),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Client events, append-only, one per client event id and tenant, spread over
/// [`keys::EVENT_SHARDS`] partitions.
pub struct EventRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> EventRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Resolve every event's media and user within `tenant`. Any reference that names nothing
    /// there (another tenant's ids included: they are unknown here, never "forbidden") refuses
    /// the whole batch, with one error per such field.
    pub async fn resolve(
        &self,
        tenant: TenantId,
        events: Vec<ClientEvent>,
        actor: &str,
        received_at: Timestamp,
    ) -> Result<Vec<StoredEvent>, IntakeError> {
        let (media_repo, profile_repo) =
            (&MediaRepo::new(self.table), &ProfileRepo::new(self.table));
        let media = lookup_all(events.iter().map(|e| &e.media), |r| async move {
            let id = media_repo.resolve(tenant, &r).await?;
            Ok((r, id))
        })
        .await?;
        let profiles = lookup_all(events.iter().map(|e| &e.user), |r| async move {
            let id = profile_repo.resolve(tenant, &r).await?;
            Ok((r, id))
        })
        .await?;

        let mut errors = Vec::new();
        let mut stored = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            let mut unknown = |field: &str, reason, what: String| {
                errors.push(EventError {
                    index: Some(index),
                    id: Some(event.id.to_string()),
                    field: field.to_owned(),
                    reason,
                    message: format!("no {what} of this tenant"),
                });
            };
            let m = media.get(&event.media).copied().flatten();
            let p = profiles.get(&event.user).copied().flatten();
            if m.is_none() {
                unknown(
                    "media",
                    Rejection::UnknownMedia,
                    format!("media {}", event.media),
                );
            }
            if p.is_none() {
                unknown(
                    "user",
                    Rejection::UnknownUser,
                    format!("profile {}", event.user),
                );
            }
            if let (Some(m), Some(p)) = (m, p) {
                stored.push(event.into_stored(tenant, m, p, actor, received_at));
            }
        }
        if errors.is_empty() {
            Ok(stored)
        } else {
            Err(BatchRejected { errors }.into())
        }
    }

    /// Store the events, each unless an event with its id is stored already (then it counts
    /// as a duplicate). Written in transactions of up to 100 conditional puts; when some ids
    /// turn out to be stored already, those are dropped and the rest written again, so a
    /// redelivered batch costs one refused transaction per 100 events and stores nothing
    /// twice; an id repeated within `events` is stored once too. Every event must belong to
    /// `tenant`.
    pub async fn append(
        &self,
        tenant: TenantId,
        events: Vec<StoredEvent>,
    ) -> Result<AppendOutcome, RepoError> {
        if let Some(other) = events.iter().find(|e| e.tenant != tenant) {
            return Err(TableError::Invalid(format!(
                "event {} of tenant {} appended to tenant {tenant}",
                other.id, other.tenant
            ))
            .into());
        }
        // An id given twice is stored once (a transaction may not write one key twice).
        let mut seen = HashSet::with_capacity(events.len());
        let items: Vec<Item> = events
            .iter()
            .filter(|e| seen.insert(&e.id))
            .map(|e| {
                Item::new(
                    keys::event_pk(tenant, &e.id),
                    keys::event_sk(&e.id),
                    encode(e),
                )
                .with_index(
                    keys::profile_events_pk(tenant, e.profile),
                    keys::profile_event_sk(e.at.timestamp_millis(), &e.id),
                )
            })
            .collect();
        let chunks = items
            .chunks(MAX_TRANSACT_ITEMS)
            .map(|chunk| self.append_chunk(chunk))
            .collect();
        let outcomes = a_few_at_a_time(chunks).await?;
        Ok(AppendOutcome {
            stored: outcomes.iter().map(|o| o.stored).sum(),
            duplicates: outcomes.iter().map(|o| o.duplicates).sum::<usize>() + events.len()
                - items.len(),
        })
    }

    async fn append_chunk(&self, chunk: &[Item]) -> Result<AppendOutcome, RepoError> {
        let mut pending: Vec<&Item> = chunk.iter().collect();
        let mut duplicates = 0;
        while !pending.is_empty() {
            let ops = pending
                .iter()
                .map(|&item| WriteOp::Put {
                    item: item.clone(),
                    condition: Condition::Absent,
                })
                .collect();
            match self.table.transact_write(ops).await {
                Ok(()) => break,
                // Each round drops at least one event, so this ends.
                Err(TableError::TransactionCancelled { failed }) if !failed.is_empty() => {
                    duplicates += failed.len();
                    let failed: HashSet<usize> = failed.into_iter().collect();
                    pending = pending
                        .into_iter()
                        .enumerate()
                        .filter(|(i, _)| !failed.contains(i))
                        .map(|(_, item)| item)
                        .collect();
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(AppendOutcome {
            stored: pending.len(),
            duplicates,
        })
    }

    /// A profile's events at or after `since`, newest first, at most `limit` (through the
    /// secondary index: eventually consistent on DynamoDB, so a play may show a moment late).
    pub async fn recent_for_profile(
        &self,
        tenant: TenantId,
        profile: ProfileId,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, RepoError> {
        let mut query = Query::partition(keys::profile_events_pk(tenant, profile))
            .on_index(Index::Gsi1)
            .descending()
            .limit(limit.clamp(1, MAX_PAGE_ITEMS));
        let mut out = Vec::new();
        loop {
            let page = self.table.query(query.clone()).await?;
            for item in page.items {
                let event: StoredEvent = decode(item)?;
                if event.at < since || out.len() == limit {
                    return Ok(out);
                }
                out.push(event);
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => return Ok(out),
            }
        }
    }

    /// Every event of the tenant, shard by shard (what a recommender trains on). Within a
    /// shard events come in client-id order; sort by `at` where time order matters.
    pub async fn all(&self, tenant: TenantId) -> Result<Vec<StoredEvent>, RepoError> {
        let shards = (0..keys::EVENT_SHARDS)
            .map(|shard| {
                query_all(
                    self.table,
                    Query::partition(keys::events_pk(tenant, shard)).limit(MAX_PAGE_ITEMS),
                )
            })
            .collect();
        let shards: Vec<Vec<StoredEvent>> = a_few_at_a_time(shards).await?;
        Ok(shards.into_iter().flatten().collect())
    }
}

/// Each distinct reference looked up once, a few at a time.
async fn lookup_all<'r, R, I, F, Fut>(
    references: impl Iterator<Item = &'r R>,
    lookup: F,
) -> Result<HashMap<R, Option<I>>, RepoError>
where
    R: Clone + Eq + Hash + 'r,
    F: Fn(R) -> Fut,
    Fut: Future<Output = Result<(R, Option<I>), RepoError>>,
{
    let distinct: HashSet<R> = references.cloned().collect();
    let lookups = distinct.into_iter().map(lookup).collect();
    Ok(a_few_at_a_time(lookups).await?.into_iter().collect())
}
