//! [`BlobStore`] on S3, one bucket per store.
//!
//! - Writes stream: the body is cut into 8 MiB parts as it arrives, so at most one part (plus
//!   the chunk being read) is in memory. A body of at most one part is one `PutObject`; a
//!   longer one is a multipart upload, aborted if anything fails so no parts linger (the
//!   bucket should still have an abort-incomplete-multipart lifecycle rule for crashes).
//! - Write-once puts send `If-None-Match: *` (on `CompleteMultipartUpload` for multipart), so
//!   S3 itself decides which of two racing writers wins.
//! - Keys are checked by the same rules as the embedded store before any request, so a key
//!   that works on AWS also works locally.
//! - Every SDK failure goes through [`crate::error::classify`]: `Transient` means the SDK's own
//!   retries are exhausted and a later retry may succeed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, MetadataDirective, Tag,
    TaggingDirective,
};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use mvidarr_core::Timestamp;
use mvidarr_core::ports::blob::{
    BlobBody, BlobError, BlobLocation, BlobStore, ObjectInfo, PresignedRequest,
};

use tokio::sync::OnceCell;

use crate::config::CONNECT_TIMEOUT;
use crate::error::{Failure, classify};
use crate::read_proxy::ReadProxy;

/// Size of every multipart part but the last. S3 wants at least 5 MiB (except the last) and
/// at most 10 000 parts, so this allows objects up to ~78 GiB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's limit for a single `CopyObject`; larger objects would need `UploadPartCopy`.
pub const MAX_COPY_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// S3's key length limit.
const MAX_KEY_BYTES: usize = 1024;
/// One attempt to send up to a part's bytes: the default attempt timeout is sized for small
/// requests, not 8 MiB on a slow link.
const TRANSFER_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);
const TRANSFER_OPERATION_TIMEOUT: Duration = Duration::from_secs(300);
/// How often a conditional write is re-sent after S3's `409 ConditionalRequestConflict`,
/// which S3 answers when another conditional write to the key is in flight and documents as
/// "retry": the retry then succeeds or gets the `412` that decides the race.
const CONFLICT_RETRIES: usize = 3;

/// An S3 client from the shared configuration. Path-style addressing (`host/bucket/key`) is for
/// endpoints without per-bucket DNS names, such as `moto_server`.
pub fn client_from(config: &SdkConfig, force_path_style: bool) -> Client {
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(force_path_style)
            .build(),
    )
}

