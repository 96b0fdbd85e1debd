//! The `BlobStore` conformance suite: S3 semantics that every adapter must show.
//!
//! Each check takes a fresh, empty store (bucket).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use mvidarr_core::ports::blob::{BlobBody, BlobError, BlobStore};

/// Expands to one `#[tokio::test]` per check. `$make` is an expression (typically a call to an
/// `async fn`) evaluated afresh for every test, whose future yields `(store, guard)`: a store
/// over an empty bucket and anything that must live as long as the test (temp dir, server).
#[macro_export]
macro_rules! blob_conformance {
    ($make:expr) => {
        $crate::blob_conformance!(@checks $make;
            put_get_round_trip_streams_3_mb,
            etag_is_the_md5_hex_of_the_content,
            head_reports_size_etag_and_content_type,
            put_replaces_the_whole_object,
            put_new_refuses_a_key_that_exists,
            of_two_racing_put_new_exactly_one_wins,
            get_range_reads_the_middle_and_clamps_the_end,
            delete_of_an_absent_key_succeeds,
            get_of_an_absent_key_is_not_found,
            rename_keeps_content_and_etag,
            tags_are_set_replaced_and_read,
            list_is_by_prefix_in_key_order,
            invalid_keys_are_refused,
            presign_put_names_method_content_type_and_future_expiry,
        );
    };
    (@checks $make:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (store, _guard) = $make.await;
                $crate::conformance::blob::$check(&store).await;
            }
        )+
    };
}

/// A body streamed in the given chunks.
pub fn body_of(chunks: Vec<Bytes>) -> BlobBody {
    Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)))
}

/// Deterministic, incompressible test content.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Read a whole body.
pub async fn collect(mut body: BlobBody) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("reading a body failed: {e}")));
    }
    out
}

async fn put<B: BlobStore>(store: &B, key: &str, content: &[u8], content_type: Option<&str>) {
    store
        .put(
            key,
            body_of(vec![Bytes::copy_from_slice(content)]),
            content_type,
        )
        .await
        .unwrap_or_else(|e| panic!("put {key} failed: {e}"));
}

async fn get<B: BlobStore>(store: &B, key: &str) -> Vec<u8> {
    collect(
        store
            .get(key)
            .await
            .unwrap_or_else(|e| panic!("get {key} failed: {e}")),
    )
    .await
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, BlobError>, what: &str) {
    assert!(
        matches!(result, Err(BlobError::NotFound { .. })),
        "{what}: expected NotFound, got {result:?}"
    );
}

pub async fn put_get_round_trip_streams_3_mb<B: BlobStore>(store: &B) {
    let content = pseudo_random_bytes(3 * 1024 * 1024, 7);
    let chunks = content
        .chunks(64 * 1024 + 3)
        .map(Bytes::copy_from_slice)
        .collect();

    let info = store
        .put(
            "conformance/big.bin",
            body_of(chunks),
            Some("application/octet-stream"),
        )
        .await
        .unwrap_or_else(|e| panic!("streamed put failed: {e}"));
    assert_eq!(info.size, content.len() as u64);
    assert_eq!(info.etag, md5_hex(&content));
    assert_eq!(info.key, "conformance/big.bin");
    assert_eq!(info.bucket, store.bucket());

    let read = get(store, "conformance/big.bin").await;
    assert!(
        read == content,
        "the content read back differs from what was written"
    );
}

pub async fn etag_is_the_md5_hex_of_the_content<B: BlobStore>(store: &B) {
    let info = store
        .put(
            "hello.txt",
            body_of(vec![Bytes::from_static(b"hel"), Bytes::from_static(b"lo")]),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("put failed: {e}"));
    assert_eq!(
        info.etag, "5d41402abc4b2a76b9719d911017c592",
        "etag = lower-case hex MD5, no quotes"
    );
}

pub async fn head_reports_size_etag_and_content_type<B: BlobStore>(store: &B) {
    put(
        store,
        "t/1/uploads/clip.mp4",
        b"not really a video",
        Some("video/mp4"),
    )
    .await;
    let info = store
        .head("t/1/uploads/clip.mp4")
        .await
        .unwrap_or_else(|e| panic!("head failed: {e}"));
    assert_eq!(info.bucket, store.bucket());
    assert_eq!(info.key, "t/1/uploads/clip.mp4");
    assert_eq!(info.size, 18);
    assert_eq!(info.etag, md5_hex(b"not really a video"));
    assert_eq!(info.content_type.as_deref(), Some("video/mp4"));
    let skew = (Utc::now() - info.last_modified).num_seconds().abs();
    assert!(
        skew < 300,
        "last_modified {} is not about now",
        info.last_modified
    );

    assert_not_found(
        store.head("t/1/uploads/other.mp4").await,
        "head of an absent key",
    );
}

