//! The scheduled training run on the embedded platform, driven by EventBridge scheduled events
//! shaped as AWS sends them: every tenant is trained and promoted, each run makes the next
//! version, an empty tenant gets an empty model, an empty deployment is a quiet success, one
//! tenant's failure never stops the others, a transient one fails the run and the retry of the
//! same event trains only what it missed.

use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use mvidarr_core::ids::TenantId;
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::{Condition, Item, Platform, Table};
use mvidarr_core::repo::{ModelRegistry, TenantRecord, TenantRepo};
use mvidarr_reco::service::{FAMILY, Recommender};
use mvidarr_recommend::{Outcome, Recommend, RecommendConfig, RunError, RunSummary, TagsRun};
use mvidarr_store_local::LocalPlatform;
use mvidarr_tests::outage::OutagePlatform;
use mvidarr_tests::{reco, tenants};
use serde_json::json;
use tempfile::TempDir;

fn local_platform() -> (LocalPlatform, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (tenants::open_platform(dir.path()), dir)
}

/// Small and quick: the tests are about the run, not the model.
fn config() -> RecommendConfig {
    let mut config = RecommendConfig::default();
    config.train.als.factors = 2;
    config.train.als.iterations = 3;
    config
}

/// The event an EventBridge rule with `rate(1 hour)` delivers, fired at `time`.
fn scheduled_event(time: DateTime<Utc>) -> EventBridgeEvent {
    serde_json::from_value(json!({
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "us-east-1",
        "resources": [
            "arn:aws:events:us-east-1:123456789012:rule/mvidarr-RecommendFunctionHourly-1X2Y3Z4W5V6U"
        ],
        "detail": {}
    }))
    .expect("a scheduled event decodes")
}

/// Now, to the second (scheduled events carry whole seconds).
fn fired() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

async fn new_tenant<T: Table>(table: &T, name: &str) -> TenantId {
    let record = TenantRecord {
        id: TenantId::generate(),
        name: name.into(),
        created_at: Utc::now(),
    };
    assert!(TenantRepo::new(table).create(&record).await.unwrap());
    record.id
}

/// Six videos and eight profiles who each play three of their side's.
async fn seed<T: Table>(table: &T, tenant: TenantId) {
    let (media, profiles) = reco::import(table, tenant, 6, 8).await;
    reco::record_plays(table, tenant, &media, &profiles, 3).await;
}

/// The outcome of `tenant` in a run.
fn outcome_of(summary: &RunSummary, tenant: TenantId) -> &Outcome {
    &summary
        .tenants
        .iter()
        .find(|t| t.tenant == tenant)
        .unwrap_or_else(|| panic!("{tenant} is not in the summary: {summary:#?}"))
        .outcome
}

fn trained_version(outcome: &Outcome) -> u32 {
    match outcome {
        Outcome::Trained { version, .. } => *version,
        other => panic!("not trained: {other:?}"),
    }
}