/// Objects in one S3 bucket. Cheap to clone (the SDK client is shared).
#[derive(Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
    /// Serves [`BlobStore::location`] reads; started on first use.
    read_proxy: Arc<OnceCell<ReadProxy>>,
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            read_proxy: Arc::default(),
        }
    }

    /// Stream `body` into `key`: one `PutObject` if it fits in a part, else a multipart upload.
    async fn write(
        &self,
        key: &str,
        body: BlobBody,
        content_type: Option<&str>,
        only_new: bool,
    ) -> Result<ObjectInfo, BlobError> {
        validate_key(key)?;
        let mut parts = PartReader::new(body, key);
        parts.fill().await?;
        if !parts.more_than_one_part() {
            let content = parts.take_last();
            return self.put_single(key, content, content_type, only_new).await;
        }
        self.put_multipart(key, parts, content_type, only_new).await
    }

    async fn put_single(
        &self,
        key: &str,
        content: Bytes,
        content_type: Option<&str>,
        only_new: bool,
    ) -> Result<ObjectInfo, BlobError> {
        let size = content.len() as u64;
        let mut attempt = 0;
        let out = loop {
            attempt += 1;
            let result = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(content.clone()))
                .set_content_type(content_type.map(str::to_owned))
                .set_if_none_match(only_new.then(|| "*".to_owned()))
                .customize()
                .config_override(transfer_timeouts())
                .send()
                .await;
            match result {
                Ok(out) => break out,
                Err(e) => match write_error(e, key, only_new) {
                    WriteError::Conflict if attempt <= CONFLICT_RETRIES => continue,
                    WriteError::Conflict => return Err(conflict_error(key)),
                    WriteError::Blob(e) => return Err(e),
                },
            }
        };
        Ok(self.written_info(key, size, out.e_tag(), content_type))
    }

    /// Upload `parts` as a multipart upload; abort it if any step fails.
    async fn put_multipart(
        &self,
        key: &str,
        mut parts: PartReader,
        content_type: Option<&str>,
        only_new: bool,
    ) -> Result<ObjectInfo, BlobError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .set_content_type(content_type.map(str::to_owned))
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| blob_error(e, key, "CreateMultipartUpload"))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| BlobError::Backend(format!("{key}: no upload id from S3")))?
            .to_owned();
        tracing::debug!(bucket = %self.bucket, key, upload_id, "multipart upload started");

        let result = self
            .upload_parts(key, &upload_id, &mut parts, only_new)
            .await;
        match result {
            Ok((size, etag)) => {
                tracing::debug!(bucket = %self.bucket, key, size, "multipart upload completed");
                Ok(self.written_info(key, size, etag.as_deref(), content_type))
            }
            Err(e) => {
                let aborted = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                if let Err(abort) = aborted {
                    tracing::warn!(
                        bucket = %self.bucket, key, upload_id,
                        error = %classify(&abort).describe(),
                        "could not abort a failed multipart upload; its parts stay until the \
                         bucket's lifecycle rule removes them"
                    );
                }
                Err(e)
            }
        }
    }

    /// Upload every part, then complete. Returns (size, etag).
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        parts: &mut PartReader,
        only_new: bool,
    ) -> Result<(u64, Option<String>), BlobError> {
        let mut completed = Vec::new();
        let mut size = 0u64;
        loop {
            let last = !parts.more_than_one_part();
            let content = if last {
                parts.take_last()
            } else {
                parts.take_part()
            };
            size += content.len() as u64;
            let number = i32::try_from(completed.len() + 1).unwrap_or(i32::MAX);
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .body(ByteStream::from(content))
                .customize()
                .config_override(transfer_timeouts())
                .send()
                .await
                .map_err(|e| blob_error(e, key, "UploadPart"))?;
            completed.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .set_checksum_crc32(out.checksum_crc32().map(str::to_owned))
                    .build(),
            );
            if last {
                break;
            }
            parts.fill().await?;
        }

        let upload = CompletedMultipartUpload::builder()
            .set_parts(Some(completed))
            .build();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(upload.clone())
                .set_if_none_match(only_new.then(|| "*".to_owned()))
                .send()
                .await;
            match result {
                Ok(out) => return Ok((size, out.e_tag().map(str::to_owned))),
                Err(e) => match write_error(e, key, only_new) {
                    WriteError::Conflict if attempt <= CONFLICT_RETRIES => continue,
                    WriteError::Conflict => return Err(conflict_error(key)),
                    WriteError::Blob(e) => return Err(e),
                },
            }
        }
    }

    /// What a write produced. S3's write responses carry no `Last-Modified`, so the local
    /// clock stands in for it; `head` reports S3's own.
    fn written_info(
        &self,
        key: &str,
        size: u64,
        etag: Option<&str>,
        content_type: Option<&str>,
    ) -> ObjectInfo {
        ObjectInfo {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            size,
            etag: unquote(etag),
            content_type: content_type.map(str::to_owned),
            last_modified: Utc::now(),
        }
    }

    /// A presigned request with its expiry pinned to one start time, so `expires_at` is exact.
    fn presigning(&self, expires_in: Duration) -> Result<(PresigningConfig, Timestamp), BlobError> {
        let start = SystemTime::now();
        let config = PresigningConfig::builder()
            .start_time(start)
            .expires_in(expires_in)
            .build()
            .map_err(|e| BlobError::Backend(format!("presigning: {e}")))?;
        let expires_at = DateTime::<Utc>::from(start)
            + chrono::Duration::from_std(expires_in).unwrap_or(chrono::Duration::MAX);
        Ok((config, expires_at))
    }

    async fn presigned_get(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        validate_key(key)?;
        let (config, expires_at) = self.presigning(expires_in)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| blob_error(e, key, "presigning GetObject"))?;
        Ok(presigned("GET", &request, expires_at))
    }
}

impl BlobStore for S3BlobStore {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put(
        &self,
        key: &str,
        body: BlobBody,
        content_type: Option<&str>,
    ) -> Result<ObjectInfo, BlobError> {
        self.write(key, body, content_type, false).await
    }

