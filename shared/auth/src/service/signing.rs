//! The token-signing keys: created, sealed, loaded into the keyring, rotated.

use super::*;

/// How often the keyring is re-read from the store to pick up a rotation made elsewhere, and
/// how soon an unknown `kid` may trigger another read (junk tokens must not hammer the table).
const KEYRING_MAX_AGE: StdDuration = StdDuration::from_secs(60);
const UNKNOWN_KID_RELOAD_GAP: StdDuration = StdDuration::from_secs(5);
impl<P: Platform> Identity<P> {
    // ---- signing keys ----

    /// The current keyring: loaded on first use (making the first key of a new deployment),
    /// re-read from the store when older than a minute to pick up a rotation made elsewhere.
    pub async fn keyring(&self) -> Result<Arc<Keyring>, AuthError> {
        let loaded = self
            .keyring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|l| (l.keyring.clone(), l.loaded_at.elapsed() > KEYRING_MAX_AGE));
        match loaded {
            Some((keyring, false)) => Ok(keyring),
            Some((keyring, true)) => match self.reload_keyring().await {
                Ok(fresh) => Ok(fresh),
                Err(e) => {
                    tracing::warn!(error = %e, "could not reload the signing keys; using the ones loaded");
                    Ok(keyring)
                }
            },
            None => {
                let keyring = Arc::new(load_keyring(&self.platform, &self.config, true).await?);
                self.install(keyring.clone());
                Ok(keyring)
            }
        }
    }

    fn install(&self, keyring: Arc<Keyring>) {
        *self.keyring.write().unwrap_or_else(|e| e.into_inner()) = Some(LoadedKeyring {
            keyring,
            loaded_at: Instant::now(),
        });
    }

    pub(super) fn may_reload_for_unknown_kid(&self) -> bool {
        let mut last = self.reload_gate.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_RELOAD_GAP) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    pub(super) async fn reload_keyring(&self) -> Result<Arc<Keyring>, AuthError> {
        let keyring = Arc::new(load_keyring(&self.platform, &self.config, false).await?);
        self.install(keyring.clone());
        Ok(keyring)
    }

    /// Start signing with a new key. The old one keeps verifying the tokens it signed until
    /// they expire, so nobody is signed out by a rotation.
    pub async fn rotate_signing_key(&self, now: DateTime<Utc>) -> Result<SigningKeyId, AuthError> {
        let repo = SigningKeyRepo::new(self.platform.table());
        let old: Vec<_> = repo
            .all()
            .await?
            .into_iter()
            .filter(|k| k.record.state == SigningKeyState::Active)
            .collect();
        let new = create_signing_key(&self.platform, now).await?;
        for Versioned {
            mut record,
            version,
        } in old
        {
            record.state = SigningKeyState::Retiring;
            // Other processes sign with the old key until their keyring is reloaded (at most
            // KEYRING_MAX_AGE later): their last tokens must verify to the end too.
            record.verify_until = Some(
                now + Duration::seconds(
                    ACCESS_TOKEN_SECONDS
                        + CLOCK_LEEWAY_SECONDS as i64
                        + KEYRING_MAX_AGE.as_secs() as i64,
                ),
            );
            // A concurrent rotation retiring it too is fine.
            repo.update(&record, version).await?;
        }
        self.reload_keyring().await?;
        Ok(new)
    }
}

async fn create_signing_key<P: Platform>(
    platform: &P,
    now: DateTime<Utc>,
) -> Result<SigningKeyId, AuthError> {
    let key = SigningKey::generate().map_err(AuthError::Token)?;
    let sealed = envelope::seal(
        platform.key_wrap(),
        &SigningKeyRecord::seal_context(key.kid),
        key.pkcs8(),
    )
    .await?;
    let record = SigningKeyRecord {
        kid: key.kid,
        algorithm: "EdDSA".into(),
        x: key.verifying_key().x(),
        sealed,
        state: SigningKeyState::Active,
        created_at: now,
        verify_until: None,
    };
    SigningKeyRepo::new(platform.table())
        .create(&record)
        .await?;
    Ok(key.kid)
}

/// Read the signing keys: the newest active one signs, every live one verifies. With
/// `create_if_missing`, a deployment without keys makes its first one. A verifier neither
/// makes one nor opens the private key.
async fn load_keyring<P: Platform>(
    platform: &P,
    config: &IdentityConfig,
    create_if_missing: bool,
) -> Result<Keyring, AuthError> {
    let now = Utc::now();
    let mut records = live_keys(platform, now).await?;
    if create_if_missing
        && !config.verify_only
        && !records.iter().any(|k| k.state == SigningKeyState::Active)
    {
        create_signing_key(platform, now).await?;
        records = live_keys(platform, now).await?;
    }
    // Two processes starting at once may each make one: the newest wins, both verify.
    let active = records
        .iter()
        .filter(|k| k.state == SigningKeyState::Active && !config.verify_only)
        .max_by_key(|k| k.kid);
    let signing = match active {
        Some(record) => {
            let pkcs8 = envelope::open(
                platform.key_wrap(),
                &SigningKeyRecord::seal_context(record.kid),
                &record.sealed,
            )
            .await?;
            Some(SigningKey::from_pkcs8(record.kid, pkcs8.expose()).map_err(AuthError::Token)?)
        }
        None => None,
    };
    let verifying = records
        .iter()
        .map(|k| VerifyingKey::from_x(k.kid, &k.x))
        .collect::<Result<Vec<_>, _>>()
        .map_err(AuthError::Token)?;
    Ok(Keyring::new(
        &config.issuer,
        &config.audience,
        signing,
        verifying,
    ))
}

async fn live_keys<P: Platform>(
    platform: &P,
    now: DateTime<Utc>,
) -> Result<Vec<SigningKeyRecord>, AuthError> {
    Ok(SigningKeyRepo::new(platform.table())
        .all()
        .await?
        .into_iter()
        .map(|v| v.record)
        .filter(|k| k.verifies_at(now))
        .collect())
}
