//! Alerts: a tenant's threshold rules on its rollup metrics ([`AlertRule`]), evaluated over
//! whole UTC hours ([`evaluate`]); a breach becomes an [`Alert`] and a [`Notification`] that
//! waits to be sent (by a webhook, later).
//!
//! # Windows
//!
//! A rule looks at the `window_hours` whole UTC hours that end at the last complete hour
//! ([`window_end_at`]): at 14:37 a 3-hour rule looks at 11:00–14:00. Evaluating again within
//! the same hour looks at the same window (counting events that arrived late), and raises its
//! alert at most once: the alert's id is derived from the rule and the window's end
//! ([`Alert::id_for`]).
//!
//! # Metrics
//!
//! | metric                  | value                                           | events (for `min_events`) |
//! |-------------------------|-------------------------------------------------|---------------------------|
//! | `analysis_failure_rate` | `analysis_failures / analyses`                  | `analyses`                |
//! | `quarantine_rate`       | `quarantines / (uploads + quarantines)`         | `uploads + quarantines`   |
//! | `quarantines`           | `quarantines`                                   | `quarantines`             |
//! | `api_error_rate`        | `api_server_errors / api_calls` (5xx only)      | `api_calls`               |
//! | `quarantine_spike`      | `quarantines / (baseline × window_hours)`       | `quarantines`             |
//!
//! An `upload` is counted only for a media that passed validation, a `quarantine` only for one
//! that did not, so the uploads that arrived are their sum.
//!
//! The spike compares the window with the 24 hours before it: the baseline is those hours'
//! mean quarantines per hour, at least [`SPIKE_BASELINE_FLOOR_PER_HOUR`], so a tenant that
//! never had a quarantine needs more than `threshold` quarantines per hour to fire, not one.
//! A value of 3 means three times as many quarantines as usual.
//!
//! A rule fires when its window has at least `min_events` events and its value is strictly
//! above its threshold; a window without the events to compute a rate never fires.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::rollup::{Counters, TenantDay};
use super::summary::midnight;
use crate::Timestamp;
use crate::ids::{AlertId, AlertRuleId, TenantId};

/// The longest window a rule may look at.
pub const MAX_WINDOW_HOURS: u8 = 24;
/// How many hours before its window a spike rule compares the window with.
pub const SPIKE_BASELINE_HOURS: u8 = 24;
/// The least baseline a spike is measured against, in quarantines per hour.
pub const SPIKE_BASELINE_FLOOR_PER_HOUR: f64 = 1.0;
/// The longest rule name, in characters.
pub const MAX_RULE_NAME_CHARS: usize = 100;

/// What a rule measures (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertMetric {
    AnalysisFailureRate,
    QuarantineRate,
    Quarantines,
    ApiErrorRate,
    QuarantineSpike,
}

impl AlertMetric {
    pub const ALL: [AlertMetric; 5] = [
        AlertMetric::AnalysisFailureRate,
        AlertMetric::QuarantineRate,
        AlertMetric::Quarantines,
        AlertMetric::ApiErrorRate,
        AlertMetric::QuarantineSpike,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertMetric::AnalysisFailureRate => "analysis_failure_rate",
            AlertMetric::QuarantineRate => "quarantine_rate",
            AlertMetric::Quarantines => "quarantines",
            AlertMetric::ApiErrorRate => "api_error_rate",
            AlertMetric::QuarantineSpike => "quarantine_spike",
        }
    }

    /// Whether the value is a fraction (0 to 1), so its threshold must be one too.
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            AlertMetric::AnalysisFailureRate
                | AlertMetric::QuarantineRate
                | AlertMetric::ApiErrorRate
        )
    }

    /// The `min_events` a rule gets when its spec names none: enough that a rate is not one
    /// failure of one analysis, and a spike not a couple of quarantines.
    pub fn default_min_events(self) -> u64 {
        match self {
            AlertMetric::AnalysisFailureRate
            | AlertMetric::QuarantineRate
            | AlertMetric::ApiErrorRate => 20,
            AlertMetric::QuarantineSpike => 5,
            AlertMetric::Quarantines => 1,
        }
    }

    /// The metric's value and events over a window of `window_hours` hours, given the window's
    /// counters and those of the [`SPIKE_BASELINE_HOURS`] before it; `None` when there is no
    /// value (a rate of nothing).
    fn measure(self, window: &Counters, baseline: &Counters, window_hours: u8) -> Option<Measure> {
        let rate = |part: u64, whole: u64| {
            (whole > 0).then(|| Measure {
                value: part as f64 / whole as f64,
                events: whole,
            })
        };
        match self {
            AlertMetric::AnalysisFailureRate => rate(window.analysis_failures, window.analyses),
            AlertMetric::QuarantineRate => {
                rate(window.quarantines, window.uploads + window.quarantines)
            }
            AlertMetric::Quarantines => Some(Measure {
                value: window.quarantines as f64,
                events: window.quarantines,
            }),
            AlertMetric::ApiErrorRate => rate(window.api_server_errors, window.api_calls),
            AlertMetric::QuarantineSpike => {
                let per_hour = (baseline.quarantines as f64 / f64::from(SPIKE_BASELINE_HOURS))
                    .max(SPIKE_BASELINE_FLOOR_PER_HOUR);
                Some(Measure {
                    value: window.quarantines as f64 / (per_hour * f64::from(window_hours)),
                    events: window.quarantines,
                })
            }
        }
    }
}

