//! The tag repository's index on the embedded table: tags found across media by where they
//! stand (search, the review queue, counts, decisions), the vocabulary item, and the model
//! registry's families.

use chrono::Utc;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::repo::{Decided, ModelFile, ModelRegistry, TagRepo, VocabularyRepo};
use mvidarr_core::tag::{Decision, Tag, TagName, TagSource, TagStatus, Thresholds};
use mvidarr_core::vocabulary::TagDefinition;
use mvidarr_store_local::db::Database;
use mvidarr_store_local::table::SqliteTable;
use tempfile::TempDir;

fn table() -> (SqliteTable, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("mvidarr.db")).unwrap();
    (SqliteTable::new(db).unwrap(), dir)
}

fn name(s: &str) -> TagName {
    TagName::parse(s).unwrap()
}

fn proposal(tag: &str, confidence: f64, status: TagStatus) -> Tag {
    Tag {
        name: name(tag),
        confidence,
        source: TagSource::Model {
            name: format!("tags/{tag}"),
            version: "1".into(),
        },
        status,
        evidence: serde_json::Value::Null,
        decisions: vec![],
    }
}

fn decision(accepted: bool) -> Decision {
    Decision {
        by: "user:test".into(),
        at: Utc::now(),
        accepted,
    }
}

#[tokio::test]
async fn search_finds_visible_tags_and_their_descendants_only() {
    let (table, _dir) = table();
    let repo = TagRepo::new(&table);
    let tenant = TenantId::generate();
    let other = TenantId::generate();
    let (a, b, c, d) = (
        MediaId::generate(),
        MediaId::generate(),
        MediaId::generate(),
        MediaId::generate(),
    );
    repo.propose(
        tenant,
        a,
        &proposal("genre/rock", 0.95, TagStatus::Applied),
        1.0,
    )
    .await
    .unwrap();
    repo.propose(
        tenant,
        b,
        &proposal("genre/rock/punk", 0.97, TagStatus::Applied),
        1.0,
    )
    .await
    .unwrap();
    repo.propose(
        tenant,
        c,
        &proposal("genre/rock", 0.5, TagStatus::Review),
        1.0,
    )
    .await
    .unwrap();
    repo.propose(
        tenant,
        d,
        &proposal("genre/rockabilly", 0.99, TagStatus::Applied),
        1.0,
    )
    .await
    .unwrap();
    repo.propose(
        other,
        a,
        &proposal("genre/rock", 0.99, TagStatus::Applied),
        1.0,
    )
    .await
    .unwrap();

    let found = repo
        .with_tag(tenant, &name("genre/rock"), 100, None)
        .await
        .unwrap();
    let media: Vec<MediaId> = found.items.iter().map(|f| f.media).collect();
    assert_eq!(
        media,
        vec![a, b],
        "the tag and its branch, not review, not rockabilly"
    );
    let found = repo
        .with_tag(tenant, &name("genre/rock/punk"), 100, None)
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);

    // Once a reviewer accepts the tag in review, search finds it; a rejection hides it.
    assert!(matches!(
        repo.decide(tenant, c, &name("genre/rock"), decision(true), None)
            .await
            .unwrap(),
        Decided::Done(_)
    ));
    assert!(matches!(
        repo.decide(tenant, a, &name("genre/rock"), decision(false), None)
            .await
            .unwrap(),
        Decided::Done(_)
    ));
    let found = repo
        .with_tag(tenant, &name("genre/rock"), 100, None)
        .await
        .unwrap();
    let mut media: Vec<MediaId> = found.items.iter().map(|f| f.media).collect();
    media.sort();
    let mut expected = vec![b, c];
    expected.sort();
    assert_eq!(media, expected);

    let counts = repo.counts(tenant).await.unwrap();
    let rock = counts[&name("genre/rock")];
    assert_eq!(
        (rock.accepted, rock.rejected, rock.applied, rock.review),
        (1, 1, 0, 0)
    );
    assert_eq!(counts[&name("genre/rock/punk")].applied, 1);
    let decided = repo.decided(tenant).await.unwrap();
    assert_eq!(decided.len(), 2);
}

