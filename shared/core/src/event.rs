//! Events: append-only facts.
//!
//! - [`Event`]: the platform's own analytics events `{tenant, kind, subject, actor, at, props}`.
//! - Client events: what a tenant's app reports about its people and media (a profile played,
//!   liked or skipped a media), posted to `POST /v1/events`. The body is checked here, field by
//!   field, into [`ClientEvent`]s ([`parse_batch`]); the repository resolves their media and
//!   user references within the tenant and stores each as a [`StoredEvent`], once per client
//!   event id. Recommendations train on them; analytics reads the same records.
//!
//! To extend: a new kind is a variant of [`EventKind`]; a new field is one more arm in
//! [`parse_event`] and a field of [`StoredEvent`] with a serde default, so records already
//! stored still read.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Timestamp;
use crate::external::ExternalRef;
use crate::ids::{EventId, MediaId, ProfileId, TenantId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub tenant: TenantId,
    /// What happened: `upload`, `analysis_done`, `view`, `play`, `api_call`…
    pub kind: String,
    /// What it happened to (usually a media id).
    pub subject: Option<String>,
    /// Who did it (a user, an API key, or `system`).
    pub actor: Option<String>,
    pub at: Timestamp,
    #[serde(default)]
    pub props: serde_json::Map<String, serde_json::Value>,
}

/// The most events one request may carry.
pub const MAX_BATCH_EVENTS: usize = 1000;
/// The most bytes an event's `props` may take, serialized as compact JSON.
pub const MAX_PROPS_BYTES: usize = 8 * 1024;
/// How far past the time of receipt an event's `at` may be (clients' clocks drift; days
/// ahead is a bug, not drift).
pub const MAX_FUTURE_HOURS: i64 = 24;
/// The most characters a client event id may have.
pub const MAX_CLIENT_EVENT_ID_CHARS: usize = 64;

/// The client's id for an event: 1–64 characters of `A-Z a-z 0-9 . _ : -`. Events are stored
/// once per id and tenant, so a client that resends a batch (a retry after a timeout, a
/// redelivery) records nothing twice.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientEventId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid event id {value:?}: expected 1-{MAX_CLIENT_EVENT_ID_CHARS} characters of A-Z a-z 0-9 . _ : -"
)]
pub struct InvalidClientEventId {
    pub value: String,
}

impl ClientEventId {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidClientEventId> {
        let value = value.into();
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-');
        if value.is_empty()
            || value.len() > MAX_CLIENT_EVENT_ID_CHARS
            || !value.bytes().all(allowed)
        {
            return Err(InvalidClientEventId { value });
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ClientEventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClientEventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What a profile did with a media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// Saw it (a page, a tile, a trailer): weak interest.
    View,
    /// Started playing it.
    Play,
    /// Played it to the end.
    Complete,
    Like,
    /// Moved on from it: a negative signal.
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {value:?}; one of {}", EventKind::names())]
pub struct UnknownKind {
    pub value: String,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::View,
        EventKind::Play,
        EventKind::Complete,
        EventKind::Like,
        EventKind::Skip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::View => "view",
            EventKind::Play => "play",
            EventKind::Complete => "complete",
            EventKind::Like => "like",
            EventKind::Skip => "skip",
        }
    }

    pub fn parse(s: &str) -> Result<EventKind, UnknownKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind {
                value: s.to_owned(),
            })
    }

    /// The known kinds, comma-separated (for error messages).
    pub fn names() -> String {
        Self::ALL.map(EventKind::as_str).join(", ")
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        Self::parse(s)
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A client event that passed every check that needs no lookup; its media and user are still
/// references (our id or `ext:…`) to be resolved within the tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEvent {
    pub id: ClientEventId,
    pub kind: EventKind,
    pub media: ExternalRef<MediaId>,
    pub user: ExternalRef<ProfileId>,
    /// When it happened (the time of receipt if the client did not say).
    pub at: Timestamp,
    pub props: Map<String, Value>,
}

