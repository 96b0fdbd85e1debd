//! Rate-limit buckets in the table, shared by every instance of every function: one item per
//! (tenant, principal), spent with a compare-and-set so two requests cannot both spend the same
//! token ([`crate::ratelimit::take`] decides; this stores).
//!
//! ```text
//! rate_limit_pk(t, principal)  bucket   Bucket { tokens_milli, updated_ms }, expiring once full
//! ```
//!
//! A missing bucket is a full one, so a bucket is given an expiry at the moment it would be
//! full again (plus a margin): idle buckets leave the table without changing any answer.
//!
//! **Contention fails closed.** When [`CHECK_ATTEMPTS`] compare-and-sets in a row lose to
//! other requests on the same bucket, the call is refused with `Retry-After: 1`. Losing that
//! often means a burst from one principal, which is what the limit is for; a legitimate client
//! pays one retry a second later, whereas failing open would let exactly such a burst through
//! uncounted. A table that is down is an error (`Err`), for the caller to answer as it does
//! other store failures.

use mvidarr_core::ids::TenantId;
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::table::unix_now;
use mvidarr_core::ports::{Item, Table};
use mvidarr_core::repo::{RepoError, decode, encode};

use super::put_over;
use crate::ratelimit::{Bucket, Decision, Limit, take};

const BUCKET_SK: &str = "bucket";
/// Compare-and-set attempts on one bucket before the call is refused.
pub const CHECK_ATTEMPTS: u32 = 5;
/// Kept this long past the moment a bucket would be full again, so that a table clock a little
/// ahead of the caller's cannot drop a bucket that still holds a debt.
const EXPIRY_MARGIN_SECS: i64 = 60;

/// Spends tokens from stored buckets.
pub struct RateLimiter<'a, T> {
    table: &'a T,
}

/// A bucket as read: its state (`None`: there is none, which counts as full) and the version
/// to write over (`None`: write only if still absent).
struct Read {
    bucket: Option<Bucket>,
    version: Option<u64>,
}

impl<'a, T: Table> RateLimiter<'a, T> {
    pub fn new(table: &'a T) -> Self {
        RateLimiter { table }
    }

    /// Spends `cost` tokens of `principal_key`'s bucket (e.g. `requests`, `login:{digest}`;
    /// one bucket per key, whatever the limit) under `limit` at `now_ms` (Unix ms).
    ///
    /// Only a spend is written: a refusal or a zero cost leaves the bucket as stored, since
    /// [`take`] recomputes refill from it exactly. Persistent contention is refused with
    /// `retry_after_secs: 1` (see the module doc); table failures are `Err`.
    pub async fn check(
        &self,
        tenant: TenantId,
        principal_key: &str,
        limit: &Limit,
        now_ms: i64,
        cost: u32,
    ) -> Result<Decision, RepoError> {
        self.check_bucket(
            keys::rate_limit_pk(tenant, principal_key),
            limit,
            now_ms,
            cost,
        )
        .await
    }

    /// As [`RateLimiter::check`], for a bucket that belongs to no tenant (sign-in attempts
    /// per email, before anyone knows which tenant, or whether the account exists).
    pub async fn check_global(
        &self,
        key: &str,
        limit: &Limit,
        now_ms: i64,
        cost: u32,
    ) -> Result<Decision, RepoError> {
        self.check_bucket(keys::global_rate_limit_pk(key), limit, now_ms, cost)
            .await
    }

    async fn check_bucket(
        &self,
        pk: String,
        limit: &Limit,
        now_ms: i64,
        cost: u32,
    ) -> Result<Decision, RepoError> {
        let mut read = self.read(&pk).await?;
        for attempt in 1..=CHECK_ATTEMPTS {
            let decision = take(read.bucket, limit, now_ms, cost);
            if !decision.allowed || cost == 0 {
                return Ok(decision);
            }
            let mut item = Item::new(pk.clone(), BUCKET_SK, encode(&decision.bucket));
            if let Some(at) = expiry(&decision, now_ms) {
                item = item.with_expiry(at);
            }
            if put_over(self.table, item, read.version).await? {
                return Ok(decision);
            }
            tracing::debug!(pk, attempt, "rate-limit bucket changed under us");
            read = self.read(&pk).await?;
        }
        tracing::warn!(
            pk,
            attempts = CHECK_ATTEMPTS,
            "rate-limit bucket contended; refusing"
        );
        Ok(Decision {
            allowed: false,
            retry_after_secs: 1,
            ..take(read.bucket, limit, now_ms, 0)
        })
    }

    async fn read(&self, pk: &str) -> Result<Read, RepoError> {
        let Some(item) = self.table.get(pk, BUCKET_SK).await? else {
            return Ok(Read {
                bucket: None,
                version: None,
            });
        };
        let version = item.version;
        // A bucket is soft state: one that does not decode is started afresh (full) and
        // overwritten, rather than failing every request of its principal until someone
        // deletes it.
        let bucket = decode::<Bucket>(item)
            .inspect_err(|e| tracing::warn!(pk, error = %e, "rate-limit bucket reset"))
            .ok();
        Ok(Read {
            bucket,
            version: Some(version),
        })
    }
}

