//! Token-signing keys: the public half in the clear (it is published anyway), the private
//! half sealed under the envelope key.

use chrono::{DateTime, Utc};
use mvidarr_core::ids::SigningKeyId;
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::{Item, Query, Table};
use mvidarr_core::repo::{RepoError, encode};
use serde::{Deserialize, Serialize};

use super::{Versioned, put_over, query_versioned};
use crate::envelope::Sealed;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SigningKeyState {
    /// Signs new tokens (exactly one at a time).
    Active,
    /// No longer signs; verifies the tokens it signed until `verify_until`.
    Retiring,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub kid: SigningKeyId,
    pub algorithm: String,
    /// The JWK `x` parameter (base64url Ed25519 public key).
    pub x: String,
    /// The PKCS#8 private key, sealed with the key id as context.
    pub sealed: Sealed,
    pub state: SigningKeyState,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub verify_until: Option<DateTime<Utc>>,
}

impl SigningKeyRecord {
    /// The envelope context: a sealed key copied into another record does not open.
    pub fn seal_context(kid: SigningKeyId) -> String {
        format!("signing-key/{kid}")
    }

    pub fn verifies_at(&self, now: DateTime<Utc>) -> bool {
        match self.state {
            SigningKeyState::Active => true,
            SigningKeyState::Retiring => self.verify_until.is_some_and(|t| t > now),
        }
    }
}

fn item(key: &SigningKeyRecord) -> Item {
    let item = Item::new(keys::SIGNING_KEYS_PK, key.kid.to_string(), encode(key));
    match (key.state, key.verify_until) {
        (SigningKeyState::Retiring, Some(until)) => item.with_expiry(until.timestamp()),
        _ => item,
    }
}

pub struct SigningKeyRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> SigningKeyRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Every stored key (a handful: the active one and those retiring).
    pub async fn all(&self) -> Result<Vec<Versioned<SigningKeyRecord>>, RepoError> {
        query_versioned(
            self.table,
            Query::partition(keys::SIGNING_KEYS_PK).limit(100),
        )
        .await
    }

    pub async fn create(&self, key: &SigningKeyRecord) -> Result<bool, RepoError> {
        put_over(self.table, item(key), None).await
    }

    pub async fn update(&self, key: &SigningKeyRecord, version: u64) -> Result<bool, RepoError> {
        put_over(self.table, item(key), Some(version)).await
    }
}
