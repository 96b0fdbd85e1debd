//! The report queries on Athena: the same `sql/*.sql` text, run over the events Parquet through
//! the Glue table of `template.yaml` (one table for every tenant, partitioned `t` and `date`).
//!
//! What differs from [`LocalEngine`](crate::query::LocalEngine) is only what the engine fills
//! in around that text:
//!
//! - `{range}` also restricts the partition column `t` to the tenant: Athena reads one table for
//!   all tenants, and the table's `t` projection is `injected`, so every query must name its
//!   tenant with an equality anyway. The bounds on `at` are Trino timestamps
//!   (`from_iso8601_timestamp`), compared with the `timestamp` column in the session's zone,
//!   which in Athena is UTC.
//! - `FROM events` becomes `FROM "{database}"."{table}"`, so the text names the table whatever
//!   it is called and wherever the execution context points.
//! - Whole-line `--` comments are dropped: Athena has refused statements that begin with one.
//!
//! A run starts the query in the workgroup (whose configuration holds the result location),
//! polls it with a doubling wait until it ends, and pages through its results. Everything a
//! run does, retries of throttled calls included, happens before one deadline; a query still
//! going then is stopped.

use std::future::Future;
use std::time::Duration;

use aws_sdk_athena::Client;
use aws_sdk_athena::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, QueryExecutionStatus};
use chrono::{NaiveDate, SecondsFormat};
use mvidarr_core::analytics::TimeRange;
use mvidarr_core::analytics::report::Cell;
use mvidarr_core::ids::TenantId;
use tokio::time::Instant;

use crate::query::{QueryEngine, QueryError, ReportQuery, Rows, date_bounds, text_cell};

/// The rows one `GetQueryResults` page holds at most (Athena's maximum).
const PAGE_ROWS: i32 = 1000;

/// The table name the SQL files read.
const SQL_TABLE: &str = "events";

/// How a run waits: for the query to end, and between retries of a throttled call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    /// The first wait (after starting the query, or after a throttled call); each next wait
    /// doubles, up to `max_wait`.
    pub first_wait: Duration,
    pub max_wait: Duration,
    /// How long a whole run may take, retries included; a query still going then is stopped.
    pub deadline: Duration,
}

impl Default for Polling {
    /// Report queries over a few days of partitions take seconds; 50 s leaves a Lambda of the
    /// stack's 60 s timeout the time to answer.
    fn default() -> Self {
        Self {
            first_wait: Duration::from_millis(250),
            max_wait: Duration::from_secs(2),
            deadline: Duration::from_secs(50),
        }
    }
}

/// A name the engine refuses to put in SQL or send to Athena.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Athena {what} name {value:?}: expected {expected}")]
pub struct InvalidName {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// The report queries on Athena, over one Glue table, in one workgroup. Cheap to clone.
#[derive(Clone)]
pub struct AthenaEngine {
    client: Client,
    database: String,
    table: String,
    workgroup: String,
    polling: Polling,
}

impl std::fmt::Debug for AthenaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AthenaEngine")
            .field("database", &self.database)
            .field("table", &self.table)
            .field("workgroup", &self.workgroup)
            .field("polling", &self.polling)
            .finish_non_exhaustive()
    }
}

impl AthenaEngine {
    /// The engine for the Glue `database`.`table` (the stack's `AnalyticsDatabase` and its
    /// `events` table), running queries in `workgroup` (`AnalyticsWorkGroup`, which holds the
    /// result location).
    pub fn new(
        client: Client,
        database: &str,
        table: &str,
        workgroup: &str,
    ) -> Result<Self, InvalidName> {
        Ok(Self {
            client,
            database: glue_name("database", database)?,
            table: glue_name("table", table)?,
            workgroup: workgroup_name(workgroup)?,
            polling: Polling::default(),
        })
    }

