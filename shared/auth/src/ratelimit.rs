//! Token buckets for rate limits, and the limits of each plan.
//!
//! [`take`] is a pure function from the stored [`Bucket`] (or none yet) and the time to a
//! [`Decision`] carrying the new bucket; the caller stores it with a compare-and-set on the
//! old one and retries on conflict, so concurrent requests cannot both spend the same token.
//!
//! All arithmetic is in integers: tokens in thousandths, time in milliseconds. A rate of `r`
//! tokens a minute is `r / 60` milli-tokens a millisecond, which is a whole number only over
//! spans that are multiples of `60 / gcd(r, 60)` ms; refill is credited in such spans and the
//! rest of the elapsed time is carried in `updated_ms` to the next call. So nothing is lost to
//! rounding, and nothing is minted either.

use serde::{Deserialize, Serialize};

/// A bucket's size and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// The most tokens the bucket holds: the burst allowed after a quiet spell.
    pub capacity: u32,
    /// Tokens added per minute, up to `capacity`. Zero means the bucket never refills.
    pub refill_per_minute: u32,
}

impl Limit {
    const fn per_second(capacity: u32, per_second: u32) -> Limit {
        Limit {
            capacity,
            refill_per_minute: per_second * 60,
        }
    }

    fn capacity_milli(&self) -> u64 {
        u64::from(self.capacity) * 1000
    }

    /// The shortest span (ms) over which refill is a whole number of milli-tokens.
    fn credit_span_ms(&self) -> u64 {
        60 / gcd(u64::from(self.refill_per_minute), 60)
    }

    /// Milli-tokens credited after `elapsed_ms`, and the part of `elapsed_ms` they account for.
    fn credit(&self, elapsed_ms: u64) -> (u64, u64) {
        let span = self.credit_span_ms();
        let whole_ms = elapsed_ms - elapsed_ms % span;
        let milli = u128::from(whole_ms) * u128::from(self.refill_per_minute) / 60;
        (u64::try_from(milli).unwrap_or(u64::MAX), whole_ms)
    }

    /// Milliseconds of refill needed for `deficit_milli`, in whole credit spans; `None` if it
    /// never comes.
    fn ms_to_refill(&self, deficit_milli: u64) -> Option<u64> {
        if deficit_milli == 0 {
            return Some(0);
        }
        if self.refill_per_minute == 0 {
            return None;
        }
        let ms = (u128::from(deficit_milli) * 60).div_ceil(u128::from(self.refill_per_minute));
        let span = u128::from(self.credit_span_ms());
        u64::try_from(ms.div_ceil(span) * span).ok()
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A tenant's subscription plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Free,
    Pro,
    Enterprise,
}

/// What a plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// API requests, per caller (each user and each API key has a bucket of its own).
    pub requests: Limit,
    /// Sign-in attempts, per email, whatever their outcome: slows password guessing without
    /// locking the owner out (lockout is a separate rule).
    pub logins: Limit,
    /// Upload starts (presigned URLs handed out), per tenant.
    pub uploads: Limit,
    /// Bytes of media a tenant may keep (not enforced yet: it needs the tenant's usage).
    pub storage_bytes: u64,
    /// The largest single upload.
    pub max_upload_bytes: u64,
}

const GIB: u64 = 1 << 30;

/// Login throttling protects the account, not the bill, so every plan has the same: a burst of
/// 10, then one attempt a minute.
const LOGINS: Limit = Limit {
    capacity: 10,
    refill_per_minute: 1,
};

impl std::str::FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown plan {s:?}: free, pro or enterprise"))
    }
}

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// The numbers, in one place:
    ///
    /// | plan       | requests             | uploads             | storage | largest upload |
    /// |------------|----------------------|---------------------|---------|----------------|
    /// | free       | 10/s, burst 50       | 20/min, burst 10    | 25 GiB  | 4 GiB          |
    /// | pro        | 50/s, burst 200      | 120/min, burst 50   | 1 TiB   | 20 GiB         |
    /// | enterprise | 200/s, burst 1000    | 600/min, burst 200  | 10 TiB  | 100 GiB        |
    ///
    /// Logins: burst 10, then 1 a minute per account, on every plan.
    pub fn limits(self) -> PlanLimits {
        match self {
            Plan::Free => PlanLimits {
                requests: Limit::per_second(50, 10),
                logins: LOGINS,
                uploads: Limit {
                    capacity: 10,
                    refill_per_minute: 20,
                },
                storage_bytes: 25 * GIB,
                max_upload_bytes: 4 * GIB,
            },
            Plan::Pro => PlanLimits {
                requests: Limit::per_second(200, 50),
                logins: LOGINS,
                uploads: Limit {
                    capacity: 50,
                    refill_per_minute: 120,
                },
                storage_bytes: 1024 * GIB,
                max_upload_bytes: 20 * GIB,
            },
            Plan::Enterprise => PlanLimits {
                requests: Limit::per_second(1000, 200),
                logins: LOGINS,
                uploads: Limit {
                    capacity: 200,
                    refill_per_minute: 600,
                },
                storage_bytes: 10 * 1024 * GIB,
                max_upload_bytes: 100 * GIB,
            },
        }
    }
}

