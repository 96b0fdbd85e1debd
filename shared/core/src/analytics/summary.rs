//! A tenant's dashboard over a time range, computed from its [`TenantDay`] rollups.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use serde::Serialize;

use super::rollup::{Counters, Durations, OTHER_TAGS, RankedMedia, TenantDay, Users};
use crate::Timestamp;
use crate::ids::MediaId;

/// How a summary's series is bucketed. Weeks start on Monday (ISO), days and hours are UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Hour,
    Day,
    Week,
}

impl Granularity {
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Week => "week",
        }
    }

    /// The longest range a summary of this granularity may span (bounding its series).
    pub fn max_days(self) -> i64 {
        match self {
            Granularity::Hour => 31,
            Granularity::Day => 366,
            Granularity::Week => 5 * 366,
        }
    }

    /// The start of the bucket holding `at`.
    pub fn bucket_start(self, at: Timestamp) -> Timestamp {
        let day = at.date_naive();
        let start = match self {
            Granularity::Hour => {
                return at
                    .with_minute(0)
                    .and_then(|t| t.with_second(0))
                    .and_then(|t| t.with_nanosecond(0))
                    .unwrap_or(at);
            }
            Granularity::Day => day,
            Granularity::Week => {
                day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
            }
        };
        midnight(start)
    }

    /// The start of every bucket from the one holding `range.from` to the last before
    /// `range.to`.
    pub fn bucket_starts(self, range: TimeRange) -> Vec<Timestamp> {
        let mut starts = Vec::new();
        let mut at = self.bucket_start(range.from);
        while at < range.to {
            starts.push(at);
            at += self.step();
        }
        starts
    }

    fn step(self) -> Duration {
        match self {
            Granularity::Hour => Duration::hours(1),
            Granularity::Day => Duration::days(1),
            Granularity::Week => Duration::weeks(1),
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Granularity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hour" => Ok(Granularity::Hour),
            "day" => Ok(Granularity::Day),
            "week" => Ok(Granularity::Week),
            _ => Err(format!("unknown granularity {s:?}; one of hour, day, week")),
        }
    }
}

pub fn midnight(day: NaiveDate) -> Timestamp {
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

/// A half-open time range `[from, to)`, whole hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Timestamp,
    pub to: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error(
        "{field}: expected a date (2026-11-01) or an RFC 3339 time on the hour (2026-11-01T13:00:00Z), not {value:?}"
    )]
    Malformed { field: &'static str, value: String },
    #[error("from must be before to")]
    Empty,
    #[error("a {granularity} summary spans at most {max} days")]
    TooLong { granularity: Granularity, max: i64 },
}

impl TimeRange {
    /// Parse `from` and `to` as given to the API: a date (its midnight, UTC) or an RFC 3339
    /// time on the hour. A `to` date is exclusive: `from=2026-11-01&to=2026-11-02` is one day.
    pub fn parse(from: &str, to: &str, granularity: Granularity) -> Result<Self, RangeError> {
        let range = Self {
            from: parse_bound("from", from)?,
            to: parse_bound("to", to)?,
        };
        if range.from >= range.to {
            return Err(RangeError::Empty);
        }
        let max = granularity.max_days();
        if range.to - range.from > Duration::days(max) {
            return Err(RangeError::TooLong { granularity, max });
        }
        Ok(range)
    }

    /// The UTC days the range touches.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let first = self.from.date_naive();
        let last = (self.to - Duration::nanoseconds(1)).date_naive();
        first.iter_days().take_while(move |d| *d <= last)
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        self.from <= at && at < self.to
    }
}

fn parse_bound(field: &'static str, value: &str) -> Result<Timestamp, RangeError> {
    let malformed = || RangeError::Malformed {
        field,
        value: value.to_owned(),
    };
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(midnight(day));
    }
    let at = chrono::DateTime::parse_from_rfc3339(value)
        .map_err(|_| malformed())?
        .with_timezone(&Utc);
    if at.minute() != 0 || at.second() != 0 || at.nanosecond() != 0 {
        return Err(malformed());
    }
    Ok(at)
}

/// How many media and tags a summary ranks.
pub const SUMMARY_TOP: usize = 10;

