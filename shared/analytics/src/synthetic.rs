//! Made-up but realistic event streams, for the tests and the benchmark: Zipf-like media
//! popularity, every kind of event in plausible proportions, deterministic for a seed.

use chrono::{Duration, TimeZone, Utc};
use mvidarr_core::Timestamp;
use mvidarr_core::analytics::{AnalyticsEvent, AnalyticsKind, EventBatch};
use mvidarr_core::event::EventKind;
use mvidarr_core::ids::{MediaId, ProfileId, TenantId};
use mvidarr_core::ports::{BlobStore, Table};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The shape of a stream.
#[derive(Debug, Clone)]
pub struct Stream {
    pub seed: u64,
    pub events: usize,
    /// Events are spread evenly over `days` days from `start`.
    pub start: Timestamp,
    pub days: u32,
    pub media: usize,
    pub users: usize,
}

const QUARANTINE_REASONS: [&str; 3] = ["not_a_video", "too_long", "corrupt"];
const TAGS: [&str; 5] = [
    "genre/rock",
    "genre/pop",
    "mood/calm",
    "live",
    "text/lyrics",
];
const ROUTES: [&str; 4] = [
    "/v1/media",
    "/v1/media/{id}",
    "/v1/recommendations",
    "/v1/events",
];

impl Stream {
    /// Three days from 24 November 2026 (00:00 UTC): the tests' usual stretch.
    pub fn three_days(seed: u64, events: usize, media: usize, users: usize) -> Self {
        Self {
            seed,
            events,
            start: Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap(),
            days: 3,
            media,
            users,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Ingest(#[from] crate::IngestError),
    #[error(transparent)]
    Fold(#[from] crate::FoldError),
}

/// A stream's events ingested for `tenant` in batches of `batch`, as the events function
/// takes them, a message at a time, then folded into the rollups; returns the events.
pub async fn ingest_stream<B: BlobStore, T: Table>(
    blobs: &B,
    table: &T,
    tenant: TenantId,
    stream: &Stream,
    batch: usize,
) -> Result<Vec<AnalyticsEvent>, StreamError> {
    let events = events(stream);
    for chunk in events.chunks(batch.max(1)) {
        crate::ingest(blobs, table, &EventBatch::new(tenant, chunk.to_vec())).await?;
    }
    crate::fold_pending(blobs, table, tenant).await?;
    Ok(events)
}

/// The events of a stream, in time order.
pub fn events(stream: &Stream) -> Vec<AnalyticsEvent> {
    let mut rng = ChaCha8Rng::seed_from_u64(stream.seed);
    let media: Vec<MediaId> = (0..stream.media.max(1))
        .map(|i| MediaId::from_parts(1_700_000_000_000 + i as u64, u128::from(stream.seed)))
        .collect();
    let users: Vec<ProfileId> = (0..stream.users.max(1))
        .map(|i| ProfileId::from_parts(1_700_000_000_000 + i as u64, u128::from(stream.seed)))
        .collect();
    let span_ms = i64::from(stream.days.max(1)) * 86_400_000;
    let step = span_ms as f64 / stream.events.max(1) as f64;
    (0..stream.events)
        .map(|i| {
            let at = stream.start + Duration::milliseconds((i as f64 * step) as i64);
            // Popularity falls off as 1/rank: squaring a uniform draw leans to the head.
            let pick = |rng: &mut ChaCha8Rng, n: usize| {
                let u: f64 = rng.random();
                ((u * u) * n as f64) as usize % n
            };
            let m = media[pick(&mut rng, media.len())];
            let user = users[pick(&mut rng, users.len())];
            let id = format!("s{}-{i}", stream.seed);
            let roll: f64 = rng.random();
            let client = |kind| AnalyticsEvent {
                media: Some(m),
                user: Some(user),
                actor: Some("key:app".into()),
                watch_ms: matches!(kind, EventKind::Play | EventKind::Complete)
                    .then(|| 1_000 + (roll * 1e6) as u64 % 240_000),
                ..AnalyticsEvent::platform(AnalyticsKind::Client(kind), id.clone(), at)
            };
            let mut e = match roll {
                r if r < 0.30 => client(EventKind::View),
                r if r < 0.70 => client(EventKind::Play),
                r if r < 0.85 => client(EventKind::Complete),
                r if r < 0.90 => client(EventKind::Like),
                r if r < 0.95 => client(EventKind::Skip),
                r if r < 0.96 => AnalyticsEvent::upload(m, at),
                r if r < 0.965 => AnalyticsEvent::quarantine(m, QUARANTINE_REASONS[i % 3], at),
                r if r < 0.975 => AnalyticsEvent::analysis_done(
                    m,
                    i % 10 != 0,
                    20_000 + (i as u64 * 7919) % 600_000,
                    at,
                ),
                r if r < 0.985 => AnalyticsEvent::tag_decision(
                    m,
                    TAGS[i % TAGS.len()],
                    i % 4 != 0,
                    1,
                    ["user:ana", "user:bo"][i % 2],
                    at,
                ),
                _ => AnalyticsEvent::api_call(
                    &id,
                    ROUTES[i % ROUTES.len()],
                    [200, 200, 200, 404, 500][i % 5],
                    3 + (i as u64 % 40),
                    Some("key:app"),
                    at,
                ),
            };
            // Platform events carry ids derived from their subject; keep every one distinct.
            e.id = id;
            e
        })
        .collect()
}