    pub fn with_polling(mut self, polling: Polling) -> Self {
        self.polling = polling;
        self
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn workgroup(&self) -> &str {
        &self.workgroup
    }

    /// Trino's literals for a tenant's range: its tenant partition, the range's days (so only
    /// their partitions are read) and its bounds on `at`.
    pub fn range_clause(tenant: TenantId, range: TimeRange) -> String {
        let (first, last) = date_bounds(range);
        let bound = |at: chrono::DateTime<chrono::Utc>| {
            format!(
                "from_iso8601_timestamp({})",
                sql_string(&at.to_rfc3339_opts(SecondsFormat::Secs, true))
            )
        };
        format!(
            "t = {} AND \"date\" BETWEEN {} AND {} AND at >= {} AND at < {}",
            sql_string(&tenant.to_string()),
            sql_string(&first.to_string()),
            sql_string(&last.to_string()),
            bound(range.from),
            bound(range.to)
        )
    }

    /// The statement a run submits: the query's SQL with this engine's range, reading the
    /// configured table, without comment lines.
    pub fn query_text(
        &self,
        tenant: TenantId,
        range: TimeRange,
        query: ReportQuery,
    ) -> Result<String, QueryError> {
        let sql = query.sql(&Self::range_clause(tenant, range));
        let table = format!("\"{}\".\"{}\"", self.database, self.table);
        let sql = qualify_table(&sql, &table).map_err(|message| QueryError::Engine {
            query: query.name(),
            message,
        })?;
        Ok(without_comment_lines(&sql))
    }

    /// Starts the statement under one idempotency token, so a start retried after a lost
    /// answer is the same query, not a second one.
    async fn start(
        &self,
        query: ReportQuery,
        sql: &str,
        deadline: Instant,
    ) -> Result<String, QueryError> {
        let token = format!("{:032x}", rand::random::<u128>());
        let context = QueryExecutionContext::builder()
            .database(&self.database)
            .build();
        let out = self
            .call(query, "StartQueryExecution", deadline, || {
                self.client
                    .start_query_execution()
                    .query_string(sql)
                    .query_execution_context(context.clone())
                    .work_group(&self.workgroup)
                    .client_request_token(&token)
                    .send()
            })
            .await?;
        let id = out
            .query_execution_id()
            .ok_or_else(|| QueryError::Engine {
                query: query.name(),
                message: "StartQueryExecution returned no query execution id".to_owned(),
            })?
            .to_owned();
        tracing::debug!(query = query.name(), execution = %id, "Athena query started");
        Ok(id)
    }

    /// Polls until the query ends; stops it if the deadline (or an error) comes first.
    async fn wait_until_done(
        &self,
        query: ReportQuery,
        id: &str,
        deadline: Instant,
    ) -> Result<(), QueryError> {
        let result = self.poll(query, id, deadline).await;
        if matches!(
            result,
            Err(QueryError::TimedOut { .. }
                | QueryError::Transient { .. }
                | QueryError::Engine { .. })
        ) {
            self.stop(query, id).await;
        }
        result
    }

    async fn poll(
        &self,
        query: ReportQuery,
        id: &str,
        deadline: Instant,
    ) -> Result<(), QueryError> {
        let mut waits = Backoff::new(self.polling);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(QueryError::TimedOut {
                    query: query.name(),
                    after: self.polling.deadline,
                });
            }
            tokio::time::sleep(waits.next_wait().min(deadline - now)).await;
            let out = self
                .call(query, "GetQueryExecution", deadline, || {
                    self.client
                        .get_query_execution()
                        .query_execution_id(id)
                        .send()
                })
                .await?;
            let status = out.query_execution().and_then(|e| e.status());
            match progress(query, status) {
                Progress::Running => {}
                Progress::Succeeded => return Ok(()),
                Progress::Ended(error) => return Err(error),
            }
        }
    }

    /// Asks Athena to stop a query nobody waits for any more (it would go on scanning, and
    /// billing, otherwise). Best effort: the run already has its error.
    async fn stop(&self, query: ReportQuery, id: &str) {
        if let Err(e) = self
            .client
            .stop_query_execution()
            .query_execution_id(id)
            .send()
            .await
        {
            tracing::warn!(
                query = query.name(),
                execution = %id,
                error = %DisplayErrorContext(&e),
                "could not stop an abandoned Athena query"
            );
        }
    }

    /// Every page of the results, as rows.
    async fn fetch_rows(
        &self,
        query: ReportQuery,
        id: &str,
        deadline: Instant,
    ) -> Result<Rows, QueryError> {
        let mut pages = ResultPages::default();
        let mut next: Option<String> = None;
        loop {
            if Instant::now() >= deadline {
                return Err(QueryError::TimedOut {
                    query: query.name(),
                    after: self.polling.deadline,
                });
            }
            let out = self
                .call(query, "GetQueryResults", deadline, || {
                    self.client
                        .get_query_results()
                        .query_execution_id(id)
                        .max_results(PAGE_ROWS)
                        .set_next_token(next.clone())
                        .send()
                })
                .await?;
            if let Some(set) = out.result_set() {
                pages.add(set).map_err(|message| QueryError::Engine {
                    query: query.name(),
                    message: format!("unreadable results of {id}: {message}"),
                })?;
            }
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => return Ok(pages.into_rows()),
            }
        }
    }

    /// One API call, retried while Athena throttles it or fails transiently (the SDK has
    /// retried it a few times already; Athena's query quotas can throttle for longer), with
    /// the polling waits, until the deadline.
    async fn call<T, E, Fut>(
        &self,
        query: ReportQuery,
        operation: &'static str,
        deadline: Instant,
        mut send: impl FnMut() -> Fut + Send,
    ) -> Result<T, QueryError>
    where
        Fut: Future<Output = Result<T, SdkError<E>>> + Send,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        T: Send,
    {
        let mut waits = Backoff::new(self.polling);
        loop {
            let error = match send().await {
                Ok(out) => return Ok(out),
                Err(e) => e,
            };
            let message = format!("{operation}: {}", DisplayErrorContext(&error));
            if !is_transient(&error) {
                return Err(QueryError::Engine {
                    query: query.name(),
                    message,
                });
            }
            let wait = waits.next_wait();
            if Instant::now() + wait >= deadline {
                return Err(QueryError::Transient {
                    query: query.name(),
                    message,
                });
            }
            tracing::debug!(query = query.name(), %message, ?wait, "Athena call throttled; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

impl QueryEngine for AthenaEngine {
    async fn run(
        &self,
        tenant: TenantId,
        range: TimeRange,
        query: ReportQuery,
    ) -> Result<Rows, QueryError> {
        let sql = self.query_text(tenant, range, query)?;
        let deadline = Instant::now() + self.polling.deadline;
        let id = self.start(query, &sql, deadline).await?;
        self.wait_until_done(query, &id, deadline).await?;
        self.fetch_rows(query, &id, deadline).await
    }
}

/// The doubling waits of [`Polling`].
#[derive(Debug, Clone)]
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(polling: Polling) -> Self {
        Self {
            next: polling.first_wait,
            max: polling.max_wait.max(polling.first_wait),
        }
    }

    fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// Where a polled query is.
#[derive(Debug)]
enum Progress {
    Running,
    Succeeded,
    Ended(QueryError),
}

/// A query's state as the run sees it: still going, done, or ended with an error that says
/// why (Athena's state-change reason and error message).
fn progress(query: ReportQuery, status: Option<&QueryExecutionStatus>) -> Progress {
    let Some(state) = status.and_then(|s| s.state()) else {
        return Progress::Ended(QueryError::Engine {
            query: query.name(),
            message: "GetQueryExecution returned no state".to_owned(),
        });
    };
    match state {
        QueryExecutionState::Queued | QueryExecutionState::Running => Progress::Running,
        QueryExecutionState::Succeeded => Progress::Succeeded,
        QueryExecutionState::Failed | QueryExecutionState::Cancelled => {
            let reason = status.and_then(|s| s.state_change_reason());
            let error = status.and_then(|s| s.athena_error());
            let detail = error.and_then(|e| e.error_message());
            let reason = match (reason, detail) {
                (Some(r), Some(d)) if r != d => format!("{r} ({d})"),
                (Some(r), _) => r.to_owned(),
                (None, Some(d)) => d.to_owned(),
                (None, None) => "Athena gave no reason".to_owned(),
            };
            Progress::Ended(QueryError::Failed {
                query: query.name(),
                state: state.as_str().to_owned(),
                reason,
                retryable: error.is_some_and(|e| e.retryable()),
            })
        }
        other => Progress::Ended(QueryError::Engine {
            query: query.name(),
            message: format!("unexpected query state {}", other.as_str()),
        }),
    }
}

/// Error codes of throttling and of Athena's own transient faults.
const TRANSIENT_CODES: &[&str] = &[
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "InternalServerException",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

fn is_transient<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            transient_reply(service.err().code(), service.raw().status().as_u16())
        }
        _ => false,
    }
}

fn transient_reply(code: Option<&str>, status: u16) -> bool {
    code.is_some_and(|c| TRANSIENT_CODES.contains(&c)) || status == 429 || status >= 500
}

/// How Athena's column type reads as a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    Integer,
    Number,
    Date,
    Boolean,
    /// `varchar`, `char`, and whatever else, as Athena renders it.
    Text,
}

