//! The blob conformance suite on `LocalBlobStore`, plus what only the embedded store promises:
//! atomic replacement on disk, crash recovery, S3-shaped notifications and signed URLs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use mvidarr_core::ports::blob::{BlobBody, BlobError, BlobLocation, BlobStore};
use mvidarr_core::ports::queue::Queue;
use mvidarr_store_local::blob::{LocalBlobStore, SignatureError};
use mvidarr_store_local::db::Database;
use mvidarr_store_local::queue::{QueueConfig, SqliteQueue};
use mvidarr_tests::conformance::blob::{body_of, collect, md5_hex};
use tempfile::TempDir;

const BUCKET: &str = "mvidarr-media";
const BASE_URL: &str = "http://127.0.0.1:8080";

fn open_store(dir: &Path) -> (LocalBlobStore, Database) {
    let db = Database::open(&dir.join("mvidarr.db")).expect("open database");
    let store = LocalBlobStore::open(
        dir.join("blobs"),
        BUCKET,
        db.clone(),
        b"test signing key".to_vec(),
        format!("{BASE_URL}/"),
    )
    .expect("open store");
    (store, db)
}

/// A store that sends its notifications into an `ingest` queue in the same database.
fn open_store_with_notifications(dir: &Path) -> (LocalBlobStore, SqliteQueue, Database) {
    let (store, db) = open_store(dir);
    let config = QueueConfig {
        max_receives: 3,
        dead_letter: None,
    };
    let queue = SqliteQueue::open(db.clone(), "ingest", config).expect("open queue");
    (store.with_notifications(queue.clone(), ""), queue, db)
}

async fn local_store() -> (LocalBlobStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _) = open_store(dir.path());
    (store, dir)
}

mvidarr_tests::blob_conformance!(local_store());

fn blobs_root(dir: &TempDir) -> PathBuf {
    std::fs::canonicalize(dir.path().join("blobs")).unwrap()
}

