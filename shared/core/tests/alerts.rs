//! Alert rules in the embedded table: stored, versioned, indexed while enabled; the sweep
//! evaluating them over the rollups the events path writes, raising each breach once with
//! its notification, and never mixing tenants.

use chrono::{Duration, Utc};
use mvidarr_core::Timestamp;
use mvidarr_core::analytics::alerts::{
    Alert, AlertMetric, AlertRule, Breach, Notification, RuleSpec,
};
use mvidarr_core::analytics::summary::midnight;
use mvidarr_core::analytics::{AnalyticsEvent, aggregate};
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::{Condition, Index, Item, Query, Table};
use mvidarr_core::repo::{
    AlertRepo, AlertSweep, AnalyticsRepo, RaiseOutcome, RollupCache, RuleChange, evaluate_alerts,
};
use mvidarr_store_local::db::Database;
use mvidarr_store_local::table::SqliteTable;
use tempfile::TempDir;

/// One cache for every sweep of these tests, as a process keeps one: a later sweep of a test
/// must see what changed since its earlier one.
fn rollups() -> &'static RollupCache {
    static ROLLUPS: std::sync::OnceLock<RollupCache> = std::sync::OnceLock::new();
    ROLLUPS.get_or_init(RollupCache::default)
}
fn table() -> (SqliteTable, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("t.db")).unwrap();
    (SqliteTable::new(db).unwrap(), dir)
}

/// `hour:minute` UTC on day `day` of the test, day 0 being three days ago: close to the real
/// clock, so the notifications' 30-day expiry (judged by it) is far off.
fn at(day: i64, hour: i64, minute: i64) -> Timestamp {
    let day0 = Utc::now().date_naive() - Duration::days(3);
    midnight(day0) + Duration::days(day) + Duration::hours(hour) + Duration::minutes(minute)
}

/// Apply `events` to the tenant's rollups as the events function does.
async fn seed(table: &SqliteTable, tenant: TenantId, events: &[AnalyticsEvent]) {
    let batch = ulid::Ulid::new().to_string();
    AnalyticsRepo::new(table)
        .apply(tenant, &batch, &aggregate(events))
        .await
        .unwrap();
}

fn spec(metric: AlertMetric, window_hours: u32, threshold: f64, min_events: u64) -> RuleSpec {
    RuleSpec {
        name: format!("{metric} over {threshold}"),
        metric,
        window_hours,
        threshold,
        min_events: Some(min_events),
        enabled: true,
    }
}

async fn create(
    table: &SqliteTable,
    tenant: TenantId,
    metric: AlertMetric,
    window_hours: u32,
    threshold: f64,
    min_events: u64,
) -> AlertRule {
    let rule = AlertRule::new(
        tenant,
        spec(metric, window_hours, threshold, min_events),
        "user:ops",
        at(0, 0, 0),
    )
    .unwrap();
    AlertRepo::new(table).create_rule(&rule).await.unwrap();
    rule
}

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
            let status = if i < ok { 200 } else { 500 };
            let request = ulid::Ulid::new().to_string();
            AnalyticsEvent::api_call(&request, "/v1/media", status, 5, None, when)
        })
        .collect()
}

async fn alerts_of(table: &SqliteTable, tenant: TenantId) -> Vec<Alert> {
    AlertRepo::new(table)
        .list_alerts(tenant, 100, None)
        .await
        .unwrap()
        .items
}

fn counts(s: &AlertSweep) -> (usize, usize, usize, usize) {
    (
        s.tenants,
        s.rules_evaluated,
        s.alerts_raised,
        s.already_raised,
    )
}