#[tokio::test]
async fn the_review_queue_is_in_priority_order_and_leaves_when_decided() {
    let (table, _dir) = table();
    let repo = TagRepo::new(&table);
    let tenant = TenantId::generate();
    let media: Vec<MediaId> = (0..4).map(|_| MediaId::generate()).collect();
    // Uncertainty × impact: 0.5 is most uncertain; a popular media outranks an obscure one.
    let cases = [(0.8, 1.0), (0.5, 1.0), (0.55, 3.0), (0.45, 0.5)];
    for (m, (confidence, impact)) in media.iter().zip(cases) {
        repo.propose(
            tenant,
            *m,
            &proposal("live", confidence, TagStatus::Review),
            impact,
        )
        .await
        .unwrap();
    }
    let queue = repo.review_queue(tenant, 10, None).await.unwrap();
    let order: Vec<MediaId> = queue.items.iter().map(|f| f.media).collect();
    assert_eq!(order, vec![media[2], media[1], media[3], media[0]]);

    // Pages follow the same order.
    let first = repo.review_queue(tenant, 2, None).await.unwrap();
    let rest = repo
        .review_queue(tenant, 10, first.next_cursor)
        .await
        .unwrap();
    let paged: Vec<MediaId> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|f| f.media)
        .collect();
    assert_eq!(paged, order);

    repo.decide(tenant, media[2], &name("live"), decision(true), None)
        .await
        .unwrap();
    let queue = repo.review_queue(tenant, 10, None).await.unwrap();
    assert_eq!(queue.items.len(), 3);
    assert!(queue.items.iter().all(|f| f.media != media[2]));
}

