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

// The versioned read and compare-and-set write every store here uses are core's.
pub use mvidarr_core::repo::Versioned;
use mvidarr_core::repo::{put_over, query_versioned, versioned, won};
