//! Sign-in, refresh and sign-out.

use super::*;

/// A refresh token: `mvr_{tenant}_{user}_{session}_{secret}` — the ids find the session
/// with one read; the secret is checked against its hash.
struct RefreshToken {
    tenant: TenantId,
    user: UserId,
    session: SessionId,
    secret: String,
}

impl RefreshToken {
    const PREFIX: &'static str = "mvr_";

    fn format(tenant: TenantId, user: UserId, session: SessionId, secret: &OpaqueSecret) -> String {
        format!(
            "{}{tenant}_{user}_{session}_{}",
            Self::PREFIX,
            secret.expose()
        )
    }

    fn parse(s: &str) -> Option<Self> {
        let mut parts = s.strip_prefix(Self::PREFIX)?.splitn(4, '_');
        let tenant = parts.next()?.parse().ok()?;
        let user = parts.next()?.parse().ok()?;
        let session = parts.next()?.parse().ok()?;
        let secret = parts.next()?;
        is_well_formed(secret).then(|| Self {
            tenant,
            user,
            session,
            secret: secret.to_owned(),
        })
    }
}

/// What a correct password gets: tokens, or (with two-factor sign-in on) a challenge that
/// the second factor answers at `POST /v1/auth/mfa`.
#[derive(Debug)]
pub enum LoginOutcome {
    Tokens(TokenPair),
    MfaRequired { mfa_token: String },
}

/// The sign-in request.
pub struct Credentials<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// Needed only when the email is a user of several tenants (name or id).
    pub tenant: Option<&'a str>,
}

impl<P: Platform> Identity<P> {
    // ---- sign-in, refresh, sign-out ----

    pub async fn login(
        &self,
        credentials: &Credentials<'_>,
        now: DateTime<Utc>,
    ) -> Result<LoginOutcome, AuthError> {
        self.limit_logins(credentials.email, now).await?;
        let users = UserRepo::new(self.platform.table());
        let pointers = users.sign_in_pointers(credentials.email).await?;
        let pointer = match (pointers.as_slice(), credentials.tenant) {
            ([], _) => None,
            ([only], None) => Some(*only),
            (_, Some(wanted)) => {
                let tenant = self.resolve_tenant(wanted).await?;
                pointers.iter().copied().find(|p| Some(p.tenant) == tenant)
            }
            (_, None) => {
                return Err(AuthError::Invalid(
                    "this email signs in to several tenants: name one in `tenant`".into(),
                ));
            }
        };
        let found = match pointer {
            Some(p) => users.get(p.tenant, p.user).await?,
            None => None,
        }
        .filter(|u| u.record.status == UserStatus::Active);
        let Some(Versioned {
            record: user,
            version: user_version,
        }) = found
        else {
            // Same work as a real check, so timing does not tell whether the account exists.
            self.verify_dummy(credentials.password).await;
            return Err(AuthError::InvalidCredentials);
        };
        let lockout = users.lockout(user.tenant, user.id).await?;
        if let Some(locked) = lock_in_force(&lockout, now) {
            self.verify_dummy(credentials.password).await;
            return Err(locked);
        }
        let phc = users
            .password(user.tenant, user.id)
            .await?
            .map(|p| p.phc)
            .unwrap_or_default();
        if !self.verify_password(credentials.password, &phc).await {
            return Err(self.record_failure(&user, lockout, now).await?);
        }
        if lockout.is_some() {
            users.clear_lockout(user.tenant, user.id).await?;
        }
        if self.config.passwords.needs_rehash(&phc) {
            self.set_password(&user, credentials.password, now).await?;
        }
        if user.mfa {
            return Ok(LoginOutcome::MfaRequired {
                mfa_token: self.open_challenge(&user, now).await?,
            });
        }
        Ok(LoginOutcome::Tokens(
            self.open_session(&user, user_version, vec!["pwd".into()], now)
                .await?,
        ))
    }