struct Measure {
    value: f64,
    events: u64,
}

impl fmt::Display for AlertMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertMetric {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Self, RuleError> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| RuleError::UnknownMetric(s.to_owned()))
    }
}

/// Why a rule is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("the rule needs a name")]
    EmptyName,
    #[error("a rule name has at most {MAX_RULE_NAME_CHARS} characters")]
    NameTooLong,
    #[error("a rule name cannot hold control characters")]
    NameHasControlCharacters,
    #[error(
        "unknown metric {0:?}; one of analysis_failure_rate, quarantine_rate, quarantines, api_error_rate, quarantine_spike"
    )]
    UnknownMetric(String),
    #[error("window_hours must be from 1 to {MAX_WINDOW_HOURS}, not {0}")]
    WindowOutOfRange(u32),
    #[error("the threshold must be a finite number")]
    ThresholdNotFinite,
    #[error("a {metric} threshold is a fraction from 0 to 1, not {threshold}")]
    RateThresholdOutOfRange { metric: AlertMetric, threshold: f64 },
    #[error("a {metric} threshold cannot be negative ({threshold})")]
    NegativeThreshold { metric: AlertMetric, threshold: f64 },
}

fn enabled_by_default() -> bool {
    true
}

/// A rule as a tenant writes it (`POST` and `PUT` bodies): what to measure, over how many
/// hours, above what. [`AlertRule::new`] and [`AlertRule::revise`] check it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    pub metric: AlertMetric,
    /// 1 to [`MAX_WINDOW_HOURS`] (wider than the stored `u8` so a bad number gets a clear
    /// error, not a decoding one).
    pub window_hours: u32,
    /// A fraction (0 to 1) for rates, a count for `quarantines`, a factor for
    /// `quarantine_spike`; the rule fires strictly above it.
    pub threshold: f64,
    /// Events a window needs before the rule can fire; the metric's
    /// [`AlertMetric::default_min_events`] when absent.
    #[serde(default)]
    pub min_events: Option<u64>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

/// A tenant's threshold rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct AlertRule {
    pub id: AlertRuleId,
    pub tenant: TenantId,
    pub name: String,
    pub metric: AlertMetric,
    /// 1 to [`MAX_WINDOW_HOURS`].
    pub window_hours: u8,
    pub threshold: f64,
    pub min_events: u64,
    /// Only enabled rules are evaluated.
    pub enabled: bool,
    /// The actor who created it (`user:…`, `key:…`).
    pub created_by: String,
    pub created_at: Timestamp,
    /// When the spec last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

impl AlertRule {
    /// A new rule from a tenant's spec, or why the spec is refused.
    pub fn new(
        tenant: TenantId,
        spec: RuleSpec,
        created_by: impl Into<String>,
        now: Timestamp,
    ) -> Result<Self, RuleError> {
        let mut rule = Self {
            id: AlertRuleId::generate(),
            tenant,
            name: String::new(),
            metric: spec.metric,
            window_hours: 1,
            threshold: 0.0,
            min_events: 0,
            enabled: true,
            created_by: created_by.into(),
            created_at: now,
            updated_at: None,
        };
        rule.apply(spec)?;
        Ok(rule)
    }

    /// This rule with a new spec (same id, tenant and creator), or why the spec is refused.
    pub fn revise(&self, spec: RuleSpec, now: Timestamp) -> Result<Self, RuleError> {
        let mut rule = self.clone();
        rule.apply(spec)?;
        rule.updated_at = Some(now);
        Ok(rule)
    }

