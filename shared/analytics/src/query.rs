//! Report queries: one set of SQL (`sql/*.sql`) that every engine runs over the events
//! Parquet. Each query reads a table `events` (the tenant's events: the columns of
//! [`EVENTS_SCHEMA`](crate::parquet::EVENTS_SCHEMA) and the partition column `date`) and
//! restricts it with `{range}`, which the engine fills in with its own literals: the range's
//! days (so only their partitions are read) and its bounds on `at`.
//!
//! [`LocalEngine`] runs them with DataFusion over the embedded blob store's files; in AWS,
//! Athena runs the same text over the same layout (the Glue table of `template.yaml`).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{ParquetReadOptions, SessionConfig};
use mvidarr_core::analytics::TimeRange;
use mvidarr_core::analytics::report::Cell;
use mvidarr_core::ids::TenantId;
use mvidarr_core::keys;

use crate::parquet::EVENTS_SCHEMA;

/// The report queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportQuery {
    /// Every daily count (`sql/daily.sql`).
    Daily,
    /// The most played media, at most `limit` (`sql/top_media.sql`).
    TopMedia { limit: usize },
    /// Analysis outcomes and times by day (`sql/analyses.sql`).
    Analyses,
    /// Quarantined uploads by reason (`sql/quarantines.sql`).
    Quarantines,
    /// Tag decisions by tag and reviewer (`sql/tag_decisions.sql`).
    TagDecisions,
}

impl ReportQuery {
    pub fn name(self) -> &'static str {
        match self {
            ReportQuery::Daily => "daily",
            ReportQuery::TopMedia { .. } => "top_media",
            ReportQuery::Analyses => "analyses",
            ReportQuery::Quarantines => "quarantines",
            ReportQuery::TagDecisions => "tag_decisions",
        }
    }

    fn template(self) -> &'static str {
        match self {
            ReportQuery::Daily => include_str!("../sql/daily.sql"),
            ReportQuery::TopMedia { .. } => include_str!("../sql/top_media.sql"),
            ReportQuery::Analyses => include_str!("../sql/analyses.sql"),
            ReportQuery::Quarantines => include_str!("../sql/quarantines.sql"),
            ReportQuery::TagDecisions => include_str!("../sql/tag_decisions.sql"),
        }
    }

    /// The SQL with `{range}` (and `{limit}`) filled in.
    pub fn sql(self, range_clause: &str) -> String {
        let sql = self.template().replace("{range}", range_clause);
        match self {
            ReportQuery::TopMedia { limit } => sql.replace("{limit}", &limit.to_string()),
            _ => sql,
        }
    }
}

/// The days a range touches, as the partition column's values (`'2026-11-01'`).
pub fn date_bounds(range: TimeRange) -> (NaiveDate, NaiveDate) {
    let mut days = range.days();
    let first = days.next().unwrap_or(range.from.date_naive());
    (first, days.last().unwrap_or(first))
}

/// A query's answer: named columns and rows of cells (integers, numbers, text, days).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Rows {
    /// The index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("query {query} failed: {message}")]
    Engine {
        query: &'static str,
        message: String,
    },
    /// The engine took the query and it ended without an answer (Athena: `FAILED` or
    /// `CANCELLED`), for the engine's reason.
    #[error("query {query} {state}: {reason}")]
    Failed {
        query: &'static str,
        state: String,
        reason: String,
        /// The engine says running it again can succeed.
        retryable: bool,
    },
    /// Not finished by its deadline; the engine was asked to stop it.
    #[error("query {query} did not finish within {} s and was stopped", .after.as_secs_f64())]
    TimedOut {
        query: &'static str,
        after: std::time::Duration,
    },
    /// Throttled, or the engine unreachable or failing, for longer than the query's deadline.
    #[error("query {query} could not run now: {message}")]
    Transient {
        query: &'static str,
        message: String,
    },
}

impl QueryError {
    /// Whether running the query again later can succeed (a reply to say "retry", not "bug").
    pub fn is_transient(&self) -> bool {
        match self {
            QueryError::Engine { .. } => false,
            QueryError::Failed { retryable, .. } => *retryable,
            QueryError::TimedOut { .. } | QueryError::Transient { .. } => true,
        }
    }
}

/// Runs report queries over a tenant's events.
pub trait QueryEngine: Send + Sync {
    fn run(
        &self,
        tenant: TenantId,
        range: TimeRange,
        query: ReportQuery,
    ) -> impl Future<Output = Result<Rows, QueryError>> + Send;
}

/// DataFusion over the events files of the embedded blob store.
#[derive(Debug, Clone)]
pub struct LocalEngine {
    /// The blob store's root directory (objects are files under their keys).
    blobs_root: PathBuf,
}

