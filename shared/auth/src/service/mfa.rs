//! TOTP second factor: enrol → confirm (recovery codes issued) → required at every sign-in;
//! the code or a recovery code completes a sign-in challenge.

use super::*;
use crate::recovery::{self, RecoveryCodes};
use crate::store::{MfaChallenge, MfaRepo, TotpRecord, TotpState};
use crate::totp::{self, TotpSecret};

/// How long a password-verified sign-in waits for its second factor, and how many answers it
/// takes before the challenge is void.
const CHALLENGE_SECONDS: i64 = 300;
const CHALLENGE_ATTEMPTS: u32 = 5;

/// What enrolment hands the authenticator app (shown once).
pub struct TotpEnrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(..)")
    }
}

/// The second factor presented to complete a challenge.
pub enum SecondFactor<'a> {
    Totp(&'a str),
    RecoveryCode(&'a str),
}

/// `mvm_{tenant}_{user}_{challenge}_{secret}`: finds the challenge with one read.
pub(super) struct ChallengeToken {
    tenant: TenantId,
    user: UserId,
    id: String,
    secret: String,
}

impl ChallengeToken {
    const PREFIX: &'static str = "mvm_";

    fn format(tenant: TenantId, user: UserId, id: &str, secret: &OpaqueSecret) -> String {
        format!("{}{tenant}_{user}_{id}_{}", Self::PREFIX, secret.expose())
    }

    fn parse(s: &str) -> Option<Self> {
        let mut parts = s.strip_prefix(Self::PREFIX)?.splitn(4, '_');
        let tenant = parts.next()?.parse().ok()?;
        let user = parts.next()?.parse().ok()?;
        let id: ulid::Ulid = parts.next()?.parse().ok()?;
        let secret = parts.next()?;
        is_well_formed(secret).then(|| Self {
            tenant,
            user,
            id: id.to_string(),
            secret: secret.to_owned(),
        })
    }
}

impl<P: Platform> Identity<P> {
    fn user_of(principal: &Principal) -> Result<UserId, AuthError> {
        principal.user().ok_or_else(|| {
            AuthError::Invalid("two-factor settings belong to people, not API keys".into())
        })
    }

    /// Start TOTP enrolment (again, if a previous one was never confirmed). The password is
    /// asked again: a stolen session alone must not bind its own authenticator.
    pub async fn enrol_totp(
        &self,
        principal: &Principal,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<TotpEnrolment, AuthError> {
        let user_id = Self::user_of(principal)?;
        let user = self.active_user(principal.tenant, user_id).await?;
        self.confirm_password(&user, password, now).await?;
        let repo = MfaRepo::new(self.platform.table());
        let existing = repo.totp(principal.tenant, user_id).await?;
        if existing
            .as_ref()
            .is_some_and(|t| t.record.state == TotpState::Enabled)
        {
            return Err(AuthError::Conflict(
                "two-factor sign-in is already on; turn it off first".into(),
            ));
        }
        let secret = TotpSecret::generate();
        let record = TotpRecord {
            sealed: envelope::seal(
                self.platform.key_wrap(),
                &TotpRecord::seal_context(principal.tenant, user_id),
                secret.as_bytes(),
            )
            .await?,
            state: TotpState::Pending,
            last_step: None,
            created_at: now,
        };
        if !repo
            .put_totp(
                principal.tenant,
                user_id,
                &record,
                existing.map(|e| e.version),
            )
            .await?
        {
            return Err(AuthError::Conflict(
                "enrolment changed meanwhile; retry".into(),
            ));
        }
        Ok(TotpEnrolment {
            secret_base32: secret.to_base32(),
            otpauth_uri: secret.otpauth_uri("MVidarr", &user.email),
        })
    }

    /// Confirm enrolment with a first code; returns the recovery codes (shown once).
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, AuthError> {
        let user_id = Self::user_of(principal)?;
        let repo = MfaRepo::new(self.platform.table());
        let (
            Versioned {
                record: mut totp,
                version,
            },
            step,
        ) = self
            .totp_code_in_state(principal.tenant, user_id, TotpState::Pending, code, now)
            .await?;
        let users = UserRepo::new(self.platform.table());
        let Versioned {
            record: mut user,
            version: user_version,
        } = users
            .get(principal.tenant, user_id)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        user.mfa = true;
        user.updated_at = now;
        totp.state = TotpState::Enabled;
        totp.last_step = Some(step);
        let codes = RecoveryCodes::generate(RecoveryCodes::DEFAULT_COUNT);
        if !repo
            .enable(
                principal.tenant,
                user_id,
                (&totp, version),
                (users.item(&user), user_version),
                &codes.digests_hex(),
                now,
            )
            .await?
        {
            return Err(AuthError::Conflict(
                "enrolment changed meanwhile; retry".into(),
            ));
        }
        self.audit(
            principal.tenant,
            AuditDraft::new(now, principal.actor(), actions::MFA_ENROLLED).detail("method", "totp"),
        )
        .await;
        Ok(codes.codes().to_vec())
    }

    /// Turn TOTP off; the password and a current code are required, so a stolen session
    /// alone cannot do it.
    pub async fn disable_totp(
        &self,
        principal: &Principal,
        password: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let user_id = Self::user_of(principal)?;
        let user = self.active_user(principal.tenant, user_id).await?;
        self.confirm_password(&user, password, now).await?;
        let repo = MfaRepo::new(self.platform.table());
        let (
            Versioned {
                record: mut totp,
                version,
            },
            step,
        ) = self
            .totp_code_in_state(principal.tenant, user_id, TotpState::Enabled, code, now)
            .await?;
        // Spend the code first, so it cannot be replayed while the rest is removed.
        totp.last_step = Some(step);
        if !repo
            .put_totp(principal.tenant, user_id, &totp, Some(version))
            .await?
        {
            return Err(AuthError::Invalid("that code is not valid now".into()));
        }
        let users = UserRepo::new(self.platform.table());
        for _ in 0..5 {
            let Versioned {
                record: mut user,
                version,
            } = self.versioned_user(principal.tenant, user_id).await?;
            user.mfa = false;
            user.updated_at = now;
            if users.update(&user, version).await? {
                repo.remove_all(principal.tenant, user_id).await?;
                self.audit(
                    principal.tenant,
                    AuditDraft::new(now, principal.actor(), actions::MFA_DISABLED)
                        .detail("method", "totp"),
                )
                .await;
                return Ok(());
            }
        }
        Err(AuthError::Conflict("the user kept changing; retry".into()))
    }

    /// The user's TOTP record, which must be in `state`, and the step `code` matches.
    async fn totp_code_in_state(
        &self,
        tenant: TenantId,
        user: UserId,
        state: TotpState,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<(Versioned<TotpRecord>, u64), AuthError> {
        let totp = MfaRepo::new(self.platform.table())
            .totp(tenant, user)
            .await?
            .filter(|t| t.record.state == state)
            .ok_or_else(|| {
                AuthError::Conflict(match state {
                    TotpState::Pending => "no enrolment waiting for confirmation".into(),
                    TotpState::Enabled => "two-factor sign-in is not on".into(),
                })
            })?;
        let Some(step) = self
            .check_totp(tenant, user, &totp.record, code, now)
            .await?
        else {
            // Counted like a wrong password: a stolen session cannot try codes forever.
            let users = UserRepo::new(self.platform.table());
            let lockout = users.lockout(tenant, user).await?;
            let record = self.active_user(tenant, user).await?;
            self.record_failure(&record, lockout, now).await?;
            return Err(AuthError::Invalid("that code is not valid now".into()));
        };
        Ok((totp, step))
    }

    /// The matched step of a valid, unused code (`None` if the code is wrong or used).
    async fn check_totp(
        &self,
        tenant: TenantId,
        user: UserId,
        totp: &TotpRecord,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, AuthError> {
        let bytes = envelope::open(
            self.platform.key_wrap(),
            &TotpRecord::seal_context(tenant, user),
            &totp.sealed,
        )
        .await?;
        let secret = TotpSecret::from_bytes(bytes.expose())
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(totp::verify(&secret, code, now.timestamp(), totp.last_step))
    }

    /// After a correct password: a challenge the second factor must answer.
    pub(super) async fn open_challenge(
        &self,
        user: &UserRecord,
        now: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        let id = ulid::Ulid::new().to_string();
        let secret = OpaqueSecret::generate();
        let challenge = MfaChallenge {
            secret_sha256: secret.sha256_hex(),
            amr: vec!["pwd".into()],
            attempts: 0,
            expires_at: now + Duration::seconds(CHALLENGE_SECONDS),
        };
        MfaRepo::new(self.platform.table())
            .put_challenge(user.tenant, user.id, &id, &challenge, None)
            .await?;
        Ok(ChallengeToken::format(user.tenant, user.id, &id, &secret))
    }

    /// Answer a sign-in challenge with a TOTP code or a recovery code.
    pub async fn complete_mfa(
        &self,
        mfa_token: &str,
        factor: SecondFactor<'_>,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, AuthError> {
        let token = ChallengeToken::parse(mfa_token).ok_or(AuthError::InvalidCredentials)?;
        let repo = MfaRepo::new(self.platform.table());
        let (challenge, version) = self.charge_attempt(&token, now).await?;
        let Versioned {
            record: user,
            version: user_version,
        } = self.versioned_user(token.tenant, token.user).await?;
        let method = match factor {
            SecondFactor::Totp(code) => self.spend_totp(&user, code, now).await?.then_some("otp"),
            SecondFactor::RecoveryCode(code) => match recovery::normalize(code) {
                Some(normalized) => repo
                    .use_recovery_code(user.tenant, user.id, &recovery::digest_hex(&normalized))
                    .await?
                    .then_some("rec"),
                None => None,
            },
        };
        let Some(method) = method else {
            // A wrong second factor counts towards the account's lockout like a wrong password.
            let lockout = UserRepo::new(self.platform.table())
                .lockout(user.tenant, user.id)
                .await?;
            return Err(self.record_failure(&user, lockout, now).await?);
        };
        // One challenge, one session, however many requests race with a valid code.
        if !repo
            .consume_challenge(user.tenant, user.id, &token.id, version)
            .await?
        {
            return Err(AuthError::InvalidCredentials);
        }
        UserRepo::new(self.platform.table())
            .clear_lockout(user.tenant, user.id)
            .await?;
        if method == "rec" {
            self.audit(
                user.tenant,
                AuditDraft::new(
                    now,
                    Subject::user_actor(user.id),
                    actions::MFA_RECOVERY_USED,
                )
                .detail(
                    "codes_left",
                    repo.recovery_codes_left(user.tenant, user.id)
                        .await?
                        .to_string(),
                ),
            )
            .await;
        }
        let mut amr = challenge.amr;
        amr.push(method.into());
        self.open_session(&user, user_version, amr, now).await
    }

    /// Spend one of a challenge's attempts before its answer is looked at: the count is a
    /// compare-and-set, so concurrent guesses each pay for theirs (counting after the check
    /// let all but one of a burst go uncounted). Returns the challenge and the version it
    /// now has; an exhausted, expired or unknown challenge is refused.
    async fn charge_attempt(
        &self,
        token: &ChallengeToken,
        now: DateTime<Utc>,
    ) -> Result<(MfaChallenge, u64), AuthError> {
        let repo = MfaRepo::new(self.platform.table());
        for _ in 0..10 {
            let Versioned {
                record: mut challenge,
                version,
            } = repo
                .challenge(token.tenant, token.user, &token.id)
                .await?
                .filter(|c| {
                    matches_digest(&token.secret, &c.record.secret_sha256)
                        && c.record.expires_at > now
                })
                .ok_or(AuthError::InvalidCredentials)?;
            if challenge.attempts >= CHALLENGE_ATTEMPTS {
                repo.consume_challenge(token.tenant, token.user, &token.id, version)
                    .await?;
                return Err(AuthError::InvalidCredentials);
            }
            challenge.attempts += 1;
            if repo
                .put_challenge(
                    token.tenant,
                    token.user,
                    &token.id,
                    &challenge,
                    Some(version),
                )
                .await?
            {
                return Ok((challenge, version + 1));
            }
        }
        Err(AuthError::Conflict(
            "the sign-in challenge kept changing; retry".into(),
        ))
    }

    /// Accept a TOTP code once: the step is recorded with a compare-and-set, so the same code
    /// sent twice at once succeeds at most once.
    async fn spend_totp(
        &self,
        user: &UserRecord,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let repo = MfaRepo::new(self.platform.table());
        let Some(Versioned {
            record: mut totp,
            version,
        }) = repo
            .totp(user.tenant, user.id)
            .await?
            .filter(|t| t.record.state == TotpState::Enabled)
        else {
            return Ok(false);
        };
        let Some(step) = self
            .check_totp(user.tenant, user.id, &totp, code, now)
            .await?
        else {
            return Ok(false);
        };
        totp.last_step = Some(step);
        Ok(repo
            .put_totp(user.tenant, user.id, &totp, Some(version))
            .await?)
    }

    pub async fn recovery_codes_left(&self, principal: &Principal) -> Result<usize, AuthError> {
        let user = Self::user_of(principal)?;
        Ok(MfaRepo::new(self.platform.table())
            .recovery_codes_left(principal.tenant, user)
            .await?)
    }

    async fn versioned_user(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Versioned<UserRecord>, AuthError> {
        UserRepo::new(self.platform.table())
            .get(tenant, user)
            .await?
            .filter(|u| u.record.status == UserStatus::Active)
            .ok_or(AuthError::InvalidCredentials)
    }

    pub(super) async fn active_user(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<UserRecord, AuthError> {
        Ok(self.versioned_user(tenant, user).await?.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_tokens_parse_back_and_refuse_junk() {
        let (t, u) = (TenantId::generate(), UserId::generate());
        let id = ulid::Ulid::new().to_string();
        let secret = OpaqueSecret::generate();
        let parsed = ChallengeToken::parse(&ChallengeToken::format(t, u, &id, &secret)).unwrap();
        assert_eq!(
            (parsed.tenant, parsed.user, parsed.id.as_str()),
            (t, u, id.as_str())
        );
        for junk in ["", "mvm_", &format!("mvm_{t}_{u}_x_{}", secret.expose())] {
            assert!(ChallengeToken::parse(junk).is_none(), "{junk}");
        }
    }
}