pub async fn put_replaces_the_whole_object<B: BlobStore>(store: &B) {
    put(
        store,
        "replaced",
        b"a long first version",
        Some("text/plain"),
    )
    .await;
    put(store, "replaced", b"short", None).await;
    assert_eq!(get(store, "replaced").await, b"short");
    let info = store.head("replaced").await.unwrap();
    assert_eq!(info.size, 5);
    assert_eq!(info.etag, md5_hex(b"short"));
}

pub async fn put_new_refuses_a_key_that_exists<B: BlobStore>(store: &B) {
    let key = "conformance/put-new/once";
    store
        .put_new(key, body_of(vec![Bytes::from_static(b"first")]), None)
        .await
        .expect("put_new of an absent key");
    let second = store
        .put_new(key, body_of(vec![Bytes::from_static(b"second")]), None)
        .await;
    assert!(
        matches!(second, Err(BlobError::AlreadyExists { .. })),
        "second put_new: {second:?}"
    );
    assert_eq!(
        collect(store.get(key).await.unwrap()).await,
        b"first",
        "the first object stays"
    );
}

pub async fn of_two_racing_put_new_exactly_one_wins<B: BlobStore>(store: &B) {
    let key = "conformance/put-new/race";
    let (a, b) = futures_util::join!(
        store.put_new(key, body_of(vec![Bytes::from_static(b"aaaa")]), None),
        store.put_new(key, body_of(vec![Bytes::from_static(b"bbbb")]), None),
    );
    let winners = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "a: {a:?}, b: {b:?}");
    let loser = if a.is_ok() { &b } else { &a };
    assert!(
        matches!(loser, Err(BlobError::AlreadyExists { .. })),
        "{loser:?}"
    );
    let stored = collect(store.get(key).await.unwrap()).await;
    let winner = if a.is_ok() { b"aaaa" } else { b"bbbb" };
    assert_eq!(stored, winner);
}

pub async fn get_range_reads_the_middle_and_clamps_the_end<B: BlobStore>(store: &B) {
    put(store, "digits", b"0123456789", None).await;
    let middle = store.get_range("digits", 3, 7).await.unwrap();
    assert_eq!(&middle[..], b"3456", "bytes 3..7");
    let tail = store.get_range("digits", 7, 1_000).await.unwrap();
    assert_eq!(&tail[..], b"789", "an end past the object is clamped");
    assert_not_found(
        store.get_range("absent", 0, 10).await,
        "range of an absent key",
    );
}

pub async fn delete_of_an_absent_key_succeeds<B: BlobStore>(store: &B) {
    store
        .delete("never/written")
        .await
        .unwrap_or_else(|e| panic!("deleting an absent key must succeed, as on S3: {e}"));

    put(store, "short/lived", b"x", None).await;
    store.delete("short/lived").await.unwrap();
    assert_not_found(store.head("short/lived").await, "head after delete");
    store
        .delete("short/lived")
        .await
        .unwrap_or_else(|e| panic!("deleting twice must succeed: {e}"));
}

pub async fn get_of_an_absent_key_is_not_found<B: BlobStore>(store: &B) {
    assert_not_found(store.get("nothing/here").await.map(|_| ()), "get");
    assert_not_found(store.head("nothing/here").await, "head");
    assert_not_found(store.get_tags("nothing/here").await, "get_tags");
}

pub async fn rename_keeps_content_and_etag<B: BlobStore>(store: &B) {
    put(
        store,
        "t/1/uploads/a.mp4",
        b"moving content",
        Some("video/mp4"),
    )
    .await;
    let before = store.head("t/1/uploads/a.mp4").await.unwrap();

    let after = store
        .rename("t/1/uploads/a.mp4", "t/1/quarantine/a.mp4")
        .await
        .unwrap_or_else(|e| panic!("rename failed: {e}"));
    assert_eq!(after.key, "t/1/quarantine/a.mp4");
    assert_eq!(after.etag, before.etag, "rename keeps the etag");
    assert_eq!(after.size, before.size);
    assert_eq!(get(store, "t/1/quarantine/a.mp4").await, b"moving content");
    assert_eq!(
        store.head("t/1/quarantine/a.mp4").await.unwrap().etag,
        before.etag
    );
    assert_not_found(
        store.head("t/1/uploads/a.mp4").await,
        "the old key after rename",
    );
    assert_not_found(
        store.rename("t/1/uploads/a.mp4", "t/1/elsewhere.mp4").await,
        "renaming an absent key",
    );
}

