//! The identity service: authentication of every request, sign-in, token refresh and sign-out,
//! invitations, and the signing keys. The API and the Lambda authorizer share it, so both
//! decide the same way.

mod api_keys;
mod members;
mod mfa;
mod privacy;
mod sessions;
mod signing;
mod tenancy;

pub use api_keys::CreatedApiKey;
pub use mfa::{SecondFactor, TotpEnrolment};
pub use privacy::UserExport;
pub use sessions::{Credentials, LoginOutcome};
pub use tenancy::TenantSettings;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use mvidarr_core::ids::{ApiKeyId, InviteId, SessionId, SigningKeyId, TenantId, UserId};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{RepoError, TenantRecord, TenantRepo};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::api_key::{PresentedKey, new_key};
use crate::audit::actions;
use crate::envelope::{self, EnvelopeError};
use crate::password::{PasswordHasher, PasswordRejected, PasswordRules};
use crate::policy::{Permissions, Role};
use crate::principal::{Principal, Subject};
use crate::secret::{OpaqueSecret, is_well_formed, matches_digest};
use crate::store::{
    ApiKeyRecord, ApiKeyRepo, AuditDraft, AuditLog, InviteRecord, LockoutRecord, SessionRecord,
    SessionRepo, SigningKeyRecord, SigningKeyRepo, SigningKeyState, UserRecord, UserRepo,
    UserStatus, Versioned, normalize_email,
};
use crate::token::{
    ACCESS_TOKEN_SECONDS, CLOCK_LEEWAY_SECONDS, Keyring, SigningKey, TokenError, TokenSubject,
    VerifyingKey,
};

/// Consecutive failures before an account locks, and how long the lock lasts: 30 s after the
/// fifth failure, doubling with each further one, at most 15 minutes.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub first_lock: Duration,
    pub max_lock: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            first_lock: Duration::seconds(30),
            max_lock: Duration::minutes(15),
        }
    }
}

impl LockoutPolicy {
    /// The lock after `failures` consecutive failures, if any.
    pub fn lock_for(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.threshold)?;
        let factor = 1i32.checked_shl(over.min(20)).unwrap_or(i32::MAX);
        Some((self.first_lock * factor).min(self.max_lock))
    }
}

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// The `iss` of our tokens: the public base URL.
    pub issuer: String,
    pub audience: String,
    /// Shared: it caches its dummy hash.
    pub passwords: Arc<PasswordHasher>,
    pub lockout: LockoutPolicy,
    /// How long a sign-in lasts without signing in again (refresh tokens stop working after).
    pub session_lifetime: Duration,
    pub invite_lifetime: Duration,
    /// Authenticate only: never make a signing key, never open a private one, never write
    /// (the Lambda authorizer, whose role may only read the table and may not decrypt).
    pub verify_only: bool,
}

impl IdentityConfig {
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: "mvidarr-api".into(),
            passwords: Arc::new(PasswordHasher::production()),
            lockout: LockoutPolicy::default(),
            session_lifetime: Duration::days(30),
            invite_lifetime: Duration::days(7),
            verify_only: false,
        }
    }

    /// For a process that only authenticates requests (see [`IdentityConfig::verify_only`]).
    pub fn verifier(issuer: &str) -> Self {
        Self {
            verify_only: true,
            ..Self::new(issuer)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown email, wrong password, bad or expired token or key: one answer for all.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Shown to the client only as a `Retry-After`; the body is the same as a wrong password.
    #[error("invalid credentials")]
    Locked { retry_after: StdDuration },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    WeakPassword(PasswordRejected),
    #[error("{0}")]
    Conflict(String),
    #[error("too many requests")]
    RateLimited(crate::ratelimit::Decision),
    /// A well-signed-looking token names a key this process does not know, and it re-read
    /// the keys too recently to look again. The API answers 401 (the client signs in again);
    /// the authorizer fails the invocation instead of denying, since a cached Deny would hold
    /// for a good token made with a key from a rotation elsewhere.
    #[error("invalid credentials")]
    UnknownSigningKey,
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("token service: {0}")]
    Token(TokenError),
    #[error("secret storage: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("internal: {0}")]
    Internal(String),
}

/// What a successful sign-in or refresh returns (OAuth 2.0 token response shape).
#[derive(Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Argon2 hashes at once: each holds its memory cost (19 MiB) while it runs.
const CONCURRENT_HASHES: usize = 2;

struct LoadedKeyring {
    keyring: Arc<Keyring>,
    loaded_at: Instant,
}

pub struct Identity<P: Platform> {
    platform: P,
    config: IdentityConfig,
    /// `None` until first needed: a Lambda's init makes no AWS call.
    keyring: RwLock<Option<LoadedKeyring>>,
    /// When an unknown `kid` last made us re-read the keys.
    reload_gate: Mutex<Option<Instant>>,
    hashing: Arc<Semaphore>,
    plans: tenancy::PlanCache,
}

impl<P: Platform> Identity<P> {
    /// Load the signing keys (making the first one on a new deployment).
    /// The service, with its signing keys loaded (the first one made on a new deployment).
    pub async fn start(platform: P, config: IdentityConfig) -> Result<Self, AuthError> {
        let identity = Self::new(platform, config);
        identity.keyring().await?;
        Ok(identity)
    }

