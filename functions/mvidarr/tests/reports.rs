//! Reports on the real binary: `mvidarr serve` counts its own API calls, generates a requested
//! report in its report worker and hands out a download link that works without credentials
//! (and only unaltered); schedules are kept with their next run.

use std::time::{Duration, Instant};

use chrono::Utc;
use mvidarr_tests::server::{ApiClient, Server, ServerOptions};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mvidarr");

/// Poll `path` until `done` holds of its answer, for up to a minute.
async fn wait_for(client: &ApiClient, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = client.get(path).await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} still {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requested_report_is_made_by_the_server_and_fetched_by_its_link() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let options = ServerOptions {
        env: vec![("MVIDARR_TICK_SECONDS".into(), "1".into())],
    };
    let server = Server::start(BIN.as_ref(), &data, &options).unwrap();
    let client = server.client();

    for _ in 0..5 {
        assert_eq!(client.get("/v1/media").await.unwrap().0, 200);
    }
    let today = Utc::now().date_naive();
    let range = format!("from={today}&to={}", today + chrono::Days::new(1));
    // The API's own calls reach the rollups through the events queue and its worker.
    wait_for(&client, &format!("/v1/analytics/summary?{range}"), |b| {
        b["totals"]["api_calls"].as_u64().unwrap_or(0) >= 5
    })
    .await;

    let (status, job) = client
        .send(
            Method::POST,
            "/v1/reports",
            &json!({"kind": "trend", "format": "csv", "from": today.to_string(),
                    "to": (today + chrono::Days::new(1)).to_string()}),
        )
        .await
        .unwrap();
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    let done = wait_for(&client, &format!("/v1/reports/{id}"), |b| {
        b["status"] != "queued" && b["status"] != "running"
    })
    .await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["file"]["empty"], false, "{done}");

    // The link is the credential: no API key needed, and a tampered one is refused.
    let url = done["download"]["url"].as_str().unwrap();
    let http = reqwest::Client::new();
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    // Today's row of the daily table counts those calls (its last column).
    let row = csv
        .lines()
        .find(|l| l.starts_with(&today.to_string()))
        .unwrap_or_else(|| panic!("no row for {today}: {csv}"));
    assert!(csv.contains("API calls"), "{csv}");
    let calls: u64 = row.rsplit(',').next().unwrap().parse().unwrap();
    assert!(calls >= 5, "{row}");
    assert_eq!(done["file"]["bytes"].as_u64(), Some(csv.len() as u64));
    let tampered = url.replacen("signature=", "signature=0", 1);
    assert_ne!(tampered, url, "the link carries a signature: {url}");
    let r = http.get(&tampered).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // A schedule is stored with its next run (an hourly cadence at most: none runs here).
    let (status, schedule) = client
        .send(
            Method::POST,
            "/v1/report-schedules",
            &json!({"name": "weekly", "kind": "engagement", "format": "pdf",
                    "cron": "0 8 * * MON", "timezone": "Europe/Paris", "period_days": 7}),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{schedule}");
    let next: chrono::DateTime<Utc> = schedule["next_run"].as_str().unwrap().parse().unwrap();
    assert!(next > Utc::now(), "{schedule}");
    assert!(server.terminate().unwrap(), "the server stopped uncleanly");
}