    async fn put_new(
        &self,
        key: &str,
        body: BlobBody,
        content_type: Option<&str>,
    ) -> Result<ObjectInfo, BlobError> {
        self.write(key, body, content_type, true).await
    }

    async fn get(&self, key: &str) -> Result<BlobBody, BlobError> {
        validate_key(key)?;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| blob_error(e, key, "GetObject"))?;
        let body = futures_util::stream::unfold(out.body, |mut body| async move {
            body.next()
                .await
                .map(|chunk| (chunk.map_err(body_error), body))
        });
        Ok(Box::pin(body))
    }

    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, BlobError> {
        validate_key(key)?;
        if end <= start {
            // No byte to ask for, and S3 has no empty range; still NotFound for an absent key.
            self.head(key).await?;
            return Ok(Bytes::new());
        }
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={start}-{}", end - 1))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            // S3 answers 416 for a range that starts at or past the end: no bytes there.
            Err(e) if e.code() == Some("InvalidRange") => return Ok(Bytes::new()),
            Err(e) => return Err(blob_error(e, key, "GetObject")),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Transient(format!("reading {key}: {e}")))?;
        Ok(bytes.into_bytes())
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo, BlobError> {
        validate_key(key)?;
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| blob_error(e, key, "HeadObject"))?;
        Ok(ObjectInfo {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            size: out.content_length().unwrap_or_default().max(0) as u64,
            etag: unquote(out.e_tag()),
            content_type: out.content_type().map(str::to_owned),
            last_modified: timestamp(out.last_modified()),
        })
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| blob_error(e, key, "DeleteObject"))
        {
            Ok(_) | Err(BlobError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `CopyObject` (content type and tags copied with it), then `DeleteObject` of the source.
    /// Not atomic: a failure in between leaves the object under both keys, and repeating the
    /// rename finishes it. Objects over 5 GiB are refused: moving them needs a multipart
    /// `UploadPartCopy`, which nothing here needs yet (uploads are capped well below that).
    async fn rename(&self, from: &str, to: &str) -> Result<ObjectInfo, BlobError> {
        validate_key(to)?;
        let source = self.head(from).await?;
        if from == to {
            // S3 refuses a copy onto itself that changes nothing.
            return Ok(source);
        }
        if source.size > MAX_COPY_BYTES {
            return Err(BlobError::Backend(format!(
                "{from}: renaming an object over 5 GiB needs UploadPartCopy, not supported"
            )));
        }
        let copied = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(format!("{}/{}", self.bucket, uri_encode(from)))
            // Copy exactly the object just read, so its size and type describe the copy.
            .copy_source_if_match(format!("\"{}\"", source.etag))
            .metadata_directive(MetadataDirective::Copy)
            .tagging_directive(TaggingDirective::Copy)
            // A fresh full-object CRC32 for the copy, whatever checksum the source had (a
            // multipart source has a per-part composite one). moto needs it: without it, it
            // gives the copy the source's composite value as if it covered the whole object,
            // and the SDK's response validation then fails every GET of the copy.
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .customize()
            .config_override(transfer_timeouts())
            .send()
            .await
            .map_err(|e| match classify(&e) {
                Failure::Service { code, .. } if code == "PreconditionFailed" => {
                    BlobError::Transient(format!("{from} changed while being renamed"))
                }
                // A missing source is a missing object, whatever key it is reported under.
                _ => match blob_error(e, from, "CopyObject") {
                    BlobError::NotFound { .. } => BlobError::NotFound {
                        key: from.to_owned(),
                    },
                    other => other,
                },
            })?;
        let result = copied.copy_object_result();
        let etag = result.and_then(|r| r.e_tag());
        let last_modified = result.and_then(|r| r.last_modified());
        self.delete(from).await?;
        Ok(ObjectInfo {
            bucket: self.bucket.clone(),
            key: to.to_owned(),
            size: source.size,
            etag: etag.map_or(source.etag, |e| unquote(Some(e))),
            content_type: source.content_type,
            last_modified: last_modified.map_or_else(Utc::now, |t| timestamp(Some(t))),
        })
    }

    async fn set_tags(&self, key: &str, tags: &BTreeMap<String, String>) -> Result<(), BlobError> {
        validate_key(key)?;
        let tag_set = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BlobError::Backend(format!("{key}: tags: {e}")))?;
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(|e| BlobError::Backend(format!("{key}: tags: {e}")))?;
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| blob_error(e, key, "PutObjectTagging"))?;
        Ok(())
    }

    async fn get_tags(&self, key: &str) -> Result<BTreeMap<String, String>, BlobError> {
        validate_key(key)?;
        let out = self
            .client
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| blob_error(e, key, "GetObjectTagging"))?;
        Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    /// Signs `Content-Type` and `If-None-Match: *`: S3 then refuses the request unless the
    /// client sends both, and refuses a second PUT once the object exists.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        validate_key(key)?;
        let (config, expires_at) = self.presigning(expires_in)?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .if_none_match("*")
            .presigned(config)
            .await
            .map_err(|e| blob_error(e, key, "presigning PutObject"))?;
        Ok(presigned("PUT", &request, expires_at))
    }

    async fn presign_get(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        self.presigned_get(key, expires_in).await
    }

    /// A presigned GET URL (ranged reads work on it), after checking the object exists so an
    /// absent one is `NotFound` here rather than a 404 inside the reader.
    /// A loopback URL served by this process's [`ReadProxy`], not a presigned S3 URL: the
    /// reader (ffmpeg) then needs no DNS lookup and never holds a credential.
    async fn location(&self, key: &str) -> Result<BlobLocation, BlobError> {
        self.head(key).await?;
        let proxy = self
            .read_proxy
            .get_or_try_init(|| ReadProxy::start(self.client.clone(), self.bucket.clone()))
            .await
            .map_err(|e| BlobError::Backend(format!("cannot start the S3 read proxy: {e}")))?;
        Ok(BlobLocation::Url(proxy.grant(key)))
    }

    /// `ListObjectsV2`, every page. The listing carries no content types, so those are `None`.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BlobError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut infos = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| blob_error(e, prefix, "ListObjectsV2"))?;
            infos.extend(page.contents().iter().map(|o| ObjectInfo {
                bucket: self.bucket.clone(),
                key: o.key().unwrap_or_default().to_owned(),
                size: o.size().unwrap_or_default().max(0) as u64,
                etag: unquote(o.e_tag()),
                content_type: None,
                last_modified: timestamp(o.last_modified()),
            }));
        }
        Ok(infos)
    }
}

