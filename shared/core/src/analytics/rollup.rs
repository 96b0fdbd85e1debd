//! Rollups: what the dashboards read instead of the events. Per tenant and UTC day, one
//! [`TenantDay`] (counters by hour, the day's analysis and API durations, its unique users, its
//! most played media, its tag decisions) and one [`MediaDay`] per media that was watched. A
//! batch of events becomes [`DayDelta`]s ([`aggregate`]); applying a delta is adding it, so
//! rollups are sums the repository can apply once per batch.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cardinality_estimator::CardinalityEstimator;
use chrono::{NaiveDate, Timelike};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer as HdrDeserializer, Serializer as _, V2Serializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::record::{AnalyticsEvent, AnalyticsKind};
use crate::event::EventKind;
use crate::ids::MediaId;

/// How many of a day's media its [`TenantDay`] ranks (by plays, then views).
pub const TOP_MEDIA_PER_DAY: usize = 100;
/// How many tags a [`TenantDay`] keeps decisions of, the most decided; the others' are summed
/// under [`OTHER_TAGS`]. A tag name is at most 128 bytes, so even a day of bulk review over a
/// huge vocabulary stays far inside an item (400 KB).
pub const TAGS_PER_DAY: usize = 1000;
/// Where a day's decisions on tags past [`TAGS_PER_DAY`] are counted (not a valid tag name, so
/// never a real tag's).
pub const OTHER_TAGS: &str = "(other)";

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Additive counts; zero counts are not stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    #[serde(skip_serializing_if = "is_zero")]
    pub uploads: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub quarantines: u64,
    /// Analyses finished, failed ones included.
    #[serde(skip_serializing_if = "is_zero")]
    pub analyses: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub analysis_failures: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub tags_accepted: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub tags_rejected: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub views: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub plays: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub completions: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub likes: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub skips: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub watch_ms: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub searches: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub api_calls: u64,
    /// API calls answered 4xx.
    #[serde(skip_serializing_if = "is_zero")]
    pub api_client_errors: u64,
    /// API calls answered 5xx.
    #[serde(skip_serializing_if = "is_zero")]
    pub api_server_errors: u64,
}

impl Counters {
    /// Count one event.
    pub fn count(&mut self, e: &AnalyticsEvent) {
        match e.kind {
            AnalyticsKind::Client(kind) => {
                match kind {
                    EventKind::View => self.views += 1,
                    EventKind::Play => self.plays += 1,
                    EventKind::Complete => self.completions += 1,
                    EventKind::Like => self.likes += 1,
                    EventKind::Skip => self.skips += 1,
                }
                self.watch_ms = self.watch_ms.saturating_add(e.watch_ms.unwrap_or(0));
            }
            AnalyticsKind::Upload => self.uploads += 1,
            AnalyticsKind::Quarantine => self.quarantines += 1,
            AnalyticsKind::AnalysisDone => {
                self.analyses += 1;
                self.analysis_failures += u64::from(e.ok == Some(false));
            }
            AnalyticsKind::TagDecision => match e.ok {
                Some(true) => self.tags_accepted += 1,
                _ => self.tags_rejected += 1,
            },
            AnalyticsKind::Search => self.searches += 1,
            AnalyticsKind::ApiCall => {
                self.api_calls += 1;
                match e.status.unwrap_or(0) {
                    400..=499 => self.api_client_errors += 1,
                    500..=599 => self.api_server_errors += 1,
                    _ => {}
                }
            }
        }
    }

    pub fn add(&mut self, o: &Counters) {
        let Counters {
            uploads,
            quarantines,
            analyses,
            analysis_failures,
            tags_accepted,
            tags_rejected,
            views,
            plays,
            completions,
            likes,
            skips,
            watch_ms,
            searches,
            api_calls,
            api_client_errors,
            api_server_errors,
        } = o;
        self.uploads += uploads;
        self.quarantines += quarantines;
        self.analyses += analyses;
        self.analysis_failures += analysis_failures;
        self.tags_accepted += tags_accepted;
        self.tags_rejected += tags_rejected;
        self.views += views;
        self.plays += plays;
        self.completions += completions;
        self.likes += likes;
        self.skips += skips;
        self.watch_ms = self.watch_ms.saturating_add(*watch_ms);
        self.searches += searches;
        self.api_calls += api_calls;
        self.api_client_errors += api_client_errors;
        self.api_server_errors += api_server_errors;
    }