impl ClientEvent {
    /// The event as stored, once its references are resolved.
    pub fn into_stored(
        self,
        tenant: TenantId,
        media: MediaId,
        profile: ProfileId,
        actor: &str,
        received_at: Timestamp,
    ) -> StoredEvent {
        StoredEvent {
            id: self.id,
            tenant,
            kind: self.kind,
            media,
            profile,
            at: self.at,
            received_at,
            actor: actor.to_owned(),
            props: self.props,
        }
    }
}

/// A client event as stored: append-only, one per client event id and tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The client's id for the event.
    pub id: ClientEventId,
    pub tenant: TenantId,
    pub kind: EventKind,
    pub media: MediaId,
    pub profile: ProfileId,
    /// When it happened.
    pub at: Timestamp,
    /// When the platform got it.
    pub received_at: Timestamp,
    /// Who posted it: the principal's actor string (`user:…`, `key:…`, `system:import`).
    pub actor: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub props: Map<String, Value>,
}

/// Why an event (or a batch) was refused; responses count refusals by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    /// Not an object, a missing or mistyped field, an unknown field, a malformed id or time.
    Schema,
    UnknownKind,
    PropsTooLarge,
    FutureTime,
    /// The media reference names no media of the tenant.
    UnknownMedia,
    /// The user reference names no profile of the tenant.
    UnknownUser,
    /// Another event in the same batch has this id.
    DuplicateId,
    /// No events, or more than [`MAX_BATCH_EVENTS`].
    BatchSize,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Schema => "schema",
            Rejection::UnknownKind => "unknown_kind",
            Rejection::PropsTooLarge => "props_too_large",
            Rejection::FutureTime => "future_time",
            Rejection::UnknownMedia => "unknown_media",
            Rejection::UnknownUser => "unknown_user",
            Rejection::DuplicateId => "duplicate_id",
            Rejection::BatchSize => "batch_size",
        }
    }
}

impl Serialize for Rejection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One problem with one field of one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventError {
    /// The event's position in the batch; `None` for a problem with the batch as a whole.
    pub index: Option<usize>,
    /// The event's id as sent, when it sent a string.
    pub id: Option<String>,
    /// The field at fault (`events` for the batch, `event` for an event that is no object).
    pub field: String,
    pub reason: Rejection,
    pub message: String,
}

/// A refused batch: every problem found, so a client can fix them all at once. Nothing of a
/// refused batch is stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} of the batch's events are invalid ({} problems)", self.rejected_events(), self.errors.len())]
pub struct BatchRejected {
    pub errors: Vec<EventError>,
}

impl BatchRejected {
    /// How many events have at least one problem (a batch-wide problem counts the batch as one).
    pub fn rejected_events(&self) -> usize {
        let mut indexes: Vec<Option<usize>> = self.errors.iter().map(|e| e.index).collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes.len()
    }

    /// Problems by reason.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for e in &self.errors {
            *counts.entry(e.reason.as_str()).or_insert(0) += 1;
        }
        counts
    }
}

/// The fields an event may have.
const FIELDS: [&str; 6] = ["id", "kind", "media", "user", "at", "props"];