    pub(super) async fn record_failure(
        &self,
        user: &UserRecord,
        mut lockout: Option<Versioned<LockoutRecord>>,
        now: DateTime<Utc>,
    ) -> Result<AuthError, AuthError> {
        let users = UserRepo::new(self.platform.table());
        for _ in 0..5 {
            let (mut record, version) = match lockout {
                Some(v) => (v.record, Some(v.version)),
                None => (LockoutRecord::default(), None),
            };
            record.failures += 1;
            record.locked_until = self
                .config
                .lockout
                .lock_for(record.failures)
                .map(|d| now + d);
            if users
                .put_lockout(user.tenant, user.id, &record, version)
                .await?
            {
                tracing::info!(user = %user.id, failures = record.failures, "sign-in failed");
                let actor = Subject::user_actor(user.id);
                let action = match record.locked_until {
                    Some(_) => actions::LOGIN_LOCKED,
                    None => actions::LOGIN_FAILED,
                };
                let mut draft = AuditDraft::new(now, &actor, action)
                    .target(&actor)
                    .detail("failures", record.failures.to_string());
                if let Some(until) = record.locked_until {
                    draft = draft.detail("locked_until", until.to_rfc3339());
                }
                self.audit(user.tenant, draft).await;
                return Ok(match record.locked_until {
                    Some(until) => AuthError::Locked {
                        retry_after: (until - now).to_std().unwrap_or_default(),
                    },
                    None => AuthError::InvalidCredentials,
                });
            }
            lockout = users.lockout(user.tenant, user.id).await?;
        }
        Ok(AuthError::InvalidCredentials)
    }

    /// A new session for `user` as read at `user_version`. It is created only if the user is
    /// still that version: a role change or an erasure racing the sign-in wins, and the
    /// sign-in is refused rather than given a session with the old role.
    pub(super) async fn open_session(
        &self,
        user: &UserRecord,
        user_version: u64,
        amr: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, AuthError> {
        let secret = OpaqueSecret::generate();
        let id = SessionId::generate();
        let detail_amr = amr.join(" ");
        let session = SessionRecord {
            id,
            tenant: user.tenant,
            user: user.id,
            role: user.role,
            amr,
            generation: 0,
            secret_sha256: secret.sha256_hex(),
            prior_sha256: Vec::new(),
            created_at: now,
            refreshed_at: now,
            expires_at: now + self.config.session_lifetime,
            revoked_at: None,
            revoked_reason: None,
        };
        if !SessionRepo::new(self.platform.table())
            .create_for(&session, user_version)
            .await?
        {
            return Err(AuthError::Conflict(
                "your account changed while you signed in; sign in again".into(),
            ));
        }
        self.audit(
            user.tenant,
            AuditDraft::new(now, Subject::user_actor(user.id), actions::LOGIN_SUCCEEDED)
                .target(format!("session:{id}"))
                .detail("amr", detail_amr),
        )
        .await;
        self.tokens(&session, &secret, now).await
    }

    async fn tokens(
        &self,
        session: &SessionRecord,
        secret: &OpaqueSecret,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, AuthError> {
        let subject = TokenSubject {
            user: session.user,
            tenant: session.tenant,
            session: session.id,
            role: session.role,
            amr: session.amr.clone(),
        };
        let (access_token, _) = self
            .keyring()
            .await?
            .mint(&subject, now.timestamp())
            .map_err(AuthError::Token)?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_SECONDS,
            refresh_token: RefreshToken::format(session.tenant, session.user, session.id, secret),
            refresh_expires_in: (session.expires_at - now).num_seconds().max(0),
        })
    }

    /// Trade a refresh token for new tokens. The refresh token rotates on every use; a
    /// token that was already used means it was stolen (or the client is broken), so the
    /// whole session is revoked and both parties must sign in again (RFC 9700 §4.14.2).
    pub async fn refresh(&self, token: &str, now: DateTime<Utc>) -> Result<TokenPair, AuthError> {
        let presented = RefreshToken::parse(token).ok_or(AuthError::InvalidCredentials)?;
        let sessions = SessionRepo::new(self.platform.table());
        for _ in 0..5 {
            let Versioned {
                record: mut session,
                version,
            } = sessions
                .get(presented.tenant, presented.user, presented.session)
                .await?
                .ok_or(AuthError::InvalidCredentials)?;
            if session
                .prior_sha256
                .iter()
                .any(|old| matches_digest(&presented.secret, old))
            {
                session.revoke("refresh token reused", now);
                if sessions.update(&session, version).await? {
                    tracing::warn!(session = %session.id, user = %session.user, "refresh token reused: session revoked");
                    self.audit(
                        session.tenant,
                        AuditDraft::new(
                            now,
                            Subject::user_actor(session.user),
                            actions::REFRESH_REUSED,
                        )
                        .target(format!("session:{}", session.id))
                        .detail("generation", session.generation.to_string()),
                    )
                    .await;
                    return Err(AuthError::InvalidCredentials);
                }
                continue;
            }
            // An unknown secret revokes nothing: junk must not be a way to sign people out.
            if !matches_digest(&presented.secret, &session.secret_sha256) || !session.is_live(now) {
                return Err(AuthError::InvalidCredentials);
            }
            // The user as they are now: an erased user gets nothing, a changed role applies.
            session.role = self.active_user(session.tenant, session.user).await?.role;
            let next = OpaqueSecret::generate();
            session.rotate(next.sha256_hex(), now);
            if sessions.update(&session, version).await? {
                return self.tokens(&session, &next, now).await;
            }
        }
        Err(AuthError::Repo(RepoError::Contended {
            what: format!("session {}", presented.session),
            attempts: 5,
        }))
    }