#[tokio::test]
async fn every_metric_fires_above_its_threshold_and_not_at_it() {
    let (table, _dir) = table();
    let hour = at(1, 13, 20);
    let now = at(1, 14, 5);
    // Per metric: its rule, the events exactly at the threshold, and one event more.
    let cases: Vec<(RuleSpec, Vec<AnalyticsEvent>, Vec<AnalyticsEvent>)> = vec![
        (
            spec(AlertMetric::AnalysisFailureRate, 1, 0.1, 20),
            analyses(18, 2, hour),
            analyses(0, 1, hour),
        ),
        (
            spec(AlertMetric::QuarantineRate, 1, 0.2, 10),
            [uploads(8, hour), quarantines(2, hour)].concat(),
            quarantines(1, hour),
        ),
        (
            spec(AlertMetric::Quarantines, 1, 5.0, 1),
            quarantines(5, hour),
            quarantines(1, hour),
        ),
        (
            spec(AlertMetric::ApiErrorRate, 1, 0.05, 20),
            api_calls(19, 1, hour),
            api_calls(0, 1, hour),
        ),
        (
            // No baseline: measured against 1 an hour.
            spec(AlertMetric::QuarantineSpike, 2, 4.0, 1),
            quarantines(8, hour),
            quarantines(1, hour),
        ),
    ];
    let (mut above, mut at_threshold_only) = (Vec::new(), Vec::new());
    for (spec, at_threshold, more) in cases {
        for tenant_above in [false, true] {
            let tenant = TenantId::generate();
            let rule = AlertRule::new(tenant, spec.clone(), "user:ops", now).unwrap();
            AlertRepo::new(&table).create_rule(&rule).await.unwrap();
            seed(&table, tenant, &at_threshold).await;
            if tenant_above {
                seed(&table, tenant, &more).await;
                above.push((tenant, rule));
            } else {
                at_threshold_only.push(tenant);
            }
        }
    }

    let sweep = evaluate_alerts(&table, now, rollups()).await.unwrap();
    assert_eq!(counts(&sweep), (10, 10, 5, 0));
    assert_eq!(sweep.window_end, at(1, 14, 0));
    for tenant in at_threshold_only {
        assert!(alerts_of(&table, tenant).await.is_empty());
    }
    let expected_values = [3.0 / 21.0, 3.0 / 11.0, 6.0, 2.0 / 21.0, 4.5];
    for ((tenant, rule), value) in above.iter().zip(expected_values) {
        let alerts = alerts_of(&table, *tenant).await;
        assert_eq!(alerts.len(), 1, "{}", rule.metric);
        let alert = &alerts[0];
        assert_eq!(
            (alert.rule, alert.metric, alert.tenant),
            (rule.id, rule.metric, *tenant)
        );
        assert!((alert.value - value).abs() < 1e-12, "{alert:?}");
        assert_eq!(alert.window_end, at(1, 14, 0));
        assert_eq!(alert.raised_at, now);
    }
}

#[tokio::test]
async fn min_events_keeps_one_failure_of_one_analysis_quiet() {
    let (table, _dir) = table();
    let tenant = TenantId::generate();
    create(
        &table,
        tenant,
        AlertMetric::AnalysisFailureRate,
        1,
        0.05,
        20,
    )
    .await;
    seed(&table, tenant, &analyses(0, 1, at(1, 13, 0))).await;
    let sweep = evaluate_alerts(&table, at(1, 14, 0), rollups())
        .await
        .unwrap();
    assert_eq!(counts(&sweep), (1, 1, 0, 0));
    seed(&table, tenant, &analyses(10, 9, at(1, 13, 30))).await;
    let sweep = evaluate_alerts(&table, at(1, 14, 10), rollups())
        .await
        .unwrap();
    assert_eq!(counts(&sweep), (1, 1, 1, 0), "10 of 20 failed");
}

#[tokio::test]
async fn a_window_across_midnight_counts_both_days() {
    let (table, _dir) = table();
    let tenant = TenantId::generate();
    create(&table, tenant, AlertMetric::Quarantines, 3, 4.0, 1).await;
    // 22:00–01:00: 3 before midnight, 2 after; the 21:00 hour is outside.
    seed(
        &table,
        tenant,
        &[
            quarantines(10, at(1, 21, 30)),
            quarantines(3, at(1, 23, 59)),
            quarantines(2, at(2, 0, 0)),
        ]
        .concat(),
    )
    .await;
    let sweep = evaluate_alerts(&table, at(2, 1, 0), rollups())
        .await
        .unwrap();
    assert_eq!(sweep.alerts_raised, 1);
    let alert = &alerts_of(&table, tenant).await[0];
    assert_eq!(alert.value, 5.0);
    assert_eq!(
        (alert.window_start, alert.window_end),
        (at(1, 22, 0), at(2, 1, 0))
    );
}