/// Check a whole batch: its size, every event, and that no two events share an id. Either
/// every event is good or the batch is refused with every problem found.
pub fn parse_batch(
    raw: &[Value],
    received_at: Timestamp,
) -> Result<Vec<ClientEvent>, BatchRejected> {
    if raw.is_empty() || raw.len() > MAX_BATCH_EVENTS {
        return Err(BatchRejected {
            errors: vec![EventError {
                index: None,
                id: None,
                field: "events".into(),
                reason: Rejection::BatchSize,
                message: format!(
                    "a batch holds 1 to {MAX_BATCH_EVENTS} events, not {}",
                    raw.len()
                ),
            }],
        });
    }
    let mut events = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    let mut first_with_id: HashMap<&str, usize> = HashMap::new();
    for (index, value) in raw.iter().enumerate() {
        let id = value.get("id").and_then(Value::as_str);
        match parse_event(index, value, received_at) {
            Ok(event) => events.push(event),
            Err(mut e) => errors.append(&mut e),
        }
        let Some(id) = id else { continue };
        match first_with_id.entry(id) {
            Entry::Vacant(slot) => {
                slot.insert(index);
            }
            Entry::Occupied(first) => errors.push(EventError {
                index: Some(index),
                id: Some(id.to_owned()),
                field: "id".into(),
                reason: Rejection::DuplicateId,
                message: format!("the same id as event {} of this batch", first.get()),
            }),
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        // In batch order (by index, then in the order found).
        errors.sort_by_key(|e| e.index);
        Err(BatchRejected { errors })
    }
}

/// Check one event (the `index`-th of its batch), field by field; every problem is reported,
/// not only the first.
pub fn parse_event(
    index: usize,
    raw: &Value,
    received_at: Timestamp,
) -> Result<ClientEvent, Vec<EventError>> {
    let mut problems = Problems {
        index,
        id: raw.get("id").and_then(Value::as_str).map(str::to_owned),
        errors: Vec::new(),
    };
    let Some(fields) = raw.as_object() else {
        problems.add(
            "event",
            Rejection::Schema,
            format!("an event is an object with {}", FIELDS.join(", ")),
        );
        return Err(problems.errors);
    };
    for name in fields.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        problems.add(
            name,
            Rejection::Schema,
            format!("unknown field; an event has {}", FIELDS.join(", ")),
        );
    }
    let id = problems.take(
        "id",
        required_str(fields, "id").and_then(|s| ClientEventId::parse(s).map_err(schema)),
    );
    let kind = problems.take(
        "kind",
        required_str(fields, "kind")
            .and_then(|s| EventKind::parse(s).map_err(|e| (Rejection::UnknownKind, e.to_string()))),
    );
    let media = problems.take(
        "media",
        required_str(fields, "media").and_then(|s| s.parse().map_err(schema)),
    );
    let user = problems.take(
        "user",
        required_str(fields, "user").and_then(|s| s.parse().map_err(schema)),
    );
    let at = problems.take(
        "at",
        match fields.get("at") {
            None | Some(Value::Null) => Ok(received_at),
            Some(Value::String(s)) => parse_time(s, received_at),
            Some(_) => Err((Rejection::Schema, format!("expected {RFC3339_EXAMPLE}"))),
        },
    );
    let props = problems.take(
        "props",
        match fields.get("props") {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(props)) => check_props(props),
            Some(_) => Err((Rejection::Schema, "expected an object".to_owned())),
        },
    );
    match (id, kind, media, user, at, props) {
        (Some(id), Some(kind), Some(media), Some(user), Some(at), Some(props))
            if problems.errors.is_empty() =>
        {
            Ok(ClientEvent {
                id,
                kind,
                media,
                user,
                at,
                props,
            })
        }
        _ => Err(problems.errors),
    }
}

/// What is wrong with one field.
type Problem = (Rejection, String);

/// The problems found in one event so far.
struct Problems {
    index: usize,
    id: Option<String>,
    errors: Vec<EventError>,
}

impl Problems {
    fn add(&mut self, field: &str, reason: Rejection, message: String) {
        self.errors.push(EventError {
            index: Some(self.index),
            id: self.id.clone(),
            field: field.to_owned(),
            reason,
            message,
        });
    }

    /// The field's value, or `None` with its problem noted.
    fn take<T>(&mut self, field: &str, result: Result<T, Problem>) -> Option<T> {
        result
            .map_err(|(reason, message)| self.add(field, reason, message))
            .ok()
    }
}

const RFC3339_EXAMPLE: &str = "an RFC 3339 time such as 2025-01-31T20:15:00Z";

fn schema(e: impl fmt::Display) -> Problem {
    (Rejection::Schema, e.to_string())
}

fn required_str<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, Problem> {
    match fields.get(name) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(schema("required")),
        Some(_) => Err(schema("expected a string")),
    }
}

fn check_props(props: &Map<String, Value>) -> Result<Map<String, Value>, Problem> {
    let bytes = serde_json::to_vec(props).map_or(usize::MAX, |b| b.len());
    if bytes > MAX_PROPS_BYTES {
        return Err((
            Rejection::PropsTooLarge,
            format!("props take {bytes} bytes as JSON; at most {MAX_PROPS_BYTES}"),
        ));
    }
    if let Some(watch) = props.get(crate::analytics::record::WATCH_MS) {
        let max = crate::analytics::record::MAX_WATCH_MS;
        if watch.as_u64().is_none_or(|ms| ms > max) {
            return Err((
                Rejection::Schema,
                format!("props.watch_ms: expected whole milliseconds from 0 to {max}"),
            ));
        }
    }
    Ok(props.clone())
}

