//! The report queries on `AthenaEngine`, through the real SDK.
//!
//! Against moto: moto does not run SQL, but it records each statement with its workgroup and
//! execution context, serves results registered through its backdoor
//! (`POST /moto-api/static/athena/query-results`, one result per started query, in order), and
//! moves executions through QUEUED → RUNNING → SUCCEEDED as its state manager is told (and to
//! CANCELLED when stopped). So these tests check what is submitted, the typed conversion of
//! results, the polling, the deadline and a cancellation.
//!
//! What moto never does — throttle, page results, fail a query — is checked against a scripted
//! loopback server that answers Athena's JSON protocol.
//!
//! Registered results are queued per region, so each test on the shared server uses a region
//! of its own; the tests that change how executions progress get a server of their own.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::Region;
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{ResultConfiguration, WorkGroupConfiguration};
use mvidarr_analytics::query::{LocalEngine, QueryEngine, QueryError, ReportQuery, Rows};
use mvidarr_analytics::synthetic::{self, Stream};
use mvidarr_analytics::{AthenaEngine, Polling};
use mvidarr_core::analytics::report::Cell;
use mvidarr_core::analytics::{Granularity, TimeRange};
use mvidarr_core::ids::TenantId;
use mvidarr_store_aws::{AwsSettings, sdk_config};
use mvidarr_tests::aws::Moto;
use mvidarr_tests::aws::moto::unique_name;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const DATABASE: &str = "mvidarr-test_analytics";
const TABLE: &str = "events";

const ALL_QUERIES: [ReportQuery; 5] = [
    ReportQuery::Daily,
    ReportQuery::TopMedia { limit: 10 },
    ReportQuery::Analyses,
    ReportQuery::Quarantines,
    ReportQuery::TagDecisions,
];

/// Quick polling, so the tests wait milliseconds, not seconds.
fn polling(deadline: Duration) -> Polling {
    Polling {
        first_wait: Duration::from_millis(10),
        max_wait: Duration::from_millis(50),
        deadline,
    }
}

fn range() -> TimeRange {
    TimeRange::parse("2026-11-24", "2026-11-27", Granularity::Day).unwrap()
}

// ---- moto ----------------------------------------------------------------------------------

async fn moto_client(moto: &Moto, region: &str) -> Client {
    let config = moto
        .sdk_config()
        .await
        .into_builder()
        .region(Region::new(region.to_owned()))
        .build();
    Client::new(&config)
}