#[tokio::test]
async fn a_proposal_moves_between_places_and_never_over_a_decision() {
    let (table, _dir) = table();
    let repo = TagRepo::new(&table);
    let tenant = TenantId::generate();
    let m = MediaId::generate();
    assert!(
        repo.propose(tenant, m, &proposal("live", 0.5, TagStatus::Review), 1.0)
            .await
            .unwrap()
    );
    // The same proposal again writes nothing.
    assert!(
        !repo
            .propose(tenant, m, &proposal("live", 0.5, TagStatus::Review), 1.0)
            .await
            .unwrap()
    );
    // A new impact moves it in the queue.
    assert!(
        repo.propose(tenant, m, &proposal("live", 0.5, TagStatus::Review), 2.0)
            .await
            .unwrap()
    );
    // New thresholds re-place it: 0.5 is below a review threshold of 0.6.
    let stricter = Thresholds::new(0.95, 0.6).unwrap();
    assert_eq!(
        repo.replace_by(tenant, &name("live"), stricter)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        repo.replace_by(tenant, &name("live"), stricter)
            .await
            .unwrap(),
        0
    );
    assert!(
        repo.review_queue(tenant, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        repo.propose(tenant, m, &proposal("live", 0.2, TagStatus::Hidden), 1.0)
            .await
            .unwrap()
    );
    assert!(
        repo.review_queue(tenant, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let named = repo.proposals_named(tenant, &name("live")).await.unwrap();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].tag.record.status, TagStatus::Hidden);

    repo.decide(tenant, m, &name("live"), decision(false), None)
        .await
        .unwrap();
    assert!(
        !repo
            .propose(tenant, m, &proposal("live", 0.99, TagStatus::Applied), 1.0)
            .await
            .unwrap()
    );
    let tag = repo.get(tenant, m, &name("live")).await.unwrap().unwrap();
    assert_eq!(tag.record.status, TagStatus::Rejected);
    assert!(
        repo.proposals_named(tenant, &name("live"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_decision_stored_before_tags_were_indexed_is_indexed_by_the_next_proposal() {
    use mvidarr_core::keys::table as keys;
    use mvidarr_core::ports::{Condition, Item, Table};
    let (table, _dir) = table();
    let repo = TagRepo::new(&table);
    let tenant = TenantId::generate();
    let m = MediaId::generate();
    let mut old = proposal("live", 1.0, TagStatus::Accepted);
    old.decisions.push(decision(true));
    // As the repository wrote it before the index: no index keys.
    table
        .put(
            Item::new(
                keys::media_items_pk(tenant, m),
                keys::tag_sk("live"),
                serde_json::to_value(&old).unwrap(),
            ),
            Condition::Absent,
        )
        .await
        .unwrap();
    assert!(repo.decided(tenant).await.unwrap().is_empty());
    assert!(
        !repo
            .propose(tenant, m, &proposal("live", 0.3, TagStatus::Hidden), 1.0)
            .await
            .unwrap()
    );
    let decided = repo.decided(tenant).await.unwrap();
    assert_eq!(decided.len(), 1);
    assert_eq!(
        decided[0].tag.record, old,
        "the decision itself is unchanged"
    );
}

#[tokio::test]
async fn the_vocabulary_is_one_versioned_item() {
    let (table, _dir) = table();
    let repo = VocabularyRepo::new(&table);
    let tenant = TenantId::generate();
    let initial = repo.get(tenant).await.unwrap();
    assert_eq!(initial.version, 0);
    assert!(initial.record.tags.is_empty());
    let mut vocabulary = initial.record.clone();
    vocabulary.tags.insert(
        name("explicit"),
        TagDefinition {
            description: None,
            synonyms: vec![name("nsfw")],
            thresholds: Some(Thresholds::new(0.97, 0.1).unwrap()),
        },
    );
    assert_eq!(repo.put(tenant, &vocabulary, 0).await.unwrap(), Some(1));
    // A writer that read version 0 too loses.
    assert_eq!(repo.put(tenant, &vocabulary, 0).await.unwrap(), None);
    let stored = repo.get(tenant).await.unwrap();
    assert_eq!((stored.version, stored.record), (1, vocabulary.clone()));
    assert_eq!(repo.put(tenant, &vocabulary, 1).await.unwrap(), Some(2));
}

#[tokio::test]
async fn registry_families_are_listed_by_prefix_and_kept_apart() {
    let (table, _dir) = table();
    let registry = ModelRegistry::new(&table);
    let tenant = TenantId::generate();
    for family in ["tags/genre", "tags/genre/v", "reco"] {
        let reservation = registry.next_version(tenant, family).await.unwrap();
        registry
            .register(
                tenant,
                family,
                reservation,
                ModelFile {
                    sha256: "ab".repeat(32),
                    size: 1,
                    metrics: serde_json::Value::Null,
                },
                Utc::now(),
            )
            .await
            .unwrap();
    }
    let mut families = registry.families(tenant, "tags/").await.unwrap();
    families.sort();
    assert_eq!(
        families,
        vec![("tags/genre".to_owned(), 1), ("tags/genre/v".to_owned(), 1)]
    );
    // `tags/genre`'s versions do not include `tags/genre/v`'s.
    assert_eq!(registry.list(tenant, "tags/genre").await.unwrap().len(), 1);

    // A trainer that compared its model with no promoted version promotes it only if that is
    // still so: a person's promotion meanwhile stands.
    let reservation = registry.next_version(tenant, "tags/genre").await.unwrap();
    let v2 = registry
        .register(
            tenant,
            "tags/genre",
            reservation,
            ModelFile {
                sha256: "ef".repeat(32),
                size: 1,
                metrics: serde_json::Value::Null,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    registry
        .promote(tenant, "tags/genre", 1, Utc::now())
        .await
        .unwrap();
    assert!(
        !registry
            .promote_if_current(tenant, "tags/genre", v2.version, None, Utc::now())
            .await
            .unwrap()
    );
    assert_eq!(
        registry
            .current_version(tenant, "tags/genre")
            .await
            .unwrap(),
        Some(1)
    );
    assert!(
        registry
            .promote_if_current(tenant, "tags/genre", v2.version, Some(1), Utc::now())
            .await
            .unwrap()
    );
    assert_eq!(
        registry
            .current_version(tenant, "tags/genre")
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        registry
            .families(tenant, "tags/")
            .await
            .unwrap()
            .iter()
            .find(|f| f.0 == "tags/genre"),
        Some(&("tags/genre".to_owned(), 2))
    );
}
