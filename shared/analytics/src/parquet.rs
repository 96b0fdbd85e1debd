//! Analytics events as Parquet: one file per batch and day, one column per field of
//! [`AnalyticsEvent`] (tenant and date live in the path, Hive-style, not in the file), Snappy
//! compressed as ingest writes them and zstd once compacted. The column types are ones both
//! DataFusion and Athena read natively (signed integers, UTC millisecond timestamps, strings).

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{
    BooleanBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use chrono::DateTime;
use mvidarr_core::analytics::{AnalyticsEvent, AnalyticsKind};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;

#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    #[error("cannot encode events as Parquet: {0}")]
    Encode(String),
    #[error("not an analytics events file: {0}")]
    Decode(String),
}

/// The columns of an events file, in order.
pub static EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let int64 = |name: &str| Field::new(name, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        text("id", false),
        text("kind", false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        text("media", true),
        text("user", true),
        text("actor", true),
        int64("watch_ms"),
        int64("duration_ms"),
        Field::new("ok", DataType::Boolean, true),
        Field::new("status", DataType::Int32, true),
        text("route", true),
        text("label", true),
        // Whatever else the event carried, as a JSON object.
        text("props", true),
    ]))
});

/// Rows per row group: a batch is at most this anyway (1,000 events), so one group a file; a
/// compacted day has one group per this many rows.
const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The content type events files are stored with.
pub const CONTENT_TYPE: &str = "application/vnd.apache.parquet";

/// How the files that stay are written (compacted days, rewritten ones): zstd, row groups of
/// up to [`ROW_GROUP_ROWS`].
pub(crate) fn writer_properties() -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
}

/// How a batch's file is written: Snappy, which every engine reads (Athena's default). A
/// batch file lives an hour or a day before compaction merges it into a zstd file, and at a
/// batch's size (100 rows) making zstd's per-column contexts, here and again in the fold's
/// read, cost more CPU than the rows themselves (measured: a third of the ingest's).
///
/// Statistics only for `at` (what a range query prunes files by), per chunk: page statistics
/// and the other columns' are of no use to a 100-row file and were a tenth of its encoding.
/// No dictionary for `id`, unique per row.
fn batch_writer_properties() -> WriterPropertiesBuilder {
    let at = ColumnPath::from("at");
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled(at, EnabledStatistics::Chunk)
        .set_column_dictionary_enabled(ColumnPath::from("id"), false)
}

/// Encode a batch's events as one Parquet file.
pub fn encode<'a>(
    events: impl ExactSizeIterator<Item = &'a AnalyticsEvent> + Clone,
) -> Result<Vec<u8>, ParquetError> {
    let batch = record_batch(events)?;
    let props = batch_writer_properties().build();
    let mut out = Vec::new();
    let fail = |e: parquet::errors::ParquetError| ParquetError::Encode(e.to_string());
    let mut writer =
        ArrowWriter::try_new(&mut out, EVENTS_SCHEMA.clone(), Some(props)).map_err(fail)?;
    writer.write(&batch).map_err(fail)?;
    writer.close().map_err(fail)?;
    Ok(out)
}

fn record_batch<'a>(
    events: impl ExactSizeIterator<Item = &'a AnalyticsEvent>,
) -> Result<RecordBatch, ParquetError> {
    let n = events.len();
    let mut id = StringBuilder::with_capacity(n, n * 26);
    let mut kind = StringBuilder::with_capacity(n, n * 8);
    let mut at = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut media, mut user) = (StringBuilder::new(), StringBuilder::new());
    let mut actor = StringBuilder::new();
    let (mut watch_ms, mut duration_ms) = (
        Int64Builder::with_capacity(n),
        Int64Builder::with_capacity(n),
    );
    let mut ok = BooleanBuilder::with_capacity(n);
    let mut status = Int32Builder::with_capacity(n);
    let (mut route, mut label, mut props) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let as_i64 = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    for e in events {
        id.append_value(&e.id);
        kind.append_value(e.kind.as_str());
        at.append_value(e.at.timestamp_millis());
        media.append_option(e.media.map(|m| m.to_string()));
        user.append_option(e.user.map(|u| u.to_string()));
        actor.append_option(e.actor.as_deref());
        watch_ms.append_option(as_i64(e.watch_ms));
        duration_ms.append_option(as_i64(e.duration_ms));
        ok.append_option(e.ok);
        status.append_option(e.status.map(i32::from));
        route.append_option(e.route.as_deref());
        label.append_option(e.label.as_deref());
        props.append_option(
            (!e.props.is_empty()).then(|| serde_json::Value::Object(e.props.clone()).to_string()),
        );
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(kind.finish()),
        Arc::new(at.finish()),
        Arc::new(media.finish()),
        Arc::new(user.finish()),
        Arc::new(actor.finish()),
        Arc::new(watch_ms.finish()),
        Arc::new(duration_ms.finish()),
        Arc::new(ok.finish()),
        Arc::new(status.finish()),
        Arc::new(route.finish()),
        Arc::new(label.finish()),
        Arc::new(props.finish()),
    ];
    RecordBatch::try_new(EVENTS_SCHEMA.clone(), columns)
        .map_err(|e| ParquetError::Encode(e.to_string()))
}

