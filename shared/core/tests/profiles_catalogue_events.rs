//! The recommendation data path's repositories on the embedded (SQLite) table: profiles and
//! catalogue media filed by external id, and client events stored once per id.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::Utc;
use futures_util::future::join_all;
use mvidarr_core::Timestamp;
use mvidarr_core::event::{ClientEvent, Rejection, StoredEvent, parse_batch};
use mvidarr_core::external::{ExternalId, ExternalRef};
use mvidarr_core::ids::{MediaId, ProfileId, TenantId};
use mvidarr_core::media::{CatalogueEntry, MediaStatus};
use mvidarr_core::metadata::VideoMetadata;
use mvidarr_core::ports::{Condition, Item, Page, Query, Table, TableError, WriteOp};
use mvidarr_core::repo::{EventRepo, IntakeError, MediaRepo, ProfileRepo};
use mvidarr_store_local::db::Database;
use mvidarr_store_local::table::SqliteTable;
use serde_json::json;
use tempfile::TempDir;

fn table() -> (SqliteTable, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("mvidarr.db")).unwrap();
    (SqliteTable::new(db).unwrap(), dir)
}

fn ext(s: &str) -> ExternalId {
    ExternalId::parse(s).unwrap()
}

/// Yields to the scheduler after every read, so concurrent tasks all read before any of them
/// writes: the create race happens every time rather than by luck.
struct YieldAfterRead(SqliteTable);

impl Table for YieldAfterRead {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        let item = self.0.get(pk, sk).await;
        tokio::task::yield_now().await;
        item
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        self.0.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
        self.0.delete(pk, sk, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, TableError> {
        self.0.query(query).await
    }
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        self.0.transact_write(ops).await
    }
}

fn film(id: &str, title: &str) -> CatalogueEntry {
    CatalogueEntry {
        external_id: ext(id),
        metadata: VideoMetadata {
            title: Some(title.into()),
            year: Some(1995),
            genres: vec!["Animation".into(), "Comedy".into()],
            ..VideoMetadata::default()
        },
    }
}

// ---- profiles ----

#[tokio::test]
async fn a_profile_without_external_id_is_always_new() {
    let (table, _dir) = table();
    let repo = ProfileRepo::new(&table);
    let t = TenantId::generate();
    let (a, created_a) = repo.create(t, None, Utc::now()).await.unwrap();
    let (b, created_b) = repo.create(t, None, Utc::now()).await.unwrap();
    assert!(created_a && created_b);
    assert_ne!(a.id, b.id);
    assert_eq!(repo.get(t, a.id).await.unwrap(), Some(a));
    assert_eq!(repo.list_all(t).await.unwrap().len(), 2);
}

#[tokio::test]
async fn creating_an_external_id_again_returns_the_first_profile() {
    let (table, _dir) = table();
    let repo = ProfileRepo::new(&table);
    let t = TenantId::generate();
    let (first, created) = repo
        .create(t, Some(ext("user-7")), Utc::now())
        .await
        .unwrap();
    assert!(created);
    assert_eq!(first.external_id.as_deref(), Some("user-7"));
    let (again, created) = repo
        .create(t, Some(ext("user-7")), Utc::now())
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, first);
    assert_eq!(repo.list_all(t).await.unwrap(), [first]);
}

