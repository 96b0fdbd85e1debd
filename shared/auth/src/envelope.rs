//! Envelope encryption for secrets at rest (TOTP seeds, token-signing keys).
//!
//! Every secret gets a data key of its own from the [`KeyWrap`] port, bound to the secret's
//! context (the record it belongs to, e.g. `totp:{tenant}:{user}`), and is encrypted with
//! AES-256-GCM under that key with the same context as additional authenticated data. What is
//! stored is a [`Sealed`]: the wrapped data key, the nonce and the ciphertext. Opening needs the
//! key service and the same context, so a sealed value copied into another record's context
//! does not open there, and a leaked table holds nothing usable without the key service.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use mvidarr_core::ports::keywrap::{KeyWrap, KeyWrapError, PlaintextKey, wipe};
use serde::{Deserialize, Serialize};

/// A sealed secret as stored. In JSON every field is a base64 (standard, padded) string.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The data key, wrapped by the key service under the context.
    #[serde(with = "base64_bytes")]
    pub wrapped_key: Vec<u8>,
    #[serde(with = "base64_nonce")]
    pub nonce: [u8; NONCE_LEN],
    /// The secret encrypted under the data key, with the GCM tag appended.
    #[serde(with = "base64_bytes")]
    pub ciphertext: Vec<u8>,
}

/// Lengths only: nothing in a sealed value is secret, but there is no reason to print it.
impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("wrapped_key_len", &self.wrapped_key.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// An opened secret. Its `Debug` shows only the length, and the bytes are overwritten with
/// zeros when it is dropped.
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The sealed value does not open under this context: it belongs to another record, or its
    /// wrapped key, nonce or ciphertext was altered. Retrying does not help.
    #[error("the sealed secret does not open under this context: {0}")]
    CannotOpen(String),
    /// The key service failed (unavailable, misconfigured) or refused the context.
    #[error(transparent)]
    KeyService(KeyWrapError),
    #[error("cannot seal the secret: {0}")]
    Seal(String),
}

impl EnvelopeError {
    /// Whether the same call may succeed later (the key service was throttled or unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, EnvelopeError::KeyService(KeyWrapError::Transient(_)))
    }
}

impl From<KeyWrapError> for EnvelopeError {
    fn from(err: KeyWrapError) -> Self {
        match err {
            // For the caller an unopenable data key is an unopenable secret, whichever layer
            // noticed.
            KeyWrapError::CannotUnwrap(why) => EnvelopeError::CannotOpen(why),
            other => EnvelopeError::KeyService(other),
        }
    }
}

fn cipher(key: &PlaintextKey) -> Result<RandomizedNonceKey, String> {
    RandomizedNonceKey::new(&AES_256_GCM, key.expose())
        .map_err(|_| "AES-256-GCM refused the data key".to_owned())
}

/// Encrypt `plaintext` for the record named by `context` under a fresh data key.
pub async fn seal<K: KeyWrap>(
    kw: &K,
    context: &str,
    plaintext: &[u8],
) -> Result<Sealed, EnvelopeError> {
    let (data_key, wrapped_key) = kw.generate_data_key(context).await?.into_parts();
    let cipher = cipher(&data_key).map_err(EnvelopeError::Seal)?;
    // Room for the tag up front, so the buffer holding the plaintext is never reallocated
    // (which would leave a copy behind in freed memory).
    let mut ciphertext = Vec::with_capacity(plaintext.len() + AES_256_GCM.tag_len());
    ciphertext.extend_from_slice(plaintext);
    let nonce =
        match cipher.seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut ciphertext) {
            Ok(nonce) => nonce,
            Err(_) => {
                wipe(&mut ciphertext);
                return Err(EnvelopeError::Seal("AES-256-GCM sealing failed".to_owned()));
            }
        };
    Ok(Sealed {
        wrapped_key,
        nonce: *nonce.as_ref(),
        ciphertext,
    })
}

/// Decrypt a value [`seal`]ed under the same `context`.
pub async fn open<K: KeyWrap>(
    kw: &K,
    context: &str,
    sealed: &Sealed,
) -> Result<SecretBytes, EnvelopeError> {
    let data_key = kw.unwrap(&sealed.wrapped_key, context).await?;
    let cipher = cipher(&data_key).map_err(EnvelopeError::CannotOpen)?;
    let mut buffer = sealed.ciphertext.clone();
    let opened = cipher
        .open_in_place(
            Nonce::assume_unique_for_key(sealed.nonce),
            Aad::from(context.as_bytes()),
            &mut buffer,
        )
        .map(|plaintext| plaintext.len());
    match opened {
        Ok(len) => {
            // What is cut off is the tag, which is no secret.
            buffer.truncate(len);
            Ok(SecretBytes(buffer))
        }
        Err(_) => {
            wipe(&mut buffer);
            Err(EnvelopeError::CannotOpen(
                "the ciphertext or nonce was altered, or belongs to another data key".to_owned(),
            ))
        }
    }
}