impl ColumnKind {
    /// From `ColumnInfo.Type` (`bigint`, `double`, `varchar`, `decimal(10,2)`, ...).
    fn of(athena_type: &str) -> Self {
        let base = athena_type
            .split('(')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
            "tinyint" | "smallint" | "integer" | "int" | "bigint" => ColumnKind::Integer,
            "double" | "float" | "real" | "decimal" => ColumnKind::Number,
            "date" => ColumnKind::Date,
            "boolean" => ColumnKind::Boolean,
            _ => ColumnKind::Text,
        }
    }
}

/// One value of a result row (`VarCharValue`; absent for SQL NULL) as the cell
/// [`LocalEngine`](crate::query::LocalEngine) makes of the same value.
fn cell(kind: ColumnKind, value: Option<&str>) -> Result<Cell, String> {
    let Some(value) = value else {
        return Ok(Cell::Empty);
    };
    let bad = |what: &str| format!("{value:?} is not {what}");
    Ok(match kind {
        ColumnKind::Integer => Cell::Integer(value.parse().map_err(|_| bad("an integer"))?),
        // Trino writes doubles as Java does: `1500.5`, `1.0E7`, `NaN`, `Infinity`.
        ColumnKind::Number => Cell::Number(value.parse().map_err(|_| bad("a number"))?),
        ColumnKind::Date => {
            Cell::Date(NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| bad("a date"))?)
        }
        // DataFusion's booleans become the text `true` / `false`; so do these.
        ColumnKind::Boolean => match value {
            "true" | "false" => Cell::Text(value.to_owned()),
            _ => return Err(bad("a boolean")),
        },
        ColumnKind::Text => text_cell(value),
    })
}