    fn apply(&mut self, spec: RuleSpec) -> Result<(), RuleError> {
        let window_hours = u8::try_from(spec.window_hours)
            .ok()
            .filter(|h| (1..=MAX_WINDOW_HOURS).contains(h))
            .ok_or(RuleError::WindowOutOfRange(spec.window_hours))?;
        self.name = spec.name.trim().to_owned();
        self.metric = spec.metric;
        self.window_hours = window_hours;
        self.threshold = spec.threshold;
        self.min_events = spec
            .min_events
            .unwrap_or_else(|| spec.metric.default_min_events());
        self.enabled = spec.enabled;
        self.validate()
    }

    /// Whether the rule is one a spec could make (a stored rule is checked again before it
    /// is evaluated).
    pub fn validate(&self) -> Result<(), RuleError> {
        if self.name.trim().is_empty() {
            return Err(RuleError::EmptyName);
        }
        if self.name.chars().count() > MAX_RULE_NAME_CHARS {
            return Err(RuleError::NameTooLong);
        }
        if self.name.chars().any(char::is_control) {
            return Err(RuleError::NameHasControlCharacters);
        }
        if !(1..=MAX_WINDOW_HOURS).contains(&self.window_hours) {
            return Err(RuleError::WindowOutOfRange(u32::from(self.window_hours)));
        }
        let (metric, threshold) = (self.metric, self.threshold);
        if !threshold.is_finite() {
            return Err(RuleError::ThresholdNotFinite);
        }
        if metric.is_rate() && !(0.0..=1.0).contains(&threshold) {
            return Err(RuleError::RateThresholdOutOfRange { metric, threshold });
        }
        if threshold < 0.0 {
            return Err(RuleError::NegativeThreshold { metric, threshold });
        }
        Ok(())
    }

    /// The start of the window ending at `window_end`.
    pub fn window_start(&self, window_end: Timestamp) -> Timestamp {
        hour_floor(window_end) - Duration::hours(i64::from(self.window_hours))
    }

    /// The first hour whose counters evaluating the window ending at `window_end` reads:
    /// the window's start, or for a spike the start of its baseline.
    pub fn reads_from(&self, window_end: Timestamp) -> Timestamp {
        let start = self.window_start(window_end);
        match self.metric {
            AlertMetric::QuarantineSpike => {
                start - Duration::hours(i64::from(SPIKE_BASELINE_HOURS))
            }
            _ => start,
        }
    }
}

/// The start of the hour holding `at`.
fn hour_floor(at: Timestamp) -> Timestamp {
    let secs = at.timestamp().div_euclid(3600) * 3600;
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or(at)
}

/// The end of the last complete UTC hour at `now` (its hour floor): what windows end at.
pub fn window_end_at(now: Timestamp) -> Timestamp {
    hour_floor(now)
}

/// A tenant's counters by UTC hour (keyed by the hour's start), as the rollups hold them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourlyCounters(BTreeMap<Timestamp, Counters>);

impl HourlyCounters {
    /// The hours of a tenant's day rollups.
    pub fn from_days<D: Borrow<TenantDay>>(days: &BTreeMap<NaiveDate, D>) -> Self {
        let mut hourly = Self::default();
        for (date, day) in days {
            for (hour, counters) in &day.borrow().hours {
                // A stored hour past 23 would land in the next day: ignore it.
                if *hour < 24 {
                    hourly.add(
                        midnight(*date) + Duration::hours(i64::from(*hour)),
                        counters,
                    );
                }
            }
        }
        hourly
    }

    /// Add `counters` to the hour holding `at`.
    pub fn add(&mut self, at: Timestamp, counters: &Counters) {
        self.0.entry(hour_floor(at)).or_default().add(counters);
    }

    /// The counters of the hours from `from` (inclusive) to `to` (exclusive).
    pub fn sum(&self, from: Timestamp, to: Timestamp) -> Counters {
        let mut total = Counters::default();
        if from < to {
            for counters in self.0.range(from..to).map(|(_, c)| c) {
                total.add(counters);
            }
        }
        total
    }
}

/// A rule's value above its threshold in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Breach {
    pub value: f64,
    pub threshold: f64,
    /// The events the value is of (see the module's table).
    pub events: u64,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
}

/// Whether `rule` fires for the window ending at `window_end` (floored to the hour), given
/// the tenant's hourly counters (the window's hours and, for a spike, the 24 before). A
/// disabled rule, or one that fails [`AlertRule::validate`], never fires.
pub fn evaluate(rule: &AlertRule, window_end: Timestamp, hours: &HourlyCounters) -> Option<Breach> {
    if !rule.enabled || rule.validate().is_err() {
        return None;
    }
    let window_end = hour_floor(window_end);
    let window_start = rule.window_start(window_end);
    let window = hours.sum(window_start, window_end);
    let baseline = match rule.metric {
        AlertMetric::QuarantineSpike => hours.sum(rule.reads_from(window_end), window_start),
        _ => Counters::default(),
    };
    let measure = rule.metric.measure(&window, &baseline, rule.window_hours)?;
    (measure.events >= rule.min_events && measure.value > rule.threshold).then_some(Breach {
        value: measure.value,
        threshold: rule.threshold,
        events: measure.events,
        window_start,
        window_end,
    })
}