    pub fn is_empty(&self) -> bool {
        *self == Counters::default()
    }

    /// The ranking of media within a day: plays, then views.
    fn rank(&self) -> (u64, u64) {
        (self.plays, self.views)
    }
}

/// A distribution of durations in milliseconds (HdrHistogram, 2 significant digits: any
/// quantile is within 1% of the true value), stored as its compressed V2 encoding in base64.
#[derive(Debug, Clone, PartialEq)]
pub struct Durations(Histogram<u64>);

impl Default for Durations {
    fn default() -> Self {
        // Auto-resizing, so no duration is ever refused.
        let mut h = Histogram::new(2).expect("2 significant digits is valid");
        h.auto(true);
        Self(h)
    }
}

impl Durations {
    pub fn record(&mut self, ms: u64) {
        // Grows to fit; only a value past i64::MAX / 2 could fail, and that is clamped.
        if self.0.record(ms).is_err() {
            self.0.saturating_record(ms);
        }
    }

    pub fn add(&mut self, o: &Durations) {
        // Auto-resizing histograms take any value, so adding cannot fail.
        let _ = self.0.add(&o.0);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at quantile `q` (0–1), none without values.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(q))
    }
}

impl Serialize for Durations {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(&self.0, &mut bytes)
            .map_err(|e| serde::ser::Error::custom(format!("{e:?}")))?;
        s.serialize_str(&STANDARD.encode(bytes))
    }
}

impl<'de> Deserialize<'de> for Durations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        let mut h: Histogram<u64> = HdrDeserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| serde::de::Error::custom(format!("{e:?}")))?;
        h.auto(true);
        Ok(Self(h))
    }
}

/// Distinct users, estimated: exact up to 128, then HyperLogLog with 4,096 registers (about
/// 1.6% standard error). Sketches of days add up to the sketch of the range.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Users(CardinalityEstimator<str>);

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Users(~{})", self.estimate())
    }
}

impl PartialEq for Users {
    fn eq(&self, other: &Self) -> bool {
        self.estimate() == other.estimate()
    }
}

impl Users {
    pub fn insert(&mut self, user: &str) {
        self.0.insert(user);
    }
    pub fn add(&mut self, o: &Users) {
        self.0.merge(&o.0);
    }
    pub fn estimate(&self) -> u64 {
        self.0.estimate() as u64
    }
}

/// One media's place in a day's ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedMedia {
    pub media: MediaId,
    #[serde(flatten)]
    pub counters: Counters,
}

/// A tenant's day: the platform's half of the rollups, and what a summary reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantDay {
    /// Counters by UTC hour (0–23); hours with nothing are absent.
    pub hours: BTreeMap<u8, Counters>,
    /// Upload-to-done times of the day's finished analyses.
    pub analysis_ms: Durations,
    /// Latencies of the day's API calls.
    pub api_ms: Durations,
    /// The day's distinct users (of client events).
    pub users: Users,
    /// Tag decisions by tag: `[accepted, rejected]`.
    pub tag_decisions: BTreeMap<String, [u64; 2]>,
    /// The day's most played media with their day totals, best first, at most
    /// [`TOP_MEDIA_PER_DAY`]. Exact for the day: a media's counts only grow, so one outside
    /// the list is never ahead of the last in it.
    pub top_media: Vec<RankedMedia>,
}

impl TenantDay {
    /// The whole day's counters.
    pub fn totals(&self) -> Counters {
        let mut total = Counters::default();
        for c in self.hours.values() {
            total.add(c);
        }
        total
    }

    /// Add another day's counts (a batch's delta), all but the media ranking, which needs
    /// the media's day totals: see [`TenantDay::rank`].
    pub fn add(&mut self, d: &TenantDay) {
        for (hour, c) in &d.hours {
            self.hours.entry(*hour).or_default().add(c);
        }
        self.analysis_ms.add(&d.analysis_ms);
        self.api_ms.add(&d.api_ms);
        self.users.add(&d.users);
        for (tag, [accepted, rejected]) in &d.tag_decisions {
            let entry = self.tag_decisions.entry(tag.clone()).or_default();
            entry[0] += accepted;
            entry[1] += rejected;
        }
        self.cap_tags();
    }