/// Results read page by page. Athena's first page starts with a row of the column labels.
#[derive(Debug, Default)]
struct ResultPages {
    rows: Rows,
    kinds: Vec<ColumnKind>,
    pages: usize,
}

impl ResultPages {
    fn add(&mut self, set: &aws_sdk_athena::types::ResultSet) -> Result<(), String> {
        let first = self.pages == 0;
        self.pages += 1;
        if first {
            let columns = set
                .result_set_metadata()
                .map(|m| m.column_info())
                .unwrap_or_default();
            self.rows.columns = columns.iter().map(|c| c.name().to_owned()).collect();
            self.kinds = columns.iter().map(|c| ColumnKind::of(c.r#type())).collect();
        }
        let skip = usize::from(first);
        for (n, row) in set.rows().iter().enumerate().skip(skip) {
            let data = row.data();
            if data.len() != self.kinds.len() {
                return Err(format!(
                    "row {n} of page {} has {} values for {} columns",
                    self.pages,
                    data.len(),
                    self.kinds.len()
                ));
            }
            let cells = self
                .kinds
                .iter()
                .zip(data)
                .zip(&self.rows.columns)
                .map(|((kind, datum), column)| {
                    cell(*kind, datum.var_char_value()).map_err(|e| format!("{column}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.rows.rows.push(cells);
        }
        Ok(())
    }

    fn into_rows(self) -> Rows {
        self.rows
    }
}

/// A Trino string literal (quotes doubled; Trino has no backslash escapes).
fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The SQL with its one `FROM events` reading `table` instead.
fn qualify_table(sql: &str, table: &str) -> Result<String, String> {
    let needle = format!("FROM {SQL_TABLE}");
    let matches: Vec<usize> = sql
        .match_indices(&needle)
        .map(|(at, _)| at)
        .filter(|at| {
            let after = sql[at + needle.len()..].chars().next();
            !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .collect();
    match matches.as_slice() {
        [at] => Ok(format!(
            "{}FROM {table}{}",
            &sql[..*at],
            &sql[at + needle.len()..]
        )),
        _ => Err(format!(
            "the query reads `{needle}` {} times; the Athena engine substitutes exactly one",
            matches.len()
        )),
    }
}

fn without_comment_lines(sql: &str) -> String {
    sql.lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Glue database or table name: Glue keeps them lowercase; `-` is allowed (a stack name is
/// part of the database's) and quoted in the SQL.
fn glue_name(what: &'static str, value: &str) -> Result<String, InvalidName> {
    let ok = (1..=255).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(InvalidName {
            what,
            value: value.to_owned(),
            expected: "1-255 lowercase letters, digits, '_' or '-'",
        })
    }
}

/// Athena's workgroup name pattern, `[a-zA-Z0-9._-]{1,128}`.
fn workgroup_name(value: &str) -> Result<String, InvalidName> {
    let ok = (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(InvalidName {
            what: "workgroup",
            value: value.to_owned(),
            expected: "1-128 letters, digits, '.', '_' or '-'",
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_athena::types::{
        AthenaError, ColumnInfo, Datum, ResultSet, ResultSetMetadata, Row,
    };
    use mvidarr_core::analytics::Granularity;

    use super::*;

    const TENANT: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

    fn tenant() -> TenantId {
        TENANT.parse().unwrap()
    }

    fn engine() -> AthenaEngine {
        let config = aws_sdk_athena::Config::builder()
            .behavior_version(aws_sdk_athena::config::BehaviorVersion::latest())
            .region(aws_sdk_athena::config::Region::new("us-east-1"))
            .build();
        AthenaEngine::new(
            Client::from_conf(config),
            "mvidarr-prod_analytics",
            "events",
            "mvidarr-prod-analytics",
        )
        .unwrap()
    }

    const ALL_QUERIES: [ReportQuery; 5] = [
        ReportQuery::Daily,
        ReportQuery::TopMedia { limit: 10 },
        ReportQuery::Analyses,
        ReportQuery::Quarantines,
        ReportQuery::TagDecisions,
    ];

    #[test]
    fn range_clause_names_the_tenant_the_days_and_the_bounds_in_trino_literals() {
        let range = TimeRange::parse("2026-11-01", "2026-11-04", Granularity::Day).unwrap();
        assert_eq!(
            AthenaEngine::range_clause(tenant(), range),
            "t = '01ARZ3NDEKTSV4RRFFQ69G5FAV' AND \"date\" BETWEEN '2026-11-01' AND '2026-11-03' \
             AND at >= from_iso8601_timestamp('2026-11-01T00:00:00Z') \
             AND at < from_iso8601_timestamp('2026-11-04T00:00:00Z')"
        );
    }

    #[test]
    fn range_clause_of_hours_reads_only_the_days_they_touch() {
        let range = TimeRange::parse(
            "2026-11-01T22:00:00Z",
            "2026-11-02T03:00:00Z",
            Granularity::Hour,
        )
        .unwrap();
        let clause = AthenaEngine::range_clause(tenant(), range);
        assert!(clause.contains("\"date\" BETWEEN '2026-11-01' AND '2026-11-02'"));
        assert!(clause.contains("at >= from_iso8601_timestamp('2026-11-01T22:00:00Z')"));
        assert!(clause.contains("at < from_iso8601_timestamp('2026-11-02T03:00:00Z')"));
    }

    #[test]
    fn sql_strings_double_their_quotes() {
        assert_eq!(sql_string("it's"), "'it''s'");
        assert_eq!(sql_string("plain"), "'plain'");
    }

    #[test]
    fn every_query_reads_the_qualified_table_with_the_range_and_no_comments() {
        let engine = engine();
        let range = TimeRange::parse("2026-11-01", "2026-11-02", Granularity::Day).unwrap();
        for query in ALL_QUERIES {
            let sql = engine.query_text(tenant(), range, query).unwrap();
            assert!(
                sql.starts_with("SELECT"),
                "{}: starts {:?}",
                query.name(),
                &sql[..20]
            );
            assert!(sql.contains("FROM \"mvidarr-prod_analytics\".\"events\"\n"));
            assert!(!sql.contains("FROM events"), "{sql}");
            assert!(!sql.contains("--"), "{sql}");
            assert!(!sql.contains('{'), "{sql}");
            assert!(sql.contains(&AthenaEngine::range_clause(tenant(), range)));
        }
        let top = engine
            .query_text(tenant(), range, ReportQuery::TopMedia { limit: 7 })
            .unwrap();
        assert!(top.ends_with("LIMIT 7"), "{top}");
    }

    #[test]
    fn qualifying_needs_exactly_one_read_of_the_events_table() {
        assert_eq!(
            qualify_table("SELECT 1 FROM events WHERE x", "\"d\".\"t\"").unwrap(),
            "SELECT 1 FROM \"d\".\"t\" WHERE x"
        );
        assert_eq!(
            qualify_table("SELECT 1 FROM events", "\"d\".\"t\"").unwrap(),
            "SELECT 1 FROM \"d\".\"t\""
        );
        assert!(qualify_table("SELECT 1 FROM events_2024", "x").is_err());
        assert!(qualify_table("SELECT 1 FROM other", "x").is_err());
        assert!(qualify_table("SELECT 1 FROM events JOIN (SELECT 2 FROM events)", "x").is_err());
    }

    #[test]
    fn names_that_could_break_out_of_a_quoted_identifier_are_refused() {
        let client = engine().client;
        for (database, table, workgroup) in [
            ("bad\"name", "events", "wg"),
            ("db", "Events", "wg"),
            ("db", "", "wg"),
            ("db", "events", "wg/x"),
            ("db", "events", ""),
            ("db name", "events", "wg"),
        ] {
            let error = AthenaEngine::new(client.clone(), database, table, workgroup).unwrap_err();
            assert!(error.to_string().contains("invalid Athena"), "{error}");
        }
        let long_workgroup = "w".repeat(129);
        assert!(AthenaEngine::new(client.clone(), "db", "events", &long_workgroup).is_err());
        assert!(
            AthenaEngine::new(client, "stack-1_analytics", "events", "Stack-1.analytics").is_ok()
        );
    }

    #[test]
    fn athena_types_map_to_cell_kinds() {
        for (athena_type, kind) in [
            ("bigint", ColumnKind::Integer),
            ("integer", ColumnKind::Integer),
            ("smallint", ColumnKind::Integer),
            ("tinyint", ColumnKind::Integer),
            ("double", ColumnKind::Number),
            ("real", ColumnKind::Number),
            ("decimal(10,2)", ColumnKind::Number),
            ("DECIMAL", ColumnKind::Number),
            ("date", ColumnKind::Date),
            ("boolean", ColumnKind::Boolean),
            ("varchar", ColumnKind::Text),
            ("varchar(26)", ColumnKind::Text),
            ("timestamp", ColumnKind::Text),
            ("", ColumnKind::Text),
        ] {
            assert_eq!(ColumnKind::of(athena_type), kind, "{athena_type}");
        }
    }

    #[test]
    fn values_become_the_cells_the_local_engine_makes() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        for (kind, value, expected) in [
            (ColumnKind::Integer, Some("42"), Cell::Integer(42)),
            (ColumnKind::Integer, Some("-7"), Cell::Integer(-7)),
            (ColumnKind::Integer, None, Cell::Empty),
            (ColumnKind::Number, Some("1500.5"), Cell::Number(1500.5)),
            (ColumnKind::Number, Some("1.0E7"), Cell::Number(1.0e7)),
            (ColumnKind::Number, Some("2.5E-4"), Cell::Number(2.5e-4)),
            (ColumnKind::Number, Some("12.30"), Cell::Number(12.3)),
            (
                ColumnKind::Number,
                Some("Infinity"),
                Cell::Number(f64::INFINITY),
            ),
            (ColumnKind::Number, None, Cell::Empty),
            (ColumnKind::Date, Some("2026-11-01"), Cell::Date(day)),
            (ColumnKind::Text, Some("2026-11-01"), Cell::Date(day)),
            (ColumnKind::Text, Some("too_long"), Cell::from("too_long")),
            (ColumnKind::Text, Some("2026-11-1"), Cell::from("2026-11-1")),
            (ColumnKind::Text, Some(""), Cell::from("")),
            (ColumnKind::Text, None, Cell::Empty),
            (ColumnKind::Boolean, Some("true"), Cell::from("true")),
            (ColumnKind::Boolean, None, Cell::Empty),
        ] {
            assert_eq!(cell(kind, value).unwrap(), expected, "{kind:?} {value:?}");
        }
        assert!(matches!(cell(ColumnKind::Number, Some("NaN")), Ok(Cell::Number(n)) if n.is_nan()));
    }

    #[test]
    fn values_that_do_not_fit_their_type_are_errors() {
        for (kind, value) in [
            (ColumnKind::Integer, "1.5"),
            (ColumnKind::Integer, "99999999999999999999"),
            (ColumnKind::Number, "twelve"),
            (ColumnKind::Date, "2026-13-01"),
            (ColumnKind::Boolean, "yes"),
        ] {
            let error = cell(kind, Some(value)).unwrap_err();
            assert!(error.contains(value), "{error}");
        }
    }

    fn result_set(columns: &[(&str, &str)], rows: &[&[Option<&str>]]) -> ResultSet {
        let info = columns
            .iter()
            .map(|(name, athena_type)| {
                ColumnInfo::builder()
                    .name(*name)
                    .label(*name)
                    .r#type(*athena_type)
                    .build()
                    .unwrap()
            })
            .collect();
        ResultSet::builder()
            .result_set_metadata(
                ResultSetMetadata::builder()
                    .set_column_info(Some(info))
                    .build(),
            )
            .set_rows(Some(
                rows.iter()
                    .map(|values| {
                        Row::builder()
                            .set_data(Some(
                                values
                                    .iter()
                                    .map(|v| {
                                        Datum::builder()
                                            .set_var_char_value(v.map(str::to_owned))
                                            .build()
                                    })
                                    .collect(),
                            ))
                            .build()
                    })
                    .collect(),
            ))
            .build()
    }

    const COLUMNS: [(&str, &str); 3] = [
        ("day", "varchar"),
        ("analyses", "bigint"),
        ("mean_ms", "double"),
    ];

    #[test]
    fn pages_skip_the_header_row_of_the_first_page_only() {
        let day = |d| Cell::Date(NaiveDate::from_ymd_opt(2026, 11, d).unwrap());
        let mut pages = ResultPages::default();
        pages
            .add(&result_set(
                &COLUMNS,
                &[
                    &[Some("day"), Some("analyses"), Some("mean_ms")],
                    &[Some("2026-11-01"), Some("3"), Some("1500.5")],
                ],
            ))
            .unwrap();
        pages
            .add(&result_set(
                &COLUMNS,
                &[
                    &[Some("2026-11-02"), Some("0"), None],
                    &[Some("2026-11-03"), Some("1"), Some("20.0")],
                ],
            ))
            .unwrap();
        assert_eq!(
            pages.into_rows(),
            Rows {
                columns: vec!["day".into(), "analyses".into(), "mean_ms".into()],
                rows: vec![
                    vec![day(1), Cell::Integer(3), Cell::Number(1500.5)],
                    vec![day(2), Cell::Integer(0), Cell::Empty],
                    vec![day(3), Cell::Integer(1), Cell::Number(20.0)],
                ],
            }
        );
    }

    #[test]
    fn a_result_of_only_the_header_has_columns_and_no_rows() {
        let mut pages = ResultPages::default();
        pages
            .add(&result_set(
                &COLUMNS,
                &[&[Some("day"), Some("analyses"), Some("mean_ms")]],
            ))
            .unwrap();
        let rows = pages.into_rows();
        assert_eq!(rows.columns.len(), 3);
        assert!(rows.rows.is_empty());
    }

    #[test]
    fn a_row_of_the_wrong_width_or_type_is_an_error() {
        let mut pages = ResultPages::default();
        let error = pages
            .add(&result_set(
                &COLUMNS,
                &[
                    &[Some("day"), Some("analyses"), Some("mean_ms")],
                    &[Some("2026-11-01")],
                ],
            ))
            .unwrap_err();
        assert!(error.contains("1 values for 3 columns"), "{error}");

        let mut pages = ResultPages::default();
        let error = pages
            .add(&result_set(
                &COLUMNS,
                &[
                    &[Some("day"), Some("analyses"), Some("mean_ms")],
                    &[Some("2026-11-01"), Some("x"), None],
                ],
            ))
            .unwrap_err();
        assert!(error.contains("analyses"), "{error}");
    }

    fn status(
        state: QueryExecutionState,
    ) -> aws_sdk_athena::types::builders::QueryExecutionStatusBuilder {
        QueryExecutionStatus::builder().state(state)
    }

    #[test]
    fn queued_and_running_queries_are_polled_again_and_succeeded_ones_read() {
        for state in [QueryExecutionState::Queued, QueryExecutionState::Running] {
            let s = status(state).build();
            assert!(matches!(
                progress(ReportQuery::Daily, Some(&s)),
                Progress::Running
            ));
        }
        let s = status(QueryExecutionState::Succeeded).build();
        assert!(matches!(
            progress(ReportQuery::Daily, Some(&s)),
            Progress::Succeeded
        ));
    }

    #[test]
    fn a_failed_query_ends_with_athenas_reason() {
        let s = status(QueryExecutionState::Failed)
            .state_change_reason("COLUMN_NOT_FOUND: line 3:8: Column 'nope' cannot be resolved")
            .athena_error(
                AthenaError::builder()
                    .error_category(2)
                    .error_type(1006)
                    .retryable(false)
                    .error_message("COLUMN_NOT_FOUND: line 3:8: Column 'nope' cannot be resolved")
                    .build(),
            )
            .build();
        let Progress::Ended(error) = progress(ReportQuery::Analyses, Some(&s)) else {
            panic!("not ended")
        };
        assert_eq!(
            error.to_string(),
            "query analyses FAILED: COLUMN_NOT_FOUND: line 3:8: Column 'nope' cannot be resolved"
        );
        assert!(!error.is_transient());
    }

    #[test]
    fn a_failure_athena_calls_retryable_is_transient() {
        let s = status(QueryExecutionState::Failed)
            .state_change_reason("Query exhausted resources at this scale factor")
            .athena_error(
                AthenaError::builder()
                    .error_category(1)
                    .retryable(true)
                    .error_message("INTERNAL_ERROR")
                    .build(),
            )
            .build();
        let Progress::Ended(error) = progress(ReportQuery::Daily, Some(&s)) else {
            panic!("not ended")
        };
        assert_eq!(
            error.to_string(),
            "query daily FAILED: Query exhausted resources at this scale factor (INTERNAL_ERROR)"
        );
        assert!(error.is_transient());
    }

    #[test]
    fn a_cancelled_query_or_one_without_a_state_is_an_error() {
        let s = status(QueryExecutionState::Cancelled).build();
        let Progress::Ended(error) = progress(ReportQuery::Quarantines, Some(&s)) else {
            panic!("not ended")
        };
        assert_eq!(
            error.to_string(),
            "query quarantines CANCELLED: Athena gave no reason"
        );
        let Progress::Ended(error) = progress(ReportQuery::Quarantines, None) else {
            panic!("not ended")
        };
        assert!(error.to_string().contains("no state"), "{error}");
        let s = status(QueryExecutionState::from("PAUSED")).build();
        let Progress::Ended(error) = progress(ReportQuery::Quarantines, Some(&s)) else {
            panic!("not ended")
        };
        assert!(error.to_string().contains("PAUSED"), "{error}");
    }

    #[test]
    fn waits_double_up_to_the_maximum() {
        let mut waits = Backoff::new(Polling {
            first_wait: Duration::from_millis(250),
            max_wait: Duration::from_secs(1),
            deadline: Duration::from_secs(10),
        });
        let ms: Vec<u128> = (0..5).map(|_| waits.next_wait().as_millis()).collect();
        assert_eq!(ms, [250, 500, 1000, 1000, 1000]);
    }

    #[test]
    fn throttling_and_server_faults_are_retried_and_request_errors_not() {
        assert!(transient_reply(Some("TooManyRequestsException"), 400));
        assert!(transient_reply(Some("ThrottlingException"), 400));
        assert!(transient_reply(Some("InternalServerException"), 500));
        assert!(transient_reply(None, 503));
        assert!(transient_reply(None, 429));
        assert!(!transient_reply(Some("InvalidRequestException"), 400));
        assert!(!transient_reply(Some("AccessDeniedException"), 403));
    }
}