#[tokio::test]
async fn a_spike_reads_its_baseline_over_three_days() {
    let (table, _dir) = table();
    let tenant = TenantId::generate();
    create(&table, tenant, AlertMetric::QuarantineSpike, 3, 3.0, 5).await;
    // Window 22:00–01:00 across midnight; its baseline 22:00 the day before, a third day.
    // 48 in the baseline (on its first day): 2 an hour, 6 expected in the window.
    seed(&table, tenant, &quarantines(48, at(0, 22, 30))).await;
    seed(&table, tenant, &quarantines(18, at(1, 23, 0))).await;
    let now = at(2, 1, 30);
    let sweep = evaluate_alerts(&table, now, rollups()).await.unwrap();
    assert_eq!(sweep.alerts_raised, 0, "18 against 6 is 3 times, not more");
    seed(&table, tenant, &quarantines(1, at(2, 0, 10))).await;
    let sweep = evaluate_alerts(&table, now, rollups()).await.unwrap();
    assert_eq!(sweep.alerts_raised, 1);
    let alert = &alerts_of(&table, tenant).await[0];
    assert_eq!((alert.value, alert.events), (19.0 / 6.0, 19));
}

#[tokio::test]
async fn a_spike_over_no_baseline_needs_more_than_the_floor() {
    let (table, _dir) = table();
    let tenant = TenantId::generate();
    create(&table, tenant, AlertMetric::QuarantineSpike, 1, 3.0, 1).await;
    seed(&table, tenant, &quarantines(3, at(1, 9, 0))).await;
    let sweep = evaluate_alerts(&table, at(1, 10, 0), rollups())
        .await
        .unwrap();
    assert_eq!(sweep.alerts_raised, 0, "3 against the floor of 1 an hour");
    seed(&table, tenant, &quarantines(1, at(1, 9, 0))).await;
    let sweep = evaluate_alerts(&table, at(1, 10, 0), rollups())
        .await
        .unwrap();
    assert_eq!(sweep.alerts_raised, 1);
    assert_eq!(alerts_of(&table, tenant).await[0].value, 4.0);
}

#[tokio::test]
async fn the_same_window_evaluated_twice_raises_one_alert_and_one_notification() {
    let (table, _dir) = table();
    let tenant = TenantId::generate();
    let rule = create(&table, tenant, AlertMetric::Quarantines, 1, 0.0, 1).await;
    seed(&table, tenant, &quarantines(2, at(1, 13, 0))).await;
    let first = evaluate_alerts(&table, at(1, 14, 1), rollups())
        .await
        .unwrap();
    assert_eq!(counts(&first), (1, 1, 1, 0));
    // A later tick of the same hour, with a late event: the same window, raised already.
    seed(&table, tenant, &quarantines(1, at(1, 13, 59))).await;
    let second = evaluate_alerts(&table, at(1, 14, 55), rollups())
        .await
        .unwrap();
    assert_eq!(counts(&second), (1, 1, 0, 1));
    // The next hour's window is empty.
    let third = evaluate_alerts(&table, at(1, 15, 1), rollups())
        .await
        .unwrap();
    assert_eq!(counts(&third), (1, 1, 0, 0));

    let repo = AlertRepo::new(&table);
    let alerts = alerts_of(&table, tenant).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].id, Alert::id_for(rule.id, at(1, 14, 0)));
    assert_eq!(alerts[0].value, 2.0, "the first evaluation's figures stand");
    let notifications = repo.list_notifications(tenant, false).await.unwrap();
    assert_eq!(notifications.len(), 1);
    assert_eq!(notifications[0].alert, alerts[0].id);
    assert_eq!(notifications[0].payload["type"], "alert.raised");
    assert_eq!(
        notifications[0].payload["data"]["alert"]["id"],
        alerts[0].id.to_string()
    );
}

#[tokio::test]
async fn raising_an_alert_again_writes_nothing() {
    let (table, _dir) = table();
    let repo = AlertRepo::new(&table);
    let tenant = TenantId::generate();
    let rule = create(&table, tenant, AlertMetric::Quarantines, 1, 0.0, 1).await;
    let breach = Breach {
        value: 3.0,
        threshold: 0.0,
        events: 3,
        window_start: at(1, 8, 0),
        window_end: at(1, 9, 0),
    };
    let alert = Alert::new(&rule, breach.clone(), at(1, 9, 1));
    let n = Notification::alert_raised(&alert, at(1, 9, 1));
    assert_eq!(repo.raise(&alert, &n).await.unwrap(), RaiseOutcome::Raised);
    // Raised again later, with other figures: the first record stands.
    let later = Alert::new(
        &rule,
        Breach {
            value: 9.0,
            ..breach
        },
        at(1, 9, 40),
    );
    let n2 = Notification::alert_raised(&later, at(1, 9, 40));
    assert_eq!(n.id, n2.id);
    assert_eq!(
        repo.raise(&later, &n2).await.unwrap(),
        RaiseOutcome::AlreadyRaised
    );
    assert_eq!(repo.get_alert(tenant, alert.id).await.unwrap(), Some(alert));
    assert_eq!(repo.list_notifications(tenant, false).await.unwrap(), [n]);
}