/// Reads a body into parts, holding at most one part plus one extra chunk: enough to tell
/// whether the bytes buffered are the last.
struct PartReader {
    body: BlobBody,
    buffer: BytesMut,
    ended: bool,
    key: String,
}

impl PartReader {
    fn new(body: BlobBody, key: &str) -> Self {
        Self {
            body,
            buffer: BytesMut::new(),
            ended: false,
            key: key.to_owned(),
        }
    }

    /// Read until more than a part is buffered or the body ends.
    async fn fill(&mut self) -> Result<(), BlobError> {
        while !self.ended && self.buffer.len() <= PART_SIZE {
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    return Err(BlobError::Backend(format!(
                        "reading the body of {}: {e}",
                        self.key
                    )));
                }
                None => self.ended = true,
            }
        }
        Ok(())
    }

    /// Whether what is buffered (after `fill`) is more than the last part.
    fn more_than_one_part(&self) -> bool {
        self.buffer.len() > PART_SIZE
    }

    fn take_part(&mut self) -> Bytes {
        self.buffer.split_to(PART_SIZE).freeze()
    }

    fn take_last(&mut self) -> Bytes {
        self.buffer.split().freeze()
    }
}

/// Per-call timeouts for calls that carry object bytes. The override replaces the whole
/// timeout configuration, so the connect timeout is restated; retries stay as configured.
fn transfer_timeouts() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default().timeout_config(
        aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(TRANSFER_ATTEMPT_TIMEOUT)
            .operation_timeout(TRANSFER_OPERATION_TIMEOUT)
            .build(),
    )
}

fn presigned(
    method: &'static str,
    request: &aws_sdk_s3::presigning::PresignedRequest,
    expires_at: Timestamp,
) -> PresignedRequest {
    PresignedRequest {
        method,
        url: request.uri().to_owned(),
        headers: request
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect(),
        expires_at,
    }
}