/// `Vec<u8>` as a base64 string.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// The 12-byte nonce as a base64 string.
mod base64_nonce {
    use aws_lc_rs::aead::NONCE_LEN;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        nonce: &[u8; NONCE_LEN],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        super::base64_bytes::serialize(nonce, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u8; NONCE_LEN], D::Error> {
        let bytes = super::base64_bytes::deserialize(deserializer)?;
        <[u8; NONCE_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
            serde::de::Error::custom(format!(
                "a nonce is {NONCE_LEN} bytes, this is {}",
                bytes.len()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use mvidarr_core::ports::keywrap::{DataKey, PlaintextKey};
    use mvidarr_store_local::keywrap::LocalKeyWrap;
    use tempfile::TempDir;

    use super::*;

    const CONTEXT: &str = "totp:01J9ZTENANT:01J9ZUSER";
    const SECRET: &[u8] = b"JBSWY3DPEHPK3PXP: a TOTP seed";

    fn key_service() -> (LocalKeyWrap, TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (LocalKeyWrap::open(dir.path()).unwrap(), dir)
    }

    #[tokio::test]
    async fn a_sealed_secret_opens_to_what_was_sealed() {
        let (kw, _dir) = key_service();
        for secret in [SECRET.to_vec(), Vec::new(), vec![0xA5; 10_000]] {
            let sealed = seal(&kw, CONTEXT, &secret).await.unwrap();
            assert_eq!(sealed.ciphertext.len(), secret.len() + 16);
            let opened = open(&kw, CONTEXT, &sealed).await.unwrap();
            assert_eq!(opened.expose(), secret.as_slice());
        }
    }

    #[tokio::test]
    async fn a_secret_sealed_for_one_record_does_not_open_for_another() {
        let (kw, _dir) = key_service();
        let sealed = seal(&kw, CONTEXT, SECRET).await.unwrap();
        let opened = open(&kw, "totp:01J9ZTENANT:01J9ZOTHER", &sealed).await;
        assert!(
            matches!(opened, Err(EnvelopeError::CannotOpen(_))),
            "{opened:?}"
        );
    }

    #[tokio::test]
    async fn any_altered_byte_makes_the_secret_unopenable() {
        let (kw, _dir) = key_service();
        let sealed = seal(&kw, CONTEXT, SECRET).await.unwrap();
        let mut variants = Vec::new();
        for i in 0..sealed.ciphertext.len() {
            let mut altered = sealed.clone();
            altered.ciphertext[i] ^= 0x80;
            variants.push((format!("ciphertext byte {i}"), altered));
        }
        for i in 0..NONCE_LEN {
            let mut altered = sealed.clone();
            altered.nonce[i] ^= 0x80;
            variants.push((format!("nonce byte {i}"), altered));
        }
        for i in 0..sealed.wrapped_key.len() {
            let mut altered = sealed.clone();
            altered.wrapped_key[i] ^= 0x80;
            variants.push((format!("wrapped key byte {i}"), altered));
        }
        let mut truncated = sealed.clone();
        truncated.ciphertext.pop();
        variants.push(("ciphertext cut short".to_owned(), truncated));

        for (what, altered) in variants {
            let opened = open(&kw, CONTEXT, &altered).await;
            assert!(
                matches!(opened, Err(EnvelopeError::CannotOpen(_))),
                "{what}: {opened:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_ciphertext_does_not_open_with_another_secrets_data_key() {
        let (kw, _dir) = key_service();
        let first = seal(&kw, CONTEXT, SECRET).await.unwrap();
        let second = seal(&kw, CONTEXT, b"another seed").await.unwrap();
        let mixed = Sealed {
            wrapped_key: second.wrapped_key,
            ..first
        };
        let opened = open(&kw, CONTEXT, &mixed).await;
        assert!(
            matches!(opened, Err(EnvelopeError::CannotOpen(_))),
            "{opened:?}"
        );
    }

    #[tokio::test]
    async fn every_seal_uses_a_fresh_data_key_and_nonce() {
        let (kw, _dir) = key_service();
        let first = seal(&kw, CONTEXT, SECRET).await.unwrap();
        let second = seal(&kw, CONTEXT, SECRET).await.unwrap();
        assert_ne!(first.wrapped_key, second.wrapped_key);
        assert_ne!(first.nonce, second.nonce);
        assert_ne!(first.ciphertext, second.ciphertext);
    }

    #[tokio::test]
    async fn sealed_values_round_trip_through_json_as_base64_strings() {
        let (kw, _dir) = key_service();
        let sealed = seal(&kw, CONTEXT, SECRET).await.unwrap();
        let json = serde_json::to_value(&sealed).unwrap();
        assert_eq!(
            json["wrapped_key"],
            STANDARD.encode(&sealed.wrapped_key).as_str()
        );
        assert_eq!(json["nonce"], STANDARD.encode(sealed.nonce).as_str());
        assert_eq!(
            json["ciphertext"],
            STANDARD.encode(&sealed.ciphertext).as_str()
        );

        let read: Sealed = serde_json::from_value(json).unwrap();
        assert_eq!(read, sealed);
        assert_eq!(open(&kw, CONTEXT, &read).await.unwrap().expose(), SECRET);
    }

    #[test]
    fn malformed_json_is_refused() {
        let valid = serde_json::json!({
            "wrapped_key": STANDARD.encode([1; 61]),
            "nonce": STANDARD.encode([2; 12]),
            "ciphertext": STANDARD.encode([3; 20]),
        });
        assert!(serde_json::from_value::<Sealed>(valid.clone()).is_ok());
        for (field, value) in [
            ("nonce", STANDARD.encode([2; 11])),
            ("nonce", STANDARD.encode([2; 13])),
            ("wrapped_key", "not base64!".to_owned()),
            ("ciphertext", "@@@@".to_owned()),
        ] {
            let mut json = valid.clone();
            json[field] = value.clone().into();
            assert!(
                serde_json::from_value::<Sealed>(json).is_err(),
                "{field} = {value:?}"
            );
        }
    }

    /// Every way a byte string commonly shows up in text.
    fn renderings(bytes: &[u8]) -> Vec<String> {
        vec![
            hex::encode(bytes),
            hex::encode_upper(bytes),
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
            format!("{bytes:?}"),
            String::from_utf8_lossy(bytes).into_owned(),
        ]
    }

    fn assert_hides(debug: &str, secret: &[u8]) {
        for rendering in renderings(secret) {
            assert!(
                !debug.contains(&rendering),
                "{debug:?} shows the secret as {rendering:?}"
            );
        }
    }

    #[tokio::test]
    async fn debug_output_never_shows_secret_or_key_bytes() {
        let (kw, _dir) = key_service();
        let sealed = seal(&kw, CONTEXT, SECRET).await.unwrap();
        let opened = open(&kw, CONTEXT, &sealed).await.unwrap();
        let data_key = kw.unwrap(&sealed.wrapped_key, CONTEXT).await.unwrap();
        let key_bytes = *data_key.expose();
        let fresh = DataKey::new(PlaintextKey::new(key_bytes), sealed.wrapped_key.clone());

        let debug = format!("{sealed:?} {opened:?} {data_key:?} {fresh:?} {sealed:#?} {opened:#?}");
        assert_hides(&debug, SECRET);
        assert_hides(&debug, &key_bytes);
        assert_hides(&debug, &sealed.wrapped_key);
        assert_hides(&debug, &sealed.ciphertext);
        assert!(debug.contains("redacted"), "{debug}");
    }

    /// A key service that is down.
    struct Unavailable;

    impl KeyWrap for Unavailable {
        async fn generate_data_key(&self, _: &str) -> Result<DataKey, KeyWrapError> {
            Err(KeyWrapError::Transient("throttled".to_owned()))
        }
        async fn unwrap(&self, _: &[u8], _: &str) -> Result<PlaintextKey, KeyWrapError> {
            Err(KeyWrapError::Transient("throttled".to_owned()))
        }
    }

    #[tokio::test]
    async fn an_unavailable_key_service_is_a_retryable_error() {
        let sealed = seal(&Unavailable, CONTEXT, SECRET).await.unwrap_err();
        assert!(sealed.is_retryable(), "{sealed:?}");
        let (kw, _dir) = key_service();
        let value = seal(&kw, CONTEXT, SECRET).await.unwrap();
        let opened = open(&Unavailable, CONTEXT, &value).await.unwrap_err();
        assert!(opened.is_retryable(), "{opened:?}");
        let refused = open(&kw, "another", &value).await.unwrap_err();
        assert!(!refused.is_retryable(), "{refused:?}");
    }

    #[tokio::test]
    async fn an_empty_context_is_refused() {
        let (kw, _dir) = key_service();
        let sealed = seal(&kw, "", SECRET).await;
        assert!(
            matches!(
                sealed,
                Err(EnvelopeError::KeyService(KeyWrapError::InvalidContext(_)))
            ),
            "{sealed:?}"
        );
    }
}