#[tokio::test]
async fn disabled_and_deleted_rules_are_not_evaluated_and_alerts_outlive_their_rule() {
    let (table, _dir) = table();
    let repo = AlertRepo::new(&table);
    let tenant = TenantId::generate();
    let kept = create(&table, tenant, AlertMetric::Quarantines, 1, 0.0, 1).await;
    let disabled = create(&table, tenant, AlertMetric::Quarantines, 2, 0.0, 1).await;
    let deleted = create(&table, tenant, AlertMetric::Quarantines, 3, 0.0, 1).await;
    seed(&table, tenant, &quarantines(4, at(1, 9, 0))).await;
    // The deleted rule fires once while it exists.
    let sweep = evaluate_alerts(&table, at(1, 10, 0), rollups())
        .await
        .unwrap();
    assert_eq!(counts(&sweep), (1, 3, 3, 0));

    let current = repo.get_rule(tenant, disabled.id).await.unwrap().unwrap();
    let off = current
        .record
        .revise(
            RuleSpec {
                enabled: false,
                ..spec(AlertMetric::Quarantines, 2, 0.0, 1)
            },
            at(1, 10, 1),
        )
        .unwrap();
    assert!(matches!(
        repo.update_rule(&off, current.version).await.unwrap(),
        RuleChange::Done(_)
    ));
    assert!(repo.delete_rule(tenant, deleted.id).await.unwrap());

    let sweep = evaluate_alerts(&table, at(1, 10, 30), rollups())
        .await
        .unwrap();
    assert_eq!(
        counts(&sweep),
        (1, 1, 0, 1),
        "only the kept rule, raised already"
    );
    seed(&table, tenant, &quarantines(1, at(1, 10, 5))).await;
    let sweep = evaluate_alerts(&table, at(1, 11, 0), rollups())
        .await
        .unwrap();
    assert_eq!(counts(&sweep), (1, 1, 1, 0));
    let alerts = alerts_of(&table, tenant).await;
    let from = |id| alerts.iter().filter(|a| a.rule == id).count();
    assert_eq!(
        (from(kept.id), from(disabled.id), from(deleted.id)),
        (2, 1, 1),
        "the deleted rule's alert is kept"
    );

    // A tenant whose only rule is disabled is not visited at all.
    let quiet = TenantId::generate();
    let rule = AlertRule::new(
        quiet,
        RuleSpec {
            enabled: false,
            ..spec(AlertMetric::Quarantines, 1, 0.0, 1)
        },
        "user:ops",
        at(1, 0, 0),
    )
    .unwrap();
    repo.create_rule(&rule).await.unwrap();
    seed(&table, quiet, &quarantines(4, at(1, 11, 0))).await;
    let sweep = evaluate_alerts(&table, at(1, 12, 0), rollups())
        .await
        .unwrap();
    assert_eq!(sweep.tenants, 1);
    assert!(alerts_of(&table, quiet).await.is_empty());
}

