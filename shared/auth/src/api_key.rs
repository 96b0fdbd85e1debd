//! API keys: `mvk_<key id>_<secret>`. The id is the lookup prefix that finds the record; the
//! secret is checked against its stored SHA-256 in constant time.

use mvidarr_core::ids::ApiKeyId;

use crate::secret::{OpaqueSecret, is_well_formed, matches_digest};

const PREFIX: &str = "mvk_";

/// A key as presented by a client. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedKey {
    pub id: ApiKeyId,
    secret: String,
}

impl std::fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl PresentedKey {
    /// Whether a credential claims to be an API key (rather than a token).
    pub fn looks_like(credential: &str) -> bool {
        credential.starts_with(PREFIX)
    }

    pub fn parse(s: &str) -> Option<Self> {
        let (id, secret) = s.strip_prefix(PREFIX)?.split_once('_')?;
        if !is_well_formed(secret) {
            return None;
        }
        Some(Self {
            id: id.parse().ok()?,
            secret: secret.to_owned(),
        })
    }

    pub fn matches(&self, secret_sha256: &str) -> bool {
        matches_digest(&self.secret, secret_sha256)
    }
}

/// A new key: the full string (shown once) and the digest to store.
pub fn new_key(id: ApiKeyId) -> (String, String) {
    let secret = OpaqueSecret::generate();
    (
        format!("{PREFIX}{id}_{}", secret.expose()),
        secret.sha256_hex(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_match_and_refuse_garbage() {
        let id = ApiKeyId::generate();
        let (key, digest) = new_key(id);
        let parsed = PresentedKey::parse(&key).unwrap();
        assert_eq!(parsed.id, id);
        assert!(parsed.matches(&digest));
        assert!(!parsed.matches(&new_key(id).1));
        assert!(!format!("{parsed:?}").contains(&key[key.len() - 20..]));
        for bad in [
            "",
            "mvk_",
            "mvk_x_y",
            &format!("mvk_{id}_short"),
            &format!("xyz_{id}_{}", "a".repeat(43)),
            &format!("mvk_{id}_{}", "a".repeat(44)),
            &format!("mvk_{}_{}", id.to_string().to_lowercase(), "a".repeat(43)),
        ] {
            assert!(PresentedKey::parse(bad).is_none(), "{bad}");
        }
    }
}