fn parse_time(s: &str, received_at: Timestamp) -> Result<Timestamp, Problem> {
    let at = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| schema(format!("not {RFC3339_EXAMPLE}: {e}")))?
        .with_timezone(&chrono::Utc);
    if at > received_at + chrono::TimeDelta::hours(MAX_FUTURE_HOURS) {
        return Err((
            Rejection::FutureTime,
            format!("{s} is more than {MAX_FUTURE_HOURS} hours in the future"),
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::external::ExternalId;

    fn now() -> Timestamp {
        "2025-06-01T12:00:00Z".parse().unwrap()
    }

    fn good(id: &str) -> Value {
        json!({"id": id, "kind": "play", "media": "ext:m1", "user": "ext:u1"})
    }

    fn reasons(e: &BatchRejected) -> Vec<(Option<usize>, String, Rejection)> {
        e.errors
            .iter()
            .map(|e| (e.index, e.field.clone(), e.reason))
            .collect()
    }

    #[test]
    fn a_minimal_event_takes_the_time_of_receipt_and_no_props() {
        let events = parse_batch(&[good("e1")], now()).unwrap();
        assert_eq!(
            events,
            [ClientEvent {
                id: ClientEventId::parse("e1").unwrap(),
                kind: EventKind::Play,
                media: ExternalRef::External(ExternalId::parse("m1").unwrap()),
                user: ExternalRef::External(ExternalId::parse("u1").unwrap()),
                at: now(),
                props: Map::new(),
            }]
        );
    }

    #[test]
    fn a_full_event_keeps_its_time_ids_and_props() {
        let media = MediaId::generate();
        let user = ProfileId::generate();
        let raw = json!({
            "id": "app-1:2025.06.01_x", "kind": "complete", "media": media.to_string(),
            "user": user.to_string(), "at": "2025-06-01T13:30:00+02:00", "props": {"position": 31.5}
        });
        let e = parse_event(0, &raw, now()).unwrap();
        assert_eq!(e.media, ExternalRef::Id(media));
        assert_eq!(e.user, ExternalRef::Id(user));
        assert_eq!(e.at, "2025-06-01T11:30:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(e.props["position"], 31.5);
    }

    #[test]
    fn every_kind_round_trips_and_an_unknown_one_lists_the_known() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        let mut raw = good("e1");
        raw["kind"] = json!("purchase");
        let err = parse_batch(&[raw], now()).unwrap_err();
        assert_eq!(
            reasons(&err),
            [(Some(0), "kind".into(), Rejection::UnknownKind)]
        );
        assert_eq!(
            err.errors[0].message,
            "unknown kind \"purchase\"; one of view, play, complete, like, skip"
        );
    }

    #[test]
    fn event_ids_are_1_to_64_safe_characters() {
        for ok in ["a", "lastfm:2:51", "ml.1_2-3", &"x".repeat(64)] {
            assert!(ClientEventId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65), "a\n"] {
            assert!(ClientEventId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_batch_holds_1_to_1000_events() {
        let err = parse_batch(&[], now()).unwrap_err();
        assert_eq!(
            reasons(&err),
            [(None, "events".into(), Rejection::BatchSize)]
        );
        let many: Vec<Value> = (0..=MAX_BATCH_EVENTS)
            .map(|i| good(&i.to_string()))
            .collect();
        let err = parse_batch(&many, now()).unwrap_err();
        assert_eq!(err.errors[0].reason, Rejection::BatchSize);
        assert!(err.errors[0].message.contains("1001"));
        assert_eq!(
            parse_batch(&many[..MAX_BATCH_EVENTS], now()).unwrap().len(),
            MAX_BATCH_EVENTS
        );
    }

    #[test]
    fn times_more_than_a_day_ahead_are_refused() {
        let mut raw = good("e1");
        raw["at"] = json!("2025-06-02T12:00:00Z");
        assert!(parse_event(0, &raw, now()).is_ok(), "exactly 24 h ahead");
        raw["at"] = json!("2025-06-02T12:00:01Z");
        let errors = parse_event(0, &raw, now()).unwrap_err();
        assert_eq!(errors[0].reason, Rejection::FutureTime);
        raw["at"] = json!("1997-09-20T03:05:10Z");
        assert!(parse_event(0, &raw, now()).is_ok(), "old times are fine");
        for bad in [
            json!("yesterday"),
            json!(1_700_000_000),
            json!("2025-06-01"),
        ] {
            raw["at"] = bad;
            let errors = parse_event(0, &raw, now()).unwrap_err();
            assert_eq!(
                (errors[0].field.as_str(), errors[0].reason),
                ("at", Rejection::Schema)
            );
        }
    }

    #[test]
    fn watch_time_is_whole_milliseconds_up_to_a_day() {
        for (watch, ok) in [
            (json!(0), true),
            (json!(86_400_000), true),
            (json!(86_400_001), false),
            (json!(-1), false),
            (json!(1.5), false),
            (json!("90s"), false),
        ] {
            let mut event = good("w");
            event["props"] = json!({ "watch_ms": watch });
            let parsed = parse_batch(&[event], now());
            assert_eq!(parsed.is_ok(), ok, "{watch}");
        }
    }

    #[test]
    fn props_over_8_kib_are_refused() {
        let mut raw = good("e1");
        // {"s":"…"} is 8 bytes around the string.
        raw["props"] = json!({"s": "x".repeat(MAX_PROPS_BYTES - 8)});
        assert!(parse_event(0, &raw, now()).is_ok(), "exactly 8 KiB");
        raw["props"] = json!({"s": "x".repeat(MAX_PROPS_BYTES - 7)});
        let errors = parse_event(0, &raw, now()).unwrap_err();
        assert_eq!(
            (errors[0].field.as_str(), errors[0].reason),
            ("props", Rejection::PropsTooLarge)
        );
        raw["props"] = json!([1, 2]);
        assert_eq!(
            parse_event(0, &raw, now()).unwrap_err()[0].reason,
            Rejection::Schema
        );
    }

    #[test]
    fn duplicate_ids_in_one_batch_are_refused_at_each_repeat() {
        let err = parse_batch(&[good("a"), good("b"), good("a"), good("a")], now()).unwrap_err();
        assert_eq!(
            reasons(&err),
            [
                (Some(2), "id".into(), Rejection::DuplicateId),
                (Some(3), "id".into(), Rejection::DuplicateId),
            ]
        );
        assert_eq!(
            err.errors[1].message,
            "the same id as event 0 of this batch"
        );
        assert_eq!(err.rejected_events(), 2);
    }

    #[test]
    fn every_problem_of_every_event_is_reported_with_index_id_and_field() {
        let batch = [
            good("ok"),
            json!({"id": "bad id", "kind": 3, "media": "nope", "extra": true}),
            json!("not an object"),
        ];
        let err = parse_batch(&batch, now()).unwrap_err();
        assert_eq!(
            reasons(&err),
            [
                (Some(1), "extra".into(), Rejection::Schema),
                (Some(1), "id".into(), Rejection::Schema),
                (Some(1), "kind".into(), Rejection::Schema),
                (Some(1), "media".into(), Rejection::Schema),
                (Some(1), "user".into(), Rejection::Schema),
                (Some(2), "event".into(), Rejection::Schema),
            ]
        );
        assert_eq!(err.errors[1].id.as_deref(), Some("bad id"));
        assert_eq!(err.errors[4].message, "required");
        assert_eq!(err.rejected_events(), 2);
        assert_eq!(err.counts(), BTreeMap::from([("schema", 6)]));
    }

    #[test]
    fn a_stored_event_round_trips_and_omits_empty_props() {
        let e = parse_event(0, &good("e1"), now()).unwrap().into_stored(
            TenantId::generate(),
            MediaId::generate(),
            ProfileId::generate(),
            "key:01",
            now(),
        );
        let json = serde_json::to_value(&e).unwrap();
        assert!(json.get("props").is_none(), "{json}");
        assert_eq!(json["kind"], "play");
        assert_eq!(serde_json::from_value::<StoredEvent>(json).unwrap(), e);
    }
}
