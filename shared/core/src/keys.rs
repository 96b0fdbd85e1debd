//! Where things live. Every table partition key and every blob key of tenant data starts with
//! `t/{tenant}/`, and every function here takes a [`TenantId`], so no query or object path can
//! be built without one. The few global records (tenants, API-key lookups) have their own
//! prefixes and hold nothing but a pointer into a tenant.

use crate::Timestamp;
use crate::event::ClientEventId;
use crate::external::ExternalId;
use crate::ids::{
    AlertId, AlertRuleId, ApiKeyId, MediaId, ProfileId, ReportId, ScheduleId, TenantId, UserId,
};

/// The kinds of record that can be found by an external id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExternalKind {
    Media,
    Profile,
}

impl ExternalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExternalKind::Media => "media",
            ExternalKind::Profile => "profile",
        }
    }
}

/// The prefix every key of a tenant's data starts with.
pub fn tenant_prefix(tenant: TenantId) -> String {
    format!("t/{tenant}/")
}

/// Table keys (single-table design, DynamoDB-shaped: partition key + sort key).
pub mod table {
    use super::*;

    /// All media records of a tenant share one partition, sorted by id (creation time).
    pub fn media_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/media")
    }
    pub fn media_sk(media: MediaId) -> String {
        media.to_string()
    }

    /// Secondary-index keys that list a tenant's media by status.
    pub fn media_by_status_pk(tenant: TenantId, status: &str) -> String {
        format!("t/{tenant}/media-status/{status}")
    }

    /// Per-media records (analyses, tags) live in the media's own partition.
    pub fn media_items_pk(tenant: TenantId, media: MediaId) -> String {
        format!("t/{tenant}/media/{media}")
    }
    pub fn analysis_sk(kind: &str, version: u32) -> String {
        // Zero-padded so versions sort numerically under a prefix query.
        format!("analysis/{kind}/{version:06}")
    }
    pub fn analysis_prefix() -> &'static str {
        "analysis/"
    }
    pub fn tag_sk(tag: &str) -> String {
        format!("tag/{tag}")
    }
    pub fn tag_prefix() -> &'static str {
        "tag/"
    }

    /// Secondary-index partitions of a tenant's tags, one per kind of place a tag can be in:
    /// `visible` (applied or accepted: search and counts), `review` (the queue), `hidden`
    /// and `rejected`. The index is how tags are found across media.
    pub fn tag_index_pk(tenant: TenantId, place: &str) -> String {
        format!("t/{tenant}/tags/{place}")
    }
    /// Index key of a tag in the visible, hidden or rejected partition: by name, then media.
    /// The `/#` after the name makes `{name}/` the prefix of the tag and all its descendants
    /// (names have no empty segment, so `#` never starts one) and `{name}/#` the tag alone.
    pub fn tag_index_sk(tag: &str, media: MediaId) -> String {
        format!("{tag}/#{media}")
    }
    pub fn tag_index_exact_prefix(tag: &str) -> String {
        format!("{tag}/#")
    }
    pub fn tag_index_branch_prefix(tag: &str) -> String {
        format!("{tag}/")
    }
    /// Index key of a tag in the review queue: highest priority first (priorities are
    /// inverted into fixed-width digits so ascending order is the queue's order).
    pub fn review_index_sk(priority: f64, media: MediaId, tag: &str) -> String {
        const SCALE: f64 = 1e9;
        const TOP: u64 = 999_999_999_999;
        let scaled = (priority.max(0.0) * SCALE).min(TOP as f64) as u64;
        format!("{:012}#{media}#{tag}", TOP - scaled)
    }

    /// The duplicate index: one partition per fingerprint key, one item per media filed under
    /// it (see [`crate::fingerprint::Fingerprint::index_keys`]).
    pub fn fingerprint_index_pk(tenant: TenantId, key: &str) -> String {
        format!("t/{tenant}/fingerprints/{key}")
    }

    /// Upload reservations made by `POST /v1/uploads`, before any bytes arrive.
    pub fn uploads_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/uploads")
    }

    /// Ingest dedupe records: one per distinct stored object version (bucket, key, etag).
    pub fn ingest_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/ingest")
    }
    pub fn ingest_sk(bucket: &str, key: &str, etag: &str) -> String {
        format!("{bucket}/{key}#{etag}")
    }

    /// A tenant's profiles (the people its plays are recorded for), one item each, sorted by
    /// id (creation time).
    pub fn profiles_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/profiles")
    }
    pub fn profile_sk(profile: ProfileId) -> String {
        profile.to_string()
    }

    /// The external-id index: one partition per kind of record, one item per external id
    /// (the sort key) holding the id of the record filed under it.
    pub fn external_index_pk(tenant: TenantId, kind: ExternalKind) -> String {
        format!("t/{tenant}/ext/{}", kind.as_str())
    }
    pub fn external_index_sk(external_id: &ExternalId) -> String {
        external_id.as_str().to_owned()
    }

    /// Client events are spread over this many partitions so that a busy tenant's writes do
    /// not all land on one DynamoDB partition (each takes ~1000 writes a second).
    pub const EVENT_SHARDS: u8 = 16;

    /// The events partition `shard` (0 to [`EVENT_SHARDS`] − 1).
    pub fn events_pk(tenant: TenantId, shard: u8) -> String {
        format!("t/{tenant}/events/{shard:02}")
    }
    /// The shard an event lives in: a stable hash of its client id (FNV-1a, the same on every
    /// machine and release, so a resent event finds its first copy).
    pub fn event_shard(id: &ClientEventId) -> u8 {
        fnv_shard(id.as_str(), EVENT_SHARDS)
    }
    /// `key`'s shard of `shards`: a stable hash (FNV-1a, the same on every machine and
    /// release, so a key always finds the partition it was written to).
    fn fnv_shard(key: &str, shards: u8) -> u8 {
        let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        (hash % u32::from(shards)) as u8
    }
    pub fn event_pk(tenant: TenantId, id: &ClientEventId) -> String {
        events_pk(tenant, event_shard(id))
    }
    pub fn event_sk(id: &ClientEventId) -> String {
        id.as_str().to_owned()
    }
    /// Secondary-index keys that list one profile's events newest first (by time, then id):
    /// what serving reads to account for plays since the last training.
    pub fn profile_events_pk(tenant: TenantId, profile: ProfileId) -> String {
        format!("t/{tenant}/profile-events/{profile}")
    }
    pub fn profile_event_sk(at_unix_ms: i64, id: &ClientEventId) -> String {
        // Zero-padded so time orders the keys (times before 1970 sort first, together).
        format!("{:015}#{}", at_unix_ms.max(0), id.as_str())
    }

    /// A tenant's people, one item each (a query lists them).
    pub fn users_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/users")
    }
    /// One user's security records: password, lockout, TOTP, recovery codes, sessions.
    pub fn user_security_pk(tenant: TenantId, user: UserId) -> String {
        format!("t/{tenant}/user/{user}")
    }
    /// Pending invitations.
    pub fn invites_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/invites")
    }
    /// A tenant's API keys, listed through the secondary index (the key's own item is global,
    /// found by the id in the presented key).
    pub fn api_keys_index_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/apikeys")
    }
    /// The audit chain: a `head` item and one item per entry.
    pub fn audit_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/audit")
    }
    /// Personal data referred to by audit entries, kept apart so it can be erased.
    pub fn audit_pii_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/audit-pii")
    }
    /// A rate-limit bucket per principal (one partition each: no hot tenant partition).
    pub fn rate_limit_pk(tenant: TenantId, principal: &str) -> String {
        format!("t/{tenant}/ratelimit/{principal}")
    }
    /// The tenant's tag vocabulary: one item, sort key [`VOCABULARY_SK`] under its settings.
    pub const VOCABULARY_SK: &str = "tag-vocabulary";

    /// Tenant settings: plan, retention.
    pub fn settings_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/settings")
    }

    /// Trained models of a tenant: per family a `head` (the latest version number), a
    /// `current` pointer (the promoted version) and one item per version.
    pub fn models_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/models")
    }
    pub fn model_version_sk(family: &str, version: u32) -> String {
        // Zero-padded so versions list in order.
        format!("{family}/v/{version:06}")
    }
    pub fn model_versions_prefix(family: &str) -> String {
        format!("{family}/v/")
    }
    pub fn model_head_sk(family: &str) -> String {
        format!("{family}/head")
    }
    /// One item per family, written with every registration: what lists a tenant's families
    /// without reading their versions.
    pub fn model_family_sk(family: &str) -> String {
        format!("families/{family}")
    }
    pub fn model_families_prefix(prefix: &str) -> String {
        format!("families/{prefix}")
    }
    pub fn model_current_sk(family: &str) -> String {
        format!("{family}/current")
    }

    /// Global: which tenants an email signs in to, by a hash of the normalised email (no
    /// address in a key; the user record holds it and is erased with it).
    pub fn login_pk(email_digest: &str) -> String {
        format!("login/{email_digest}")
    }
    /// Global: a rate-limit bucket that belongs to no tenant (sign-in attempts per email).
    pub fn global_rate_limit_pk(key: &str) -> String {
        format!("ratelimit/{key}")
    }
    /// Global: the token-signing keys (public half plus the sealed private key).
    pub const SIGNING_KEYS_PK: &str = "signing-keys";

    /// A tenant's day rollups, sorted by date (`2026-11-25`): a month is one prefix query.
    pub fn analytics_days_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/analytics/days")
    }
    /// The sort key of a tenant's all-time rollup, beside its days (no month prefix matches
    /// it).
    pub const ANALYTICS_ALL_TIME_SK: &str = "all-time";
    /// A day's media rollups are spread over this many partitions (by the media), so that a
    /// fold of a busy day does not write all its media to one DynamoDB partition.
    pub const MEDIA_DAY_SHARDS: u8 = 16;
    /// The partition of a media's rollup of `date`: the day first, so a fold (which writes one
    /// day's media, in key order) rewrites neighbouring rows, not one row per media's history.
    pub fn analytics_media_day_pk(
        tenant: TenantId,
        date: chrono::NaiveDate,
        media: MediaId,
    ) -> String {
        let shard = fnv_shard(&media.to_string(), MEDIA_DAY_SHARDS);
        format!(
            "t/{tenant}/analytics/media-days/{}/{shard:02}",
            analytics_day_sk(date)
        )
    }
    pub fn analytics_media_day_sk(media: MediaId) -> String {
        media.to_string()
    }
    /// Where a media's day rollups lived before they were keyed by day (sort key: the date);
    /// read only to move them ([`analytics_migrations_pk`]).
    pub fn legacy_analytics_media_days_pk(tenant: TenantId, media: MediaId) -> String {
        format!("t/{tenant}/analytics/media/{media}")
    }
    /// Which one-off moves of a tenant's analytics items are done (sort key: the move's name).
    pub fn analytics_migrations_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/analytics/migrations")
    }
    /// A day as `2026-11-25` (chrono's display of a date: ISO 8601, without parsing a
    /// format string each call, which showed in the fold's profile).
    pub fn analytics_day_sk(date: chrono::NaiveDate) -> String {
        date.to_string()
    }
    /// The sort-key prefix of a month's days.
    pub fn analytics_month_prefix(date: chrono::NaiveDate) -> String {
        date.format("%Y-%m-").to_string()
    }
    /// Which parts of which event batches a tenant day's rollups already count.
    pub fn analytics_applied_pk(tenant: TenantId, date: chrono::NaiveDate) -> String {
        format!("t/{tenant}/analytics/applied/{}", analytics_day_sk(date))
    }
    /// A tenant's days with events files the rollups may not count yet (sort key: the day),
    /// written by ingest and cleared by the fold once it has counted them.
    pub fn analytics_pending_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/analytics/pending")
    }
    /// A tenant's unfinished folds (sort key: the day): which batches each is counting.
    pub fn analytics_folds_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/analytics/folds")
    }

    /// A tenant's report jobs (`job/{id}`, newest last) and schedules (`schedule/{id}`).
    pub fn reports_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/reports")
    }
    pub const REPORT_JOBS_PREFIX: &str = "job/";
    pub fn report_job_sk(id: ReportId) -> String {
        format!("{REPORT_JOBS_PREFIX}{id}")
    }
    pub const REPORT_SCHEDULES_PREFIX: &str = "schedule/";
    pub fn report_schedule_sk(id: ScheduleId) -> String {
        format!("{REPORT_SCHEDULES_PREFIX}{id}")
    }
    /// Global, on the secondary index: every enabled schedule by its next run
    /// (`{next run}/{tenant}/{id}`), so one ascending query finds the due ones.
    pub const SCHEDULES_DUE_PK: &str = "report-schedules/due";
    pub fn schedule_due_sk(next_run: Timestamp, tenant: TenantId, id: ScheduleId) -> String {
        // Fixed-width UTC, so the text sorts as the time does.
        format!(
            "{}/{tenant}/{id}",
            next_run.format("%Y-%m-%dT%H:%M:%S%.3fZ")
        )
    }

    /// A tenant's alert rules (`rule/{id}`), alerts (`alert/{id}`) and the notifications
    /// they raised (`notification/{id}`).
    pub fn alerts_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/alerts")
    }
    pub fn alert_rule_sk(id: AlertRuleId) -> String {
        format!("rule/{id}")
    }
    pub fn alert_sk(id: AlertId) -> String {
        format!("alert/{id}")
    }
    /// A notification waiting for (or done with) delivery; its id is a ULID, so the
    /// notifications list in the order they were raised.
    pub fn notification_sk(id: &str) -> String {
        format!("notification/{id}")
    }
    /// Global, on the secondary index: every enabled alert rule (`{tenant}/{rule}`), so the
    /// evaluator reads the rules of all tenants in one query and visits only tenants with some.
    pub const ALERT_RULES_INDEX_PK: &str = "alert-rules";
    pub fn alert_rule_index_sk(tenant: TenantId, id: AlertRuleId) -> String {
        format!("{tenant}/{id}")
    }

    /// The lease on a tenant's analytics events files, held while they are rewritten.
    pub fn analytics_events_lease_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/analytics/events-lease")
    }
    /// A tenant's analytics erasures: one item per erased subject (`user:{id}`, `profile:{id}`).
    pub fn analytics_erasures_pk(tenant: TenantId) -> String {
        format!("t/{tenant}/analytics/erasures")
    }
    /// Global, on the secondary index: erasures not done yet (`{requested}/{tenant}/{subject}`),
    /// oldest first, for the scheduler's tick.
    pub const PENDING_ERASURES_PK: &str = "analytics-erasures/pending";
    /// Global: the day's retention sweep, claimed by the first tick of the day.
    pub const RETENTION_SWEEPS_PK: &str = "analytics-retention";
    /// Global: which hours' compactions of today's events have been claimed (`2026-11-26T14`).
    pub const HOURLY_COMPACTIONS_PK: &str = "analytics-compactions";

    /// Global: the tenant directory.
    pub const TENANTS_PK: &str = "tenants";
    /// Global: API key lookup by key id; the record names the tenant.
    pub fn api_key_pk(key: ApiKeyId) -> String {
        format!("apikey/{key}")
    }
    pub const API_KEY_SK: &str = "key";
}