    /// Change the caller's password. The current one must be given (a wrong one counts
    /// towards the lockout, so a stolen session cannot guess it); every other session of the
    /// user ends, the caller's own stays.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let Subject::User { id, session } = principal.subject else {
            return Err(AuthError::Invalid("an API key has no password".into()));
        };
        let user = self.active_user(principal.tenant, id).await?;
        PasswordRules::check(new, &user.email, &["mvidarr"]).map_err(AuthError::WeakPassword)?;
        self.confirm_password(&user, current, now).await?;
        self.set_password(&user, new, now).await?;
        let ended = SessionRepo::new(self.platform.table())
            .update_all_live(user.tenant, user.id, now, |s| {
                if s.id != session {
                    s.revoke("password changed", now);
                }
            })
            .await?;
        self.audit(
            user.tenant,
            AuditDraft::new(now, principal.actor(), actions::PASSWORD_CHANGED)
                .detail("other_sessions_ended", ended.saturating_sub(1).to_string()),
        )
        .await;
        Ok(())
    }

    /// A signed-in user proves it is them again (changing the password or the second factor):
    /// a wrong password counts towards the lockout, so a stolen session cannot guess it. The
    /// refusals are 403s: the session itself is fine.
    pub(super) async fn confirm_password(
        &self,
        user: &UserRecord,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let users = UserRepo::new(self.platform.table());
        let lockout = users.lockout(user.tenant, user.id).await?;
        let too_many = |e: AuthError| match e {
            AuthError::Locked { retry_after } => AuthError::Forbidden(format!(
                "too many wrong attempts: try again in {} s",
                retry_after.as_secs().max(1)
            )),
            _ => AuthError::Forbidden("the current password is not right".into()),
        };
        if let Some(locked) = lock_in_force(&lockout, now) {
            return Err(too_many(locked));
        }
        let phc = users
            .password(user.tenant, user.id)
            .await?
            .map(|p| p.phc)
            .unwrap_or_default();
        if !self.verify_password(password, &phc).await {
            return Err(too_many(self.record_failure(user, lockout, now).await?));
        }
        if lockout.is_some() {
            users.clear_lockout(user.tenant, user.id).await?;
        }
        Ok(())
    }

    /// End the caller's session: its access tokens stop working at once.
    pub async fn logout(&self, principal: &Principal, now: DateTime<Utc>) -> Result<(), AuthError> {
        let Subject::User { id, session } = principal.subject else {
            return Err(AuthError::Invalid(
                "an API key has no session; revoke the key instead".into(),
            ));
        };
        let sessions = SessionRepo::new(self.platform.table());
        for _ in 0..5 {
            let Some(Versioned {
                record: mut s,
                version,
            }) = sessions.get(principal.tenant, id, session).await?
            else {
                return Ok(());
            };
            s.revoke("signed out", now);
            if sessions.update(&s, version).await? {
                self.audit(
                    principal.tenant,
                    AuditDraft::new(now, principal.actor(), actions::SESSION_REVOKED)
                        .target(format!("session:{session}"))
                        .detail("reason", "signed out"),
                )
                .await;
                return Ok(());
            }
        }
        Err(AuthError::Conflict("the session kept changing".into()))
    }
}

/// The lock on an account, if one is in force at `now`.
fn lock_in_force(
    lockout: &Option<Versioned<LockoutRecord>>,
    now: DateTime<Utc>,
) -> Option<AuthError> {
    let until = lockout.as_ref()?.record.locked_until?;
    (until > now).then(|| AuthError::Locked {
        retry_after: (until - now).to_std().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_and_invite_tokens_parse_back_and_refuse_junk() {
        let (t, u, s) = (
            TenantId::generate(),
            UserId::generate(),
            SessionId::generate(),
        );
        let secret = OpaqueSecret::generate();
        let parsed = RefreshToken::parse(&RefreshToken::format(t, u, s, &secret)).unwrap();
        assert_eq!((parsed.tenant, parsed.user, parsed.session), (t, u, s));
        assert_eq!(parsed.secret, secret.expose());
        for junk in [
            "",
            "mvr_",
            "mvr_a_b_c_d",
            "mvi_x",
            &format!("mvr_{t}_{u}_{s}_short"),
        ] {
            assert!(RefreshToken::parse(junk).is_none(), "{junk}");
        }
    }
}