    /// The service without any I/O yet: the signing keys are loaded on first use.
    pub fn new(platform: P, config: IdentityConfig) -> Self {
        Self {
            platform,
            config,
            keyring: RwLock::new(None),
            reload_gate: Mutex::new(None),
            hashing: Arc::new(Semaphore::new(CONCURRENT_HASHES)),
            plans: tenancy::PlanCache::default(),
        }
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    // ---- authentication of requests ----

    /// The principal behind a bearer credential: an API key or an access token. Revoked
    /// keys and sessions are refused at once (each costs one strongly consistent read).
    pub async fn authenticate(
        &self,
        credential: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, AuthError> {
        if PresentedKey::looks_like(credential) {
            return self.authenticate_key(credential, now).await;
        }
        let claims = match self.keyring().await?.verify(credential) {
            Err(TokenError::UnknownKey) if self.may_reload_for_unknown_kid() => {
                self.reload_keyring().await?;
                self.keyring().await?.verify(credential)
            }
            // A key made by a rotation elsewhere may not be loaded yet, and the keys were
            // re-read too recently to look again (junk naming random keys can keep it so).
            Err(TokenError::UnknownKey) => return Err(AuthError::UnknownSigningKey),
            other => other,
        }
        .map_err(|e| {
            tracing::debug!(error = %e, "access token refused");
            AuthError::InvalidCredentials
        })?;
        let session = SessionRepo::new(self.platform.table())
            .get(claims.tid, claims.sub, claims.sid)
            .await?
            .map(|v| v.record)
            .filter(|s| s.is_live(now))
            .ok_or(AuthError::InvalidCredentials)?;
        Ok(Principal {
            tenant: session.tenant,
            subject: Subject::User {
                id: session.user,
                session: session.id,
            },
            role: Some(session.role),
            permissions: session.role.permissions(),
        })
    }

    async fn authenticate_key(
        &self,
        credential: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, AuthError> {
        let presented = PresentedKey::parse(credential).ok_or(AuthError::InvalidCredentials)?;
        let repo = ApiKeyRepo::new(self.platform.table());
        let Versioned { record, version } = repo
            .get(presented.id)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        if !presented.matches(&record.secret_sha256) || !record.is_usable(now) {
            return Err(AuthError::InvalidCredentials);
        }
        // Last use is worth knowing to the minute, not worth a write per request (and a
        // verifier leaves it to the API, which authenticates the same request again).
        if !self.config.verify_only
            && record
                .last_used_at
                .is_none_or(|t| now - t > Duration::minutes(1))
        {
            let mut touched = record.clone();
            touched.last_used_at = Some(now);
            if let Err(e) = repo.update(&touched, version).await {
                tracing::warn!(key = %record.id, error = %e, "could not record the key's last use");
            }
        }
        Ok(Principal {
            tenant: record.tenant,
            subject: Subject::ApiKey { id: record.id },
            role: None,
            permissions: record.scopes,
        })
    }

    // ---- audit ----

    /// Record a security event in the tenant's audit chain. The action has happened by the
    /// time it is recorded, so a failure to record is logged loudly rather than reported as
    /// the action's failure (the client would retry an action that took effect).
    /// Appends what a caller did to its tenant's audit chain (for actions outside identity,
    /// e.g. tag decisions). A failure to append is logged, never the caller's failure.
    pub async fn record(&self, by: &Principal, draft: AuditDraft) {
        self.audit(by.tenant, draft).await;
    }

    pub(super) async fn audit(&self, tenant: TenantId, draft: AuditDraft) {
        let action = draft.action.clone();
        if let Err(e) = AuditLog::new(self.platform.table())
            .append(tenant, draft)
            .await
        {
            tracing::error!(%tenant, %action, error = %e, "could not append to the audit log");
        }
    }

    // ---- passwords ----

    async fn hash_password(&self, password: &str) -> Result<String, AuthError> {
        let hasher = self.config.passwords.clone();
        let password = password.to_owned();
        self.blocking(move || hasher.hash(&password))
            .await?
            .map_err(|e| AuthError::Internal(e.to_string()))
    }

    async fn verify_password(&self, password: &str, phc: &str) -> bool {
        let hasher = self.config.passwords.clone();
        let (password, phc) = (password.to_owned(), phc.to_owned());
        self.blocking(move || hasher.verify(&password, &phc))
            .await
            .unwrap_or(false)
    }

    async fn verify_dummy(&self, password: &str) {
        let hasher = self.config.passwords.clone();
        let password = password.to_owned();
        let _ = self.blocking(move || hasher.verify_dummy(&password)).await;
    }

    async fn set_password(
        &self,
        user: &UserRecord,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let phc = self.hash_password(password).await?;
        UserRepo::new(self.platform.table())
            .set_password(
                user.tenant,
                user.id,
                &crate::store::PasswordRecord {
                    phc,
                    changed_at: now,
                },
            )
            .await?;
        Ok(())
    }

    /// Run CPU-heavy work (Argon2) off the async threads, a bounded number at once.
    async fn blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, AuthError> {
        let _permit = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_doubles_from_the_threshold_and_is_capped() {
        let p = LockoutPolicy::default();
        assert_eq!(p.lock_for(4), None);
        assert_eq!(p.lock_for(5), Some(Duration::seconds(30)));
        assert_eq!(p.lock_for(6), Some(Duration::seconds(60)));
        assert_eq!(p.lock_for(8), Some(Duration::seconds(240)));
        assert_eq!(p.lock_for(12), Some(Duration::minutes(15)));
        assert_eq!(p.lock_for(u32::MAX), Some(Duration::minutes(15)));
    }
}