#[tokio::test]
async fn concurrent_creates_of_one_external_id_make_one_profile() {
    let (table, _dir) = table();
    let table = YieldAfterRead(table);
    let repo = ProfileRepo::new(&table);
    let t = TenantId::generate();
    let results = join_all((0..16).map(|_| repo.create(t, Some(ext("racer")), Utc::now()))).await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    let ids: BTreeSet<ProfileId> = results.iter().map(|(p, _)| p.id).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(repo.list_all(t).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_imports_of_the_same_users_make_each_profile_once() {
    let (table, _dir) = table();
    let table = YieldAfterRead(table);
    let repo = ProfileRepo::new(&table);
    let t = TenantId::generate();
    let users: Vec<ExternalId> = (0..120).map(|i| ext(&format!("u{i}"))).collect();
    let results = join_all((0..4).map(|_| repo.import(t, users.clone(), Utc::now()))).await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    let created: usize = results
        .iter()
        .map(|r| r.iter().filter(|i| i.created).count())
        .sum();
    assert_eq!(created, users.len());
    for i in 0..users.len() {
        let ids: BTreeSet<ProfileId> = results.iter().map(|r| r[i].id).collect();
        assert_eq!(ids.len(), 1, "user {i} has several profiles: {ids:?}");
    }
    assert_eq!(repo.list_all(t).await.unwrap().len(), users.len());
}

#[tokio::test]
async fn an_import_names_each_external_id_once_in_order() {
    let (table, _dir) = table();
    let repo = ProfileRepo::new(&table);
    let t = TenantId::generate();
    let (existing, _) = repo.create(t, Some(ext("b")), Utc::now()).await.unwrap();
    let imported = repo
        .import(t, vec![ext("a"), ext("b"), ext("a"), ext("c")], Utc::now())
        .await
        .unwrap();
    let created: Vec<bool> = imported.iter().map(|i| i.created).collect();
    assert_eq!(created, [true, false, false, true]);
    assert_eq!(imported[1].id, existing.id);
    assert_eq!(
        imported[0].id, imported[2].id,
        "a repeated id names one profile"
    );
    assert_eq!(repo.list_all(t).await.unwrap().len(), 3);
}

#[tokio::test]
async fn profiles_resolve_by_id_or_external_id_within_their_tenant_only() {
    let (table, _dir) = table();
    let repo = ProfileRepo::new(&table);
    let (t, other) = (TenantId::generate(), TenantId::generate());
    let (p, _) = repo.create(t, Some(ext("u1")), Utc::now()).await.unwrap();
    assert_eq!(
        repo.resolve(t, &ExternalRef::Id(p.id)).await.unwrap(),
        Some(p.id)
    );
    assert_eq!(
        repo.resolve(t, &ExternalRef::External(ext("u1")))
            .await
            .unwrap(),
        Some(p.id)
    );
    assert_eq!(
        repo.resolve(other, &ExternalRef::Id(p.id)).await.unwrap(),
        None
    );
    assert_eq!(
        repo.resolve(other, &ExternalRef::External(ext("u1")))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repo.resolve(t, &ExternalRef::Id(ProfileId::generate()))
            .await
            .unwrap(),
        None
    );
}

// ---- catalogue media ----

#[tokio::test]
async fn a_catalogue_import_files_media_with_metadata_once() {
    let (table, _dir) = table();
    let repo = MediaRepo::new(&table);
    let t = TenantId::generate();
    let imported = repo
        .import_catalogue(
            t,
            vec![film("1", "Fixture Film"), film("2", "Second Fixture")],
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(imported.iter().all(|i| i.created));
    let toy = repo.require(t, imported[0].id).await.unwrap();
    assert_eq!(toy.metadata.title.as_deref(), Some("Fixture Film"));
    assert_eq!(toy.external_id.as_deref(), Some("1"));
    assert_eq!(toy.status, MediaStatus::Indexed);
    assert!(!toy.has_video());
    assert_eq!(
        repo.resolve(t, &ExternalRef::External(ext("2")))
            .await
            .unwrap(),
        Some(imported[1].id)
    );
    // Listed by status like any indexed media.
    let page = repo.list(t, Some("indexed"), 10, None).await.unwrap();
    assert_eq!(page.items.len(), 2);

    // Again, with one new entry: only that one is created, the others keep their ids.
    let again = repo
        .import_catalogue(
            t,
            vec![
                film("1", "Fixture Film"),
                film("2", "Second Fixture"),
                film("3", "Heat"),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    let created: Vec<bool> = again.iter().map(|i| i.created).collect();
    assert_eq!(created, [false, false, true]);
    assert_eq!(again[0].id, imported[0].id);
    assert_eq!(again[1].id, imported[1].id);
    assert_eq!(repo.list_all(t).await.unwrap().len(), 3);
}

#[tokio::test]
async fn list_all_reads_every_media_past_a_page() {
    let (table, _dir) = table();
    let repo = MediaRepo::new(&table);
    let t = TenantId::generate();
    let entries: Vec<CatalogueEntry> = (0..1_050)
        .map(|i| film(&i.to_string(), &format!("film {i}")))
        .collect();
    let imported = repo.import_catalogue(t, entries, Utc::now()).await.unwrap();
    assert_eq!(imported.iter().filter(|i| i.created).count(), 1_050);
    let all = repo.list_all(t).await.unwrap();
    assert_eq!(all.len(), 1_050);
    let titles: BTreeSet<_> = all
        .iter()
        .filter_map(|m| m.metadata.title.clone())
        .collect();
    assert_eq!(titles.len(), 1_050);
    let again = repo
        .import_catalogue(t, vec![film("1049", "film 1049")], Utc::now())
        .await
        .unwrap();
    assert!(!again[0].created);
    assert_eq!(repo.list_all(t).await.unwrap().len(), 1_050);
}

#[tokio::test]
async fn media_resolve_within_their_tenant_only() {
    let (table, _dir) = table();
    let repo = MediaRepo::new(&table);
    let (t, other) = (TenantId::generate(), TenantId::generate());
    let id = repo
        .import_catalogue(t, vec![film("9", "Fargo")], Utc::now())
        .await
        .unwrap()[0]
        .id;
    assert_eq!(
        repo.resolve(t, &ExternalRef::Id(id)).await.unwrap(),
        Some(id)
    );
    assert_eq!(
        repo.resolve(other, &ExternalRef::Id(id)).await.unwrap(),
        None
    );
    assert_eq!(
        repo.resolve(other, &ExternalRef::External(ext("9")))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repo.resolve(t, &ExternalRef::Id(MediaId::generate()))
            .await
            .unwrap(),
        None
    );
}

// ---- events ----

fn events(tenant: TenantId, n: usize, prefix: &str) -> Vec<StoredEvent> {
    let (media, profile) = (MediaId::generate(), ProfileId::generate());
    let now = Utc::now();
    (0..n)
        .map(|i| {
            let raw = json!({"id": format!("{prefix}{i}"), "kind": "play", "media": "ext:m", "user": "ext:u", "props": {"i": i}});
            parse_batch(&[raw], now).unwrap().remove(0).into_stored(
                tenant, media, profile, "key:test", now,
            )
        })
        .collect()
}

fn ids(events: &[StoredEvent]) -> BTreeSet<String> {
    events.iter().map(|e| e.id.to_string()).collect()
}

#[tokio::test]
async fn a_replayed_batch_stores_nothing_twice_and_fast() {
    let (table, _dir) = table();
    let repo = EventRepo::new(&table);
    let t = TenantId::generate();
    let batch = events(t, 1_000, "e");

    let started = Instant::now();
    let first = repo.append(t, batch.clone()).await.unwrap();
    let first_took = started.elapsed();
    assert_eq!((first.stored, first.duplicates), (1_000, 0));

    let started = Instant::now();
    let replay = repo.append(t, batch.clone()).await.unwrap();
    let replay_took = started.elapsed();
    assert_eq!((replay.stored, replay.duplicates), (0, 1_000));
    eprintln!("1000 events: appended in {first_took:?}, replayed in {replay_took:?}");
    assert!(first_took.as_secs_f64() < 1.0, "append took {first_took:?}");
    assert!(
        replay_took.as_secs_f64() < 1.0,
        "replay took {replay_took:?}"
    );

    let stored = repo.all(t).await.unwrap();
    assert_eq!(stored.len(), 1_000);
    assert_eq!(ids(&stored), ids(&batch));
    let one = stored.iter().find(|e| e.id.as_str() == "e7").unwrap();
    assert_eq!(one, &batch[7], "stored as given");
}

#[tokio::test]
async fn a_batch_overlapping_an_earlier_one_stores_only_the_new_events() {
    let (table, _dir) = table();
    let repo = EventRepo::new(&table);
    let t = TenantId::generate();
    let batch = events(t, 250, "e");
    repo.append(t, batch[..100].to_vec()).await.unwrap();
    // Interleaved old and new ids inside each transaction.
    let mut mixed = batch.clone();
    mixed.reverse();
    let outcome = repo.append(t, mixed).await.unwrap();
    assert_eq!((outcome.stored, outcome.duplicates), (150, 100));
    assert_eq!(repo.all(t).await.unwrap().len(), 250);
}

#[tokio::test]
async fn an_id_repeated_within_one_append_is_stored_once() {
    let (table, _dir) = table();
    let repo = EventRepo::new(&table);
    let t = TenantId::generate();
    let batch = events(t, 3, "r");
    let repeated = vec![
        batch[0].clone(),
        batch[1].clone(),
        batch[0].clone(),
        batch[2].clone(),
    ];
    let outcome = repo.append(t, repeated).await.unwrap();
    assert_eq!((outcome.stored, outcome.duplicates), (3, 1));
    assert_eq!(ids(&repo.all(t).await.unwrap()), ids(&batch));
}

#[tokio::test]
async fn concurrent_deliveries_of_one_batch_store_it_once() {
    let (table, _dir) = table();
    let repo = EventRepo::new(&table);
    let t = TenantId::generate();
    let batch = events(t, 300, "c");
    let outcomes = join_all((0..4).map(|_| repo.append(t, batch.clone()))).await;
    let (stored, duplicates) = outcomes
        .into_iter()
        .map(Result::unwrap)
        .fold((0, 0), |(s, d), o| (s + o.stored, d + o.duplicates));
    assert_eq!((stored, duplicates), (300, 900));
    assert_eq!(repo.all(t).await.unwrap().len(), 300);
}

#[tokio::test]
async fn events_are_kept_per_tenant() {
    let (table, _dir) = table();
    let repo = EventRepo::new(&table);
    let (a, b) = (TenantId::generate(), TenantId::generate());
    repo.append(a, events(a, 20, "x")).await.unwrap();
    // The same client ids in another tenant are other events.
    let outcome = repo.append(b, events(b, 20, "x")).await.unwrap();
    assert_eq!(outcome.stored, 20);
    assert_eq!(repo.all(a).await.unwrap().len(), 20);
    assert!(repo.all(b).await.unwrap().iter().all(|e| e.tenant == b));
    // An event of one tenant is never filed under another.
    let err = repo.append(a, events(b, 1, "y")).await.unwrap_err();
    assert!(err.to_string().contains("appended to tenant"), "{err}");
    assert_eq!(repo.all(a).await.unwrap().len(), 20);
}

async fn catalogue_and_profile(table: &SqliteTable, t: TenantId) -> (MediaId, ProfileId) {
    let media = MediaRepo::new(table)
        .import_catalogue(t, vec![film("m1", "Heat")], Utc::now())
        .await
        .unwrap()[0]
        .id;
    let (profile, _) = ProfileRepo::new(table)
        .create(t, Some(ext("u1")), Utc::now())
        .await
        .unwrap();
    (media, profile.id)
}

fn client_events(raw: &[serde_json::Value], now: Timestamp) -> Vec<ClientEvent> {
    parse_batch(raw, now).unwrap()
}

#[tokio::test]
async fn references_resolve_by_id_or_external_id() {
    let (table, _dir) = table();
    let t = TenantId::generate();
    let (media, profile) = catalogue_and_profile(&table, t).await;
    let now = Utc::now();
    let batch = client_events(
        &[
            json!({"id": "1", "kind": "view", "media": "ext:m1", "user": "ext:u1"}),
            json!({"id": "2", "kind": "like", "media": media.to_string(), "user": profile.to_string()}),
        ],
        now,
    );
    let stored = EventRepo::new(&table)
        .resolve(t, batch, "user:someone", now)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    for e in &stored {
        assert_eq!((e.media, e.profile, e.tenant), (media, profile, t));
        assert_eq!((e.actor.as_str(), e.received_at), ("user:someone", now));
    }
}

#[tokio::test]
async fn unknown_and_other_tenants_references_refuse_the_batch() {
    let (table, _dir) = table();
    let (t, other) = (TenantId::generate(), TenantId::generate());
    let (media, profile) = catalogue_and_profile(&table, t).await;
    let (their_media, their_profile) = catalogue_and_profile(&table, other).await;
    let now = Utc::now();
    let batch = client_events(
        &[
            json!({"id": "ok", "kind": "play", "media": media.to_string(), "user": profile.to_string()}),
            json!({"id": "theirs", "kind": "play", "media": their_media.to_string(), "user": their_profile.to_string()}),
            json!({"id": "nobody", "kind": "play", "media": "ext:m1", "user": "ext:ghost"}),
        ],
        now,
    );
    let err = EventRepo::new(&table)
        .resolve(t, batch, "user:x", now)
        .await
        .unwrap_err();
    let IntakeError::Rejected(rejected) = err else {
        panic!("{err:?}")
    };
    let found: Vec<_> = rejected
        .errors
        .iter()
        .map(|e| (e.index, e.field.as_str(), e.reason))
        .collect();
    assert_eq!(
        found,
        [
            (Some(1), "media", Rejection::UnknownMedia),
            (Some(1), "user", Rejection::UnknownUser),
            (Some(2), "user", Rejection::UnknownUser),
        ]
    );
    assert_eq!(
        rejected.errors[2].message,
        "no profile ext:ghost of this tenant"
    );
    assert!(EventRepo::new(&table).all(t).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_profiles_recent_events_come_newest_first_since_a_time_and_only_its_own() {
    let (table, _dir) = table();
    let tenant = TenantId::generate();
    let (me, other) = (ProfileId::generate(), ProfileId::generate());
    let start = Utc::now() - chrono::TimeDelta::hours(1);
    let mut batch = events(tenant, 6, "mine");
    for (i, e) in batch.iter_mut().enumerate() {
        e.profile = me;
        e.at = start + chrono::TimeDelta::minutes(10 * i as i64);
    }
    let mut theirs = events(tenant, 2, "theirs");
    for e in &mut theirs {
        e.profile = other;
    }
    batch.extend(theirs);
    EventRepo::new(&table).append(tenant, batch).await.unwrap();

    let repo = EventRepo::new(&table);
    let since = start + chrono::TimeDelta::minutes(20);
    let recent = repo
        .recent_for_profile(tenant, me, since, 100)
        .await
        .unwrap();
    let order: Vec<&str> = recent.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(order, ["mine5", "mine4", "mine3", "mine2"]);
    let two = repo.recent_for_profile(tenant, me, start, 2).await.unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].id.as_str(), "mine5");
    let elsewhere = repo
        .recent_for_profile(TenantId::generate(), me, start, 100)
        .await
        .unwrap();
    assert!(elsewhere.is_empty(), "another tenant's partition is empty");
}
