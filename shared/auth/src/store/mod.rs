//! Repositories for identity records, over the `Table` port (keys in
//! `mvidarr_core::keys::table`). Plain reads and conditional writes; the decisions are made in
//! [`crate::service`].

mod api_keys;
mod audit;
mod mfa;
mod rate_limits;
mod sessions;
mod settings;
mod signing_keys;
#[cfg(test)]
mod test_tables;
mod users;

pub use api_keys::{ApiKeyRecord, ApiKeyRepo};
pub use audit::{
    APPEND_ATTEMPTS, AuditDraft, AuditLog, AuditOrder, AuditPage, AuditRecord, PiiPage, PiiRow,
    VerifyReport,
};
pub use mfa::{MfaChallenge, MfaRepo, TotpRecord, TotpState};
pub use rate_limits::{CHECK_ATTEMPTS, RateLimiter};
pub use sessions::{SessionRecord, SessionRepo};
pub use settings::{RetentionError, RetentionSettings, SettingsRepo};
pub use signing_keys::{SigningKeyRecord, SigningKeyRepo, SigningKeyState};
pub use users::{
    InviteRecord, LockoutRecord, LoginPointer, PasswordRecord, UserRecord, UserRepo, UserStatus,
    email_digest, normalize_email,
};

use mvidarr_core::ports::{Condition, Item, Query, Table, TableError};
use mvidarr_core::repo::{RepoError, decode, query_all_with};

/// A record and the version it was read at, for a compare-and-set write back.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub record: T,
    pub version: u64,
}

fn versioned<T: serde::de::DeserializeOwned>(item: Item) -> Result<Versioned<T>, RepoError> {
    let version = item.version;
    Ok(Versioned {
        record: decode(item)?,
        version,
    })
}

/// Put `item` over the version it was read at (`None`: only if it does not exist yet).
/// `Ok(false)` when someone else wrote it first.
async fn put_over<T: Table>(
    table: &T,
    mut item: Item,
    read_at: Option<u64>,
) -> Result<bool, RepoError> {
    let condition = match read_at {
        Some(v) => {
            item.version = v + 1;
            Condition::VersionIs(v)
        }
        None => Condition::Absent,
    };
    won(table.put(item, condition).await)
}

/// A conditional write's outcome: `Ok(false)` if its condition did not hold.
fn won(result: Result<(), TableError>) -> Result<bool, RepoError> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.is_conflict() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Every item a query matches with its version, following cursors to the end.
async fn query_versioned<T: Table, R: serde::de::DeserializeOwned>(
    table: &T,
    query: Query,
) -> Result<Vec<Versioned<R>>, RepoError> {
    query_all_with(table, query, versioned).await
}