pub async fn tags_are_set_replaced_and_read<B: BlobStore>(store: &B) {
    put(store, "tagged", b"x", None).await;
    assert!(
        store.get_tags("tagged").await.unwrap().is_empty(),
        "no tags at first"
    );

    let first = BTreeMap::from([
        ("quarantine".to_owned(), "bad-magic".to_owned()),
        ("tenant".to_owned(), "t1".to_owned()),
    ]);
    store.set_tags("tagged", &first).await.unwrap();
    assert_eq!(store.get_tags("tagged").await.unwrap(), first);

    let second = BTreeMap::from([("reviewed".to_owned(), "yes".to_owned())]);
    store.set_tags("tagged", &second).await.unwrap();
    assert_eq!(
        store.get_tags("tagged").await.unwrap(),
        second,
        "set_tags replaces every previous tag"
    );
    assert_not_found(
        store.set_tags("untagged/absent", &second).await,
        "tagging an absent key",
    );
}

pub async fn list_is_by_prefix_in_key_order<B: BlobStore>(store: &B) {
    for key in [
        "list/a/2",
        "list/a/10",
        "list/ab",
        "list/a/1",
        "list/b/1",
        "lis",
    ] {
        put(store, key, key.as_bytes(), None).await;
    }
    let keys = |infos: Vec<mvidarr_core::ports::blob::ObjectInfo>| {
        infos.into_iter().map(|i| i.key).collect::<Vec<_>>()
    };
    assert_eq!(
        keys(store.list("list/a/").await.unwrap()),
        ["list/a/1", "list/a/10", "list/a/2"],
        "keys under the prefix, in byte order"
    );
    assert_eq!(
        keys(store.list("list/a").await.unwrap()),
        ["list/a/1", "list/a/10", "list/a/2", "list/ab"]
    );
    assert!(store.list("list/c/").await.unwrap().is_empty());
    let all = store.list("list/").await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[0].size, "list/a/1".len() as u64);
    assert_eq!(all[0].etag, md5_hex(b"list/a/1"));
}

pub async fn invalid_keys_are_refused<B: BlobStore>(store: &B) {
    let too_long = "k".repeat(1025);
    for key in [
        "",
        "/absolute",
        "a//b",
        "trailing/",
        "a/../b",
        "..",
        "nul\0byte",
        &too_long,
    ] {
        let put = store
            .put(key, body_of(vec![Bytes::from_static(b"x")]), None)
            .await;
        assert!(
            matches!(put, Err(BlobError::InvalidKey { .. })),
            "put {key:?} must be InvalidKey, got {put:?}"
        );
        let head = store.head(key).await;
        assert!(
            matches!(head, Err(BlobError::InvalidKey { .. })),
            "head {key:?} must be InvalidKey, got {head:?}"
        );
    }
}

pub async fn presign_put_names_method_content_type_and_future_expiry<B: BlobStore>(store: &B) {
    let before = Utc::now();
    let put = store
        .presign_put("t/1/uploads/new.mp4", "video/mp4", Duration::from_secs(900))
        .await
        .unwrap_or_else(|e| panic!("presign_put failed: {e}"));
    assert_eq!(put.method, "PUT");
    assert_eq!(
        put.headers.get("content-type").map(String::as_str),
        Some("video/mp4"),
        "the client must send the signed content type"
    );
    assert!(put.expires_at > before, "expires in the future");
    assert!(
        put.expires_at <= before + chrono::Duration::seconds(901),
        "expires after about 15 minutes, not {}",
        put.expires_at
    );
    assert!(put.url.starts_with("http"), "a URL, not {:?}", put.url);

    let get = store
        .presign_get("t/1/uploads/new.mp4", Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("presign_get failed: {e}"));
    assert_eq!(get.method, "GET");
    assert!(get.expires_at > before);
}