impl LocalEngine {
    pub fn new(blobs_root: impl Into<PathBuf>) -> Self {
        Self {
            blobs_root: blobs_root.into(),
        }
    }

    /// DataFusion's literals for a range: days as strings, bounds as RFC 3339 strings (which
    /// it compares with the UTC timestamp column as timestamps).
    pub fn range_clause(range: TimeRange) -> String {
        let (first, last) = date_bounds(range);
        format!(
            "\"date\" BETWEEN '{first}' AND '{last}' AND at >= '{}' AND at < '{}'",
            range.from.to_rfc3339(),
            range.to.to_rfc3339()
        )
    }

    async fn run_sql(
        &self,
        tenant: TenantId,
        sql: &str,
    ) -> datafusion::error::Result<Vec<RecordBatch>> {
        // Two partitions: this runs beside the API on a small machine.
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        let dir = self.blobs_root.join(keys::blob::analytics_tenant(tenant));
        if dir.is_dir() {
            let options = ParquetReadOptions::default()
                .schema(&EVENTS_SCHEMA)
                .table_partition_cols(vec![("date".to_owned(), DataType::Utf8)]);
            ctx.register_parquet("events", format!("{}/", dir.display()), options)
                .await?;
        } else {
            // A tenant with no events yet: the same columns, no rows.
            let mut fields = EVENTS_SCHEMA.fields().to_vec();
            fields.push(Arc::new(datafusion::arrow::datatypes::Field::new(
                "date",
                DataType::Utf8,
                false,
            )));
            let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
            let empty = datafusion::datasource::MemTable::try_new(schema, vec![vec![]])?;
            ctx.register_table("events", Arc::new(empty))?;
        }
        ctx.sql(sql).await?.collect().await
    }
}

impl QueryEngine for LocalEngine {
    async fn run(
        &self,
        tenant: TenantId,
        range: TimeRange,
        query: ReportQuery,
    ) -> Result<Rows, QueryError> {
        let fail = |e: &dyn std::fmt::Display| QueryError::Engine {
            query: query.name(),
            message: e.to_string(),
        };
        let sql = query.sql(&Self::range_clause(range));
        let batches = self.run_sql(tenant, &sql).await.map_err(|e| fail(&e))?;
        rows_of(&batches).map_err(|e| fail(&e))
    }
}

/// Arrow batches as rows of cells.
fn rows_of(batches: &[RecordBatch]) -> Result<Rows, datafusion::arrow::error::ArrowError> {
    let mut out = Rows::default();
    let Some(first) = batches.first() else {
        return Ok(out);
    };
    out.columns = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for batch in batches {
        let columns: Vec<Vec<Cell>> = batch
            .columns()
            .iter()
            .map(|c| cells_of(c.as_ref()))
            .collect::<Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            out.rows
                .push(columns.iter().map(|c| c[row].clone()).collect());
        }
    }
    Ok(out)
}

fn cells_of(array: &dyn Array) -> Result<Vec<Cell>, datafusion::arrow::error::ArrowError> {
    let cell = |row: usize, value: &dyn Fn(usize) -> Cell| {
        if array.is_null(row) {
            Cell::Empty
        } else {
            value(row)
        }
    };
    let n = array.len();
    Ok(match array.data_type() {
        t if t.is_integer() => {
            let ints = cast(array, &DataType::Int64)?;
            let ints = ints.as_primitive::<Int64Type>();
            (0..n)
                .map(|r| cell(r, &|r| Cell::Integer(ints.value(r))))
                .collect()
        }
        DataType::UInt64 => {
            let ints = array.as_primitive::<UInt64Type>();
            (0..n)
                .map(|r| cell(r, &|r| Cell::from(ints.value(r))))
                .collect()
        }
        t if t.is_floating() || t.is_numeric() => {
            let numbers = cast(array, &DataType::Float64)?;
            let numbers = numbers.as_primitive::<Float64Type>();
            (0..n)
                .map(|r| cell(r, &|r| Cell::Number(numbers.value(r))))
                .collect()
        }
        _ => {
            let text = cast(array, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            (0..n)
                .map(|r| cell(r, &|r| text_cell(text.value(r))))
                .collect()
        }
    })
}

/// A text value as a cell: an ISO day (`2026-11-01`, the partition column's values) is a
/// date, anything else text. Every engine reads its text this way, so their rows compare equal.
pub(crate) fn text_cell(s: &str) -> Cell {
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(day) if s.len() == 10 => Cell::Date(day),
        _ => Cell::Text(s.to_owned()),
    }
}
