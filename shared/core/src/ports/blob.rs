//! Object storage, S3-shaped: keys are strings, objects are immutable once written (a new write
//! replaces the whole object atomically), every object has an entity tag.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_core::Stream;

use crate::Timestamp;

/// A body streamed in chunks, so large media never sits whole in memory.
pub type BlobBody = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// A body of bytes already in memory (one chunk).
pub fn body_of(bytes: impl Into<Bytes>) -> BlobBody {
    let bytes = bytes.into();
    Box::pin(futures_util::stream::once(async move { Ok(bytes) }))
}

/// Read a whole (small) body into memory, refusing one longer than `limit` bytes.
pub async fn read_to_end(mut body: BlobBody, limit: usize) -> Result<Vec<u8>, std::io::Error> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            // InvalidData: the object is what it is, reading it again cannot help.
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the object is larger than {limit} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// What a store knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Entity tag without quotes: the MD5 of the content for a single-part write, as on S3.
    pub etag: String,
    pub content_type: Option<String>,
    pub last_modified: Timestamp,
}

/// Where a reader such as ffmpeg can read an object from without copying it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// A local file (embedded store).
    File(std::path::PathBuf),
    /// A URL with read access, e.g. a presigned GET (cloud store). Supports ranged reads.
    Url(String),
}

impl BlobLocation {
    /// The argument to hand to a reader that accepts paths and URLs alike.
    pub fn as_input(&self) -> std::borrow::Cow<'_, str> {
        match self {
            BlobLocation::File(p) => p.to_string_lossy(),
            BlobLocation::Url(u) => std::borrow::Cow::Borrowed(u),
        }
    }
}

/// A request a client can make without credentials of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    pub method: &'static str,
    pub url: String,
    /// Headers the client must send for the signature to hold.
    pub headers: BTreeMap<String, String>,
    pub expires_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no object at {key}")]
    NotFound { key: String },
    /// A write-once put found the key taken (S3: `412 PreconditionFailed` on `If-None-Match: *`).
    #[error("an object already exists at {key}")]
    AlreadyExists { key: String },
    #[error("invalid object key {key:?}: {why}")]
    InvalidKey { key: String, why: &'static str },
    #[error("object store unavailable, retry may help: {0}")]
    Transient(String),
    #[error("object store error: {0}")]
    Backend(String),
}

pub trait BlobStore: Send + Sync + 'static {
    /// The bucket name objects of this store report in `ObjectInfo` and notifications.
    fn bucket(&self) -> &str;

    /// Write an object whole: readers see the old object or the new one, never a part.
    fn put(
        &self,
        key: &str,
        body: BlobBody,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<ObjectInfo, BlobError>> + Send;

    /// Write an object only if none exists at `key` (S3 `If-None-Match: *`), atomically:
    /// of two racing writers exactly one wins, the other gets `AlreadyExists`. Uploads use it,
    /// so a presigned URL cannot replace bytes that were already validated.
    fn put_new(
        &self,
        key: &str,
        body: BlobBody,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<ObjectInfo, BlobError>> + Send;

    fn get(&self, key: &str) -> impl Future<Output = Result<BlobBody, BlobError>> + Send;

    /// Bytes `start..end` (end exclusive, clamped to the object's size).
    fn get_range(
        &self,
        key: &str,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Bytes, BlobError>> + Send;

    fn head(&self, key: &str) -> impl Future<Output = Result<ObjectInfo, BlobError>> + Send;

    /// Deleting an absent object succeeds, as on S3.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), BlobError>> + Send;

    /// Move an object (copy then delete on S3), keeping its content and tags. The etag stays
    /// the same for single-part objects; an S3 copy of a multipart object gets a new one, so
    /// callers use the returned `ObjectInfo`, not the old etag.
    fn rename(
        &self,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<ObjectInfo, BlobError>> + Send;

    /// Set object tags (e.g. `quarantine=<reason>`), replacing any previous tags.
    fn set_tags(
        &self,
        key: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), BlobError>> + Send;

    fn get_tags(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, BlobError>> + Send;

    /// A URL a client can PUT a new object's bytes to until `expires_in` has passed. The URL
    /// creates the object once: a second PUT to it is refused (`put_new` semantics).
    fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires_in: std::time::Duration,
    ) -> impl Future<Output = Result<PresignedRequest, BlobError>> + Send;

    /// A URL a client can GET the object from until `expires_in` has passed.
    fn presign_get(
        &self,
        key: &str,
        expires_in: std::time::Duration,
    ) -> impl Future<Output = Result<PresignedRequest, BlobError>> + Send;

    /// Where a reader can read the object in place.
    fn location(&self, key: &str) -> impl Future<Output = Result<BlobLocation, BlobError>> + Send;

    /// Keys under a prefix, in key order.
    fn list(&self, prefix: &str)
    -> impl Future<Output = Result<Vec<ObjectInfo>, BlobError>> + Send;
}