    /// Keep the [`TAGS_PER_DAY`] most decided tags (ties: by name), the rest summed under
    /// [`OTHER_TAGS`]. A tag folded in once and decided again later counts afresh, so counts
    /// past the cap are a lower bound, as the media ranking's are.
    fn cap_tags(&mut self) {
        if self.tag_decisions.len() <= TAGS_PER_DAY {
            return;
        }
        let mut other = self.tag_decisions.remove(OTHER_TAGS).unwrap_or_default();
        let mut tags: Vec<(String, [u64; 2])> = std::mem::take(&mut self.tag_decisions)
            .into_iter()
            .collect();
        tags.sort_by(|(a, [aa, ar]), (b, [ba, br])| (ba + br, a).cmp(&(aa + ar, b)));
        for (_, [accepted, rejected]) in tags.drain(TAGS_PER_DAY - 1..) {
            other[0] += accepted;
            other[1] += rejected;
        }
        self.tag_decisions = tags.into_iter().collect();
        self.tag_decisions.insert(OTHER_TAGS.to_owned(), other);
    }

    /// Place a media with its day totals in the ranking. Totals only grow, so of two
    /// placements of one media (batches applied out of order) the larger stands.
    pub fn rank(&mut self, media: MediaId, day_totals: &Counters) {
        let mut totals = day_totals.clone();
        if let Some(at) = self.top_media.iter().position(|r| r.media == media) {
            let old = self.top_media.remove(at);
            if old.counters.rank() > totals.rank() {
                totals = old.counters;
            }
        }
        let key = (totals.rank(), std::cmp::Reverse(media));
        if key.0 == (0, 0) {
            return;
        }
        let at = self
            .top_media
            .partition_point(|r| (r.counters.rank(), std::cmp::Reverse(r.media)) > key);
        if at < TOP_MEDIA_PER_DAY {
            self.top_media.insert(
                at,
                RankedMedia {
                    media,
                    counters: totals,
                },
            );
            self.top_media.truncate(TOP_MEDIA_PER_DAY);
        }
    }
}

/// A media's day: its engagement counters and distinct users.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaDay {
    pub counters: Counters,
    pub users: Users,
}

impl MediaDay {
    pub fn add(&mut self, d: &MediaDay) {
        self.counters.add(&d.counters);
        self.users.add(&d.users);
    }
}

/// What a batch adds to one tenant day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayDelta {
    /// The tenant's counts (its `top_media` stays empty).
    pub tenant: TenantDay,
    /// Engagement by media (client events only).
    pub media: BTreeMap<MediaId, MediaDay>,
    /// How many events the delta counts.
    pub events: u64,
}

impl DayDelta {
    /// Add another delta of the same day (another file's events).
    pub fn add(&mut self, o: DayDelta) {
        self.tenant.add(&o.tenant);
        for (media, day) in o.media {
            match self.media.entry(media) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(day);
                }
                std::collections::btree_map::Entry::Occupied(mut slot) => slot.get_mut().add(&day),
            }
        }
        self.events += o.events;
    }
}