/// An optional id column's value.
fn parse_id<I: std::str::FromStr>(
    s: Option<String>,
    what: &str,
) -> Result<Option<I>, ParquetError> {
    s.map(|s| {
        s.parse()
            .map_err(|_| ParquetError::Decode(format!("bad {what} id {s:?}")))
    })
    .transpose()
}

/// Read an events file back (erasure rewrites files; tests check what was written).
pub fn decode(file: Bytes) -> Result<Vec<AnalyticsEvent>, ParquetError> {
    let fail = |e: &dyn std::fmt::Display| ParquetError::Decode(e.to_string());
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| fail(&e))?
        .build()
        .map_err(|e| fail(&e))?;
    let mut events = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| fail(&e))?;
        if batch.schema().fields() != EVENTS_SCHEMA.fields() {
            return Err(ParquetError::Decode(format!(
                "unexpected columns: {}",
                batch.schema()
            )));
        }
        let text = |i: usize| batch.column(i).as_string::<i32>();
        let (id, kind, media, user, actor) = (text(0), text(1), text(3), text(4), text(5));
        let (route, label, props) = (text(10), text(11), text(12));
        let at = batch.column(2).as_primitive::<TimestampMillisecondType>();
        let (watch_ms, duration_ms) = (
            batch.column(6).as_primitive::<Int64Type>(),
            batch.column(7).as_primitive::<Int64Type>(),
        );
        let ok = batch.column(8).as_boolean();
        let status = batch.column(9).as_primitive::<Int32Type>();
        let opt_str = |a: &arrow_array::StringArray, row: usize| {
            (!a.is_null(row)).then(|| a.value(row).to_owned())
        };
        let opt_u64 = |a: &arrow_array::Int64Array, row: usize| {
            (!a.is_null(row)).then(|| u64::try_from(a.value(row)).unwrap_or(0))
        };
        for row in 0..batch.num_rows() {
            let kind_name = kind.value(row);
            let kind = AnalyticsKind::parse(kind_name)
                .ok_or_else(|| ParquetError::Decode(format!("unknown kind {kind_name:?}")))?;
            let props = match opt_str(props, row) {
                Some(json) => match serde_json::from_str(&json) {
                    Ok(serde_json::Value::Object(map)) => map,
                    _ => {
                        return Err(ParquetError::Decode(format!(
                            "props are not a JSON object: {json}"
                        )));
                    }
                },
                None => serde_json::Map::new(),
            };
            events.push(AnalyticsEvent {
                id: id.value(row).to_owned(),
                kind,
                at: DateTime::from_timestamp_millis(at.value(row))
                    .ok_or_else(|| ParquetError::Decode("time out of range".into()))?,
                media: parse_id(opt_str(media, row), "media")?,
                user: parse_id(opt_str(user, row), "user")?,
                actor: opt_str(actor, row),
                watch_ms: opt_u64(watch_ms, row),
                duration_ms: opt_u64(duration_ms, row),
                ok: (!ok.is_null(row)).then(|| ok.value(row)),
                status: (!status.is_null(row))
                    .then(|| u16::try_from(status.value(row)).unwrap_or(0)),
                route: opt_str(route, row),
                label: opt_str(label, row),
                props,
            });
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use mvidarr_core::event::EventKind;
    use mvidarr_core::ids::{MediaId, ProfileId};

    use super::*;

    #[test]
    fn every_field_of_every_kind_round_trips() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
        let m = MediaId::generate();
        let mut props = serde_json::Map::new();
        props.insert("device".into(), "tv".into());
        let events = vec![
            AnalyticsEvent {
                media: Some(m),
                user: Some(ProfileId::generate()),
                actor: Some("key:abc".into()),
                watch_ms: Some(93_000),
                props,
                ..AnalyticsEvent::platform(AnalyticsKind::Client(EventKind::Play), "c-1", at)
            },
            AnalyticsEvent::upload(m, at),
            AnalyticsEvent::quarantine(m, "not_a_video", at),
            AnalyticsEvent::analysis_done(m, false, 12_345, at),
            AnalyticsEvent::tag_decision(m, "genre/rock", true, 3, "user:u", at),
            AnalyticsEvent::api_call("req-1", "/v1/media/{id}", 404, 7, Some("key:k"), at),
        ];
        let file = encode(events.iter()).unwrap();
        assert_eq!(decode(Bytes::from(file)).unwrap(), events);
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        let err = decode(Bytes::from_static(b"PAR1 not really")).unwrap_err();
        assert!(
            err.to_string().starts_with("not an analytics events file"),
            "{err}"
        );
    }
}