/// When the stored bucket may vanish (Unix s): once it would be full again, by the later of
/// the caller's clock and the table's, plus a margin. `None` when it never refills: a missing
/// bucket is a full one, so such a bucket must stay.
fn expiry(decision: &Decision, now_ms: i64) -> Option<i64> {
    if decision.reset_secs == u32::MAX {
        return None;
    }
    let now_secs = now_ms.div_euclid(1000).saturating_add(1).max(unix_now());
    Some(
        now_secs
            .saturating_add(i64::from(decision.reset_secs))
            .saturating_add(EXPIRY_MARGIN_SECS),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mvidarr_core::ports::Condition;
    use mvidarr_store_local::table::SqliteTable;

    use super::*;
    use crate::store::test_tables::{Interleaving, Outraced, open, sqlite as table};

    const LIMIT: Limit = Limit {
        capacity: 10,
        refill_per_minute: 60,
    };

    /// Now, by the real clock: stored buckets expire by it.
    fn now_ms() -> i64 {
        unix_now() * 1000
    }

    async fn stored(table: &SqliteTable, tenant: TenantId, principal: &str) -> Option<Item> {
        table
            .get(&keys::rate_limit_pk(tenant, principal), BUCKET_SK)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_burst_past_capacity_is_refused_after_exactly_capacity_calls() {
        let (table, _dir) = table();
        let limiter = RateLimiter::new(&table);
        let tenant = TenantId::generate();
        let now = now_ms();

        let mut decisions = Vec::new();
        for _ in 0..LIMIT.capacity + 5 {
            decisions.push(
                limiter
                    .check(tenant, "requests", &LIMIT, now, 1)
                    .await
                    .unwrap(),
            );
        }

        let allowed = decisions.iter().filter(|d| d.allowed).count();
        assert_eq!(allowed, 10);
        assert!(decisions[..10].iter().all(|d| d.allowed));
        for refused in &decisions[10..] {
            assert!(!refused.allowed);
            assert!(refused.retry_after_secs >= 1);
            assert!(refused.headers().contains(&("Retry-After", "1".to_owned())));
        }
        // A second later one token has come back.
        let later = limiter
            .check(tenant, "requests", &LIMIT, now + 1000, 1)
            .await
            .unwrap();
        assert!(later.allowed);
        assert_eq!(later.remaining, 0);
    }

    #[tokio::test]
    async fn a_refusal_or_a_free_call_writes_nothing() {
        let (table, _dir) = table();
        let limiter = RateLimiter::new(&table);
        let tenant = TenantId::generate();
        let now = now_ms();

        let free = limiter
            .check(tenant, "requests", &LIMIT, now, 0)
            .await
            .unwrap();
        assert!(free.allowed);
        assert_eq!(free.remaining, 10);
        assert_eq!(stored(&table, tenant, "requests").await, None);

        assert!(
            limiter
                .check(tenant, "requests", &LIMIT, now, 10)
                .await
                .unwrap()
                .allowed
        );
        let drained = stored(&table, tenant, "requests").await.unwrap();
        let refused = limiter
            .check(tenant, "requests", &LIMIT, now, 1)
            .await
            .unwrap();
        assert!(!refused.allowed);
        assert_eq!(stored(&table, tenant, "requests").await, Some(drained));
    }

    #[tokio::test]
    async fn a_bucket_expires_once_it_would_be_full_again() {
        let (table, _dir) = table();
        let limiter = RateLimiter::new(&table);
        let tenant = TenantId::generate();
        let now = now_ms();

        let d = limiter
            .check(tenant, "requests", &LIMIT, now, 4)
            .await
            .unwrap();
        assert_eq!(d.reset_secs, 4);
        let item = stored(&table, tenant, "requests").await.unwrap();
        let expected = now / 1000 + 1 + 4 + EXPIRY_MARGIN_SECS;
        assert!(
            item.expires_at
                .is_some_and(|at| at == expected || at == expected + 1),
            "{:?} vs {expected}",
            item.expires_at
        );

        // Gone (expired) is full.
        table
            .put(item.with_expiry(unix_now() - 1), Condition::Always)
            .await
            .unwrap();
        let d = limiter
            .check(tenant, "requests", &LIMIT, now, 10)
            .await
            .unwrap();
        assert!(d.allowed, "an expired bucket reads as a full one");
    }

    #[tokio::test]
    async fn a_bucket_that_never_refills_never_expires() {
        let (table, _dir) = table();
        let limiter = RateLimiter::new(&table);
        let tenant = TenantId::generate();
        let once = Limit {
            capacity: 1,
            refill_per_minute: 0,
        };
        assert!(
            limiter
                .check(tenant, "invite", &once, now_ms(), 1)
                .await
                .unwrap()
                .allowed
        );
        assert_eq!(
            stored(&table, tenant, "invite").await.unwrap().expires_at,
            None
        );
        assert!(
            !limiter
                .check(tenant, "invite", &once, now_ms(), 1)
                .await
                .unwrap()
                .allowed
        );
    }

    #[tokio::test]
    async fn an_undecodable_bucket_is_started_afresh() {
        let (table, _dir) = table();
        let limiter = RateLimiter::new(&table);
        let tenant = TenantId::generate();
        table
            .put(
                Item::new(
                    keys::rate_limit_pk(tenant, "requests"),
                    BUCKET_SK,
                    serde_json::json!("garbage"),
                ),
                Condition::Absent,
            )
            .await
            .unwrap();
        let d = limiter
            .check(tenant, "requests", &LIMIT, now_ms(), 1)
            .await
            .unwrap();
        assert!(d.allowed);
        assert_eq!(d.remaining, 9);
        let item = stored(&table, tenant, "requests").await.unwrap();
        assert_eq!(decode::<Bucket>(item).unwrap(), d.bucket);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_tables_on_one_data_directory_share_a_bucket() {
        // Two "processes": separate connections to the same database file.
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (open(&dir), open(&dir));
        let tenant = TenantId::generate();
        let now = now_ms();

        let mut allowed = 0;
        for i in 0..LIMIT.capacity + 5 {
            let table = if i % 2 == 0 { &first } else { &second };
            let d = RateLimiter::new(table)
                .check(tenant, "requests", &LIMIT, now, 1)
                .await
                .unwrap();
            allowed += usize::from(d.allowed);
        }
        assert_eq!(allowed, 10);

        // And at the same time, each from its own task.
        let other = TenantId::generate();
        let tasks: Vec<_> = [first, second]
            .into_iter()
            .map(|table| {
                tokio::spawn(async move {
                    let mut allowed = 0;
                    for _ in 0..LIMIT.capacity {
                        let d = RateLimiter::new(&table)
                            .check(other, "requests", &LIMIT, now, 1)
                            .await
                            .unwrap();
                        allowed += usize::from(d.allowed);
                    }
                    allowed
                })
            })
            .collect();
        let mut together = 0;
        for task in tasks {
            together += task.await.unwrap();
        }
        assert_eq!(together, 10);
    }

    /// 8 tasks making 40 calls each on one bucket of 50 tokens; returns how many were allowed.
    async fn spend_from_eight_tasks<T: Table>(table: Arc<T>) -> usize {
        let tenant = TenantId::generate();
        let now = now_ms();
        let limit = Limit {
            capacity: 50,
            refill_per_minute: 60,
        };
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let table = Arc::clone(&table);
                tokio::spawn(async move {
                    let limiter = RateLimiter::new(&*table);
                    let mut allowed = 0;
                    for _ in 0..40 {
                        let d = limiter
                            .check(tenant, "requests", &limit, now, 1)
                            .await
                            .unwrap();
                        allowed += usize::from(d.allowed);
                    }
                    allowed
                })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += task.await.unwrap();
        }
        allowed
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_never_spend_more_than_capacity() {
        let (table, _dir) = table();
        // Never more; and with 320 calls for 50 tokens, contention refusals cannot leave any.
        assert_eq!(spend_from_eight_tasks(Arc::new(table)).await, 50);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn callers_that_all_read_the_same_bucket_spend_it_once() {
        let (table, _dir) = table();
        let table = Arc::new(Interleaving::new(table));
        let allowed = spend_from_eight_tasks(Arc::clone(&table)).await;
        assert!(table.lost_writes() > 0, "the races did happen");
        assert!(allowed <= 50, "{allowed} allowed");
    }

    #[tokio::test]
    async fn principals_have_independent_buckets() {
        let (table, _dir) = table();
        let limiter = RateLimiter::new(&table);
        let tenant = TenantId::generate();
        let now = now_ms();

        assert!(
            limiter
                .check(tenant, "user:a", &LIMIT, now, 10)
                .await
                .unwrap()
                .allowed
        );
        assert!(
            !limiter
                .check(tenant, "user:a", &LIMIT, now, 1)
                .await
                .unwrap()
                .allowed
        );
        let b = limiter
            .check(tenant, "user:b", &LIMIT, now, 1)
            .await
            .unwrap();
        assert!(b.allowed);
        assert_eq!(b.remaining, 9);
        // Same key, other tenant: another bucket too.
        let elsewhere = limiter
            .check(TenantId::generate(), "user:a", &LIMIT, now, 1)
            .await
            .unwrap();
        assert_eq!(elsewhere.remaining, 9);
    }

    #[tokio::test]
    async fn a_bucket_that_stays_contended_fails_closed() {
        let (inner, _dir) = table();
        let outraced = Outraced::new(inner);
        let tenant = TenantId::generate();

        let d = RateLimiter::new(&outraced)
            .check(tenant, "requests", &LIMIT, now_ms(), 1)
            .await
            .unwrap();

        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 1);
        assert_eq!(d.remaining, 10, "nothing was spent");
        assert_eq!(outraced.write_attempts(), CHECK_ATTEMPTS);
    }
}