/// One bucket of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub start: Timestamp,
    #[serde(flatten)]
    pub counters: Counters,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagActivity {
    pub tag: String,
    pub accepted: u64,
    pub rejected: u64,
}

/// Rates and quantiles derived from the totals; `None` where there is nothing to divide.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    /// Analyses that succeeded, of those finished.
    pub analysis_success_rate: Option<f64>,
    pub median_analysis_ms: Option<u64>,
    /// Completions per play.
    pub completion_rate: Option<f64>,
    /// API calls answered 5xx, of all.
    pub api_error_rate: Option<f64>,
    pub api_p99_ms: Option<u64>,
    /// Tag decisions that accepted the tag.
    pub tag_acceptance_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub from: Timestamp,
    pub to: Timestamp,
    pub granularity: Granularity,
    pub totals: Counters,
    /// Distinct users over the range (estimated past a few hundred; see [`Users`]).
    pub unique_users: u64,
    pub rates: Rates,
    /// One bucket per step from the range's first to its last, empty ones included.
    pub series: Vec<Bucket>,
    /// Most played media over the range (from each day's ranking).
    pub top_media: Vec<RankedMedia>,
    /// Tags with the most decisions over the range.
    pub top_tags: Vec<TagActivity>,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Summarize `days` (the tenant's rollups for `range.days()`, missing days being empty) over
/// `range`. Counters are exact to the hour; distinct users, durations, rankings and tag
/// decisions are kept by day, so they count every day the range touches.
pub fn summarize<D: Borrow<TenantDay>>(
    days: &BTreeMap<NaiveDate, D>,
    range: TimeRange,
    granularity: Granularity,
) -> Summary {
    let mut totals = Counters::default();
    let mut buckets: BTreeMap<Timestamp, Counters> = granularity
        .bucket_starts(range)
        .into_iter()
        .map(|start| (start, Counters::default()))
        .collect();
    let (mut analysis_ms, mut api_ms, mut users) =
        (Durations::default(), Durations::default(), Users::default());
    let mut media: BTreeMap<MediaId, Counters> = BTreeMap::new();
    let mut tags: BTreeMap<&str, [u64; 2]> = BTreeMap::new();
    for (date, day) in days.range(range.from.date_naive()..) {
        let start = midnight(*date);
        if start >= range.to {
            break;
        }
        let day: &TenantDay = day.borrow();
        for (hour, counters) in &day.hours {
            let hour_start = start + Duration::hours(i64::from(*hour));
            if !range.contains(hour_start) {
                continue;
            }
            totals.add(counters);
            buckets
                .entry(granularity.bucket_start(hour_start))
                .or_default()
                .add(counters);
        }
        analysis_ms.add(&day.analysis_ms);
        api_ms.add(&day.api_ms);
        users.add(&day.users);
        for ranked in &day.top_media {
            media.entry(ranked.media).or_default().add(&ranked.counters);
        }
        // The sum of the day's least decided tags is no tag to rank.
        for (tag, [accepted, rejected]) in
            day.tag_decisions.iter().filter(|(t, _)| *t != OTHER_TAGS)
        {
            let entry = tags.entry(tag).or_default();
            entry[0] += accepted;
            entry[1] += rejected;
        }
    }
    let mut top_media: Vec<RankedMedia> = media
        .into_iter()
        .map(|(media, counters)| RankedMedia { media, counters })
        .collect();
    top_media.sort_by(|a, b| {
        (b.counters.plays, b.counters.views, a.media).cmp(&(
            a.counters.plays,
            a.counters.views,
            b.media,
        ))
    });
    top_media.truncate(SUMMARY_TOP);
    let mut top_tags: Vec<TagActivity> = tags
        .into_iter()
        .map(|(tag, [accepted, rejected])| TagActivity {
            tag: tag.to_owned(),
            accepted,
            rejected,
        })
        .collect();
    top_tags
        .sort_by(|a, b| (b.accepted + b.rejected, &a.tag).cmp(&(a.accepted + a.rejected, &b.tag)));
    top_tags.truncate(SUMMARY_TOP);
    let decisions = totals.tags_accepted + totals.tags_rejected;
    Summary {
        from: range.from,
        to: range.to,
        granularity,
        rates: Rates {
            analysis_success_rate: ratio(
                totals.analyses - totals.analysis_failures,
                totals.analyses,
            ),
            median_analysis_ms: analysis_ms.quantile(0.5),
            completion_rate: ratio(totals.completions, totals.plays),
            api_error_rate: ratio(totals.api_server_errors, totals.api_calls),
            api_p99_ms: api_ms.quantile(0.99),
            tag_acceptance_rate: ratio(totals.tags_accepted, decisions),
        },
        totals,
        unique_users: users.estimate(),
        series: buckets
            .into_iter()
            .map(|(start, counters)| Bucket { start, counters })
            .collect(),
        top_media,
        top_tags,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::analytics::record::AnalyticsEvent;
    use crate::analytics::rollup::aggregate;

    fn at(day: u32, hour: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    fn rollups(events: &[AnalyticsEvent]) -> BTreeMap<NaiveDate, TenantDay> {
        aggregate(events)
            .into_iter()
            .map(|(date, delta)| {
                let mut day = TenantDay::default();
                day.add(&delta.tenant);
                for (media, m) in &delta.media {
                    day.rank(*media, &m.counters);
                }
                (date, day)
            })
            .collect()
    }

    #[test]
    fn ranges_are_dates_or_times_on_the_hour() {
        let day = TimeRange::parse("2026-11-01", "2026-11-02", Granularity::Day).unwrap();
        assert_eq!((day.from, day.to), (at(1, 0), at(2, 0)));
        assert_eq!(day.days().count(), 1);
        let hours = TimeRange::parse(
            "2026-11-01T13:00:00Z",
            "2026-11-01T15:00:00+01:00",
            Granularity::Hour,
        )
        .unwrap();
        assert_eq!((hours.from, hours.to), (at(1, 13), at(1, 14)));
        for (from, to) in [
            ("2026-11-01T13:30:00Z", "2026-11-02"),
            ("yesterday", "2026-11-02"),
        ] {
            assert!(matches!(
                TimeRange::parse(from, to, Granularity::Day),
                Err(RangeError::Malformed { field: "from", .. })
            ));
        }
        assert_eq!(
            TimeRange::parse("2026-11-02", "2026-11-02", Granularity::Day),
            Err(RangeError::Empty)
        );
        assert!(matches!(
            TimeRange::parse("2026-10-01", "2026-11-02", Granularity::Hour),
            Err(RangeError::TooLong { max: 31, .. })
        ));
        assert!(TimeRange::parse("2026-10-01", "2026-11-02", Granularity::Day).is_ok());
    }

    #[test]
    fn a_summary_counts_the_hours_in_range_into_every_bucket() {
        let m = MediaId::generate();
        let events: Vec<AnalyticsEvent> = [at(1, 0), at(1, 23), at(2, 5), at(3, 0)]
            .into_iter()
            .enumerate()
            .map(|(i, when)| AnalyticsEvent::analysis_done(m, i != 1, 1000 * (i as u64 + 1), when))
            .collect();
        let days = rollups(&events);
        // 1 Nov 12:00 to 3 Nov 00:00: the 23:00 and 05:00 analyses, not the edges'.
        let range =
            TimeRange::parse("2026-11-01T12:00:00Z", "2026-11-03", Granularity::Hour).unwrap();
        let hourly = summarize(&days, range, Granularity::Hour);
        assert_eq!(hourly.series.len(), 36);
        assert_eq!(
            (hourly.totals.analyses, hourly.totals.analysis_failures),
            (2, 1)
        );
        assert_eq!(hourly.rates.analysis_success_rate, Some(0.5));
        assert_eq!(
            hourly
                .series
                .iter()
                .map(|b| b.counters.analyses)
                .sum::<u64>(),
            2
        );
        assert_eq!(hourly.series[11].start, at(1, 23));
        assert_eq!(hourly.series[11].counters.analyses, 1);

        let daily = summarize(
            &days,
            TimeRange::parse("2026-10-30", "2026-11-05", Granularity::Day).unwrap(),
            Granularity::Day,
        );
        let per_day: Vec<u64> = daily.series.iter().map(|b| b.counters.analyses).collect();
        assert_eq!(per_day, [0, 0, 2, 1, 1, 0]);
        // 1–4 Nov 2026 is Sunday to Wednesday: two ISO weeks.
        let weekly = summarize(
            &days,
            TimeRange::parse("2026-11-01", "2026-11-05", Granularity::Week).unwrap(),
            Granularity::Week,
        );
        let per_week: Vec<(Timestamp, u64)> = weekly
            .series
            .iter()
            .map(|b| (b.start, b.counters.analyses))
            .collect();
        assert_eq!(
            per_week,
            [
                (Utc.with_ymd_and_hms(2026, 10, 26, 0, 0, 0).unwrap(), 2),
                (at(2, 0), 2)
            ]
        );
        assert_eq!(weekly.totals.analyses, 4);
    }

    #[test]
    fn an_empty_range_is_a_summary_of_zeros() {
        let range = TimeRange::parse("2026-11-01", "2026-11-08", Granularity::Day).unwrap();
        let s = summarize::<TenantDay>(&BTreeMap::new(), range, Granularity::Day);
        assert_eq!(s.series.len(), 7);
        assert!(s.totals.is_empty());
        assert_eq!(s.unique_users, 0);
        assert_eq!(s.rates.median_analysis_ms, None);
        assert_eq!(s.rates.completion_rate, None);
        assert!(s.top_media.is_empty() && s.top_tags.is_empty());
    }

    #[test]
    fn top_media_and_tags_add_up_over_days() {
        let (a, b) = (MediaId::generate(), MediaId::generate());
        let play = |m: MediaId, when| AnalyticsEvent {
            media: Some(m),
            ..AnalyticsEvent::platform(
                crate::analytics::AnalyticsKind::Client(crate::event::EventKind::Play),
                ulid::Ulid::new().to_string(),
                when,
            )
        };
        let mut events = vec![
            play(a, at(1, 1)),
            play(b, at(1, 2)),
            play(b, at(2, 1)),
            play(b, at(2, 2)),
        ];
        events.push(play(a, at(2, 3)));
        events.push(AnalyticsEvent::tag_decision(
            a,
            "mood/calm",
            true,
            1,
            "user:x",
            at(1, 1),
        ));
        events.push(AnalyticsEvent::tag_decision(
            a,
            "genre/pop",
            false,
            1,
            "user:x",
            at(1, 1),
        ));
        events.push(AnalyticsEvent::tag_decision(
            b,
            "genre/pop",
            true,
            1,
            "user:x",
            at(2, 1),
        ));
        let s = summarize(
            &rollups(&events),
            TimeRange::parse("2026-11-01", "2026-11-03", Granularity::Day).unwrap(),
            Granularity::Day,
        );
        let top: Vec<(MediaId, u64)> = s
            .top_media
            .iter()
            .map(|r| (r.media, r.counters.plays))
            .collect();
        assert_eq!(top, [(b, 3), (a, 2)]);
        let tags: Vec<(&str, u64, u64)> = s
            .top_tags
            .iter()
            .map(|t| (t.tag.as_str(), t.accepted, t.rejected))
            .collect();
        assert_eq!(tags, [("genre/pop", 1, 1), ("mood/calm", 1, 0)]);
        assert_eq!(s.rates.tag_acceptance_rate, Some(2.0 / 3.0));
    }

    #[test]
    fn the_sum_of_a_day_s_least_decided_tags_is_not_a_top_tag() {
        let mut day = TenantDay::default();
        day.tag_decisions.insert(OTHER_TAGS.to_owned(), [40, 2]);
        day.tag_decisions.insert("genre/pop".to_owned(), [1, 0]);
        let days = BTreeMap::from([(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), day)]);
        let range = TimeRange::parse("2026-11-01", "2026-11-02", Granularity::Day).unwrap();
        let s = summarize(&days, range, Granularity::Day);
        let tags: Vec<&str> = s.top_tags.iter().map(|t| t.tag.as_str()).collect();
        assert_eq!(tags, ["genre/pop"]);
    }
}