/// A rule's breach in one window, recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Alert {
    /// [`Alert::id_for`] the rule and the window's end.
    pub id: AlertId,
    pub tenant: TenantId,
    pub rule: AlertRuleId,
    /// The rule's name when it fired.
    pub rule_name: String,
    pub metric: AlertMetric,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub value: f64,
    pub threshold: f64,
    pub events: u64,
    pub raised_at: Timestamp,
}

/// The first 128 bits of the SHA-256 of `text`: randomness that is the same every time.
fn stable_bits(text: &str) -> u128 {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

/// Unix milliseconds of a time, 0 before 1970.
fn unix_ms(at: Timestamp) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

impl Alert {
    /// The id of `rule`'s alert for the window ending at `window_end`: its time is the
    /// window's end (alerts sort by window) and its randomness a hash of the rule, so a window
    /// evaluated twice names the same alert.
    pub fn id_for(rule: AlertRuleId, window_end: Timestamp) -> AlertId {
        AlertId::from_parts(unix_ms(window_end), stable_bits(&rule.to_string()))
    }

    /// The alert for `rule`'s `breach`, raised at `now`.
    pub fn new(rule: &AlertRule, breach: Breach, now: Timestamp) -> Self {
        Self {
            id: Self::id_for(rule.id, breach.window_end),
            tenant: rule.tenant,
            rule: rule.id,
            rule_name: rule.name.clone(),
            metric: rule.metric,
            window_start: breach.window_start,
            window_end: breach.window_end,
            value: breach.value,
            threshold: breach.threshold,
            events: breach.events,
            raised_at: now,
        }
    }

    /// One line for people: `"Failures: analysis_failure_rate 0.12 above 0.05 (50 events,
    /// 13:00–14:00 UTC on 2026-11-26)"`.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} {:.4} above {} ({} events, {}–{} UTC on {})",
            self.rule_name,
            self.metric,
            self.value,
            self.threshold,
            self.events,
            self.window_start.format("%H:%M"),
            self.window_end.format("%H:%M"),
            self.window_start.format("%Y-%m-%d"),
        )
    }
}

/// What a notification tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotificationKind {
    #[serde(rename = "alert.raised")]
    AlertRaised,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::AlertRaised => "alert.raised",
        }
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outgoing event kept until it is delivered: `payload` is the body a webhook will post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Notification {
    /// A ULID (sorting by when it was raised), derived from the alert.
    pub id: String,
    pub tenant: TenantId,
    pub kind: NotificationKind,
    pub alert: AlertId,
    /// `{"id", "type": "alert.raised", "created_at", "tenant", "data": {"alert": {…},
    /// "summary": "…"}}`.
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
    /// Set once a sender delivered it.
    #[serde(default)]
    pub delivered_at: Option<Timestamp>,
}

impl Notification {
    /// The id of the notification of `alert`: its window's end as time, a hash of the alert
    /// as randomness (the same every time, never the alert's own id).
    pub fn id_for(alert: &Alert) -> String {
        let kind = NotificationKind::AlertRaised;
        ulid::Ulid::from_parts(
            unix_ms(alert.window_end),
            stable_bits(&format!("{kind}/{}", alert.id)),
        )
        .to_string()
    }