/// Blob keys (S3-shaped object keys).
pub mod blob {
    use super::*;

    /// What every tenant object's key but the analytics events' starts with: the filter of the
    /// bucket's upload notifications.
    pub const TENANT_KEYS_PREFIX: &str = "t/";

    /// Where a client's upload lands.
    pub fn upload(tenant: TenantId, media: MediaId) -> String {
        format!("t/{tenant}/uploads/{media}")
    }
    /// Where a rejected upload is kept. Never deleted.
    pub fn quarantine(tenant: TenantId, media: MediaId) -> String {
        format!("t/{tenant}/quarantine/{media}")
    }
    /// One trained model file: its version and the start of its SHA-256, so two trainers that
    /// raced for one version number never write the same object.
    pub fn model(tenant: TenantId, family: &str, version: u32, sha256: &str) -> String {
        let digest = sha256.get(..16).unwrap_or(sha256);
        format!("t/{tenant}/models/{family}/{version:06}-{digest}.bin")
    }
    /// Derived artefacts of a media (thumbnails, fingerprints…).
    pub fn derived(tenant: TenantId, media: MediaId, name: &str) -> String {
        format!("t/{tenant}/media/{media}/{name}")
    }

    /// Where analytics events are kept as Parquet: Hive-style partitions (`t=…/date=…`) under
    /// one prefix, the layout query engines (DataFusion, Athena) read tenant and date from.
    /// The one kind of tenant data whose key does not start with `t/{tenant}/` (so, too, the
    /// bucket's upload notifications, filtered on `t/`, never fire for it).
    pub const ANALYTICS_EVENTS_PREFIX: &str = "analytics/events/";
    /// All of a tenant's analytics events (what its retention and erasure go through).
    pub fn analytics_tenant(tenant: TenantId) -> String {
        format!("{ANALYTICS_EVENTS_PREFIX}t={tenant}/")
    }
    /// A tenant day's partition of analytics events.
    pub fn analytics_partition(tenant: TenantId, date: chrono::NaiveDate) -> String {
        format!(
            "{}date={}/",
            analytics_tenant(tenant),
            date.format("%Y-%m-%d")
        )
    }
    /// One batch's events of one day.
    pub fn analytics_events(tenant: TenantId, date: chrono::NaiveDate, batch: &str) -> String {
        format!("{}{batch}.parquet", analytics_partition(tenant, date))
    }