/// A batch's events as deltas by UTC day.
pub fn aggregate<'a>(
    events: impl IntoIterator<Item = &'a AnalyticsEvent>,
) -> BTreeMap<NaiveDate, DayDelta> {
    let mut days: BTreeMap<NaiveDate, DayDelta> = BTreeMap::new();
    for e in events {
        let day = days.entry(e.date()).or_default();
        day.events += 1;
        let media = &mut day.media;
        let day = &mut day.tenant;
        let hour = e.at.hour() as u8;
        day.hours.entry(hour).or_default().count(e);
        match e.kind {
            AnalyticsKind::Client(_) => {
                let user = e.user.map(|u| u.to_string());
                if let Some(user) = &user {
                    day.users.insert(user);
                }
                if let Some(id) = e.media {
                    let m = media.entry(id).or_default();
                    m.counters.count(e);
                    if let Some(user) = &user {
                        m.users.insert(user);
                    }
                }
            }
            AnalyticsKind::AnalysisDone => {
                if let Some(ms) = e.duration_ms {
                    day.analysis_ms.record(ms);
                }
            }
            AnalyticsKind::ApiCall => {
                if let Some(ms) = e.duration_ms {
                    day.api_ms.record(ms);
                }
            }
            AnalyticsKind::TagDecision => {
                if let Some(tag) = &e.label {
                    let entry = day.tag_decisions.entry(tag.clone()).or_default();
                    entry[usize::from(e.ok != Some(true))] += 1;
                }
            }
            AnalyticsKind::Upload | AnalyticsKind::Quarantine | AnalyticsKind::Search => {}
        }
    }
    days
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::ids::ProfileId;

    fn at(day: u32, hour: u32) -> crate::Timestamp {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 30, 0).unwrap()
    }

    fn client(
        kind: EventKind,
        media: MediaId,
        user: ProfileId,
        when: crate::Timestamp,
    ) -> AnalyticsEvent {
        AnalyticsEvent {
            kind: AnalyticsKind::Client(kind),
            media: Some(media),
            user: Some(user),
            watch_ms: (kind == EventKind::Play).then_some(1000),
            ..AnalyticsEvent::platform(
                AnalyticsKind::Client(kind),
                ulid::Ulid::new().to_string(),
                when,
            )
        }
    }

    #[test]
    fn a_day_keeps_the_most_decided_tags_and_sums_the_rest() {
        let tag = |i: usize| format!("genre/{i:0>122}");
        let mut day = TenantDay::default();
        // 1,500 tags: tag i decided i + 1 times (accepted when i is even).
        for i in 0..1500 {
            let mut delta = TenantDay::default();
            delta.tag_decisions.insert(
                tag(i),
                if i % 2 == 0 {
                    [i as u64 + 1, 0]
                } else {
                    [0, i as u64 + 1]
                },
            );
            day.add(&delta);
        }
        assert_eq!(day.tag_decisions.len(), TAGS_PER_DAY);
        let sum = |day: &TenantDay| -> u64 { day.tag_decisions.values().map(|[a, r]| a + r).sum() };
        assert_eq!(sum(&day), (1..=1500).sum::<u64>(), "no decision lost");
        assert!(
            day.tag_decisions.contains_key(&tag(1499)),
            "the most decided kept"
        );
        assert!(day.tag_decisions.contains_key(&tag(501)));
        assert!(
            !day.tag_decisions.contains_key(&tag(500)),
            "the 1,000th most decided folded"
        );
        let other = day.tag_decisions[OTHER_TAGS];
        assert_eq!(other[0] + other[1], (1..=501).sum::<u64>());
        // More decisions fold into the same bucket; the day still encodes well inside an item.
        let mut delta = TenantDay::default();
        delta.tag_decisions.insert(tag(7), [3, 0]);
        day.add(&delta);
        assert_eq!(day.tag_decisions.len(), TAGS_PER_DAY);
        assert_eq!(sum(&day), (1..=1500).sum::<u64>() + 3);
        let bytes = serde_json::to_vec(&day).unwrap().len();
        assert!(bytes < 200 * 1024, "{bytes} bytes");
    }

    #[test]
    fn a_batch_adds_up_by_day_hour_kind_media_and_user() {
        let (m1, m2) = (MediaId::generate(), MediaId::generate());
        let (u1, u2) = (ProfileId::generate(), ProfileId::generate());
        let events = vec![
            client(EventKind::Play, m1, u1, at(1, 9)),
            client(EventKind::Play, m1, u2, at(1, 9)),
            client(EventKind::Complete, m1, u2, at(1, 10)),
            client(EventKind::View, m2, u1, at(2, 0)),
            AnalyticsEvent::upload(m1, at(1, 8)),
            AnalyticsEvent::analysis_done(m1, true, 4_000, at(1, 8)),
            AnalyticsEvent::analysis_done(m2, false, 9_000, at(1, 8)),
            AnalyticsEvent::tag_decision(m1, "genre/rock", true, 1, "user:a", at(1, 11)),
            AnalyticsEvent::tag_decision(m2, "genre/rock", false, 1, "user:a", at(1, 11)),
            AnalyticsEvent::api_call("r1", "/v1/media", 200, 12, None, at(1, 11)),
            AnalyticsEvent::api_call("r2", "/v1/media", 404, 3, None, at(1, 11)),
            AnalyticsEvent::api_call("r3", "/v1/media", 503, 30, None, at(1, 11)),
        ];
        let days = aggregate(&events);
        assert_eq!(days.len(), 2);
        let first = &days[&at(1, 0).date_naive()];
        assert_eq!(first.events, 11);
        let totals = first.tenant.totals();
        assert_eq!(
            (totals.plays, totals.completions, totals.watch_ms),
            (2, 1, 2000)
        );
        assert_eq!(
            (totals.uploads, totals.analyses, totals.analysis_failures),
            (1, 2, 1)
        );
        assert_eq!((totals.tags_accepted, totals.tags_rejected), (1, 1));
        assert_eq!(
            (
                totals.api_calls,
                totals.api_client_errors,
                totals.api_server_errors
            ),
            (3, 1, 1)
        );
        assert_eq!(first.tenant.hours[&9].plays, 2);
        assert_eq!(first.tenant.hours[&10].completions, 1);
        assert_eq!(first.tenant.users.estimate(), 2);
        assert_eq!(first.tenant.tag_decisions["genre/rock"], [1, 1]);
        assert_eq!(first.tenant.analysis_ms.len(), 2);
        let m1_day = &first.media[&m1];
        assert_eq!((m1_day.counters.plays, m1_day.counters.completions), (2, 1));
        assert_eq!(m1_day.users.estimate(), 2);
        assert!(
            !first.media.contains_key(&m2),
            "m2 was only analyzed on day 1"
        );
        let second = &days[&at(2, 0).date_naive()];
        assert_eq!(second.media[&m2].counters.views, 1);
    }

    #[test]
    fn the_day_ranking_is_exact_best_first_and_bounded() {
        let mut day = TenantDay::default();
        let media: Vec<MediaId> = (0..TOP_MEDIA_PER_DAY + 20)
            .map(|_| MediaId::generate())
            .collect();
        // Every media gets plays in several rounds, as batches would bring them.
        let mut plays = vec![0u64; media.len()];
        for round in 0..3u64 {
            for (i, m) in media.iter().enumerate() {
                plays[i] += (i as u64 * 7 + round * 13) % 50;
                let totals = Counters {
                    plays: plays[i],
                    views: 1,
                    ..Counters::default()
                };
                day.rank(*m, &totals);
            }
        }
        let mut expected: Vec<(u64, MediaId)> =
            plays.iter().copied().zip(media.iter().copied()).collect();
        expected.sort_by(|a, b| (b.0, a.1).cmp(&(a.0, b.1)));
        expected.truncate(TOP_MEDIA_PER_DAY);
        let got: Vec<(u64, MediaId)> = day
            .top_media
            .iter()
            .map(|r| (r.counters.plays, r.media))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn rollups_round_trip_through_json() {
        let m = MediaId::generate();
        let events = vec![
            client(EventKind::Play, m, ProfileId::generate(), at(3, 1)),
            AnalyticsEvent::analysis_done(m, true, 65_000, at(3, 2)),
        ];
        let mut day = TenantDay::default();
        let delta = &aggregate(&events)[&at(3, 0).date_naive()];
        day.add(&delta.tenant);
        day.rank(m, &delta.media[&m].counters);
        let back: TenantDay = serde_json::from_value(serde_json::to_value(&day).unwrap()).unwrap();
        assert_eq!(back, day);
        let median = back.analysis_ms.quantile(0.5).unwrap();
        assert!((64_350..=65_650).contains(&median), "{median}");
        // Zero counters are not stored.
        let json = serde_json::to_string(&back.hours[&1]).unwrap();
        assert_eq!(json, r#"{"plays":1,"watch_ms":1000}"#);
    }

    #[test]
    fn distinct_users_estimate_within_a_few_percent_and_merge() {
        let (mut a, mut b) = (Users::default(), Users::default());
        for i in 0..20_000 {
            a.insert(&format!("user-{i}"));
            b.insert(&format!("user-{}", i + 10_000));
        }
        a.add(&b);
        let back: Users = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        let estimate = back.estimate() as f64;
        assert!((estimate / 30_000.0 - 1.0).abs() < 0.05, "{estimate}");
    }
}