    /// The `alert.raised` notification of `alert`, created at `now`.
    pub fn alert_raised(alert: &Alert, now: Timestamp) -> Self {
        let id = Self::id_for(alert);
        let kind = NotificationKind::AlertRaised;
        let payload = serde_json::json!({
            "id": id,
            "type": kind,
            "created_at": now,
            "tenant": alert.tenant,
            "data": {
                "alert": alert,
                "summary": alert.summary(),
            },
        });
        Self {
            id,
            tenant: alert.tenant,
            kind,
            alert: alert.id,
            payload,
            created_at: now,
            delivered_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::analytics::record::AnalyticsEvent;
    use crate::analytics::rollup::aggregate;
    use crate::ids::MediaId;

    fn at(day: u32, hour: u32, minute: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
            .unwrap()
    }

    fn spec(metric: AlertMetric, window_hours: u32, threshold: f64, min_events: u64) -> RuleSpec {
        RuleSpec {
            name: "watch".into(),
            metric,
            window_hours,
            threshold,
            min_events: Some(min_events),
            enabled: true,
        }
    }

    fn rule(metric: AlertMetric, window_hours: u32, threshold: f64, min_events: u64) -> AlertRule {
        AlertRule::new(
            TenantId::generate(),
            spec(metric, window_hours, threshold, min_events),
            "user:ops",
            at(1, 0, 0),
        )
        .unwrap()
    }

    /// Hourly counters of synthetic events, through the same aggregation as the rollups.
    fn hours_of(events: &[AnalyticsEvent]) -> HourlyCounters {
        let days = aggregate(events)
            .into_iter()
            .map(|(date, delta)| (date, delta.tenant))
            .collect();
        HourlyCounters::from_days(&days)
    }

    /// `ok` and `failed` analyses finished at `when`.
    fn analyses(ok: usize, failed: usize, when: Timestamp) -> Vec<AnalyticsEvent> {
        (0..ok + failed)
            .map(|i| AnalyticsEvent::analysis_done(MediaId::generate(), i < ok, 1_000, when))
            .collect()
    }

    fn quarantines(n: usize, when: Timestamp) -> Vec<AnalyticsEvent> {
        (0..n)
            .map(|_| AnalyticsEvent::quarantine(MediaId::generate(), "not_a_video", when))
            .collect()
    }

    fn uploads(n: usize, when: Timestamp) -> Vec<AnalyticsEvent> {
        (0..n)
            .map(|_| AnalyticsEvent::upload(MediaId::generate(), when))
            .collect()
    }

    fn api_calls(ok: usize, server_errors: usize, when: Timestamp) -> Vec<AnalyticsEvent> {
        (0..ok + server_errors)
            .map(|i| {
                let status = if i < ok { 200 } else { 503 };
                AnalyticsEvent::api_call(&format!("r{i}"), "/v1/media", status, 5, None, when)
            })
            .collect()
    }

    #[test]
    fn windows_end_at_the_last_complete_hour() {
        assert_eq!(window_end_at(at(26, 14, 37)), at(26, 14, 0));
        assert_eq!(window_end_at(at(26, 14, 0)), at(26, 14, 0));
        let r = rule(AlertMetric::Quarantines, 3, 0.0, 1);
        assert_eq!(r.window_start(at(26, 14, 0)), at(26, 11, 0));
        assert_eq!(r.reads_from(at(26, 14, 0)), at(26, 11, 0));
        let spike = rule(AlertMetric::QuarantineSpike, 3, 2.0, 1);
        assert_eq!(spike.reads_from(at(26, 14, 0)), at(25, 11, 0));
    }

    #[test]
    fn analysis_failure_rate_fires_above_its_threshold_only() {
        let r = rule(AlertMetric::AnalysisFailureRate, 1, 0.1, 20);
        let end = at(26, 14, 0);
        let at_threshold = hours_of(&analyses(18, 2, at(26, 13, 10)));
        assert_eq!(evaluate(&r, end, &at_threshold), None, "2 of 20 is 0.1");
        let above = hours_of(&analyses(17, 3, at(26, 13, 10)));
        let breach = evaluate(&r, end, &above).expect("3 of 20 is above 0.1");
        assert_eq!(
            breach,
            Breach {
                value: 0.15,
                threshold: 0.1,
                events: 20,
                window_start: at(26, 13, 0),
                window_end: end,
            }
        );
    }

    #[test]
    fn quarantine_rate_is_of_every_upload_that_arrived() {
        let r = rule(AlertMetric::QuarantineRate, 2, 0.25, 4);
        let end = at(26, 14, 0);
        // 1 of 4 arrivals quarantined: exactly the threshold.
        let mut events = uploads(3, at(26, 12, 5));
        events.extend(quarantines(1, at(26, 13, 5)));
        assert_eq!(evaluate(&r, end, &hours_of(&events)), None);
        events.extend(quarantines(1, at(26, 13, 6)));
        let breach = evaluate(&r, end, &hours_of(&events)).expect("2 of 5 is 0.4");
        assert_eq!((breach.value, breach.events), (0.4, 5));
    }

    #[test]
    fn quarantine_count_fires_above_its_threshold_only() {
        let r = rule(AlertMetric::Quarantines, 1, 3.0, 1);
        let end = at(26, 14, 0);
        assert_eq!(
            evaluate(&r, end, &hours_of(&quarantines(3, at(26, 13, 0)))),
            None
        );
        let breach = evaluate(&r, end, &hours_of(&quarantines(4, at(26, 13, 59)))).unwrap();
        assert_eq!((breach.value, breach.events), (4.0, 4));
    }

    #[test]
    fn api_error_rate_counts_server_errors_only() {
        let r = rule(AlertMetric::ApiErrorRate, 1, 0.05, 20);
        let end = at(26, 14, 0);
        let mut events = api_calls(19, 1, at(26, 13, 30));
        // Client errors are the caller's fault, not an outage.
        events.push(AnalyticsEvent::api_call(
            "c1",
            "/v1/media",
            404,
            5,
            None,
            at(26, 13, 30),
        ));
        assert_eq!(evaluate(&r, end, &hours_of(&events)), None, "1 of 21");
        events.extend(api_calls(0, 1, at(26, 13, 31)));
        let breach = evaluate(&r, end, &hours_of(&events)).expect("2 of 22");
        assert_eq!(breach.events, 22);
        assert!((breach.value - 2.0 / 22.0).abs() < 1e-12);
    }

    #[test]
    fn a_spike_is_the_window_against_the_day_before_it() {
        // 48 quarantines over the 24 hours before the window: 2 per hour usual.
        let r = rule(AlertMetric::QuarantineSpike, 2, 3.0, 5);
        let end = at(26, 14, 0);
        let mut events = Vec::new();
        for h in 0..24 {
            let when = at(25, 12, 0) + Duration::hours(h);
            events.extend(quarantines(2, when));
        }
        // 12 in the window's 2 hours: 3 times the usual 4.
        events.extend(quarantines(12, at(26, 12, 30)));
        let hours = hours_of(&events);
        assert_eq!(evaluate(&r, end, &hours), None, "exactly 3 times");
        events.extend(quarantines(1, at(26, 13, 30)));
        let breach = evaluate(&r, end, &hours_of(&events)).expect("13 against 4");
        assert_eq!((breach.value, breach.events), (13.0 / 4.0, 13));
        // Quarantines before the baseline do not count in it.
        events.extend(quarantines(500, at(25, 11, 59)));
        assert_eq!(
            evaluate(&r, end, &hours_of(&events)).map(|b| b.value),
            Some(13.0 / 4.0)
        );
    }

    #[test]
    fn a_spike_over_no_baseline_is_measured_against_one_per_hour() {
        let r = rule(AlertMetric::QuarantineSpike, 2, 3.0, 5);
        let end = at(26, 14, 0);
        // 6 in 2 hours against the floor of 1 an hour: exactly 3.
        assert_eq!(
            evaluate(&r, end, &hours_of(&quarantines(6, at(26, 12, 0)))),
            None
        );
        let breach = evaluate(&r, end, &hours_of(&quarantines(7, at(26, 12, 0))))
            .expect("7 against the floor of 2");
        assert_eq!((breach.value, breach.events), (3.5, 7));
    }

    #[test]
    fn min_events_keeps_a_small_sample_quiet() {
        let r = rule(AlertMetric::AnalysisFailureRate, 1, 0.05, 20);
        let end = at(26, 14, 0);
        let one_of_one = hours_of(&analyses(0, 1, at(26, 13, 0)));
        assert_eq!(evaluate(&r, end, &one_of_one), None);
        let nineteen = hours_of(&analyses(0, 19, at(26, 13, 0)));
        assert_eq!(evaluate(&r, end, &nineteen), None, "all failed, 19 < 20");
        let twenty = hours_of(&analyses(0, 20, at(26, 13, 0)));
        assert_eq!(evaluate(&r, end, &twenty).map(|b| b.value), Some(1.0));
        // A spike with too few quarantines stays quiet too.
        let spike = rule(AlertMetric::QuarantineSpike, 1, 1.0, 5);
        assert_eq!(
            evaluate(&spike, end, &hours_of(&quarantines(4, at(26, 13, 0)))),
            None
        );
    }

    #[test]
    fn a_rate_of_nothing_never_fires() {
        let r = rule(AlertMetric::ApiErrorRate, 24, 0.0, 0);
        assert_eq!(
            evaluate(&r, at(26, 14, 0), &HourlyCounters::default()),
            None
        );
    }

    #[test]
    fn hours_outside_the_window_do_not_count() {
        let r = rule(AlertMetric::Quarantines, 1, 0.0, 1);
        let end = at(26, 14, 0);
        let mut events = quarantines(5, at(26, 12, 59));
        events.extend(quarantines(5, at(26, 14, 0)));
        assert_eq!(evaluate(&r, end, &hours_of(&events)), None);
    }

    #[test]
    fn a_window_spans_midnight() {
        let r = rule(AlertMetric::AnalysisFailureRate, 2, 0.5, 4);
        let end = at(27, 1, 0);
        let mut events = analyses(3, 0, at(26, 22, 30)); // before the window
        events.extend(analyses(0, 2, at(26, 23, 30)));
        events.extend(analyses(1, 1, at(27, 0, 30)));
        // Only both days together make 4 events, 3 of them failed.
        let breach = evaluate(&r, end, &hours_of(&events)).expect("3 of 4 failed");
        assert_eq!((breach.value, breach.events), (0.75, 4));
        assert_eq!(
            (breach.window_start, breach.window_end),
            (at(26, 23, 0), end)
        );
    }

    #[test]
    fn a_disabled_or_invalid_rule_never_fires() {
        let hours = hours_of(&quarantines(10, at(26, 13, 0)));
        let mut r = rule(AlertMetric::Quarantines, 1, 1.0, 1);
        assert!(evaluate(&r, at(26, 14, 0), &hours).is_some());
        r.enabled = false;
        assert_eq!(evaluate(&r, at(26, 14, 0), &hours), None);
        r.enabled = true;
        r.window_hours = 0;
        assert_eq!(evaluate(&r, at(26, 14, 0), &hours), None);
    }

    #[test]
    fn specs_are_refused_with_the_reason() {
        let tenant = TenantId::generate();
        let make = |s: RuleSpec| AlertRule::new(tenant, s, "user:a", at(1, 0, 0)).map(|_| ());
        let base = spec(AlertMetric::AnalysisFailureRate, 1, 0.05, 10);
        let cases = [
            (
                RuleSpec {
                    name: "  ".into(),
                    ..base.clone()
                },
                RuleError::EmptyName,
            ),
            (
                RuleSpec {
                    name: "x".repeat(MAX_RULE_NAME_CHARS + 1),
                    ..base.clone()
                },
                RuleError::NameTooLong,
            ),
            (
                RuleSpec {
                    name: "a\nb".into(),
                    ..base.clone()
                },
                RuleError::NameHasControlCharacters,
            ),
            (
                RuleSpec {
                    window_hours: 0,
                    ..base.clone()
                },
                RuleError::WindowOutOfRange(0),
            ),
            (
                RuleSpec {
                    window_hours: 25,
                    ..base.clone()
                },
                RuleError::WindowOutOfRange(25),
            ),
            (
                RuleSpec {
                    window_hours: 300,
                    ..base.clone()
                },
                RuleError::WindowOutOfRange(300),
            ),
            (
                RuleSpec {
                    threshold: f64::NAN,
                    ..base.clone()
                },
                RuleError::ThresholdNotFinite,
            ),
            (
                RuleSpec {
                    threshold: 5.0,
                    ..base.clone()
                },
                RuleError::RateThresholdOutOfRange {
                    metric: AlertMetric::AnalysisFailureRate,
                    threshold: 5.0,
                },
            ),
            (
                RuleSpec {
                    threshold: -0.1,
                    ..base.clone()
                },
                RuleError::RateThresholdOutOfRange {
                    metric: AlertMetric::AnalysisFailureRate,
                    threshold: -0.1,
                },
            ),
            (
                spec(AlertMetric::Quarantines, 1, -1.0, 1),
                RuleError::NegativeThreshold {
                    metric: AlertMetric::Quarantines,
                    threshold: -1.0,
                },
            ),
        ];
        for (s, expected) in cases {
            assert_eq!(make(s), Err(expected));
        }
        // The edges are allowed: counts and spikes above 1, rates at 0 and 1, 24 hours.
        for ok in [
            spec(AlertMetric::Quarantines, 24, 50.0, 0),
            spec(AlertMetric::QuarantineSpike, 1, 3.0, 5),
            spec(AlertMetric::ApiErrorRate, 1, 0.0, 5),
            spec(AlertMetric::QuarantineRate, 1, 1.0, 5),
        ] {
            assert_eq!(make(ok), Ok(()));
        }
    }

    #[test]
    fn a_spec_without_min_events_takes_the_metrics_default() {
        let s = RuleSpec {
            min_events: None,
            ..spec(AlertMetric::ApiErrorRate, 1, 0.05, 0)
        };
        let r = AlertRule::new(TenantId::generate(), s, "user:a", at(1, 0, 0)).unwrap();
        assert_eq!(r.min_events, 20);
        assert_eq!(r.name, "watch");
    }

    #[test]
    fn a_revised_rule_keeps_its_identity() {
        let r = rule(AlertMetric::Quarantines, 1, 3.0, 1);
        let revised = r
            .revise(
                RuleSpec {
                    name: " Spikes ".into(),
                    enabled: false,
                    ..spec(AlertMetric::QuarantineSpike, 6, 4.0, 10)
                },
                at(2, 0, 0),
            )
            .unwrap();
        assert_eq!(
            (revised.id, revised.tenant, &revised.created_by),
            (r.id, r.tenant, &r.created_by)
        );
        assert_eq!(
            (
                revised.name.as_str(),
                revised.metric,
                revised.window_hours,
                revised.enabled
            ),
            ("Spikes", AlertMetric::QuarantineSpike, 6, false)
        );
        assert_eq!(revised.updated_at, Some(at(2, 0, 0)));
        assert!(
            r.revise(spec(AlertMetric::QuarantineRate, 1, 2.0, 1), at(2, 0, 0))
                .is_err()
        );
    }

    #[test]
    fn specs_parse_from_json_and_refuse_unknown_fields() {
        let s: RuleSpec = serde_json::from_str(
            r#"{"name":"Failures","metric":"analysis_failure_rate","window_hours":1,"threshold":0.05}"#,
        )
        .unwrap();
        assert_eq!(
            (s.metric, s.min_events, s.enabled),
            (AlertMetric::AnalysisFailureRate, None, true)
        );
        assert!(
            serde_json::from_str::<RuleSpec>(
                r#"{"name":"x","metric":"quarantines","window_hours":1,"threshold":1,"min_event":3}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<RuleSpec>(
                r#"{"name":"x","metric":"cpu","window_hours":1,"threshold":1}"#
            )
            .is_err()
        );
        for m in AlertMetric::ALL {
            assert_eq!(m.as_str().parse::<AlertMetric>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        assert!(matches!(
            "cpu".parse::<AlertMetric>(),
            Err(RuleError::UnknownMetric(_))
        ));
    }

    #[test]
    fn the_same_window_names_the_same_alert_and_notification() {
        let r = rule(AlertMetric::Quarantines, 1, 0.0, 1);
        let hours = hours_of(&quarantines(2, at(26, 13, 0)));
        let first = Alert::new(
            &r,
            evaluate(&r, at(26, 14, 5), &hours).unwrap(),
            at(26, 14, 5),
        );
        let again = Alert::new(
            &r,
            evaluate(&r, at(26, 14, 55), &hours).unwrap(),
            at(26, 14, 55),
        );
        assert_eq!(first.id, again.id);
        assert_eq!(
            Notification::id_for(&first),
            Notification::alert_raised(&again, at(26, 14, 55)).id
        );
        // Another window, another rule: other alerts.
        assert_ne!(Alert::id_for(r.id, at(26, 15, 0)), first.id);
        assert_ne!(
            Alert::id_for(AlertRuleId::generate(), at(26, 14, 0)),
            first.id
        );
        // Alerts sort by window end.
        assert!(Alert::id_for(r.id, at(26, 13, 0)) < first.id);
        assert_eq!(
            first.id.as_ulid().timestamp_ms(),
            unix_ms(at(26, 14, 0)),
            "the id's time is the window's end"
        );
    }

    #[test]
    fn the_notification_payload_is_the_webhook_body() {
        let r = rule(AlertMetric::AnalysisFailureRate, 1, 0.1, 1);
        let hours = hours_of(&analyses(1, 1, at(26, 13, 0)));
        let alert = Alert::new(
            &r,
            evaluate(&r, at(26, 14, 0), &hours).unwrap(),
            at(26, 14, 2),
        );
        let n = Notification::alert_raised(&alert, at(26, 14, 2));
        assert_eq!(n.kind, NotificationKind::AlertRaised);
        assert_eq!(
            (n.alert, n.tenant, n.delivered_at),
            (alert.id, r.tenant, None)
        );
        let p = &n.payload;
        assert_eq!(p["id"], n.id.as_str());
        assert_eq!(p["type"], "alert.raised");
        assert_eq!(p["tenant"], r.tenant.to_string());
        assert_eq!(p["created_at"], "2026-11-26T14:02:00Z");
        let back: Alert = serde_json::from_value(p["data"]["alert"].clone()).unwrap();
        assert_eq!(back, alert);
        assert_eq!(
            p["data"]["summary"],
            "watch: analysis_failure_rate 0.5000 above 0.1 (2 events, 13:00–14:00 UTC on 2026-11-26)"
        );
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["kind"], "alert.raised");
        assert!(json["delivered_at"].is_null());
        assert_eq!(serde_json::from_value::<Notification>(json).unwrap(), n);
    }

    #[test]
    fn rules_round_trip_through_json() {
        let r = rule(AlertMetric::QuarantineSpike, 6, 3.0, 5);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["metric"], "quarantine_spike");
        assert_eq!(json["window_hours"], 6);
        assert!(json.get("updated_at").is_none());
        assert_eq!(serde_json::from_value::<AlertRule>(json).unwrap(), r);
    }
}
