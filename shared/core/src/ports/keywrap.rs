//! Envelope encryption's key service (KMS shaped): a key-encryption key that never leaves the
//! service wraps and unwraps 32-byte data-encryption keys, each bound to a context string (KMS's
//! "encryption context"). A key wrapped under one context unwraps under that context only, so a
//! sealed secret copied into another record cannot be opened there.
//!
//! Callers keep only the wrapped form; the plaintext key lives in memory just long enough to
//! encrypt or decrypt one secret, and is zeroed when dropped.

use std::future::Future;

/// Length of a data-encryption key: AES-256.
pub const DATA_KEY_LEN: usize = 32;

/// A plaintext data-encryption key. Deliberately neither `Debug`-derived, `Clone` nor `Copy`:
/// its `Debug` says nothing about the bytes, and it is overwritten with zeros when dropped. Boxed
/// so moving it around does not leave copies of the bytes on the stack.
pub struct PlaintextKey(Box<[u8; DATA_KEY_LEN]>);

impl PlaintextKey {
    pub fn new(bytes: [u8; DATA_KEY_LEN]) -> Self {
        Self(Box::new(bytes))
    }

    /// The key from a slice of exactly [`DATA_KEY_LEN`] bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != DATA_KEY_LEN {
            return None;
        }
        // Copied straight into the box: no stack copy of the bytes to be left behind.
        let mut key = Self(Box::new([0; DATA_KEY_LEN]));
        key.0.copy_from_slice(bytes);
        Some(key)
    }

    /// A key whose bytes `fill` writes (from a random source), zeroed if `fill` fails.
    pub fn generate_with<E>(
        fill: impl FnOnce(&mut [u8; DATA_KEY_LEN]) -> Result<(), E>,
    ) -> Result<Self, E> {
        let mut key = Self(Box::new([0; DATA_KEY_LEN]));
        fill(&mut key.0)?;
        Ok(key)
    }

    /// The key bytes, for handing to a cipher.
    pub fn expose(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }
}

impl Drop for PlaintextKey {
    fn drop(&mut self) {
        wipe(&mut self.0[..]);
    }
}

/// Overwrite a buffer that held key material or plaintext with zeros before it is freed.
pub fn wipe(buffer: &mut [u8]) {
    buffer.fill(0);
    // Keeps the compiler from removing the overwrite as a dead store (best effort: there is no
    // volatile write without `unsafe`).
    std::hint::black_box(buffer);
}

impl std::fmt::Debug for PlaintextKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlaintextKey(<redacted>)")
    }
}

/// A fresh data key: the plaintext to encrypt with now, and the wrapped form to store beside the
/// ciphertext.
pub struct DataKey {
    plaintext: PlaintextKey,
    wrapped: Vec<u8>,
}

impl DataKey {
    pub fn new(plaintext: PlaintextKey, wrapped: Vec<u8>) -> Self {
        Self { plaintext, wrapped }
    }

    pub fn plaintext(&self) -> &PlaintextKey {
        &self.plaintext
    }

    pub fn wrapped(&self) -> &[u8] {
        &self.wrapped
    }

    pub fn into_parts(self) -> (PlaintextKey, Vec<u8>) {
        (self.plaintext, self.wrapped)
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &self.plaintext)
            .field("wrapped_len", &self.wrapped.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyWrapError {
    /// The wrapped key does not open: it was wrapped under another context or another key,
    /// was altered, is not a wrapped key at all, or the service refused this caller the key.
    /// Retrying does not help.
    #[error("cannot unwrap the data key: {0}")]
    CannotUnwrap(String),
    /// A context the port does not accept (see [`check_context`]).
    #[error("invalid key context: {0}")]
    InvalidContext(String),
    #[error("key service unavailable, retry may help: {0}")]
    Transient(String),
    #[error("key service error: {0}")]
    Backend(String),
}

/// KMS's limit on the encryption context is 8 KiB altogether; the key name and framing use a
/// little of it.
pub const MAX_CONTEXT_LEN: usize = 4096;

/// The rule every adapter applies to a context before using it: non-empty (an empty context
/// would bind the key to nothing) and at most [`MAX_CONTEXT_LEN`] bytes.
pub fn check_context(context: &str) -> Result<(), KeyWrapError> {
    if context.is_empty() {
        return Err(KeyWrapError::InvalidContext(
            "the context is empty; name the record the key protects".to_owned(),
        ));
    }
    if context.len() > MAX_CONTEXT_LEN {
        return Err(KeyWrapError::InvalidContext(format!(
            "the context is {} bytes long (limit {MAX_CONTEXT_LEN})",
            context.len()
        )));
    }
    Ok(())
}

pub trait KeyWrap: Send + Sync + 'static {
    /// A fresh random data key for `context`, in plaintext and wrapped under the service's key
    /// (KMS `GenerateDataKey` with `AES_256`). Every call returns a different key.
    fn generate_data_key(
        &self,
        context: &str,
    ) -> impl Future<Output = Result<DataKey, KeyWrapError>> + Send;

    /// The plaintext of a key [`generate_data_key`](KeyWrap::generate_data_key) wrapped under
    /// the same `context` (KMS `Decrypt`). Anything else, empty or garbage input included, is
    /// [`KeyWrapError::CannotUnwrap`].
    fn unwrap(
        &self,
        wrapped: &[u8],
        context: &str,
    ) -> impl Future<Output = Result<PlaintextKey, KeyWrapError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_keys_shows_no_key_bytes() {
        let key = DataKey::new(PlaintextKey::new([0xAB; DATA_KEY_LEN]), vec![1, 2, 3]);
        let text = format!("{key:?} {:?}", key.plaintext());
        assert!(!text.to_lowercase().contains("ab"), "{text}");
        assert!(!text.contains("171"), "{text}");
        assert!(text.contains("redacted"));
        assert!(text.contains("wrapped_len: 3"));
    }

    #[test]
    fn a_plaintext_key_is_exactly_32_bytes() {
        assert!(PlaintextKey::from_slice(&[7; 31]).is_none());
        assert!(PlaintextKey::from_slice(&[7; 33]).is_none());
        assert!(PlaintextKey::from_slice(&[]).is_none());
        let key = PlaintextKey::from_slice(&[7; 32]).expect("32 bytes");
        assert_eq!(key.expose(), &[7; 32]);
    }

    #[test]
    fn contexts_must_be_non_empty_and_bounded() {
        assert!(check_context("totp:tenant:user").is_ok());
        assert!(matches!(
            check_context(""),
            Err(KeyWrapError::InvalidContext(_))
        ));
        assert!(check_context(&"x".repeat(MAX_CONTEXT_LEN)).is_ok());
        assert!(matches!(
            check_context(&"x".repeat(MAX_CONTEXT_LEN + 1)),
            Err(KeyWrapError::InvalidContext(_))
        ));
    }
}