/// A workgroup like the stack's: results in the bucket, its configuration enforced.
async fn create_workgroup(client: &Client) -> String {
    let name = unique_name("analytics");
    client
        .create_work_group()
        .name(&name)
        .configuration(
            WorkGroupConfiguration::builder()
                .enforce_work_group_configuration(true)
                .result_configuration(
                    ResultConfiguration::builder()
                        .output_location("s3://mvidarr-test-media/athena-results/")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("create the workgroup");
    name
}

async fn moto_engine(moto: &Moto, region: &str, deadline: Duration) -> (AthenaEngine, Client) {
    let client = moto_client(moto, region).await;
    let workgroup = create_workgroup(&client).await;
    let engine = AthenaEngine::new(client.clone(), DATABASE, TABLE, &workgroup)
        .unwrap()
        .with_polling(polling(deadline));
    (engine, client)
}

async fn moto_api(moto: &Moto, path: &str, body: &Value) {
    reqwest::Client::new()
        .post(format!("{}/moto-api/{path}", moto.endpoint))
        .json(body)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("moto-api/{path}: {e}"));
}

/// Queues results for the next queries started in `region`, one each, in order.
async fn register_results(moto: &Moto, region: &str, results: Vec<AthenaResult>) {
    let results: Vec<Value> = results
        .iter()
        .map(|r| json!({ "rows": r.rows_json(true), "column_info": r.column_info_json() }))
        .collect();
    moto_api(
        moto,
        "static/athena/query-results",
        &json!({ "region": region, "results": results }),
    )
    .await;
}

/// How moto moves executions on: each is described `polls` times before its next state.
async fn executions_advance_every(moto: &Moto, polls: u64) {
    moto_api(
        moto,
        "state-manager/set-transition",
        &json!({
            "model_name": "athena::execution",
            "transition": { "progression": "manual", "times": polls },
        }),
    )
    .await;
}

/// What moto recorded of a workgroup's queries: (statement, database, workgroup, state).
async fn submitted(client: &Client, workgroup: &str) -> Vec<(String, String, String, String)> {
    let ids = client
        .list_query_executions()
        .work_group(workgroup)
        .send()
        .await
        .unwrap()
        .query_execution_ids()
        .to_vec();
    let mut out = Vec::new();
    for id in ids {
        let execution = client
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .unwrap()
            .query_execution()
            .cloned()
            .unwrap();
        out.push((
            execution.query().unwrap_or_default().to_owned(),
            execution
                .query_execution_context()
                .and_then(|c| c.database())
                .unwrap_or_default()
                .to_owned(),
            execution.work_group().unwrap_or_default().to_owned(),
            execution
                .status()
                .and_then(|s| s.state())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
        ));
    }
    out
}

/// A result as Athena returns it: typed columns, values as text (`None` for NULL).
#[derive(Clone)]
struct AthenaResult {
    columns: Vec<(String, &'static str)>,
    rows: Vec<Vec<Option<String>>>,
}

impl AthenaResult {
    fn column_info_json(&self) -> Vec<Value> {
        self.columns
            .iter()
            .map(|(name, athena_type)| {
                json!({ "Name": name, "Label": name, "Type": athena_type, "Nullable": "UNKNOWN" })
            })
            .collect()
    }

    /// The rows, after Athena's header row of column labels if `header`.
    fn rows_json(&self, header: bool) -> Vec<Value> {
        let datum = |v: &Option<String>| match v {
            Some(v) => json!({ "VarCharValue": v }),
            None => json!({}),
        };
        let labels = self.columns.iter().map(|(name, _)| Some(name.clone()));
        header
            .then(|| labels.collect::<Vec<_>>())
            .into_iter()
            .chain(self.rows.iter().cloned())
            .map(|row| json!({ "Data": row.iter().map(datum).collect::<Vec<_>>() }))
            .collect()
    }
}

/// The type Athena gives each column of the report queries (Trino's: `COUNT` and `SUM` of
/// integers are `bigint`, `AVG` is `double`, the partition column and text are `varchar`).
fn athena_type(column: &str) -> &'static str {
    match column {
        "day" | "media" | "reason" | "tag" | "reviewer" => "varchar",
        "mean_ms" => "double",
        _ => "bigint",
    }
}

/// A double as Trino (Java's `Double.toString`) writes it: `1500.0`, `1.2345E7`.
fn trino_double(v: f64) -> String {
    if v == 0.0 || (1e-3..1e7).contains(&v.abs()) {
        format!("{v:?}")
    } else {
        let s = format!("{v:E}");
        match s.split_once('E') {
            Some((mantissa, exponent)) if !mantissa.contains('.') => {
                format!("{mantissa}.0E{exponent}")
            }
            _ => s,
        }
    }
}

/// What Athena would return for the answer DataFusion computed from the same events.
fn as_athena_result(rows: &Rows) -> AthenaResult {
    AthenaResult {
        columns: rows
            .columns
            .iter()
            .map(|c| (c.clone(), athena_type(c)))
            .collect(),
        rows: rows
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|cell| match cell {
                        Cell::Empty => None,
                        Cell::Integer(n) => Some(n.to_string()),
                        Cell::Number(x) => Some(trino_double(*x)),
                        Cell::Text(s) => Some(s.clone()),
                        Cell::Date(d) => Some(d.format("%Y-%m-%d").to_string()),
                    })
                    .collect()
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_query_is_submitted_for_the_tenant_and_days_in_the_workgroup() {
    let moto = Moto::shared();
    let (engine, client) = moto_engine(moto, "us-east-2", Duration::from_secs(20)).await;
    let tenant = TenantId::generate();

    for query in ALL_QUERIES {
        // Nothing registered in this region: moto answers every query with no rows.
        let rows = engine.run(tenant, range(), query).await.unwrap();
        assert!(rows.rows.is_empty(), "{}: {rows:?}", query.name());
    }

    let recorded = submitted(&client, engine.workgroup()).await;
    assert_eq!(recorded.len(), ALL_QUERIES.len());
    let expected: BTreeSet<String> = ALL_QUERIES
        .iter()
        .map(|q| engine.query_text(tenant, range(), *q).unwrap())
        .collect();
    let statements: BTreeSet<String> = recorded.iter().map(|r| r.0.clone()).collect();
    assert_eq!(statements, expected);
    for (statement, database, workgroup, state) in &recorded {
        assert!(statement.starts_with("SELECT"), "{statement}");
        assert!(
            statement.contains(&format!("t = '{tenant}' AND ")),
            "{statement}"
        );
        assert!(
            statement.contains("\"date\" BETWEEN '2026-11-24' AND '2026-11-26'"),
            "{statement}"
        );
        assert!(
            statement.contains("at >= from_iso8601_timestamp('2026-11-24T00:00:00Z')"),
            "{statement}"
        );
        assert!(
            statement.contains("at < from_iso8601_timestamp('2026-11-27T00:00:00Z')"),
            "{statement}"
        );
        assert!(
            statement.contains(&format!("FROM \"{DATABASE}\".\"{TABLE}\"")),
            "{statement}"
        );
        assert_eq!(database, DATABASE);
        assert_eq!(workgroup, engine.workgroup());
        assert_eq!(state, "SUCCEEDED");
    }
}

/// The tenant's events of 24–26 Nov 2026, ingested into a local blob store as the events
/// function would: the data both engines' answers are compared on.
async fn local_answers(tenant: TenantId) -> Vec<Rows> {
    let dir = tempfile::tempdir().unwrap();
    let (blobs, table) = mvidarr_store_local::stores_in(dir.path()).unwrap();
    let blobs_root = blobs.root().to_owned();
    synthetic::ingest_stream(
        &blobs,
        &table,
        tenant,
        &Stream::three_days(11, 3000, 30, 40),
        500,
    )
    .await
    .unwrap();
    let local = LocalEngine::new(&blobs_root);
    let mut answers = Vec::new();
    for query in ALL_QUERIES {
        answers.push(local.run(tenant, range(), query).await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn athena_results_read_as_the_same_rows_the_local_engine_returns() {
    let tenant = TenantId::generate();
    let local = local_answers(tenant).await;
    for (query, rows) in ALL_QUERIES.iter().zip(&local) {
        assert!(
            !rows.rows.is_empty(),
            "{}: no rows to compare",
            query.name()
        );
    }

    let moto = Moto::shared();
    let region = "us-west-2";
    let (engine, _client) = moto_engine(moto, region, Duration::from_secs(20)).await;
    register_results(moto, region, local.iter().map(as_athena_result).collect()).await;

    for (query, expected) in ALL_QUERIES.iter().zip(&local) {
        let rows = engine.run(tenant, range(), *query).await.unwrap();
        assert_eq!(&rows, expected, "{}", query.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nulls_integers_doubles_and_days_are_typed_by_the_column_metadata() {
    let moto = Moto::shared();
    let region = "eu-west-1";
    let (engine, _client) = moto_engine(moto, region, Duration::from_secs(20)).await;
    let text = |s: &str| Some(s.to_owned());
    register_results(
        moto,
        region,
        vec![AthenaResult {
            columns: vec![
                ("day".into(), "varchar"),
                ("analyses".into(), "bigint"),
                ("failures".into(), "bigint"),
                ("mean_ms".into(), "double"),
                ("max_ms".into(), "bigint"),
            ],
            rows: vec![
                vec![
                    text("2026-11-24"),
                    text("12"),
                    text("0"),
                    text("1.2345678E7"),
                    text("30000000"),
                ],
                vec![text("2026-11-25"), text("1"), text("1"), None, None],
            ],
        }],
    )
    .await;

    let rows = engine
        .run(TenantId::generate(), range(), ReportQuery::Analyses)
        .await
        .unwrap();
    let day = |d| Cell::Date(chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap());
    assert_eq!(
        rows,
        Rows {
            columns: ["day", "analyses", "failures", "mean_ms", "max_ms"]
                .map(String::from)
                .to_vec(),
            rows: vec![
                vec![
                    day(24),
                    Cell::Integer(12),
                    Cell::Integer(0),
                    Cell::Number(12_345_678.0),
                    Cell::Integer(30_000_000),
                ],
                vec![
                    day(25),
                    Cell::Integer(1),
                    Cell::Integer(1),
                    Cell::Empty,
                    Cell::Empty,
                ],
            ],
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_is_polled_through_queued_and_running_until_it_succeeds() {
    let moto = Moto::start().unwrap();
    executions_advance_every(&moto, 3).await;
    let region = "us-east-1";
    let (engine, client) = moto_engine(&moto, region, Duration::from_secs(20)).await;
    register_results(
        &moto,
        region,
        vec![AthenaResult {
            columns: vec![("reason".into(), "varchar"), ("uploads".into(), "bigint")],
            rows: vec![vec![Some("too_long".into()), Some("4".into())]],
        }],
    )
    .await;

    let rows = engine
        .run(TenantId::generate(), range(), ReportQuery::Quarantines)
        .await
        .unwrap();
    assert_eq!(
        rows.rows,
        vec![vec![Cell::from("too_long"), Cell::Integer(4)]]
    );
    let recorded = submitted(&client, engine.workgroup()).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].3, "SUCCEEDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_still_queued_at_its_deadline_times_out_and_is_stopped() {
    let moto = Moto::start().unwrap();
    executions_advance_every(&moto, 1_000_000).await;
    let (engine, client) = moto_engine(&moto, "us-east-1", Duration::from_millis(400)).await;

    let error = engine
        .run(TenantId::generate(), range(), ReportQuery::Daily)
        .await
        .unwrap_err();
    assert!(
        matches!(error, QueryError::TimedOut { query: "daily", .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert!(error.to_string().contains("did not finish"), "{error}");
    let recorded = submitted(&client, engine.workgroup()).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].3, "CANCELLED", "the abandoned query is stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_cancelled_while_it_runs_is_a_clear_error() {
    let moto = Moto::start().unwrap();
    executions_advance_every(&moto, 1_000_000).await;
    let (engine, client) = moto_engine(&moto, "us-east-1", Duration::from_secs(20)).await;
    let workgroup = engine.workgroup().to_owned();

    let run = tokio::spawn(async move {
        engine
            .run(TenantId::generate(), range(), ReportQuery::TagDecisions)
            .await
    });
    // Someone (an operator, a workgroup limit) stops the query while the run polls it.
    let id = loop {
        let ids = client
            .list_query_executions()
            .work_group(&workgroup)
            .send()
            .await
            .unwrap()
            .query_execution_ids()
            .to_vec();
        if let Some(id) = ids.first() {
            break id.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    client
        .stop_query_execution()
        .query_execution_id(&id)
        .send()
        .await
        .unwrap();

    let error = run.await.unwrap().unwrap_err();
    let QueryError::Failed {
        query,
        ref state,
        retryable,
        ..
    } = error
    else {
        panic!("{error:?}")
    };
    assert_eq!(
        (query, state.as_str(), retryable),
        ("tag_decisions", "CANCELLED", false)
    );
    assert!(
        error
            .to_string()
            .starts_with("query tag_decisions CANCELLED"),
        "{error}"
    );
}

// ---- a scripted Athena --------------------------------------------------------------------

/// An HTTP reply of the fake.
#[derive(Clone)]
struct Reply {
    status: &'static str,
    body: String,
}

fn ok(body: Value) -> Reply {
    Reply {
        status: "200 OK",
        body: body.to_string(),
    }
}

fn throttled() -> Reply {
    Reply {
        status: "400 Bad Request",
        body: json!({
            "__type": "TooManyRequestsException",
            "Message": "Rate exceeded",
            "Reason": "CONCURRENT_QUERY_LIMIT_EXCEEDED",
        })
        .to_string(),
    }
}

fn execution(state: Value) -> Reply {
    ok(json!({ "QueryExecution": { "QueryExecutionId": "q-1", "Status": state } }))
}

fn page(result: &AthenaResult, header: bool, next: Option<&str>) -> Reply {
    let mut body = json!({
        "ResultSet": {
            "Rows": result.rows_json(header),
            "ResultSetMetadata": { "ColumnInfo": result.column_info_json() },
        },
    });
    if let Some(next) = next {
        body["NextToken"] = json!(next);
    }
    ok(body)
}

/// Athena's JSON protocol on loopback: each operation (`X-Amz-Target`) answers its replies in
/// turn, the last one again and again; every request is recorded.
struct FakeAthena {
    endpoint: String,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

type Script = Vec<(&'static str, Vec<Reply>)>;

impl FakeAthena {
    async fn start(script: Script) -> FakeAthena {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let script = Arc::new(script);
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(socket, script.clone(), recorded.clone()));
            }
        });
        FakeAthena { endpoint, requests }
    }

    async fn engine(&self, deadline: Duration) -> AthenaEngine {
        let config = sdk_config(&AwsSettings {
            endpoint_url: Some(self.endpoint.clone()),
            region: Some("us-east-1".to_owned()),
            static_credentials: Some(("testing".to_owned(), "testing".to_owned())),
        })
        .await;
        AthenaEngine::new(Client::new(&config), DATABASE, TABLE, "analytics")
            .unwrap()
            .with_polling(polling(deadline))
    }

    /// The bodies of the requests of one operation, in order.
    fn requests(&self, operation: &str) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(op, _)| op == operation)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

async fn serve(
    mut socket: TcpStream,
    script: Arc<Script>,
    recorded: Arc<Mutex<Vec<(String, Value)>>>,
) {
    // One connection carries several requests (the SDK reuses connections).
    while let Some((operation, body)) = read_request(&mut socket).await {
        let reply = {
            let mut recorded = recorded.lock().unwrap();
            let seen = recorded.iter().filter(|(op, _)| *op == operation).count();
            recorded.push((operation.clone(), body));
            script
                .iter()
                .find(|(op, _)| *op == operation)
                .map(|(_, replies)| replies[seen.min(replies.len() - 1)].clone())
                .unwrap_or_else(|| Reply {
                    status: "400 Bad Request",
                    body: json!({ "__type": "InvalidRequestException", "Message": format!("unscripted {operation}") })
                        .to_string(),
                })
        };
        let response = format!(
            "HTTP/1.1 {}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nx-amzn-RequestId: fake\r\n\r\n{}",
            reply.status,
            reply.body.len(),
            reply.body
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// One request: its operation (`AmazonAthena.StartQueryExecution` → `StartQueryExecution`)
/// and JSON body; `None` when the connection closes.
async fn read_request(socket: &mut TcpStream) -> Option<(String, Value)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let length = header("content-length:")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let operation = header("x-amz-target:")
        .and_then(|t| t.rsplit('.').next().map(str::to_owned))
        .unwrap_or_default();
    let mut body = vec![0u8; length];
    socket.read_exact(&mut body).await.ok()?;
    // Headers were lowercased; operation names compare case-insensitively below.
    let operation = [
        "StartQueryExecution",
        "GetQueryExecution",
        "GetQueryResults",
        "StopQueryExecution",
    ]
    .into_iter()
    .find(|op| op.eq_ignore_ascii_case(&operation))
    .map_or(operation, str::to_owned);
    Some((
        operation,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    ))
}

fn started() -> Reply {
    ok(json!({ "QueryExecutionId": "q-1" }))
}

fn quarantines(rows: &[(&str, i64)]) -> AthenaResult {
    AthenaResult {
        columns: vec![("reason".into(), "varchar"), ("uploads".into(), "bigint")],
        rows: rows
            .iter()
            .map(|(reason, n)| vec![Some((*reason).to_owned()), Some(n.to_string())])
            .collect(),
    }
}

#[tokio::test]
async fn a_throttled_start_is_retried_under_one_token_until_athena_takes_it() {
    // More throttles in a row than the SDK's own attempts: the engine's retry goes on.
    let mut starts = vec![throttled(); 6];
    starts.push(started());
    let fake = FakeAthena::start(vec![
        ("StartQueryExecution", starts),
        (
            "GetQueryExecution",
            vec![execution(json!({ "State": "SUCCEEDED" }))],
        ),
        (
            "GetQueryResults",
            vec![page(&quarantines(&[("corrupt", 2)]), true, None)],
        ),
    ])
    .await;
    let engine = fake.engine(Duration::from_secs(20)).await;

    let rows = engine
        .run(TenantId::generate(), range(), ReportQuery::Quarantines)
        .await
        .unwrap();
    assert_eq!(
        rows.rows,
        vec![vec![Cell::from("corrupt"), Cell::Integer(2)]]
    );

    let starts = fake.requests("StartQueryExecution");
    assert_eq!(starts.len(), 7);
    let tokens: BTreeSet<&str> = starts
        .iter()
        .map(|b| b["ClientRequestToken"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(tokens.len(), 1, "one idempotency token: {tokens:?}");
    assert!(tokens.iter().all(|t| t.len() >= 32), "{tokens:?}");
    assert_eq!(starts[0]["WorkGroup"], "analytics");
    assert_eq!(starts[0]["QueryExecutionContext"]["Database"], DATABASE);
    assert!(
        starts[0].get("ResultConfiguration").is_none(),
        "the workgroup holds the result location"
    );
}

#[tokio::test]
async fn results_are_read_page_by_page_with_the_header_on_the_first_only() {
    let fake = FakeAthena::start(vec![
        ("StartQueryExecution", vec![started()]),
        (
            "GetQueryExecution",
            vec![
                execution(json!({ "State": "QUEUED" })),
                execution(json!({ "State": "RUNNING" })),
                execution(json!({ "State": "SUCCEEDED" })),
            ],
        ),
        (
            "GetQueryResults",
            vec![
                page(&quarantines(&[("too_long", 9)]), true, Some("page-2")),
                page(
                    &quarantines(&[("corrupt", 4), ("not_a_video", 4)]),
                    false,
                    Some("page-3"),
                ),
                page(&quarantines(&[("empty", 1)]), false, None),
            ],
        ),
    ])
    .await;
    let engine = fake.engine(Duration::from_secs(20)).await;

    let rows = engine
        .run(TenantId::generate(), range(), ReportQuery::Quarantines)
        .await
        .unwrap();
    assert_eq!(rows.columns, ["reason", "uploads"]);
    assert_eq!(
        rows.rows,
        vec![
            vec![Cell::from("too_long"), Cell::Integer(9)],
            vec![Cell::from("corrupt"), Cell::Integer(4)],
            vec![Cell::from("not_a_video"), Cell::Integer(4)],
            vec![Cell::from("empty"), Cell::Integer(1)],
        ]
    );
    assert_eq!(fake.requests("GetQueryExecution").len(), 3);
    let pages = fake.requests("GetQueryResults");
    let tokens: Vec<Option<&str>> = pages.iter().map(|b| b["NextToken"].as_str()).collect();
    assert_eq!(tokens, [None, Some("page-2"), Some("page-3")]);
    assert!(
        pages
            .iter()
            .all(|b| b["QueryExecutionId"] == "q-1" && b["MaxResults"] == 1000)
    );
}

#[tokio::test]
async fn a_failed_query_reports_athenas_reason_and_reads_no_results() {
    let reason = "TABLE_NOT_FOUND: line 19:6: Table 'awsdatacatalog.mvidarr-test_analytics.events' does not exist";
    let fake = FakeAthena::start(vec![
        ("StartQueryExecution", vec![started()]),
        (
            "GetQueryExecution",
            vec![
                execution(json!({ "State": "RUNNING" })),
                execution(json!({
                    "State": "FAILED",
                    "StateChangeReason": reason,
                    "AthenaError": {
                        "ErrorCategory": 2,
                        "ErrorType": 1301,
                        "Retryable": false,
                        "ErrorMessage": reason,
                    },
                })),
            ],
        ),
    ])
    .await;
    let engine = fake.engine(Duration::from_secs(20)).await;

    let error = engine
        .run(TenantId::generate(), range(), ReportQuery::Daily)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), format!("query daily FAILED: {reason}"));
    assert!(!error.is_transient());
    assert!(fake.requests("GetQueryResults").is_empty());
    assert!(fake.requests("StopQueryExecution").is_empty());
}

#[tokio::test]
async fn throttling_that_outlasts_the_deadline_is_transient_and_the_query_is_stopped() {
    let fake = FakeAthena::start(vec![
        ("StartQueryExecution", vec![started()]),
        ("GetQueryExecution", vec![throttled()]),
        ("StopQueryExecution", vec![ok(json!({}))]),
    ])
    .await;
    let engine = fake.engine(Duration::from_millis(1500)).await;

    let error = engine
        .run(
            TenantId::generate(),
            range(),
            ReportQuery::TopMedia { limit: 5 },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            QueryError::Transient {
                query: "top_media",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert!(
        error.to_string().contains("TooManyRequestsException"),
        "{error}"
    );
    let stops = fake.requests("StopQueryExecution");
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0]["QueryExecutionId"], "q-1");
}
