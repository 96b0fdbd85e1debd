//! `mvidarr import` on the real binary, beside a running server on the same data directory:
//! MovieLens 100K in full (1682 media, 943 profiles, 100,000 events), again without doubling
//! anything, visible through the server's API; a trial import with `--limit` into a named
//! tenant; a second dataset refused where its ids would collide with the first's.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use mvidarr_core::ids::TenantId;
use mvidarr_core::repo::{EventRepo, MediaRepo, ProfileRepo, TenantRepo};
use mvidarr_reco::datasets::shared_datasets_dir;
use mvidarr_store_local::db::Database;
use mvidarr_store_local::table::SqliteTable;
use mvidarr_tests::server::{Server, ServerOptions, cli_stdout, run_cli};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mvidarr");

fn mvidarr(data: &Path, args: &[&str]) -> Output {
    run_cli(BIN.as_ref(), data, args)
}

/// What a successful command printed.
fn succeeds(data: &Path, args: &[&str]) -> String {
    cli_stdout(BIN.as_ref(), data, args)
}

/// A dataset of `../shared/datasets`, or `None` (the test then skips, saying why).
fn dataset(name: &str) -> Option<PathBuf> {
    let dir = shared_datasets_dir()?.join(name);
    dir.is_dir().then_some(dir)
}

/// The table of the data directory, opened beside the server as another process would.
fn table(data: &Path) -> SqliteTable {
    SqliteTable::new(Database::open(&data.join("mvidarr.db")).unwrap()).unwrap()
}

async fn tenant_named(table: &SqliteTable, name: &str) -> TenantId {
    TenantRepo::new(table)
        .by_name(name)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// (media, profiles, events) of a tenant, read from the stores.
async fn counts(table: &SqliteTable, tenant: TenantId) -> (usize, usize, usize) {
    (
        MediaRepo::new(table).list_all(tenant).await.unwrap().len(),
        ProfileRepo::new(table)
            .list_all(tenant)
            .await
            .unwrap()
            .len(),
        EventRepo::new(table).all(tenant).await.unwrap().len(),
    )
}

async fn post_events(server: &Server, events: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/events", server.url))
        .bearer_auth(&server.api_key)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movielens_is_imported_once_beside_a_running_server() {
    let Some(movielens) = dataset("ml-100k") else {
        eprintln!("skipped: ../shared/datasets/ml-100k is absent");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(BIN.as_ref(), &data, &ServerOptions::default()).unwrap();
    let dir = movielens.to_str().unwrap();

    let started = Instant::now();
    let printed = succeeds(&data, &["import", "movielens", dir]);
    eprintln!(
        "full MovieLens import: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        printed.contains("movielens into tenant default")
            && printed.contains("1682 media (1682 new), 943 profiles (943 new), 100000 events (100000 new, 0 already there)"),
        "{printed}"
    );
    let table = table(&data);
    let tenant = tenant_named(&table, "default").await;
    assert_eq!(counts(&table, tenant).await, (1682, 943, 100_000));

    // The server sees the catalogue, by the dataset's ids.
    let client = server.client();
    let (status, kolya) = client.get("/v1/media/ext:242").await.unwrap();
    assert_eq!(status, 200, "{kolya}");
    assert_eq!(kolya["metadata"]["title"], "Kolya (1996)");
    assert_eq!(kolya["metadata"]["year"], 1997, "the release date's year");
    assert_eq!(kolya["metadata"]["genres"], json!(["Comedy"]));
    assert_eq!(kolya["metadata"]["external_ids"]["movielens"], "242");
    let (status, profile) = client.get("/v1/profiles/ext:196").await.unwrap();
    assert_eq!(status, 200, "{profile}");
    // User 196 rated Kolya 3: imported as a view under id ml:196:242, which the API then
    // knows as already recorded.
    let (status, body) = post_events(
        &server,
        json!([{"id": "ml:196:242", "kind": "view", "media": "ext:242", "user": "ext:196"}]),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"accepted": 0, "duplicates": 1}))
    );

    // Again: nothing new.
    let started = Instant::now();
    let printed = succeeds(&data, &["import", "movielens", dir]);
    eprintln!(
        "MovieLens re-import: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        printed.contains(
            "1682 media (0 new), 943 profiles (0 new), 100000 events (0 new, 100000 already there)"
        ),
        "{printed}"
    );
    assert_eq!(counts(&table, tenant).await, (1682, 943, 100_000));

    // Last.fm numbers its artists and users from 1 too: refused here, nothing written.
    if let Some(lastfm) = dataset("lastfm-hetrec-2k") {
        let out = mvidarr(
            &data,
            &[
                "import",
                "lastfm",
                lastfm.to_str().unwrap(),
                "--limit",
                "10",
            ],
        );
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("holds the movielens catalogue"), "{stderr}");
        assert_eq!(counts(&table, tenant).await, (1682, 943, 100_000));
    }
    assert!(server.terminate().unwrap(), "the server stopped uncleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_trial_goes_into_the_named_tenant_only() {
    let Some(lastfm) = dataset("lastfm-hetrec-2k") else {
        eprintln!("skipped: ../shared/datasets/lastfm-hetrec-2k is absent");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let created = succeeds(
        &data,
        &[
            "tenant",
            "create",
            "listening",
            "--owner",
            "owner@listening.example",
        ],
    );
    let tenant = created
        .split(['(', ')'])
        .nth(1)
        .unwrap_or_else(|| panic!("no tenant id in {created}"))
        .to_owned();
    let dir = lastfm.to_str().unwrap();

    let printed = succeeds(
        &data,
        &[
            "import", "lastfm", dir, "--tenant", &tenant, "--limit", "500",
        ],
    );
    assert!(
        printed.contains("lastfm into tenant listening"),
        "{printed}"
    );
    assert!(
        printed.contains("500 events (500 new, 0 already there)"),
        "{printed}"
    );
    let table = table(&data);
    let (media, profiles, events) = counts(&table, tenant.parse().unwrap()).await;
    assert_eq!(events, 500);
    // The first 500 rows are the first users' top artists: a few users, many artists.
    assert!((1..=10).contains(&profiles), "{profiles} profiles");
    assert!((100..=500).contains(&media), "{media} media");
    assert!(
        TenantRepo::new(&table)
            .by_name("default")
            .await
            .unwrap()
            .is_none(),
        "the default tenant was made though another was named"
    );

    // A bigger trial adds only the new rows.
    let printed = succeeds(
        &data,
        &[
            "import", "lastfm", dir, "--tenant", &tenant, "--limit", "800",
        ],
    );
    assert!(
        printed.contains("800 events (300 new, 500 already there)"),
        "{printed}"
    );

    let out = mvidarr(
        &data,
        &[
            "import",
            "lastfm",
            dir,
            "--tenant",
            &TenantId::generate().to_string(),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tenant"));
}