/// `chunks` chunks of `size` bytes of `byte`, with a pause before each.
fn slow_body(byte: u8, chunks: usize, size: usize, pause: Duration) -> BlobBody {
    Box::pin(futures_util::stream::unfold(0, move |i| async move {
        if i == chunks {
            return None;
        }
        tokio::time::sleep(pause).await;
        Some((Ok(Bytes::from(vec![byte; size])), i + 1))
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_reader_never_sees_a_partial_object() {
    let (store, dir) = local_store().await;
    const CHUNKS: usize = 40;
    const SIZE: usize = 16 * 1024;
    let old = vec![b'a'; CHUNKS * SIZE];
    let new = vec![b'b'; CHUNKS * SIZE];
    store
        .put(
            "t/1/uploads/v.mp4",
            body_of(vec![Bytes::from(old.clone())]),
            None,
        )
        .await
        .unwrap();
    let file = blobs_root(&dir).join("t/1/uploads/v.mp4");

    let done = AtomicBool::new(false);
    let writer = async {
        let info = store
            .put(
                "t/1/uploads/v.mp4",
                slow_body(b'b', CHUNKS, SIZE, Duration::from_millis(15)),
                None,
            )
            .await
            .unwrap();
        done.store(true, Ordering::SeqCst);
        info
    };
    let reader = async {
        let (mut saw_old, mut saw_new) = (0, 0);
        while !done.load(Ordering::SeqCst) {
            let through_store = collect(store.get("t/1/uploads/v.mp4").await.unwrap()).await;
            let on_disk = tokio::fs::read(&file).await.unwrap();
            for read in [through_store, on_disk] {
                if read == old {
                    saw_old += 1;
                } else if read == new {
                    saw_new += 1;
                } else {
                    panic!("a reader saw a partial object of {} bytes", read.len());
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (saw_old, saw_new)
    };
    let (info, (saw_old, _)) = tokio::join!(writer, reader);
    assert!(saw_old > 0, "the reader ran during the write");
    assert_eq!(info.etag, md5_hex(&new));
    assert_eq!(
        collect(store.get("t/1/uploads/v.mp4").await.unwrap()).await,
        new
    );
    assert_eq!(
        store.head("t/1/uploads/v.mp4").await.unwrap().etag,
        md5_hex(&new)
    );
}

#[tokio::test]
async fn open_removes_leftover_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_store(dir.path()));
    let tmp = dir.path().join("blobs/.tmp");
    std::fs::write(tmp.join("crashed-upload"), b"half an upload").unwrap();

    let (store, _) = open_store(dir.path());
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temp files removed"
    );
    assert!(
        store.list("").await.unwrap().is_empty(),
        "temp files are never objects"
    );
}

#[tokio::test]
async fn metadata_is_rebuilt_for_a_file_without_a_row() {
    let (store, dir) = local_store().await;
    // A crash between the rename into place and the metadata write leaves exactly this.
    let path = blobs_root(&dir).join("t/1/uploads/orphan.mp4");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"renamed before the crash").unwrap();

    let info = store.head("t/1/uploads/orphan.mp4").await.unwrap();
    assert_eq!(info.etag, md5_hex(b"renamed before the crash"));
    assert_eq!(info.size, 24);
    assert_eq!(info.bucket, BUCKET);
    let listed = store.list("t/1/uploads/").await.unwrap();
    assert_eq!(listed.len(), 1, "the rebuilt row is recorded");
    assert_eq!(listed[0].etag, info.etag);
}

#[tokio::test]
async fn metadata_is_rebuilt_when_the_file_was_replaced_behind_it() {
    let (store, dir) = local_store().await;
    store
        .put(
            "clip",
            body_of(vec![Bytes::from_static(b"first version")]),
            Some("video/mp4"),
        )
        .await
        .unwrap();
    // A second put that crashed after its rename: new file in place, old row in the table.
    let root = blobs_root(&dir);
    let staged = root.join(".tmp/staged");
    std::fs::write(&staged, b"the second version").unwrap();
    std::fs::rename(&staged, root.join("clip")).unwrap();

    let info = store.head("clip").await.unwrap();
    assert_eq!(info.etag, md5_hex(b"the second version"));
    assert_eq!(info.size, 18);
    let body = collect(store.get("clip").await.unwrap()).await;
    assert_eq!(body, b"the second version");
}

#[tokio::test]
async fn a_row_whose_file_is_gone_is_not_an_object() {
    let (store, dir) = local_store().await;
    store
        .put("gone", body_of(vec![Bytes::from_static(b"x")]), None)
        .await
        .unwrap();
    std::fs::remove_file(blobs_root(&dir).join("gone")).unwrap();
    assert!(matches!(
        store.head("gone").await,
        Err(BlobError::NotFound { .. })
    ));
    assert!(
        store.list("").await.unwrap().is_empty(),
        "the stale row was dropped"
    );
}

fn record(message_body: &str) -> serde_json::Value {
    let event: serde_json::Value = serde_json::from_str(message_body).unwrap();
    let records = event["Records"].as_array().expect("Records array");
    assert_eq!(records.len(), 1);
    records[0].clone()
}

#[tokio::test]
async fn writes_and_renames_send_s3_shaped_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let (store, queue, _db) = open_store_with_notifications(dir.path());

    let info = store
        .put(
            "t/1/uploads/red flower.mp4",
            body_of(vec![Bytes::from_static(b"0123456789")]),
            Some("video/mp4"),
        )
        .await
        .unwrap();
    let got = queue
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "one notification per put");
    let put = record(&got[0].body);
    assert_eq!(put["eventVersion"], "2.1");
    assert_eq!(put["eventSource"], "aws:s3");
    assert_eq!(put["awsRegion"], "local");
    assert_eq!(put["eventName"], "ObjectCreated:Put");
    let time = put["eventTime"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
    assert!(put["userIdentity"]["principalId"].is_string());
    assert!(put["requestParameters"]["sourceIPAddress"].is_string());
    assert!(put["responseElements"]["x-amz-request-id"].is_string());
    assert!(put["responseElements"]["x-amz-id-2"].is_string());
    let s3 = &put["s3"];
    assert_eq!(s3["s3SchemaVersion"], "1.0");
    assert!(s3["configurationId"].is_string());
    assert_eq!(s3["bucket"]["name"], BUCKET);
    assert_eq!(s3["bucket"]["arn"], format!("arn:aws:s3:::{BUCKET}"));
    assert!(s3["bucket"]["ownerIdentity"]["principalId"].is_string());
    assert_eq!(
        s3["object"]["key"], "t/1/uploads/red+flower.mp4",
        "form-encoded"
    );
    assert_eq!(s3["object"]["size"], 10);
    assert_eq!(s3["object"]["eTag"], info.etag.as_str());
    assert!(
        s3["object"].get("versionId").is_none(),
        "unversioned bucket"
    );
    let first_sequencer = s3["object"]["sequencer"].as_str().unwrap().to_owned();

    store
        .put(
            "t/1/uploads/red flower.mp4",
            body_of(vec![Bytes::from_static(b"again")]),
            None,
        )
        .await
        .unwrap();
    store
        .rename(
            "t/1/uploads/red flower.mp4",
            "t/1/quarantine/red flower.mp4",
        )
        .await
        .unwrap();
    let got = queue
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    let (second_put, copy) = if record(&got[0].body)["eventName"] == "ObjectCreated:Put" {
        (record(&got[0].body), record(&got[1].body))
    } else {
        (record(&got[1].body), record(&got[0].body))
    };
    let second_sequencer = second_put["s3"]["object"]["sequencer"].as_str().unwrap();
    assert!(
        second_sequencer > first_sequencer.as_str(),
        "sequencers increase per key: {second_sequencer} after {first_sequencer}"
    );
    assert_eq!(copy["eventName"], "ObjectCreated:Copy");
    assert_eq!(copy["s3"]["object"]["key"], "t/1/quarantine/red+flower.mp4");
    assert_eq!(copy["s3"]["object"]["eTag"], md5_hex(b"again"));
}

fn query_param<'a>(url: &'a str, name: &str) -> &'a str {
    let query = url.split_once('?').expect("a query string").1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

#[tokio::test]
async fn signed_urls_refuse_tampering_and_expiry() {
    let (store, _dir) = local_store().await;
    let key = "t/1/uploads/new clip.mp4";
    let put = store
        .presign_put(key, "video/mp4", Duration::from_secs(600))
        .await
        .unwrap();
    assert!(
        put.url.starts_with(&format!(
            "{BASE_URL}/blobs/t/1/uploads/new%20clip.mp4?expires="
        )),
        "{}",
        put.url
    );
    let expires = query_param(&put.url, "expires");
    let signature = query_param(&put.url, "signature");
    assert_eq!(expires, put.expires_at.timestamp().to_string());
    let now = Utc::now();
    let verify = |method: &str, key: &str, expires: &str, signature: &str, ct: Option<&str>| {
        store.verify_signed(method, key, expires, signature, ct, now)
    };

    assert_eq!(
        verify("PUT", key, expires, signature, Some("video/mp4")),
        Ok(())
    );

    let later = (put.expires_at.timestamp() + 3600).to_string();
    let mut flipped = signature.to_owned();
    let last = if flipped.ends_with('0') { "1" } else { "0" };
    flipped.replace_range(flipped.len() - 1.., last);
    for (what, result) in [
        (
            "another key",
            verify(
                "PUT",
                "t/1/uploads/other.mp4",
                expires,
                signature,
                Some("video/mp4"),
            ),
        ),
        (
            "a later expiry",
            verify("PUT", key, &later, signature, Some("video/mp4")),
        ),
        (
            "another method",
            verify("GET", key, expires, signature, Some("video/mp4")),
        ),
        (
            "another content type",
            verify("PUT", key, expires, signature, Some("text/html")),
        ),
        (
            "no content type",
            verify("PUT", key, expires, signature, None),
        ),
        (
            "a changed signature",
            verify("PUT", key, expires, &flipped, Some("video/mp4")),
        ),
        (
            "a non-hex signature",
            verify("PUT", key, expires, "zz", Some("video/mp4")),
        ),
        (
            "a non-numeric expiry",
            verify("PUT", key, "soon", signature, Some("video/mp4")),
        ),
    ] {
        assert_eq!(result, Err(SignatureError::Invalid), "{what}");
    }

    let after_expiry = put.expires_at + chrono::Duration::seconds(1);
    assert_eq!(
        store.verify_signed(
            "PUT",
            key,
            expires,
            signature,
            Some("video/mp4"),
            after_expiry
        ),
        Err(SignatureError::Expired)
    );
    assert_eq!(
        store.verify_signed(
            "PUT",
            key,
            expires,
            signature,
            Some("video/mp4"),
            put.expires_at
        ),
        Ok(()),
        "valid up to and including the expiry second"
    );

    let get = store
        .presign_get(key, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(get.headers.is_empty());
    let (expires, signature) = (
        query_param(&get.url, "expires"),
        query_param(&get.url, "signature"),
    );
    assert_eq!(
        store.verify_signed("GET", key, expires, signature, None, now),
        Ok(())
    );
    assert_eq!(
        store.verify_signed("PUT", key, expires, signature, None, now),
        Err(SignatureError::Invalid)
    );
}

#[tokio::test]
async fn location_is_the_file_itself() {
    let (store, _dir) = local_store().await;
    store
        .put(
            "t/1/media/a.mp4",
            body_of(vec![Bytes::from_static(b"frames")]),
            None,
        )
        .await
        .unwrap();
    let BlobLocation::File(path) = store.location("t/1/media/a.mp4").await.unwrap() else {
        panic!("the local store hands out files");
    };
    assert!(path.is_absolute());
    assert_eq!(std::fs::read(path).unwrap(), b"frames");
    assert!(matches!(
        store.location("t/1/media/absent.mp4").await,
        Err(BlobError::NotFound { .. })
    ));
}

#[tokio::test]
async fn deleting_the_last_object_of_a_folder_removes_the_folder() {
    let (store, dir) = local_store().await;
    store
        .put("x/y/z", body_of(vec![Bytes::from_static(b"1")]), None)
        .await
        .unwrap();
    // A key cannot be both an object and a folder of other objects in a directory tree.
    assert!(matches!(
        store
            .put("x/y", body_of(vec![Bytes::from_static(b"2")]), None)
            .await,
        Err(BlobError::InvalidKey { .. })
    ));
    store.delete("x/y/z").await.unwrap();
    assert!(
        !blobs_root(&dir).join("x").exists(),
        "empty folders tidied away"
    );
    store
        .put("x", body_of(vec![Bytes::from_static(b"3")]), None)
        .await
        .unwrap();
    assert_eq!(store.head("x").await.unwrap().size, 1);
}

#[tokio::test]
async fn a_put_interrupted_before_its_notification_is_notified_at_recovery() {
    // Arrange: the state a crash leaves between "file moved into place" and "notification
    // queued": the object's file and the put's intent row, no notification.
    let dir = tempfile::tempdir().unwrap();
    let (store, queue, db) = open_store_with_notifications(dir.path());
    let key = "t/1/uploads/interrupted";
    let path = blobs_root(&dir).join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"bytes that made it to disk").unwrap();
    db.call(|c| {
        c.execute(
            "INSERT INTO blob_put_intents (bucket, key, token) VALUES (?1, ?2, 'a'), (?1, 'never/renamed', 'b')",
            [BUCKET, "t/1/uploads/interrupted"],
        )
    })
    .await
    .unwrap();

    // Act
    let sent = store.recover_put_intents().await.unwrap();

    // Assert: exactly the object that exists is notified, with its real etag; intents cleared.
    assert_eq!(sent, 1);
    let got = queue
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let r = record(&got[0].body);
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    assert_eq!(
        r["s3"]["object"]["eTag"],
        md5_hex(b"bytes that made it to disk")
    );
    let left: i64 = db
        .call(|c| c.query_row("SELECT COUNT(*) FROM blob_put_intents", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        store.recover_put_intents().await.unwrap(),
        0,
        "recovery is done once"
    );
}

#[tokio::test]
async fn only_keys_under_the_notification_prefix_notify() {
    let dir = tempfile::tempdir().unwrap();
    let (store, db) = open_store(dir.path());
    let queue = SqliteQueue::open(
        db.clone(),
        "ingest",
        QueueConfig {
            max_receives: 3,
            dead_letter: None,
        },
    )
    .unwrap();
    let store = store.with_notifications(queue.clone(), "t/");
    for key in [
        "analytics/events/t=1/date=2026-11-26/b.parquet",
        "t/1/uploads/m",
    ] {
        store
            .put(key, body_of(vec![Bytes::from_static(b"x")]), None)
            .await
            .unwrap();
    }
    let got = queue
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(record(&got[0].body)["s3"]["object"]["key"], "t/1/uploads/m");
}

#[tokio::test]
async fn a_completed_put_leaves_no_intent_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (store, db) = open_store(dir.path());
    store
        .put(
            "t/1/uploads/done",
            body_of(vec![Bytes::from_static(b"x")]),
            None,
        )
        .await
        .unwrap();
    let left: i64 = db
        .call(|c| c.query_row("SELECT COUNT(*) FROM blob_put_intents", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_rename_cut_short_by_a_crash_keeps_the_objects_tags_and_type() {
    // Arrange: an object with tags, then the state a crash leaves mid-rename: the file moved,
    // its metadata row still under the old key.
    let (store, dir) = local_store().await;
    let from = "t/1/uploads/m";
    let to = "t/1/quarantine/m";
    store
        .put(
            from,
            body_of(vec![Bytes::from_static(b"not a video")]),
            Some("video/mp4"),
        )
        .await
        .unwrap();
    let tags = std::collections::BTreeMap::from([(
        "quarantine".to_owned(),
        "not a video container".to_owned(),
    )]);
    store.set_tags(from, &tags).await.unwrap();
    let root = blobs_root(&dir);
    std::fs::create_dir_all(root.join("t/1/quarantine")).unwrap();
    std::fs::rename(root.join(from), root.join(to)).unwrap();

    // Act + assert: the moved object is found with everything it had.
    assert_eq!(store.get_tags(to).await.unwrap(), tags);
    let info = store.head(to).await.unwrap();
    assert_eq!(info.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(info.etag, md5_hex(b"not a video"));
    assert!(matches!(
        store.head(from).await,
        Err(BlobError::NotFound { .. })
    ));
}