async fn promoted<T: Table>(table: &T, tenant: TenantId) -> Option<u32> {
    ModelRegistry::new(table)
        .current_version(tenant, FAMILY)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_scheduled_event_trains_every_tenant_and_the_next_one_trains_them_again() {
    let (platform, _dir) = local_platform();
    let acme = new_tenant(platform.table(), "acme").await;
    let globex = new_tenant(platform.table(), "globex").await;
    seed(platform.table(), acme).await;
    seed(platform.table(), globex).await;
    let recommend = Recommend::new(platform.clone(), config());

    let t0 = fired();
    let first = recommend
        .handle(scheduled_event(t0), t0 + TimeDelta::seconds(1))
        .await
        .unwrap();
    assert_eq!((first.trained, first.current, first.failed), (2, 0, 0));
    assert_eq!(first.fired_at, Some(t0));
    for tenant in [acme, globex] {
        match outcome_of(&first, tenant) {
            Outcome::Trained {
                version,
                items,
                users,
                interactions,
                seconds,
            } => {
                assert_eq!((*version, *items, *users, *interactions), (1, 6, 8, 24));
                assert!(*seconds > 0.0);
            }
            other => panic!("{tenant}: {other:?}"),
        }
        assert_eq!(promoted(platform.table(), tenant).await, Some(1));
        // Then its tag heads: nobody has decided anything yet, so there is nothing to learn,
        // and its catalogue is tagged with what the metadata says.
        let tags = first.tenants.iter().find(|t| t.tenant == tenant).unwrap();
        match &tags.tags {
            Some(TagsRun::Trained {
                heads_registered: 0,
                media_retagged,
                ..
            }) => assert_eq!(*media_retagged, 6),
            other => panic!("{tenant}: {other:?}"),
        }
    }
    // What the API serves is the promoted model.
    let served = Recommender::new(platform.clone(), Duration::ZERO)
        .model(acme)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((served.version, served.model.item_count()), (1, 6));

    // The next hour's event trains everyone again.
    let t1 = t0 + TimeDelta::hours(1);
    let second = recommend
        .handle(scheduled_event(t1), t1 + TimeDelta::seconds(1))
        .await
        .unwrap();
    assert_eq!((second.trained, second.failed), (2, 0));
    for tenant in [acme, globex] {
        assert_eq!(trained_version(outcome_of(&second, tenant)), 2);
        assert_eq!(promoted(platform.table(), tenant).await, Some(2));
    }
}

#[tokio::test]
async fn a_tenant_without_data_gets_an_empty_model_and_the_run_succeeds() {
    let (platform, _dir) = local_platform();
    let busy = new_tenant(platform.table(), "busy").await;
    let empty = new_tenant(platform.table(), "empty").await;
    seed(platform.table(), busy).await;

    let t0 = fired();
    let summary = Recommend::new(platform.clone(), config())
        .handle(scheduled_event(t0), t0 + TimeDelta::seconds(1))
        .await
        .unwrap();
    assert_eq!((summary.trained, summary.failed), (2, 0));
    match outcome_of(&summary, empty) {
        Outcome::Trained {
            version,
            items,
            users,
            interactions,
            ..
        } => assert_eq!((*version, *items, *users, *interactions), (1, 0, 0, 0)),
        other => panic!("{other:?}"),
    }
    assert_eq!(promoted(platform.table(), empty).await, Some(1));
    assert_eq!(trained_version(outcome_of(&summary, busy)), 1);
}

#[tokio::test]
async fn an_empty_deployment_trains_nothing_and_succeeds() {
    let (platform, _dir) = local_platform();
    let t0 = fired();
    let summary = Recommend::new(platform, config())
        .handle(scheduled_event(t0), t0 + TimeDelta::seconds(1))
        .await
        .unwrap();
    assert_eq!(summary.tenants, []);
    assert_eq!(
        (summary.trained, summary.current, summary.failed),
        (0, 0, 0)
    );
    assert_eq!(
        serde_json::to_value(&summary).unwrap()["tenants"],
        json!([]),
        "the reply lists no tenant"
    );
}

#[tokio::test]
async fn a_transient_failure_fails_the_run_after_every_tenant_and_the_retry_trains_only_what_it_missed()
 {
    let (local, _dir) = local_platform();
    let platform = OutagePlatform::new(local.clone());
    let names = ["a-ok", "b-down", "c-ok"];
    let mut tenants = Vec::new();
    for name in names {
        let tenant = new_tenant(platform.table(), name).await;
        seed(platform.table(), tenant).await;
        tenants.push(tenant);
    }
    let [ok_a, down, ok_c] = tenants[..] else {
        unreachable!()
    };
    platform.outage().fail_tenant(down);
    let recommend = Recommend::new(platform.clone(), config());

    let t0 = fired();
    let event = scheduled_event(t0);
    let err = recommend
        .handle(event.clone(), t0 + TimeDelta::seconds(1))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    let RunError::Transient(summary) = &err else {
        panic!("{err:?}")
    };
    // The tenants around the broken one were trained all the same.
    assert_eq!(trained_version(outcome_of(summary, ok_a)), 1);
    assert_eq!(trained_version(outcome_of(summary, ok_c)), 1);
    assert!(
        matches!(
            outcome_of(summary, down),
            Outcome::Failed {
                transient: true,
                ..
            }
        ),
        "{summary:#?}"
    );
    assert!(err.to_string().contains(&down.to_string()), "{err}");
    assert_eq!(promoted(local.table(), down).await, None);

    // Lambda retries the same event a minute later: only the tenant it missed is trained.
    platform.outage().repair();
    let retry = recommend
        .handle(event, t0 + TimeDelta::seconds(61))
        .await
        .unwrap();
    assert_eq!((retry.trained, retry.current, retry.failed), (1, 2, 0));
    assert_eq!(trained_version(outcome_of(&retry, down)), 1);
    for tenant in [ok_a, ok_c] {
        assert_eq!(outcome_of(&retry, tenant), &Outcome::Current { version: 1 });
        assert_eq!(promoted(platform.table(), tenant).await, Some(1));
    }
}

#[tokio::test]
async fn a_permanent_failure_is_reported_and_the_run_succeeds() {
    let (platform, _dir) = local_platform();
    let healthy = new_tenant(platform.table(), "healthy").await;
    let corrupt = new_tenant(platform.table(), "corrupt").await;
    seed(platform.table(), healthy).await;
    seed(platform.table(), corrupt).await;
    // A profile record that does not decode: no retry can read it.
    platform
        .table()
        .put(
            Item::new(
                keys::profiles_pk(corrupt),
                "p/not-a-profile",
                json!({ "mangled": true }),
            ),
            Condition::Always,
        )
        .await
        .unwrap();

    let t0 = fired();
    let summary = Recommend::new(platform.clone(), config())
        .handle(scheduled_event(t0), t0 + TimeDelta::seconds(1))
        .await
        .expect("a failure no retry can cure does not fail the run");
    assert_eq!((summary.trained, summary.failed), (1, 1));
    match outcome_of(&summary, corrupt) {
        Outcome::Failed { error, transient } => {
            assert!(!transient);
            assert!(error.contains("does not decode"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(trained_version(outcome_of(&summary, healthy)), 1);
}

#[tokio::test]
async fn every_tenant_is_listed_once_in_name_order_including_those_filed_by_name_only() {
    let (platform, _dir) = local_platform();
    let zeta = new_tenant(platform.table(), "zeta").await;
    let alpha = new_tenant(platform.table(), "alpha").await;
    // A tenant made before tenants were filed by id as well: a name entry only.
    let legacy = TenantRecord {
        id: TenantId::generate(),
        name: "legacy".into(),
        created_at: Utc::now(),
    };
    platform
        .table()
        .put(
            Item::new(
                keys::TENANTS_PK,
                "name/legacy",
                serde_json::to_value(&legacy).unwrap(),
            ),
            Condition::Absent,
        )
        .await
        .unwrap();

    let listed: Vec<TenantId> = TenantRepo::new(platform.table())
        .list_all()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, [alpha, legacy.id, zeta]);

    let t0 = fired();
    let summary = Recommend::new(platform.clone(), config())
        .handle(scheduled_event(t0), t0 + TimeDelta::seconds(1))
        .await
        .unwrap();
    let run: Vec<TenantId> = summary.tenants.iter().map(|t| t.tenant).collect();
    assert_eq!(run, listed, "trained in the listed order");
    assert_eq!(promoted(platform.table(), legacy.id).await, Some(1));
}