/// A bucket's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Tokens left, in thousandths.
    pub tokens_milli: u64,
    /// The time (Unix ms) up to which refill has been credited.
    pub updated_ms: i64,
}

/// The outcome of [`take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The state to store (refill credited, and the cost spent if allowed).
    pub bucket: Bucket,
    /// The bucket's capacity.
    pub limit: u32,
    /// Whole tokens left.
    pub remaining: u32,
    /// 0 if allowed; otherwise whole seconds (rounded up) until the cost can be paid, or
    /// `u32::MAX` if it never can (cost above capacity, or no refill).
    pub retry_after_secs: u32,
    /// Whole seconds (rounded up) until the bucket is full again.
    pub reset_secs: u32,
}

impl Decision {
    /// Response headers: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, and
    /// `Retry-After` only when refused.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("RateLimit-Limit", self.limit.to_string()),
            ("RateLimit-Remaining", self.remaining.to_string()),
            ("RateLimit-Reset", self.reset_secs.to_string()),
        ];
        if !self.allowed {
            headers.push(("Retry-After", self.retry_after_secs.to_string()));
        }
        headers
    }
}

/// Tries to spend `cost` tokens from `bucket` (a full bucket if there is none yet) at `now_ms`.
///
/// A clock that went backwards (`now_ms` before `updated_ms`, e.g. another instance's clock
/// ran ahead) credits nothing and keeps `updated_ms`, so the same span is never credited twice.
/// A stored bucket holding more than the capacity (the plan was downgraded) is cut to it.
pub fn take(bucket: Option<Bucket>, limit: &Limit, now_ms: i64, cost: u32) -> Decision {
    let capacity = limit.capacity_milli();
    let (mut tokens, mut updated_ms) = match bucket {
        None => (capacity, now_ms),
        Some(b) => (b.tokens_milli.min(capacity), b.updated_ms),
    };

    let elapsed_ms = u64::try_from(i128::from(now_ms) - i128::from(updated_ms)).unwrap_or(0);
    if elapsed_ms > 0 {
        let (credited, accounted_ms) = limit.credit(elapsed_ms);
        tokens = tokens.saturating_add(credited).min(capacity);
        updated_ms = if tokens == capacity {
            // A full bucket gains nothing from waiting: there is no carry to keep.
            now_ms
        } else {
            // accounted_ms <= elapsed_ms, so this lands between updated_ms and now_ms.
            updated_ms.saturating_add(i64::try_from(accounted_ms).unwrap_or(i64::MAX))
        };
    }

    let cost_milli = u64::from(cost) * 1000;
    let allowed = tokens >= cost_milli;
    if allowed {
        tokens -= cost_milli;
    }

    // Waits are counted from updated_ms, where refill resumes, not from now.
    let secs_until = |deficit_milli: u64| -> u32 {
        let Some(refill_ms) = limit.ms_to_refill(deficit_milli) else {
            return u32::MAX;
        };
        if refill_ms == 0 {
            return 0;
        }
        let wait_ms = i128::from(updated_ms) + i128::from(refill_ms) - i128::from(now_ms);
        let wait_ms = u128::try_from(wait_ms).unwrap_or(0);
        u32::try_from(wait_ms.div_ceil(1000)).unwrap_or(u32::MAX)
    };
    let retry_after_secs = match () {
        () if allowed => 0,
        () if cost_milli > capacity => u32::MAX,
        () => secs_until(cost_milli - tokens),
    };

    Decision {
        allowed,
        bucket: Bucket {
            tokens_milli: tokens,
            updated_ms,
        },
        limit: limit.capacity,
        remaining: u32::try_from(tokens / 1000).unwrap_or(u32::MAX),
        retry_after_secs,
        reset_secs: secs_until(capacity - tokens),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// 5 tokens, one a second.
    const FIVE_PER_SEC_ONE: Limit = Limit {
        capacity: 5,
        refill_per_minute: 60,
    };
    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn a_full_bucket_allows_capacity_calls_then_refuses_with_retry_after() {
        let mut bucket = None;
        for i in 0..5 {
            let d = take(bucket, &FIVE_PER_SEC_ONE, T0, 1);
            assert!(d.allowed, "call {i}");
            assert_eq!(d.remaining, 4 - i);
            assert_eq!(d.retry_after_secs, 0);
            bucket = Some(d.bucket);
        }
        let refused = take(bucket, &FIVE_PER_SEC_ONE, T0, 1);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after_secs, 1);
        assert_eq!(refused.reset_secs, 5);
        assert_eq!(refused.bucket, bucket.unwrap(), "a refusal spends nothing");

        // 400 ms later the next token is 600 ms away: still one second, rounded up.
        let later = take(bucket, &FIVE_PER_SEC_ONE, T0 + 400, 1);
        assert!(!later.allowed);
        assert_eq!(later.retry_after_secs, 1);
        // A cost of 3 needs three seconds of refill.
        assert_eq!(take(bucket, &FIVE_PER_SEC_ONE, T0, 3).retry_after_secs, 3);
        // And one second later the call goes through.
        assert!(take(bucket, &FIVE_PER_SEC_ONE, T0 + 1000, 1).allowed);
    }

    #[test]
    fn refill_is_proportional_to_elapsed_time() {
        let empty = Some(Bucket {
            tokens_milli: 0,
            updated_ms: T0,
        });
        let d = take(empty, &FIVE_PER_SEC_ONE, T0 + 2500, 0);
        assert_eq!(d.bucket.tokens_milli, 2500);
        assert_eq!(d.remaining, 2);
        assert_eq!(d.reset_secs, 3, "2.5 s to full, rounded up");
        let d = take(empty, &FIVE_PER_SEC_ONE, T0 + 2500, 2);
        assert!(d.allowed);
        assert_eq!(d.bucket.tokens_milli, 500);
        assert!(!take(empty, &FIVE_PER_SEC_ONE, T0 + 2500, 3).allowed);
    }

    #[test]
    fn the_bucket_never_exceeds_capacity() {
        let d = take(
            Some(Bucket {
                tokens_milli: 1000,
                updated_ms: T0,
            }),
            &FIVE_PER_SEC_ONE,
            T0 + 3_600_000,
            0,
        );
        assert_eq!(d.bucket.tokens_milli, 5000);
        assert_eq!(d.remaining, 5);
        assert_eq!(d.reset_secs, 0);
        // A bucket stored under a larger plan is cut to the current capacity.
        let oversized = Some(Bucket {
            tokens_milli: 1_000_000,
            updated_ms: T0,
        });
        assert_eq!(take(oversized, &FIVE_PER_SEC_ONE, T0, 0).remaining, 5);
    }

    #[test]
    fn a_clock_going_backwards_mints_nothing() {
        let drained = Bucket {
            tokens_milli: 0,
            updated_ms: T0,
        };
        let back = take(Some(drained), &FIVE_PER_SEC_ONE, T0 - 60_000, 1);
        assert!(!back.allowed);
        assert_eq!(back.bucket, drained, "updated_ms is not moved back");
        assert_eq!(
            back.retry_after_secs, 61,
            "counted from where refill resumes"
        );
        // Back at the stored time plus one second: exactly one token, not 61.
        let d = take(Some(back.bucket), &FIVE_PER_SEC_ONE, T0 + 1000, 0);
        assert_eq!(d.bucket.tokens_milli, 1000);
        // Extremes do not overflow.
        let d = take(Some(drained), &FIVE_PER_SEC_ONE, i64::MIN, 1);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, u32::MAX);
        let far = take(Some(drained), &FIVE_PER_SEC_ONE, i64::MAX, 1);
        assert!(far.allowed);
    }

    #[test]
    fn slow_rates_still_refill_when_called_often() {
        // One token a minute, polled every 50 ms: naive rounding would credit 0 each time.
        let limit = Limit {
            capacity: 2,
            refill_per_minute: 1,
        };
        let mut bucket = Some(Bucket {
            tokens_milli: 0,
            updated_ms: T0,
        });
        let mut now = T0;
        while now < T0 + 60_000 {
            now += 50;
            bucket = Some(take(bucket, &limit, now, 0).bucket);
        }
        assert_eq!(bucket.unwrap().tokens_milli, 1000);
        assert_eq!(take(bucket, &limit, now, 0).reset_secs, 60);
    }

    #[test]
    fn a_cost_that_can_never_be_paid_says_so() {
        let d = take(None, &FIVE_PER_SEC_ONE, T0, 6);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, u32::MAX);
        let no_refill = Limit {
            capacity: 1,
            refill_per_minute: 0,
        };
        let spent = take(None, &no_refill, T0, 1);
        assert!(spent.allowed);
        let d = take(Some(spent.bucket), &no_refill, T0 + 3_600_000, 1);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, u32::MAX);
    }

    #[test]
    fn headers_carry_retry_after_only_when_refused() {
        let allowed = take(None, &FIVE_PER_SEC_ONE, T0, 2);
        assert_eq!(
            allowed.headers(),
            vec![
                ("RateLimit-Limit", "5".to_owned()),
                ("RateLimit-Remaining", "3".to_owned()),
                ("RateLimit-Reset", "2".to_owned()),
            ]
        );
        let refused = take(Some(allowed.bucket), &FIVE_PER_SEC_ONE, T0, 4);
        assert_eq!(
            refused.headers().last(),
            Some(&("Retry-After", "1".to_owned()))
        );
    }

    #[test]
    fn plans_serialize_lowercase_default_to_free_and_grow_with_price() {
        assert_eq!(Plan::default(), Plan::Free);
        for plan in Plan::ALL {
            assert_eq!(serde_json::to_value(plan).unwrap(), plan.as_str());
            let back: Plan = serde_json::from_str(&format!("\"{}\"", plan.as_str())).unwrap();
            assert_eq!(back, plan);
        }
        for pair in Plan::ALL.windows(2) {
            let (lower, higher) = (pair[0].limits(), pair[1].limits());
            assert!(lower.requests.capacity < higher.requests.capacity);
            assert!(lower.requests.refill_per_minute < higher.requests.refill_per_minute);
            assert!(lower.uploads.capacity < higher.uploads.capacity);
            assert!(lower.storage_bytes < higher.storage_bytes);
            assert!(lower.max_upload_bytes < higher.max_upload_bytes);
            assert_eq!(lower.logins, higher.logins);
        }
        let free = Plan::Free.limits().requests;
        assert_eq!((free.capacity, free.refill_per_minute), (50, 600));
        let stored = serde_json::to_string(&Bucket {
            tokens_milli: 1,
            updated_ms: 2,
        })
        .unwrap();
        assert_eq!(stored, r#"{"tokens_milli":1,"updated_ms":2}"#);
    }

    proptest! {
        #[test]
        fn tokens_stay_in_bounds_and_allowance_never_beats_the_rate(
            capacity in 1u32..100,
            refill_per_minute in 0u32..20_000,
            steps in prop::collection::vec((-2_000i64..5_000, 0u32..8), 1..200),
        ) {
            let limit = Limit { capacity, refill_per_minute };
            let mut bucket = None;
            let mut now = T0;
            let mut latest = T0;
            // A new bucket starts full at the first call, which may come before T0.
            let first_call = T0 + steps[0].0;
            let mut spent: u64 = 0;
            for (dt, cost) in steps {
                now += dt;
                latest = latest.max(now);
                let d = take(bucket, &limit, now, cost);
                prop_assert!(d.bucket.tokens_milli <= u64::from(capacity) * 1000);
                prop_assert!(d.remaining <= capacity);
                prop_assert_eq!(u64::from(d.remaining), d.bucket.tokens_milli / 1000);
                prop_assert_eq!(d.allowed, d.retry_after_secs == 0);
                prop_assert!(d.bucket.updated_ms <= latest.max(T0));
                if d.allowed {
                    spent += u64::from(cost);
                } else if d.retry_after_secs != u32::MAX {
                    // Coming back after Retry-After works.
                    let later = now + i64::from(d.retry_after_secs) * 1000;
                    prop_assert!(take(Some(d.bucket), &limit, later, cost).allowed);
                }
                if d.reset_secs != u32::MAX {
                    let later = now + i64::from(d.reset_secs) * 1000;
                    prop_assert_eq!(take(Some(d.bucket), &limit, later, 0).remaining, capacity);
                }
                bucket = Some(d.bucket);
            }
            // Whatever the order of calls and clock jumps: at most the first burst plus what
            // the rate adds over the time that really passed.
            let window_ms = u128::try_from(latest - first_call).unwrap();
            let bound_milli =
                u128::from(capacity) * 1000 + window_ms * u128::from(refill_per_minute) / 60;
            prop_assert!(u128::from(spent) * 1000 <= bound_milli);
        }
    }
}
