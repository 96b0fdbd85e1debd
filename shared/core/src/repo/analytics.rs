//! Rollups in the table: a tenant's [`TenantDay`]s and its media's [`MediaDay`]s, each updated
//! by adding a fold's [`DayDelta`] (the sum of many batches' events files) exactly once, and
//! the bookkeeping of the fold (`mvidarr_analytics::fold`): pending days, each day's fold
//! record, and which batches the rollups count.
//!
//! A delta for one day is applied under an id (the fold plan's) in parts of up to 99 rollup
//! items; each part is one transaction that also writes the part's marker (`applied/{date}`,
//! `{id}/{part}`) on the condition that it is absent, and every rollup item on the condition
//! that it is still at the version read. So a delta applied again finds its markers and adds
//! nothing twice, one cut short by a crash adds the rest when it is retried, and two deltas
//! touching one item never lose each other's counts (the later one reads again and retries).
//! The media parts go first; the tenant day's part last, ranking the media by their new day
//! totals, with the tenant's all-time totals (the library's size comes from them). A batch
//! whose file a fold counted gets the marker `{batch}/t`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;

use crate::Timestamp;
use crate::analytics::{DayDelta, MediaDay, TenantDay, TimeRange};
use crate::ids::{MediaId, TenantId};
use crate::keys::table as keys;
use crate::ports::table::{MAX_PAGE_ITEMS, MAX_TRANSACT_ITEMS, unix_now};
use crate::ports::{Condition, Item, Query, Table, TableError, WriteOp};

use super::{
    RepoError, RollupCache, Versioned, a_few_at_a_time, decode, encode, query_all_with, versioned,
    won,
};

/// How long a batch's markers are kept: longer than a queue keeps a message (SQS: 14 days),
/// so no redelivery outlives them.
const MARKER_TTL_SECS: i64 = 15 * 24 * 3600;
/// The marker suffix of a batch's last part, the tenant day's: the batch is applied in full.
const TENANT_PART: &str = "/t";

fn tenant_part_marker(batch: &str) -> String {
    format!("{batch}{TENANT_PART}")
}

/// Rollup items per part: a transaction's limit less the marker.
const ITEMS_PER_PART: usize = MAX_TRANSACT_ITEMS - 1;
/// Tries of a part whose items others keep changing under it.
const MAX_TRIES: usize = 25;

/// What applying a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyOutcome {
    /// Parts written now.
    pub parts_applied: usize,
    /// Parts an earlier delivery had written already.
    pub parts_skipped: usize,
    /// Rollup items written.
    pub items_written: usize,
}

/// A day's fold: the batches (their events files) whose events it adds to the day's rollups,
/// as one delta applied under the plan's id. One record a day, kept while the fold runs so one
/// cut short is carried out by the next with the same batches (so the same parts), then kept
/// `done` (without its batches) so that a new plan is stored only over the record its maker
/// read: a fold that listed the day's files before another fold finished can never store a
/// plan counting that fold's batches again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FoldPlan {
    pub id: String,
    pub batches: Vec<String>,
    #[serde(default)]
    pub done: bool,
}

/// A day's fold record as read: the plan and the record's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldRecord {
    pub plan: FoldPlan,
    pub version: u64,
}

pub struct AnalyticsRepo<'a, T> {
    table: &'a T,
}

/// One rollup item to add a delta to.
struct Pending<R> {
    pk: String,
    sk: String,
    delta: R,
}

