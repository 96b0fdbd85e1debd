//! Report jobs and schedules through the API: a report asked for is queued (202), generated
//! by the report worker and then downloadable, with the same figures as the dashboards; bad
//! requests are 400s with the reason; another tenant's reports are not found; a key without
//! `reports:read` is 403 and a viewer may not schedule (`reports:manage`).

mod support;

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use mvidarr_auth::Role;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::blob::read_to_end;
use mvidarr_core::ports::{BlobStore, Platform};
use serde_json::{Value, json};
use support::TestApi;

fn yesterday(hour: u32) -> String {
    let day = Utc::now().date_naive() - Duration::days(1);
    format!("{day}T{hour:02}:10:00Z")
}

fn days() -> (String, String) {
    let today = Utc::now().date_naive();
    ((today - Duration::days(1)).to_string(), today.to_string())
}

/// A tenant whose yesterday had 5 plays, 2 completions and a view.
async fn tenant_with_plays(api: &TestApi, name: &str) -> (TenantId, String) {
    let (tenant, owner, _) = api.catalogue_tenant(name, 2, 2).await;
    let events: Vec<Value> = [
        ("p1", "play", 0, 0, 9),
        ("p2", "play", 0, 1, 9),
        ("p3", "play", 1, 0, 10),
        ("p4", "play", 1, 1, 12),
        ("p5", "play", 0, 0, 13),
        ("c1", "complete", 0, 0, 9),
        ("c2", "complete", 1, 1, 12),
        ("v1", "view", 1, 0, 20),
    ]
    .iter()
    .map(|(id, kind, m, u, h)| {
        json!({"id": id, "kind": kind, "media": format!("ext:m{m}"), "user": format!("ext:u{u}"), "at": yesterday(*h)})
    })
    .collect();
    let r = api
        .post("/v1/events", Some(&owner), json!({"events": events}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    api.drain_events().await;
    (tenant, owner)
}

#[tokio::test]
async fn a_report_is_queued_generated_and_downloadable_with_the_dashboards_figures() {
    let api = TestApi::start().await;
    let (tenant, owner) = tenant_with_plays(&api, "reports").await;
    let (from, to) = days();
    let r = api
        .post(
            "/v1/reports",
            Some(&owner),
            json!({"kind": "trend", "format": "csv", "from": from, "to": to}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["status"], "queued");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = api.get(&format!("/v1/reports/{id}"), &owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "queued");
    assert!(r.body.get("download").is_none());

    assert_eq!(api.drain_reports().await, 1);
    let r = api.get(&format!("/v1/reports/{id}"), &owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "done", "{}", r.body);
    assert_eq!(r.body["file"]["content_type"], "text/csv; charset=utf-8");
    assert_eq!(r.body["file"]["name"], format!("trend-{from}-{to}.csv"));
    assert_eq!(r.body["file"]["empty"], false);
    let url = r.body["download"]["url"].as_str().unwrap();
    assert!(url.contains("/reports/"), "{url}");
    assert!(r.body["download"]["expires_at"].is_string());

    // The file: one day, the same counts as the summary.
    let key = format!("t/{tenant}/reports/{id}.csv");
    let bytes = read_to_end(api.platform.blobs().get(&key).await.unwrap(), 1 << 20)
        .await
        .unwrap();
    let csv = String::from_utf8(bytes).unwrap();
    let summary = api
        .get(
            &format!("/v1/analytics/summary?from={from}&to={to}"),
            &owner,
        )
        .await;
    let totals = &summary.body["totals"];
    assert_eq!(
        (totals["plays"].as_u64(), totals["completions"].as_u64()),
        (Some(5), Some(2))
    );
    let (header, row) = csv_row(&csv, &from);
    let column = |name: &str| -> u64 {
        let i = header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} in {header:?}"));
        row[i].parse().unwrap()
    };
    assert_eq!(column("Plays"), 5);
    assert_eq!(column("Completions"), 2);
    assert_eq!(column("Views"), 1);

    // Listed, newest first.
    let r = api
        .post(
            "/v1/reports",
            Some(&owner),
            json!({"kind": "engagement", "format": "pdf"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let newer = r.body["id"].as_str().unwrap().to_owned();
    let list = api.get("/v1/reports?limit=1", &owner).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["items"][0]["id"], newer.as_str());
    let cursor = list.body["next_cursor"].as_str().unwrap();
    let list = api
        .get(&format!("/v1/reports?limit=1&cursor={cursor}"), &owner)
        .await;
    assert_eq!(list.body["items"][0]["id"], id.as_str());
}

/// The CSV's daily table: its header and the row of `day`.
fn csv_row(csv: &str, day: &str) -> (Vec<String>, Vec<String>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv.as_bytes());
    let mut header = None;
    for record in reader.records() {
        let record: Vec<String> = record.unwrap().iter().map(str::to_owned).collect();
        if record.iter().any(|c| c == "Plays") {
            header = Some(record);
        } else if record.first().map(String::as_str) == Some(day)
            && let Some(h) = &header
        {
            return (h.clone(), record);
        }
    }
    panic!("no row for {day} in\n{csv}")
}

#[tokio::test]
async fn bad_report_requests_are_400s_with_the_reason() {
    let api = TestApi::start().await;
    let (_, owner, _) = api.catalogue_tenant("bad", 0, 0).await;
    for (body, says) in [
        (json!({"kind": "gossip", "format": "csv"}), "unknown report"),
        (json!({"kind": "trend", "format": "docx"}), "unknown format"),
        (
            json!({"kind": "trend", "format": "csv", "from": "2026-11-10", "to": "2026-11-01"}),
            "before",
        ),
        (
            json!({"kind": "trend", "format": "csv", "from": "2024-01-01", "to": "2026-01-01"}),
            "days",
        ),
        (
            json!({"kind": "trend", "format": "csv", "from": "yesterday"}),
            "expected a date",
        ),
    ] {
        let r = api.post("/v1/reports", Some(&owner), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{body}: {detail}");
    }
    let r = api
        .get(&format!("/v1/reports/{}", ulid::Ulid::new()), &owner)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = api.get("/v1/reports?limit=0", &owner).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test]
async fn reports_belong_to_their_tenant_and_need_reports_read() {
    let api = TestApi::start().await;
    let (_, owner, _) = api.catalogue_tenant("mine", 0, 0).await;
    let (_, other, _) = api.catalogue_tenant("theirs", 0, 0).await;
    let r = api
        .post(
            "/v1/reports",
            Some(&owner),
            json!({"kind": "library_overview", "format": "xlsx"}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = api.get(&format!("/v1/reports/{id}"), &other).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let list = api.get("/v1/reports", &other).await;
    assert_eq!(list.body["items"], json!([]));

    let key = api
        .post(
            "/v1/api-keys",
            Some(&owner),
            json!({"name": "player", "scopes": ["media:read", "events:write"]}),
        )
        .await;
    let key = key.body["key"].as_str().unwrap();
    let r = api
        .post(
            "/v1/reports",
            Some(key),
            json!({"kind": "trend", "format": "csv"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("reports:read"));
    for path in [
        format!("/v1/reports/{id}"),
        "/v1/reports".into(),
        "/v1/report-schedules".into(),
    ] {
        let r = api.get(&path, key).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }

    // A viewer reads reports and asks for them, but schedules nothing.
    api.add_user(&owner, "viewer@mine.example.com", Role::Viewer)
        .await;
    let viewer = api.login("viewer@mine.example.com").await;
    let viewer = support::access(&viewer);
    let r = api.get(&format!("/v1/reports/{id}"), viewer).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .post("/v1/report-schedules", Some(viewer), weekly("weekly"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("reports:manage")
    );
}

fn weekly(name: &str) -> Value {
    json!({"name": name, "kind": "trend", "format": "pdf", "cron": "0 8 * * MON",
           "timezone": "Europe/Paris", "period_days": 7})
}

#[tokio::test]
async fn schedules_are_created_listed_changed_and_deleted() {
    let api = TestApi::start().await;
    let (_, owner, _) = api.catalogue_tenant("sched", 0, 0).await;
    let r = api
        .post("/v1/report-schedules", Some(&owner), weekly("Weekly trend"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let next: chrono::DateTime<Utc> = r.body["next_run"].as_str().unwrap().parse().unwrap();
    assert!(next > Utc::now() && next - Utc::now() <= Duration::days(7));
    // Mondays, 08:00 in Paris: 07:00 or 06:00 UTC.
    assert_eq!(next.format("%a %M").to_string(), "Mon 00");

    let r = api.get("/v1/report-schedules", &owner).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let path = format!("/v1/report-schedules/{id}");
    let mut change = weekly("Daily engagement");
    change["cron"] = json!("30 6 * * *");
    change["timezone"] = json!("UTC");
    change["kind"] = json!("engagement");
    change["period_days"] = json!(1);
    let r = api
        .call(Method::PUT, &path, Some(&owner), Some(change))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["kind"], "engagement");
    let next: chrono::DateTime<Utc> = r.body["next_run"].as_str().unwrap().parse().unwrap();
    assert_eq!(next.format("%H:%M").to_string(), "06:30");
    assert!(next - Utc::now() <= Duration::days(1));

    let mut off = weekly("off");
    off["enabled"] = json!(false);
    let r = api.call(Method::PUT, &path, Some(&owner), Some(off)).await;
    assert_eq!(r.body["next_run"], Value::Null);

    let r = api.delete(&path, &owner).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api.get(&path, &owner).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api.delete(&path, &owner).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_schedules_are_400s_with_the_reason() {
    let api = TestApi::start().await;
    let (_, owner, _) = api.catalogue_tenant("badsched", 0, 0).await;
    for (field, value, says) in [
        ("cron", json!("0 8 * *"), "five fields"),
        ("cron", json!("*/5 * * * *"), "at most hourly"),
        ("cron", json!("0 0 30 2 *"), "never runs"),
        ("timezone", json!("Mars/Olympus"), "IANA"),
        ("period_days", json!(0), "period_days"),
        ("period_days", json!(400), "period_days"),
        ("kind", json!("gossip"), "unknown report"),
        ("name", json!("  "), "name"),
    ] {
        let mut body = weekly("w");
        body[field] = value.clone();
        let r = api.post("/v1/report-schedules", Some(&owner), body).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{field}={value}: {}",
            r.body
        );
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{field}={value}: {detail}");
    }
}