    /// A finished report's file.
    pub fn report(tenant: TenantId, id: ReportId, extension: &str) -> String {
        format!("t/{tenant}/reports/{id}.{extension}")
    }

    /// The tenant and media of an upload key, or `None` for any other key.
    pub fn parse_upload(key: &str) -> Option<(TenantId, MediaId)> {
        let rest = key.strip_prefix("t/")?;
        let (tenant, rest) = rest.split_once('/')?;
        let media = rest.strip_prefix("uploads/")?;
        Some((tenant.parse().ok()?, media.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tenant_key_starts_with_the_tenant() {
        let t = TenantId::generate();
        let m = MediaId::generate();
        let p = tenant_prefix(t);
        for key in [
            table::media_pk(t),
            table::media_by_status_pk(t, "indexed"),
            table::media_items_pk(t, m),
            table::uploads_pk(t),
            table::ingest_pk(t),
            table::fingerprint_index_pk(t, "v1/a/00ff"),
            table::users_pk(t),
            table::user_security_pk(t, UserId::generate()),
            table::invites_pk(t),
            table::api_keys_index_pk(t),
            table::audit_pk(t),
            table::audit_pii_pk(t),
            table::analytics_days_pk(t),
            table::analytics_media_day_pk(t, chrono::NaiveDate::MIN, m),
            table::legacy_analytics_media_days_pk(t, m),
            table::analytics_migrations_pk(t),
            table::analytics_applied_pk(t, chrono::NaiveDate::MIN),
            table::analytics_pending_pk(t),
            table::analytics_folds_pk(t),
            table::rate_limit_pk(t, "user:x"),
            table::settings_pk(t),
            table::profiles_pk(t),
            table::external_index_pk(t, ExternalKind::Media),
            table::external_index_pk(t, ExternalKind::Profile),
            table::events_pk(t, 15),
            blob::upload(t, m),
            blob::quarantine(t, m),
            blob::derived(t, m, "thumb.jpg"),
        ] {
            assert!(key.starts_with(&p), "{key}");
        }
    }

    #[test]
    fn upload_keys_parse_back_and_nothing_else_does() {
        let t = TenantId::generate();
        let m = MediaId::generate();
        assert_eq!(blob::parse_upload(&blob::upload(t, m)), Some((t, m)));
        assert_eq!(blob::parse_upload(&blob::quarantine(t, m)), None);
        assert_eq!(blob::parse_upload(&format!("t/{t}/uploads/{m}/x")), None);
        assert_eq!(blob::parse_upload("t/default/uploads/x"), None);
        assert_eq!(blob::parse_upload(""), None);
    }

    #[test]
    fn events_spread_over_16_stable_shards() {
        let shard = |id: &str| table::event_shard(&ClientEventId::parse(id).unwrap());
        // Fixed values: a changed hash would strand every stored event in the wrong shard.
        assert_eq!(
            ["a", "lastfm:2:51", "ml:196:242"].map(shard),
            [12, 4, 4],
            "the shard hash changed"
        );
        let mut per_shard = [0u32; table::EVENT_SHARDS as usize];
        for i in 0..16_000 {
            per_shard[usize::from(shard(&format!("event-{i}")))] += 1;
        }
        // Even enough that no partition gets much more than its share.
        assert!(
            per_shard.iter().all(|&n| (800..1200).contains(&n)),
            "{per_shard:?}"
        );
        let t = TenantId::generate();
        assert_eq!(table::events_pk(t, 3), format!("t/{t}/events/03"));
    }

    #[test]
    fn day_keys_are_iso_dates_as_they_always_were() {
        let mut day = chrono::NaiveDate::from_ymd_opt(1000, 1, 1).unwrap();
        while chrono::Datelike::year(&day) < 9999 {
            assert_eq!(
                table::analytics_day_sk(day),
                day.format("%Y-%m-%d").to_string()
            );
            day += chrono::Duration::days(97);
        }
    }

    #[test]
    fn a_media_day_lives_in_a_stable_shard_of_its_day() {
        let t = TenantId::generate();
        let m: MediaId = "01JD0000000000000000000000".parse().unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        // Fixed: a changed hash would hide every stored media day from its readers.
        assert_eq!(
            table::analytics_media_day_pk(t, day, m),
            format!("t/{t}/analytics/media-days/2026-11-27/12")
        );
        let mut per_shard = [0u32; table::MEDIA_DAY_SHARDS as usize];
        for i in 0..16_000u128 {
            let pk = table::analytics_media_day_pk(t, day, MediaId::from_parts(1, i));
            let shard: usize = pk.rsplit('/').next().unwrap().parse().unwrap();
            per_shard[shard] += 1;
        }
        assert!(
            per_shard.iter().all(|&n| (800..1200).contains(&n)),
            "{per_shard:?}"
        );
    }

    #[test]
    fn analysis_versions_sort_numerically() {
        assert!(table::analysis_sk("probe", 9) < table::analysis_sk("probe", 10));
    }
}