impl<'a, T: Table> AnalyticsRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Add the deltas applied under `id` (a fold plan's) to the tenant's rollups, once however
    /// often it is called.
    pub async fn apply(
        &self,
        tenant: TenantId,
        id: &str,
        days: &BTreeMap<NaiveDate, DayDelta>,
    ) -> Result<ApplyOutcome, RepoError> {
        let mut outcome = ApplyOutcome::default();
        for (date, delta) in days {
            // In key order, so each part rewrites neighbouring items (the parts are the same
            // however often the delta is applied: the order is the keys').
            // (A media's sort key is its id, which sorts as the id does.)
            let mut media: Vec<(String, MediaId, &MediaDay)> = delta
                .media
                .iter()
                .map(|(m, d)| (keys::analytics_media_day_pk(tenant, *date, *m), *m, d))
                .collect();
            media.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            let mut totals: Vec<(MediaId, MediaDay)> = Vec::with_capacity(media.len());
            for (part, chunk) in media.chunks(ITEMS_PER_PART).enumerate() {
                let pending = chunk
                    .iter()
                    .map(|(pk, m, d)| Pending {
                        pk: pk.clone(),
                        sk: keys::analytics_media_day_sk(*m),
                        delta: (*d).clone(),
                    })
                    .collect();
                let (written, now) = self
                    .apply_part(tenant, *date, &format!("{id}/{part}"), pending, |_, _| {})
                    .await?;
                outcome.count(written);
                totals.extend(chunk.iter().map(|(_, m, _)| *m).zip(now));
            }
            let day_sk = keys::analytics_day_sk(*date);
            let pending = [day_sk.as_str(), keys::ANALYTICS_ALL_TIME_SK]
                .map(|sk| Pending {
                    pk: keys::analytics_days_pk(tenant),
                    sk: sk.to_owned(),
                    delta: delta.tenant.clone(),
                })
                .into();
            // The day's ranking is by day totals. The all-time item keeps neither a ranking nor
            // the decisions by tag: over the years those would outgrow an item (400 KB).
            let rank = |p: &Pending<TenantDay>, day: &mut TenantDay| {
                if p.sk == day_sk {
                    for (media, m) in &totals {
                        day.rank(*media, &m.counters);
                    }
                } else {
                    day.tag_decisions.clear();
                }
            };
            let (written, _) = self
                .apply_part(tenant, *date, &tenant_part_marker(id), pending, rank)
                .await?;
            outcome.count(written);
        }
        Ok(outcome)
    }

    /// Add each pending delta to its item, with the part's marker, in one transaction, and
    /// return whether it was written now (not by an earlier delivery) and the items' new
    /// values. `finish` runs on each item after the delta is added (the day's ranking).
    async fn apply_part<R>(
        &self,
        tenant: TenantId,
        date: NaiveDate,
        marker: &str,
        pending: Vec<Pending<R>>,
        finish: impl Fn(&Pending<R>, &mut R),
    ) -> Result<(Option<usize>, Vec<R>), RepoError>
    where
        R: Rollup,
    {
        let marker_pk = keys::analytics_applied_pk(tenant, date);
        for _ in 0..MAX_TRIES {
            // The marker first: items read after it are sure to count a part it says is written.
            let written_before = self.table.get(&marker_pk, marker).await?.is_some();
            let current = self.read_all(&pending).await?;
            if written_before {
                // An earlier delivery wrote this part: the items already count it.
                return Ok((
                    None,
                    current
                        .into_iter()
                        .map(|c| c.map(|v| v.record).unwrap_or_default())
                        .collect(),
                ));
            }
            let mut values = Vec::with_capacity(pending.len());
            let mut ops = Vec::with_capacity(pending.len() + 1);
            ops.push(WriteOp::Put {
                item: Item::new(marker_pk.clone(), marker, serde_json::Value::Null)
                    .with_expiry(unix_now() + MARKER_TTL_SECS),
                condition: Condition::Absent,
            });
            for (p, now) in pending.iter().zip(current) {
                let (put, value) = put_added(&p.pk, &p.sk, now, &p.delta, |v| finish(p, v));
                ops.push(put);
                values.push(value);
            }
            match self.table.transact_write(ops).await {
                Ok(()) => return Ok((Some(pending.len()), values)),
                // The marker appeared (a concurrent delivery) or an item changed: read again.
                Err(TableError::TransactionCancelled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepoError::Contended {
            what: format!("the rollups of {date} (batch part {marker})"),
            attempts: MAX_TRIES as u32,
        })
    }

    async fn read_all<R: Rollup>(
        &self,
        pending: &[Pending<R>],
    ) -> Result<Vec<Option<Versioned<R>>>, RepoError> {
        let keys: Vec<(String, String)> = pending
            .iter()
            .map(|p| (p.pk.clone(), p.sk.clone()))
            .collect();
        let items = self.table.get_many(&keys).await?;
        items
            .into_iter()
            .map(|item| item.map(versioned).transpose())
            .collect()
    }

    /// Whether batch `batch` has been added to the tenant's rollups of `date` in full (a
    /// fold marks its batches once every part of its delta is written). Such a batch's events
    /// file may have been compacted away, so a redelivery must not write it again.
    pub async fn batch_applied(
        &self,
        tenant: TenantId,
        date: NaiveDate,
        batch: &str,
    ) -> Result<bool, RepoError> {
        let marker_pk = keys::analytics_applied_pk(tenant, date);
        Ok(self
            .table
            .get(&marker_pk, &tenant_part_marker(batch))
            .await?
            .is_some())
    }

    /// Note that the tenant's events files of `date` changed (a batch's file was written), so
    /// the next [fold](crate::analytics) counts them. Each note replaces the last with a new
    /// random version, which is how a fold that read an older note knows to leave this one.
    pub async fn mark_pending(&self, tenant: TenantId, date: NaiveDate) -> Result<(), RepoError> {
        let mut item = Item::new(
            keys::analytics_pending_pk(tenant),
            keys::analytics_day_sk(date),
            serde_json::Value::Null,
        );
        item.version = first_version();
        self.table.put(item, Condition::Always).await?;
        Ok(())
    }

    /// The tenant's days noted by [`AnalyticsRepo::mark_pending`], each with its note's
    /// version, oldest day first.
    pub async fn pending_days(&self, tenant: TenantId) -> Result<Vec<(NaiveDate, u64)>, RepoError> {
        let mut query = Query::partition(keys::analytics_pending_pk(tenant));
        query.limit = MAX_PAGE_ITEMS;
        query.keys_only = true;
        let items = query_all_with(self.table, query, Ok).await?;
        Ok(items
            .into_iter()
            .filter_map(|item| Some((item.sk.parse().ok()?, item.version)))
            .collect())
    }

    /// Clear a day's note if it is still the one read (`version`); a newer note (a file
    /// written since) stays for the next fold. Returns whether it was cleared.
    pub async fn clear_pending(
        &self,
        tenant: TenantId,
        date: NaiveDate,
        version: u64,
    ) -> Result<bool, RepoError> {
        let pk = keys::analytics_pending_pk(tenant);
        let sk = keys::analytics_day_sk(date);
        won(self
            .table
            .delete(&pk, &sk, Condition::VersionIs(version))
            .await)
    }

    /// The day's fold record: the plan being carried out, or the last one finished.
    pub async fn fold_record(
        &self,
        tenant: TenantId,
        date: NaiveDate,
    ) -> Result<Option<FoldRecord>, RepoError> {
        let item = self
            .table
            .get(
                &keys::analytics_folds_pk(tenant),
                &keys::analytics_day_sk(date),
            )
            .await?;
        item.map(|item| {
            let version = item.version;
            Ok(FoldRecord {
                plan: decode(item)?,
                version,
            })
        })
        .transpose()
    }

    /// The day's unfinished fold, if one was started.
    pub async fn fold_plan(
        &self,
        tenant: TenantId,
        date: NaiveDate,
    ) -> Result<Option<FoldPlan>, RepoError> {
        Ok(self
            .fold_record(tenant, date)
            .await?
            .map(|record| record.plan)
            .filter(|plan| !plan.done))
    }

    /// Store `plan` as the day's fold if the day's record is still the finished one read
    /// (`last`, its version; `None`: there was none). Returns the stored record's version, or
    /// `None` if the record changed meanwhile (another fold started): read it again.
    pub async fn start_fold(
        &self,
        tenant: TenantId,
        date: NaiveDate,
        plan: &FoldPlan,
        last: Option<u64>,
    ) -> Result<Option<u64>, RepoError> {
        let mut item = Item::new(
            keys::analytics_folds_pk(tenant),
            keys::analytics_day_sk(date),
            encode(plan),
        );
        // Random, so a record never comes back to a version someone read before.
        item.version = first_version();
        let version = item.version;
        let condition = match last {
            Some(v) => Condition::VersionIs(v),
            None => Condition::Absent,
        };
        Ok(won(self.table.put(item, condition).await)?.then_some(version))
    }

    /// Finish a fold whose deltas are applied (under the plan's id): its batches are marked
    /// applied in full, as a batch applied on its own is, then the record (at `version`, as
    /// stored) becomes done. Both are idempotent, so a fold cut short between them is finished
    /// by whoever resumes it.
    pub async fn finish_fold(
        &self,
        tenant: TenantId,
        date: NaiveDate,
        plan: &FoldPlan,
        version: u64,
    ) -> Result<(), RepoError> {
        let marker_pk = keys::analytics_applied_pk(tenant, date);
        let expires = unix_now() + MARKER_TTL_SECS;
        for chunk in plan.batches.chunks(MAX_TRANSACT_ITEMS) {
            let ops = chunk
                .iter()
                .map(|batch| WriteOp::Put {
                    item: Item::new(
                        marker_pk.clone(),
                        tenant_part_marker(batch),
                        serde_json::Value::Null,
                    )
                    .with_expiry(expires),
                    condition: Condition::Always,
                })
                .collect();
            self.table.transact_write(ops).await?;
        }
        let done = FoldPlan {
            id: plan.id.clone(),
            batches: Vec::new(),
            done: true,
        };
        let mut item = Item::new(
            keys::analytics_folds_pk(tenant),
            keys::analytics_day_sk(date),
            encode(&done),
        )
        .with_expiry(expires);
        item.version = first_version();
        // Lost: a concurrent run of the same plan finished it first.
        won(self.table.put(item, Condition::VersionIs(version)).await)?;
        Ok(())
    }

    /// The batches added to the tenant's rollups of `date` in full, for the markers' life
    /// (15 days).
    pub async fn applied_batches(
        &self,
        tenant: TenantId,
        date: NaiveDate,
    ) -> Result<HashSet<String>, RepoError> {
        let mut query = Query::partition(keys::analytics_applied_pk(tenant, date));
        query.limit = MAX_PAGE_ITEMS;
        let markers = query_all_with(self.table, query, |item| Ok(item.sk)).await?;
        Ok(markers
            .into_iter()
            .filter_map(|sk| sk.strip_suffix(TENANT_PART).map(str::to_owned))
            .collect())
    }

    /// Everything the tenant's events ever added up to (its `top_media` stays empty; `hours`
    /// are by hour of day).
    pub async fn all_time(&self, tenant: TenantId) -> Result<TenantDay, RepoError> {
        let item = self
            .table
            .get(
                &keys::analytics_days_pk(tenant),
                keys::ANALYTICS_ALL_TIME_SK,
            )
            .await?;
        item.map(decode).transpose().map(Option::unwrap_or_default)
    }

    /// The tenant's days in `range` (days without events are absent).
    pub async fn tenant_days(
        &self,
        tenant: TenantId,
        range: TimeRange,
    ) -> Result<BTreeMap<NaiveDate, TenantDay>, RepoError> {
        self.days(keys::analytics_days_pk(tenant), range).await
    }

    /// A media's days in `range` (days it was not watched are absent): one read of as many
    /// keys as the range has days.
    pub async fn media_days(
        &self,
        tenant: TenantId,
        media: MediaId,
        range: TimeRange,
    ) -> Result<BTreeMap<NaiveDate, MediaDay>, RepoError> {
        let days: Vec<NaiveDate> = range.days().collect();
        let keys: Vec<(String, String)> = days
            .iter()
            .map(|date| {
                (
                    keys::analytics_media_day_pk(tenant, *date, media),
                    keys::analytics_media_day_sk(media),
                )
            })
            .collect();
        let items = self.table.get_many(&keys).await?;
        days.into_iter()
            .zip(items)
            .filter_map(|(date, item)| Some((date, item?)))
            .map(|(date, item)| Ok((date, decode(item)?)))
            .collect()
    }

    /// Move the tenant's media days from where they lived before they were keyed by day
    /// (one partition a media, sort key the date) into their days: each item is added into
    /// its new place and deleted from the old in one transaction, so a move cut short, run
    /// twice or racing a fold counts every play once. Two passes: the first at once, the
    /// second [`MOVE_GRACE`] later, for what a function still running the old release wrote
    /// meanwhile; after that, nothing. The old items are found through the tenant's media (a
    /// deleted media's stay where they were, as unreachable as they were). Returns the items
    /// moved by a pass, or `None` if no pass was due.
    pub async fn move_media_days_by_day(
        &self,
        tenant: TenantId,
        now: Timestamp,
    ) -> Result<Option<usize>, RepoError> {
        let marker_pk = keys::analytics_migrations_pk(tenant);
        let last = self.table.get(&marker_pk, MEDIA_DAYS_BY_DAY).await?;
        let last: Option<MovePasses> = last.map(decode).transpose()?;
        let next = match last {
            None => MovePasses {
                first: now,
                done: false,
            },
            Some(p) if !p.done && now >= p.first + MOVE_GRACE => MovePasses { done: true, ..p },
            Some(_) => return Ok(None),
        };
        let mut moved = 0;
        for media in super::MediaRepo::new(self.table).list_all(tenant).await? {
            let media = media.id;
            let old_pk = keys::legacy_analytics_media_days_pk(tenant, media);
            let query = Query::partition(old_pk.clone()).limit(MAX_PAGE_ITEMS);
            for old in query_all_with(self.table, query, Ok).await? {
                let Ok(date) = old.sk.parse::<NaiveDate>() else {
                    continue;
                };
                if self.move_media_day(tenant, media, date, old).await? {
                    moved += 1;
                }
            }
        }
        let marker = Item::new(marker_pk, MEDIA_DAYS_BY_DAY, encode(&next));
        self.table.put(marker, Condition::Always).await?;
        Ok(Some(moved))
    }

    /// Add one old media day into its new item and delete the old, in one transaction.
    /// Returns whether this call moved it (not a concurrent move).
    async fn move_media_day(
        &self,
        tenant: TenantId,
        media: MediaId,
        date: NaiveDate,
        mut old: Item,
    ) -> Result<bool, RepoError> {
        let pk = keys::analytics_media_day_pk(tenant, date, media);
        let sk = keys::analytics_media_day_sk(media);
        for _ in 0..MAX_TRIES {
            let old_version = old.version;
            let (old_pk, old_sk) = (old.pk.clone(), old.sk.clone());
            let delta: MediaDay = decode(old)?;
            let current = self.table.get(&pk, &sk).await?.map(versioned).transpose()?;
            let (put, _) = put_added(&pk, &sk, current, &delta, |_| {});
            let ops = vec![
                put,
                WriteOp::Delete {
                    pk: old_pk.clone(),
                    sk: old_sk.clone(),
                    condition: Condition::VersionIs(old_version),
                },
            ];
            match self.table.transact_write(ops).await {
                Ok(()) => return Ok(true),
                // The new item changed (a fold) or the old one did (another move): read again.
                Err(TableError::TransactionCancelled { .. }) => {
                    match self.table.get(&old_pk, &old_sk).await? {
                        Some(again) => old = again,
                        // Another move took it.
                        None => return Ok(false),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepoError::Contended {
            what: format!("moving the rollup of media {media} on {date}"),
            attempts: MAX_TRIES as u32,
        })
    }

    /// The tenant's days in `range` as [`AnalyticsRepo::tenant_days`], read through `cache`:
    /// only the days whose version changed since they were cached are read and decoded.
    pub async fn cached_tenant_days(
        &self,
        tenant: TenantId,
        range: TimeRange,
        cache: &RollupCache,
    ) -> Result<BTreeMap<NaiveDate, Arc<TenantDay>>, RepoError> {
        let pk = keys::analytics_days_pk(tenant);
        let prefixes = month_prefixes(range);
        let listed = self.day_items(&pk, range, &prefixes, true).await?;
        let mut out = BTreeMap::new();
        let mut stale = Vec::new();
        for (date, item) in listed {
            match cache.get::<TenantDay>(&pk, &item.sk, item.version) {
                Some(day) => {
                    out.insert(date, day);
                }
                None => stale.push((date, item.sk)),
            }
        }
        let fresh: Vec<(NaiveDate, Item)> = if stale.len() > MAX_STALE_GETS {
            // A cold cache: a query a month beats a read a day.
            let stale: HashSet<NaiveDate> = stale.into_iter().map(|(date, _)| date).collect();
            self.day_items(&pk, range, &prefixes, false)
                .await?
                .into_iter()
                .filter(|(date, _)| stale.contains(date))
                .collect()
        } else {
            let keys: Vec<(String, String)> = stale
                .iter()
                .map(|(_, sk)| (pk.clone(), sk.clone()))
                .collect();
            let items = self.table.get_many(&keys).await?;
            stale
                .into_iter()
                .zip(items)
                .filter_map(|((date, _), item)| Some((date, item?)))
                .collect()
        };
        for (date, item) in fresh {
            out.insert(date, decode_into(cache, item)?);
        }
        Ok(out)
    }

    /// The tenant's all-time rollup as [`AnalyticsRepo::all_time`], read through `cache`.
    pub async fn cached_all_time(
        &self,
        tenant: TenantId,
        cache: &RollupCache,
    ) -> Result<Arc<TenantDay>, RepoError> {
        let pk = keys::analytics_days_pk(tenant);
        let query = Query::partition(pk.clone())
            .prefix(keys::ANALYTICS_ALL_TIME_SK)
            .keys_only();
        let page = self.table.query(query).await?;
        let listed = page
            .items
            .into_iter()
            .find(|item| item.sk == keys::ANALYTICS_ALL_TIME_SK);
        let Some(listed) = listed else {
            return Ok(Arc::default());
        };
        if let Some(all_time) = cache.get::<TenantDay>(&pk, &listed.sk, listed.version) {
            return Ok(all_time);
        }
        match self.table.get(&pk, keys::ANALYTICS_ALL_TIME_SK).await? {
            Some(item) => decode_into(cache, item),
            None => Ok(Arc::default()),
        }
    }

    /// The rollups of a partition keyed by day, one prefix query per month the range touches.
    async fn days<R: Rollup>(
        &self,
        pk: String,
        range: TimeRange,
    ) -> Result<BTreeMap<NaiveDate, R>, RepoError> {
        let items = self
            .day_items(&pk, range, &month_prefixes(range), false)
            .await?;
        items
            .into_iter()
            .map(|(date, item)| Ok((date, decode::<R>(item)?)))
            .collect()
    }

    /// The items of `pk`'s days in `range` (`prefixes`: its months), with their data or
    /// `keys_only`.
    async fn day_items(
        &self,
        pk: &str,
        range: TimeRange,
        prefixes: &[String],
        keys_only: bool,
    ) -> Result<Vec<(NaiveDate, Item)>, RepoError> {
        let (Some(first), Some(last)) = (range.days().next(), range.days().last()) else {
            return Ok(Vec::new());
        };
        let queries = prefixes
            .iter()
            .map(|month| {
                let mut query = Query::partition(pk).prefix(month.as_str());
                query.keys_only = keys_only;
                query_all_with(self.table, query, |item| {
                    let date = item.sk.parse::<NaiveDate>().ok();
                    Ok((date, item))
                })
            })
            .collect();
        let mut out = Vec::new();
        for month in a_few_at_a_time(queries).await? {
            for (date, item) in month {
                match date {
                    Some(date) if (first..=last).contains(&date) => out.push((date, item)),
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}

/// The conditional put of `delta` added to an item's value as read (`None`: the item is new,
/// so it must still be absent), `finish` run on the sum; and the sum.
fn put_added<R: Rollup>(
    pk: &str,
    sk: &str,
    current: Option<Versioned<R>>,
    delta: &R,
    finish: impl FnOnce(&mut R),
) -> (WriteOp, R) {
    let (mut value, condition, version) = match current {
        Some(v) => (v.record, Condition::VersionIs(v.version), v.version + 1),
        None => (R::default(), Condition::Absent, first_version()),
    };
    value.add(delta);
    finish(&mut value);
    let mut item = Item::new(pk, sk, encode(&value));
    item.version = version;
    (WriteOp::Put { item, condition }, value)
}

/// A new rollup item's version: random, so that an item deleted and made again never repeats
/// a version a [`RollupCache`] holds (63 bits, so bumping it never overflows).
fn first_version() -> u64 {
    (ulid::Ulid::new().random() as u64) >> 1
}

/// The [move](AnalyticsRepo::move_media_days_by_day) of media days to day partitions.
const MEDIA_DAYS_BY_DAY: &str = "media-days-by-day";
/// Between the move's two passes: longer than any function runs (Lambda's limit is 15
/// minutes), so no writer of the old layout outlives the second.
pub const MOVE_GRACE: chrono::Duration = chrono::Duration::minutes(20);

/// The move's record: when its first pass ran, and whether the second has.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct MovePasses {
    first: Timestamp,
    done: bool,
}

/// Stale days read one by one, up to this many; more, and whole months are queried.
const MAX_STALE_GETS: usize = 4;

/// The sort-key prefixes of the months `range` touches.
fn month_prefixes(range: TimeRange) -> Vec<String> {
    let mut months: Vec<String> = range.days().map(keys::analytics_month_prefix).collect();
    months.dedup();
    months
}

/// A tenant day decoded and kept in `cache` at the version read.
fn decode_into(cache: &RollupCache, item: Item) -> Result<Arc<TenantDay>, RepoError> {
    let (pk, sk, version) = (item.pk.clone(), item.sk.clone(), item.version);
    let day = Arc::new(decode::<TenantDay>(item)?);
    cache.put(&pk, &sk, version, Arc::clone(&day));
    Ok(day)
}

impl ApplyOutcome {
    pub fn add(&mut self, o: &ApplyOutcome) {
        self.parts_applied += o.parts_applied;
        self.parts_skipped += o.parts_skipped;
        self.items_written += o.items_written;
    }

    fn count(&mut self, written: Option<usize>) {
        match written {
            Some(items) => {
                self.parts_applied += 1;
                self.items_written += items;
            }
            None => self.parts_skipped += 1,
        }
    }
}

/// A rollup record: starts empty, grows by adding deltas of its own shape.
trait Rollup: Default + serde::Serialize + serde::de::DeserializeOwned + Send + Sync {
    fn add(&mut self, delta: &Self);
}

impl Rollup for TenantDay {
    fn add(&mut self, delta: &Self) {
        TenantDay::add(self, delta)
    }
}

impl Rollup for MediaDay {
    fn add(&mut self, delta: &Self) {
        MediaDay::add(self, delta)
    }
}
