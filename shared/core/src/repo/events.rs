use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use crate::Timestamp;
use crate::event::{BatchRejected, ClientEvent, ClientEventId, EventError, Rejection, StoredEvent};
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
    /// The events could not be passed on to analytics; nothing was stored.
    #[error("cannot pass the events on to analytics: {0}")]
    Forward(#[from] crate::ports::QueueError),
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
        let items = event_items(tenant, &events, &mut seen);
        let chunks = items
            .chunks(MAX_TRANSACT_ITEMS)
            .map(|chunk| {
                self.write_absent(chunk, |item| WriteOp::Put {
                    item: item.clone(),
                    condition: Condition::Absent,
                })
            })
            .collect();
        let stored_already: Vec<Vec<bool>> = a_few_at_a_time(chunks).await?;
        let duplicates = stored_already.iter().flatten().filter(|d| **d).count();
        Ok(AppendOutcome {
            stored: items.len() - duplicates,
            duplicates: duplicates + events.len() - items.len(),
        })
    }

    /// The events not stored yet, in order (an id given twice is kept once): what appending
    /// them would store, found without writing anything. Only what is new goes on to
    /// analytics, so a client resending events, in any batches, has none counted twice.
    pub async fn unstored(
        &self,
        tenant: TenantId,
        events: &[StoredEvent],
    ) -> Result<Vec<StoredEvent>, RepoError> {
        let mut seen = HashSet::with_capacity(events.len());
        let items = event_items(tenant, events, &mut seen);
        let chunks = items
            .chunks(MAX_TRANSACT_ITEMS)
            .map(|chunk| {
                self.write_absent(chunk, |item| WriteOp::Check {
                    pk: item.pk.clone(),
                    sk: item.sk.clone(),
                    condition: Condition::Absent,
                })
            })
            .collect();
        let stored_already = a_few_at_a_time(chunks).await?.into_iter().flatten();
        let mut seen = HashSet::with_capacity(events.len());
        Ok(events
            .iter()
            .filter(|e| seen.insert(&e.id))
            .zip(stored_already)
            .filter(|(_, stored)| !stored)
            .map(|(e, _)| e.clone())
            .collect())
    }

    /// Run `op` for every item of one transaction on the condition that its key is absent,
    /// and say which keys were present already (their ops are dropped and the rest run
    /// again; each round drops at least one, so this ends).
    async fn write_absent(
        &self,
        chunk: &[Item],
        op: impl Fn(&Item) -> WriteOp,
    ) -> Result<Vec<bool>, RepoError> {
        let mut present = vec![false; chunk.len()];
        loop {
            let pending: Vec<usize> = (0..chunk.len()).filter(|i| !present[*i]).collect();
            if pending.is_empty() {
                return Ok(present);
            }
            let ops = pending.iter().map(|&i| op(&chunk[i])).collect();
            match self.table.transact_write(ops).await {
                Ok(()) => return Ok(present),
                Err(TableError::TransactionCancelled { failed }) if !failed.is_empty() => {
                    for f in failed {
                        present[pending[f]] = true;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
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

/// The table items of `events`, each id once (`seen` holds the ids already taken).
fn event_items<'e>(
    tenant: TenantId,
    events: &'e [StoredEvent],
    seen: &mut HashSet<&'e ClientEventId>,
) -> Vec<Item> {
    events
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
        .collect()
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
