//! [`KeyWrap`] on KMS: `generate_data_key` is `GenerateDataKey` (`AES_256`) and `unwrap` is
//! `Decrypt`, both under one symmetric KMS key and with the context as the encryption context
//! `{"context": <context>}`. KMS binds the ciphertext to that context, so a key unwraps under
//! the context it was made for only; the key policy or IAM can also require it
//! (`kms:EncryptionContext:context`).
//!
//! `Decrypt` names the key too, so a ciphertext of some other KMS key is refused
//! (`IncorrectKeyException`) rather than decrypted with whatever key it points at.
//!
//! Failures: a ciphertext KMS will not open (`InvalidCiphertextException`,
//! `IncorrectKeyException`, `AccessDeniedException`: KMS answers this for a ciphertext of a key
//! the caller may not use) is [`KeyWrapError::CannotUnwrap`]; throttling, timeouts and KMS's own
//! faults are `Transient`; a disabled, deleted or missing key is `Backend` (a deployment
//! problem, not bad data).
//!
//! The SDK hands the plaintext key over in a buffer of its own, which is not zeroed when
//! dropped; it is copied into a [`PlaintextKey`] at once.
//!
//! The caller's role needs `kms:GenerateDataKey` and `kms:Decrypt` on the key.

use std::sync::Arc;

use aws_sdk_kms::Client;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeySpec, KeyUsageType};
use mvidarr_core::ports::keywrap::{DataKey, KeyWrap, KeyWrapError, PlaintextKey, check_context};

use crate::error::{Failure, classify};

/// The encryption context's one key; its value is the port's context string.
pub const CONTEXT_KEY: &str = "context";
/// KMS's bounds on a `CiphertextBlob`: anything outside cannot be a wrapped key, and KMS would
/// answer it with a validation error rather than `InvalidCiphertextException`.
pub const MAX_CIPHERTEXT_LEN: usize = 6144;

/// KMS error codes for its own transient faults (sent as 5xx, named here so a proxy that
/// changes the status does not turn them into hard failures).
const TRANSIENT_KMS_CODES: &[&str] = &[
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "KMSInternalException",
];

/// Error codes meaning "this ciphertext does not open for you".
const CANNOT_UNWRAP_CODES: &[&str] = &[
    "InvalidCiphertextException",
    "IncorrectKeyException",
    "AccessDeniedException",
];

/// One KMS key. Cheap to clone.
#[derive(Clone)]
pub struct KmsKeyWrap {
    client: Client,
    key_id: Arc<str>,
}

impl std::fmt::Debug for KmsKeyWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKeyWrap")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl KmsKeyWrap {
    /// `key_id`: a key id, key ARN, alias name (`alias/…`) or alias ARN.
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into().into(),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl KeyWrap for KmsKeyWrap {
    async fn generate_data_key(&self, context: &str) -> Result<DataKey, KeyWrapError> {
        check_context(context)?;
        let out = self
            .client
            .generate_data_key()
            .key_id(&*self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| key_error(&e, false))?;
        let plaintext = out
            .plaintext()
            .ok_or_else(|| KeyWrapError::Backend("GenerateDataKey returned no plaintext".into()))?;
        let plaintext = PlaintextKey::from_slice(plaintext.as_ref()).ok_or_else(|| {
            KeyWrapError::Backend(format!(
                "GenerateDataKey returned a {}-byte key, not 32",
                plaintext.as_ref().len()
            ))
        })?;
        let wrapped = out
            .ciphertext_blob()
            .map(|blob| blob.as_ref().to_vec())
            .filter(|blob| !blob.is_empty())
            .ok_or_else(|| {
                KeyWrapError::Backend("GenerateDataKey returned no ciphertext".into())
            })?;
        Ok(DataKey::new(plaintext, wrapped))
    }

    async fn unwrap(&self, wrapped: &[u8], context: &str) -> Result<PlaintextKey, KeyWrapError> {
        check_context(context)?;
        if wrapped.is_empty() || wrapped.len() > MAX_CIPHERTEXT_LEN {
            return Err(KeyWrapError::CannotUnwrap(format!(
                "a KMS ciphertext is 1 to {MAX_CIPHERTEXT_LEN} bytes, this is {}",
                wrapped.len()
            )));
        }
        let out = self
            .client
            .decrypt()
            .key_id(&*self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context(CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| key_error(&e, true))?;
        let plaintext = out
            .plaintext()
            .ok_or_else(|| KeyWrapError::Backend("Decrypt returned no plaintext".into()))?;
        // KMS opened it, but it is no data key of ours: something else encrypted directly under
        // the same key and context.
        PlaintextKey::from_slice(plaintext.as_ref()).ok_or_else(|| {
            KeyWrapError::CannotUnwrap(format!(
                "the ciphertext holds {} bytes, not a 32-byte data key",
                plaintext.as_ref().len()
            ))
        })
    }
}

/// Create a symmetric encryption key; returns its key id. For tests and tools; the deployed
/// key comes from the template.
pub async fn create_key(client: &Client, description: &str) -> Result<String, KeyWrapError> {
    let out = client
        .create_key()
        .description(description)
        .key_spec(KeySpec::SymmetricDefault)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .map_err(|e| key_error(&e, false))?;
    out.key_metadata()
        .map(|metadata| metadata.key_id().to_owned())
        .ok_or_else(|| KeyWrapError::Backend("CreateKey returned no key metadata".into()))
}

/// Sort an SDK error; `unwrapping` says whether it answered a `Decrypt`, where a refusal is
/// about the ciphertext.
fn key_error<E>(
    err: &SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
    unwrapping: bool,
) -> KeyWrapError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match classify(err) {
        Failure::Transient(m) => KeyWrapError::Transient(m),
        Failure::Service { code, .. } if TRANSIENT_KMS_CODES.contains(&code.as_str()) => {
            KeyWrapError::Transient(code)
        }
        Failure::Service { code, message, .. }
            if unwrapping && CANNOT_UNWRAP_CODES.contains(&code.as_str()) =>
        {
            KeyWrapError::CannotUnwrap(format!("{code}: {message}"))
        }
        other => KeyWrapError::Backend(other.describe()),
    }
}