enum WriteError {
    /// `409 ConditionalRequestConflict`: another conditional write was in flight; resend.
    Conflict,
    Blob(BlobError),
}

/// A failed write: `412` on a write-once put means the key is taken.
fn write_error<E>(err: SdkError<E, HttpResponse>, key: &str, only_new: bool) -> WriteError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match classify(&err) {
        Failure::Service { code, .. } if code == "ConditionalRequestConflict" && only_new => {
            WriteError::Conflict
        }
        Failure::Service { code, status, .. }
            if only_new && (code == "PreconditionFailed" || status == Some(412)) =>
        {
            WriteError::Blob(BlobError::AlreadyExists {
                key: key.to_owned(),
            })
        }
        failure => WriteError::Blob(from_failure(failure, key, "write")),
    }
}

fn conflict_error(key: &str) -> BlobError {
    BlobError::Transient(format!(
        "{key}: S3 kept reporting a conflicting conditional write"
    ))
}

fn blob_error<E>(err: SdkError<E, HttpResponse>, key: &str, operation: &str) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    from_failure(classify(&err), key, operation)
}

/// `NoSuchKey` (or a bare 404, as `HeadObject` gets) is an absent object; a missing bucket or
/// upload is a misconfiguration or a bug, so `Backend`.
fn from_failure(failure: Failure, key: &str, operation: &str) -> BlobError {
    match failure {
        Failure::Transient(m) => BlobError::Transient(format!("S3 {operation} {key}: {m}")),
        Failure::Service { code, status, .. }
            if code == "NoSuchKey"
                || (status == Some(404) && code != "NoSuchBucket" && code != "NoSuchUpload") =>
        {
            BlobError::NotFound {
                key: key.to_owned(),
            }
        }
        other => BlobError::Backend(format!("S3 {operation} {key}: {}", other.describe())),
    }
}

/// A failure while streaming a body, with its causes (the SDK's own text is only
/// "streaming error").
fn body_error(e: aws_smithy_types::byte_stream::error::Error) -> std::io::Error {
    std::io::Error::other(DisplayErrorContext(e).to_string())
}

/// S3 quotes entity tags; the port's are bare.
fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

fn timestamp(t: Option<&aws_smithy_types::DateTime>) -> Timestamp {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or_default()
}

/// A key inside `x-amz-copy-source`, which S3 reads URL-encoded: RFC 3986 unreserved
/// characters and `/` kept, every other byte `%XX`.
fn uri_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The embedded store's key rules, so an application never writes a key on AWS that it could
/// not write locally: non-empty, at most 1024 bytes, no leading `/`, no NUL, no empty, `.` or
/// `..` segments, not under `.tmp/` (the embedded store's staging folder).
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let why = if key.is_empty() {
        Some("empty")
    } else if key.len() > MAX_KEY_BYTES {
        Some("longer than 1024 bytes")
    } else if key.starts_with('/') {
        Some("starts with /")
    } else if key.contains('\0') {
        Some("contains NUL")
    } else if key.split('/').any(str::is_empty) {
        Some("has an empty path segment")
    } else if key.split('/').any(|s| s == "." || s == "..") {
        Some("has a . or .. segment")
    } else if key.split('/').next() == Some(".tmp") {
        Some("is under the reserved .tmp/ folder")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(BlobError::InvalidKey {
            key: key.to_owned(),
            why,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_the_embedded_store_refuses_are_refused() {
        for bad in [
            "", "/a", "a//b", "a/", "a/../b", "..", "./a", "a\0b", ".tmp/x",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        assert!(validate_key(&"k".repeat(1025)).is_err());
        for good in ["a", "t/01H/uploads/x.mp4", "a b/é.mp4", ".hidden", "a..b"] {
            assert!(validate_key(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn copy_sources_are_url_encoded() {
        assert_eq!(
            uri_encode("t/1/red flower+é.mp4"),
            "t/1/red%20flower%2B%C3%A9.mp4"
        );
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(unquote(Some("\"abc-2\"")), "abc-2");
        assert_eq!(unquote(Some("abc")), "abc");
    }
}