#[tokio::test]
async fn a_rule_never_sees_another_tenants_rollups() {
    let (table, _dir) = table();
    let busy = TenantId::generate();
    let watched = TenantId::generate();
    // Only `busy` has activity; only `watched` has a rule.
    seed(&table, busy, &quarantines(50, at(1, 9, 0))).await;
    create(&table, watched, AlertMetric::Quarantines, 1, 0.0, 1).await;
    let sweep = evaluate_alerts(&table, at(1, 10, 0), rollups())
        .await
        .unwrap();
    assert_eq!(counts(&sweep), (1, 1, 0, 0));
    assert!(alerts_of(&table, watched).await.is_empty());
    assert!(alerts_of(&table, busy).await.is_empty());

    // Given a rule too, `busy` gets its own alert, in its own partition.
    let rule = create(&table, busy, AlertMetric::Quarantines, 1, 0.0, 1).await;
    let sweep = evaluate_alerts(&table, at(1, 10, 0), rollups())
        .await
        .unwrap();
    assert_eq!(counts(&sweep), (2, 2, 1, 0));
    let alerts = alerts_of(&table, busy).await;
    assert_eq!((alerts[0].rule, alerts[0].value), (rule.id, 50.0));
    assert!(alerts_of(&table, watched).await.is_empty());
    assert!(
        AlertRepo::new(&table)
            .list_notifications(watched, false)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unreadable_rollups_count_as_no_activity() {
    let (table, _dir) = table();
    let broken = TenantId::generate();
    let fine = TenantId::generate();
    for tenant in [broken, fine] {
        create(&table, tenant, AlertMetric::Quarantines, 1, 0.0, 1).await;
        seed(&table, tenant, &quarantines(3, at(1, 9, 0))).await;
    }
    // A day rollup that does not decode.
    let day = keys::analytics_day_sk(at(1, 0, 0).date_naive());
    table
        .put(
            Item::new(
                keys::analytics_days_pk(broken),
                day,
                serde_json::json!({"hours": "garbage"}),
            ),
            Condition::Always,
        )
        .await
        .unwrap();
    let sweep = evaluate_alerts(&table, at(1, 10, 0), rollups())
        .await
        .unwrap();
    assert_eq!(counts(&sweep), (2, 2, 1, 0));
    assert_eq!(sweep.rollups_unreadable, 1);
    assert!(alerts_of(&table, broken).await.is_empty());
    assert_eq!(alerts_of(&table, fine).await.len(), 1);
}

#[tokio::test]
async fn a_stored_rule_that_fails_validation_is_skipped() {
    let (table, _dir) = table();
    let tenant = TenantId::generate();
    let mut rule = create(&table, tenant, AlertMetric::QuarantineRate, 1, 0.5, 1).await;
    rule.threshold = 7.0; // a rate above 1: only a hand-edited item could hold it
    table
        .put(
            Item::new(
                keys::alerts_pk(tenant),
                keys::alert_rule_sk(rule.id),
                serde_json::to_value(&rule).unwrap(),
            )
            .with_index(
                keys::ALERT_RULES_INDEX_PK,
                keys::alert_rule_index_sk(tenant, rule.id),
            ),
            Condition::Always,
        )
        .await
        .unwrap();
    let sweep = evaluate_alerts(&table, at(1, 10, 0), rollups())
        .await
        .unwrap();
    assert_eq!((sweep.rules_evaluated, sweep.rules_invalid), (0, 1));
}

#[tokio::test]
async fn rules_are_stored_listed_updated_with_a_version_check_and_deleted() {
    let (table, _dir) = table();
    let repo = AlertRepo::new(&table);
    let tenant = TenantId::generate();
    let a = create(&table, tenant, AlertMetric::ApiErrorRate, 1, 0.05, 20).await;
    let b = create(&table, tenant, AlertMetric::Quarantines, 6, 10.0, 1).await;
    create(
        &table,
        TenantId::generate(),
        AlertMetric::Quarantines,
        1,
        1.0,
        1,
    )
    .await;

    let mut listed: Vec<_> = repo
        .list_rules(tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.record.id, v.version))
        .collect();
    listed.sort();
    let mut expected = [(a.id, 1), (b.id, 1)];
    expected.sort();
    assert_eq!(listed, expected);

    let got = repo.get_rule(tenant, a.id).await.unwrap().unwrap();
    assert_eq!(got.record, a);
    let revised = a
        .revise(spec(AlertMetric::ApiErrorRate, 2, 0.1, 50), at(1, 0, 0))
        .unwrap();
    let RuleChange::Done(now) = repo.update_rule(&revised, got.version).await.unwrap() else {
        panic!("the first update wins");
    };
    assert_eq!((now.version, now.record.window_hours), (2, 2));
    // A second writer still holding version 1 is told what the rule is now.
    let stale = a
        .revise(spec(AlertMetric::ApiErrorRate, 3, 0.2, 5), at(1, 0, 0))
        .unwrap();
    assert_eq!(
        repo.update_rule(&stale, got.version).await.unwrap(),
        RuleChange::Stale(now)
    );
    assert_eq!(
        repo.get_rule(tenant, a.id).await.unwrap().unwrap().record,
        revised
    );

    assert!(repo.delete_rule(tenant, a.id).await.unwrap());
    assert!(!repo.delete_rule(tenant, a.id).await.unwrap());
    assert_eq!(repo.get_rule(tenant, a.id).await.unwrap(), None);
    assert_eq!(
        repo.update_rule(&revised, 2).await.unwrap(),
        RuleChange::NoSuchRule
    );
    // Another tenant cannot reach the rule by its id.
    assert_eq!(
        repo.get_rule(TenantId::generate(), b.id).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn only_enabled_rules_are_on_the_index() {
    let (table, _dir) = table();
    let repo = AlertRepo::new(&table);
    let tenant = TenantId::generate();
    let on = create(&table, tenant, AlertMetric::Quarantines, 1, 1.0, 1).await;
    let later_off = create(&table, tenant, AlertMetric::Quarantines, 2, 1.0, 1).await;
    let table = &table;
    let indexed = move || async move {
        let page = table
            .query(Query::partition(keys::ALERT_RULES_INDEX_PK).on_index(Index::Gsi1))
            .await
            .unwrap();
        page.items
            .into_iter()
            .map(|i| i.gsi1sk.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(indexed().await.len(), 2);
    let off = later_off
        .revise(
            RuleSpec {
                enabled: false,
                ..spec(AlertMetric::Quarantines, 2, 1.0, 1)
            },
            at(1, 0, 0),
        )
        .unwrap();
    repo.update_rule(&off, 1).await.unwrap();
    assert_eq!(indexed().await, [keys::alert_rule_index_sk(tenant, on.id)]);
    // Enabled again, it is back.
    let back = off
        .revise(spec(AlertMetric::Quarantines, 2, 1.0, 1), at(1, 0, 0))
        .unwrap();
    repo.update_rule(&back, 2).await.unwrap();
    assert_eq!(indexed().await.len(), 2);
}

#[tokio::test]
async fn alerts_list_newest_window_first_in_pages() {
    let (table, _dir) = table();
    let repo = AlertRepo::new(&table);
    let tenant = TenantId::generate();
    let rule = create(&table, tenant, AlertMetric::Quarantines, 1, 0.0, 1).await;
    for hour in [8, 10, 9] {
        let end = at(1, hour, 0);
        let breach = Breach {
            value: 1.0,
            threshold: 0.0,
            events: 1,
            window_start: end - Duration::hours(1),
            window_end: end,
        };
        let alert = Alert::new(&rule, breach, end);
        let n = Notification::alert_raised(&alert, end);
        repo.raise(&alert, &n).await.unwrap();
    }
    let first = repo.list_alerts(tenant, 2, None).await.unwrap();
    let ends = |page: &[Alert]| page.iter().map(|a| a.window_end).collect::<Vec<_>>();
    assert_eq!(ends(&first.items), [at(1, 10, 0), at(1, 9, 0)]);
    let second = repo
        .list_alerts(tenant, 2, first.next_cursor)
        .await
        .unwrap();
    assert_eq!(ends(&second.items), [at(1, 8, 0)]);
    assert_eq!(second.next_cursor, None);
    // Notifications list oldest first: the order to send them in.
    let created: Vec<Timestamp> = repo
        .list_notifications(tenant, false)
        .await
        .unwrap()
        .iter()
        .map(|n| n.created_at)
        .collect();
    assert_eq!(created, [at(1, 8, 0), at(1, 9, 0), at(1, 10, 0)]);
}

#[tokio::test]
async fn notifications_wait_until_marked_delivered() {
    let (table, _dir) = table();
    let repo = AlertRepo::new(&table);
    let tenant = TenantId::generate();
    create(&table, tenant, AlertMetric::Quarantines, 1, 0.0, 1).await;
    seed(&table, tenant, &quarantines(1, at(1, 9, 0))).await;
    evaluate_alerts(&table, at(1, 10, 0), rollups())
        .await
        .unwrap();
    let waiting = repo.list_notifications(tenant, true).await.unwrap();
    assert_eq!(waiting.len(), 1);
    let id = waiting[0].id.clone();

    assert!(
        repo.mark_delivered(tenant, &id, at(1, 10, 1))
            .await
            .unwrap()
    );
    assert!(
        repo.list_notifications(tenant, true)
            .await
            .unwrap()
            .is_empty()
    );
    // Marked again: the first delivery time stands.
    assert!(
        repo.mark_delivered(tenant, &id, at(1, 11, 0))
            .await
            .unwrap()
    );
    let all = repo.list_notifications(tenant, false).await.unwrap();
    assert_eq!(all[0].delivered_at, Some(at(1, 10, 1)));
    assert!(
        !repo
            .mark_delivered(tenant, "01ARZ3NDEKTSV4RRFFQ69G5FAV", at(1, 11, 0))
            .await
            .unwrap()
    );
    // The sender needs a fresh copy of nothing else: the payload is what it posts.
    assert_eq!(all[0].payload, waiting[0].payload);
}
