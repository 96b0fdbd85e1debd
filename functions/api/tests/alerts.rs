//! Alert rules through the API, evaluated by the scheduler's tick on the rollups: a failure
//! rate above its threshold in the last complete hour raises one alert and one notification
//! however often the tick runs; bad rules are 400s; a viewer may read but not write rules.

mod support;

use axum::http::{Method, StatusCode};
use chrono::{Duration, DurationRound, Utc};
use mvidarr_auth::Role;
use mvidarr_core::analytics::{AnalyticsEvent, send_events};
use mvidarr_core::ids::MediaId;
use mvidarr_core::ports::Platform;
use serde_json::json;
use support::TestApi;

#[tokio::test]
async fn a_failure_rate_over_its_threshold_raises_one_alert_and_one_notification() {
    let api = TestApi::start().await;
    let (tenant, owner, _) = api.catalogue_tenant("alerting", 0, 0).await;
    let rule = json!({"name": "Analyses failing", "metric": "analysis_failure_rate",
                      "window_hours": 1, "threshold": 0.05, "min_events": 10});
    let r = api
        .post("/v1/alert-rules", Some(&owner), rule.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let rule_id = r.body["id"].as_str().unwrap().to_owned();

    // The last complete hour: 20 analyses, 3 failed (15% > 5%).
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(1);
    let events: Vec<AnalyticsEvent> = (0..20)
        .map(|i| {
            AnalyticsEvent::analysis_done(
                MediaId::generate(),
                i >= 3,
                40_000,
                hour + Duration::minutes(i),
            )
        })
        .collect();
    send_events(api.platform.events_queue(), tenant, events)
        .await
        .unwrap();
    api.drain_events().await;

    let now = Utc::now();
    assert_eq!(api.tick(now).await.alerts_raised, 1);
    assert_eq!(
        api.tick(now).await.alerts_raised,
        0,
        "the same window again"
    );
    let alerts = api.get("/v1/alerts", &owner).await;
    assert_eq!(alerts.status, StatusCode::OK, "{}", alerts.body);
    let items = alerts.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", alerts.body);
    assert_eq!(items[0]["rule"], rule_id.as_str());
    assert_eq!(items[0]["metric"], "analysis_failure_rate");
    assert!((items[0]["value"].as_f64().unwrap() - 0.15).abs() < 1e-9);
    let notes = api
        .get("/v1/alerts/notifications?undelivered=true", &owner)
        .await;
    assert_eq!(notes.status, StatusCode::OK, "{}", notes.body);
    assert_eq!(notes.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(notes.body["items"][0]["kind"], "alert.raised");

    // Above the threshold no more: a stricter-than-data rule raises nothing new.
    let mut calm = rule.clone();
    calm["threshold"] = json!(0.5);
    let path = format!("/v1/alert-rules/{rule_id}");
    let r = api.call(Method::PUT, &path, Some(&owner), Some(calm)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["threshold"], 0.5);
    assert_eq!(api.tick(now).await.alerts_raised, 0);

    // Another tenant sees none of it.
    let (_, other, _) = api.catalogue_tenant("quiet", 0, 0).await;
    assert_eq!(api.get("/v1/alerts", &other).await.body["items"], json!([]));
    assert_eq!(api.get(&path, &other).await.status, StatusCode::NOT_FOUND);

    let r = api.delete(&path, &owner).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&path, &owner).await.status, StatusCode::NOT_FOUND);
    // Its alert stays.
    assert_eq!(
        api.get("/v1/alerts", &owner).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_rules_are_400s_and_viewers_only_read() {
    let api = TestApi::start().await;
    let (_, owner, _) = api.catalogue_tenant("rules", 0, 0).await;
    for rule in [
        json!({"name": "x", "metric": "analysis_failure_rate", "window_hours": 1, "threshold": 1.5}),
        json!({"name": "x", "metric": "analysis_failure_rate", "window_hours": 0, "threshold": 0.1}),
        json!({"name": "x", "metric": "analysis_failure_rate", "window_hours": 25, "threshold": 0.1}),
        json!({"name": "x", "metric": "quarantines", "window_hours": 1, "threshold": -1}),
        json!({"name": "", "metric": "quarantines", "window_hours": 1, "threshold": 3}),
    ] {
        let r = api
            .post("/v1/alert-rules", Some(&owner), rule.clone())
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{rule}: {}", r.body);
    }
    let r = api
        .post(
            "/v1/alert-rules",
            Some(&owner),
            json!({"name": "x", "metric": "vibes", "window_hours": 1, "threshold": 1}),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);

    api.add_user(&owner, "viewer@rules.example.com", Role::Viewer)
        .await;
    let viewer = api.login("viewer@rules.example.com").await;
    let viewer = support::access(&viewer);
    assert_eq!(
        api.get("/v1/alert-rules", viewer).await.status,
        StatusCode::OK
    );
    let r = api
        .post(
            "/v1/alert-rules",
            Some(viewer),
            json!({"name": "x", "metric": "quarantines", "window_hours": 1, "threshold": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}
