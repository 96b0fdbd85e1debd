//! API keys: `mvk_<key id>_<secret>`. The id finds the record; the secret is checked against
//! its stored SHA-256 in constant time. Secrets are 256 random bits, so a fast hash is the
//! right one (a password hash buys nothing against a key that cannot be guessed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use mvidarr_core::ids::{ApiKeyId, TenantId};
use mvidarr_core::ports::Table;
use mvidarr_core::repo::{ApiKeyRecord, RepoError, TenantRecord, TenantRepo};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "mvk_";

/// A parsed key as presented by a client.
/// Debug-printing it never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        if secret.len() < 32 {
            return None;
        }
        Some(Self {
            id: id.parse().ok()?,
            secret: secret.to_owned(),
        })
    }

    pub fn matches(&self, record: &ApiKeyRecord) -> bool {
        let presented = hex_sha256(&self.secret);
        !record.revoked && bool::from(presented.as_bytes().ct_eq(record.secret_sha256.as_bytes()))
    }
}

fn hex_sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Make and store a new key; returns the full key string, shown once.
pub async fn create_api_key<T: Table>(
    table: &T,
    tenant: TenantId,
    name: &str,
) -> Result<String, RepoError> {
    let id = ApiKeyId::generate();
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    TenantRepo::new(table)
        .put_api_key(&ApiKeyRecord {
            id,
            tenant,
            name: name.to_owned(),
            secret_sha256: hex_sha256(&secret),
            created_at: Utc::now(),
            revoked: false,
        })
        .await?;
    Ok(format!("{PREFIX}{id}_{secret}"))
}

/// On first start: create tenant `default` and an API key for it. Returns the tenant and a
/// new key when one was made (the caller shows and stores it; it is not kept here).
/// `key_missing` asks for a fresh key for an existing tenant: the caller lost the file that
/// held the key (or a crash came between creating the tenant and saving its key), and an
/// owner with no key could never get in again.
pub async fn bootstrap_default_tenant<T: Table>(
    table: &T,
    key_missing: bool,
) -> Result<(TenantId, Option<String>), RepoError> {
    let repo = TenantRepo::new(table);
    let tenant = match repo.by_name("default").await? {
        Some(t) if !key_missing => return Ok((t.id, None)),
        Some(t) => t.id,
        None => {
            let record = TenantRecord {
                id: TenantId::generate(),
                name: "default".into(),
                created_at: Utc::now(),
            };
            if repo.create(&record).await? {
                record.id
            } else {
                // Lost a race with another process creating it: use theirs.
                repo.by_name("default")
                    .await?
                    .ok_or_else(|| RepoError::NotFound("tenant default".into()))?
                    .id
            }
        }
    };
    let key = create_api_key(table, tenant, "bootstrap").await?;
    Ok((tenant, Some(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_refuse_garbage() {
        let id = ApiKeyId::generate();
        let key = format!("mvk_{id}_{}", "a".repeat(43));
        assert_eq!(ApiKey::parse(&key).unwrap().id, id);
        for bad in [
            "",
            "mvk_",
            "mvk_x_y",
            &format!("mvk_{id}_short"),
            &format!("xyz_{id}_{}", "a".repeat(43)),
        ] {
            assert!(ApiKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn only_the_right_secret_matches() {
        let id = ApiKeyId::generate();
        let record = ApiKeyRecord {
            id,
            tenant: TenantId::generate(),
            name: "t".into(),
            secret_sha256: hex_sha256(&"s".repeat(43)),
            created_at: Utc::now(),
            revoked: false,
        };
        assert!(
            ApiKey::parse(&format!("mvk_{id}_{}", "s".repeat(43)))
                .unwrap()
                .matches(&record)
        );
        assert!(
            !ApiKey::parse(&format!("mvk_{id}_{}", "t".repeat(43)))
                .unwrap()
                .matches(&record)
        );
        let revoked = ApiKeyRecord {
            revoked: true,
            ..record.clone()
        };
        assert!(
            !ApiKey::parse(&format!("mvk_{id}_{}", "s".repeat(43)))
                .unwrap()
                .matches(&revoked)
        );
    }
}
