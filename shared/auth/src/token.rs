//! Access tokens: short-lived EdDSA JWTs (RFC 9068 `at+jwt`), signed with a key named by `kid`
//! and checked the RFC 8725 way — one algorithm allowed, every claim that matters required,
//! nothing in the header trusted beyond the `kid` that picks one of our own keys.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mvidarr_core::ids::{SessionId, SigningKeyId, TenantId, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::policy::Role;

/// How long an access token lives. Short, because it cannot be revoked by itself: the
/// session check on each request is what makes logout immediate.
pub const ACCESS_TOKEN_SECONDS: i64 = 15 * 60;
/// Tolerated clock difference between the minting and the verifying machine.
pub const CLOCK_LEEWAY_SECONDS: u64 = 30;
/// Our tokens are ~600 bytes. Anything much larger is refused before any parsing, since
/// the header is base64-decoded and parsed as JSON before the signature is checked.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// RFC 9068's media type for access tokens: a token of another kind (an ID token, say) is
/// never accepted in its place.
pub const TOKEN_TYPE: &str = "at+jwt";

/// What an access token says. `roles` is informational: permissions are decided from the
/// stored session on every request, never from the token alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub tid: TenantId,
    pub sid: SessionId,
    pub roles: Vec<Role>,
    /// How the user authenticated (RFC 8176): `pwd`, plus `otp` after a TOTP code.
    pub amr: Vec<String>,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
}

/// Who a token is for; the rest of the claims are filled in by [`Keyring::mint`].
#[derive(Debug, Clone)]
pub struct TokenSubject {
    pub user: UserId,
    pub tenant: TenantId,
    pub session: SessionId,
    pub role: Role,
    pub amr: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("token header refused: {0}")]
    HeaderRefused(&'static str),
    #[error("token signed with an unknown key")]
    UnknownKey,
    /// Signature, expiry, not-before, issuer, audience or a missing claim.
    #[error("token rejected: {0}")]
    Rejected(jsonwebtoken::errors::Error),
    #[error("signing failed: {0}")]
    Signing(String),
}

/// An Ed25519 private key for signing tokens. Its bytes never appear in `Debug`.
pub struct SigningKey {
    pub kid: SigningKeyId,
    /// PKCS#8 v1 document (what `jsonwebtoken` and the JWK conversion expect).
    pkcs8: Vec<u8>,
    public: [u8; 32],
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate() -> Result<Self, TokenError> {
        let pair = Ed25519KeyPair::generate().map_err(|e| TokenError::Signing(e.to_string()))?;
        let pkcs8 = pair
            .to_pkcs8v1()
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Self::from_pkcs8(SigningKeyId::generate(), pkcs8.as_ref())
    }

    pub fn from_pkcs8(kid: SigningKeyId, pkcs8: &[u8]) -> Result<Self, TokenError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|_| TokenError::Signing("not an Ed25519 PKCS#8 key".into()))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| TokenError::Signing("unexpected public key length".into()))?;
        Ok(Self {
            kid,
            pkcs8: pkcs8.to_vec(),
            public,
            encoding: EncodingKey::from_ed_der(pkcs8),
        })
    }

    /// The private key, for sealing at rest.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::new(self.kid, self.public)
    }
}

/// A public key that verifies tokens, as published in the JWKS.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: SigningKeyId,
    public: [u8; 32],
    decoding: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("x", &self.x())
            .finish()
    }
}

impl VerifyingKey {
    pub fn new(kid: SigningKeyId, public: [u8; 32]) -> Self {
        // Despite its name, `from_ed_der` takes the raw 32-byte public key.
        Self {
            kid,
            public,
            decoding: DecodingKey::from_ed_der(&public),
        }
    }

    /// From the JWK `x` parameter (base64url, no padding).
    pub fn from_x(kid: SigningKeyId, x: &str) -> Result<Self, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(x)
            .map_err(|e| TokenError::Malformed(format!("public key: {e}")))?;
        let public = bytes
            .try_into()
            .map_err(|_| TokenError::Malformed("public key is not 32 bytes".into()))?;
        Ok(Self::new(kid, public))
    }

    pub fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public)
    }

    pub fn jwk(&self) -> Jwk {
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(self.kid.to_string()),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: self.x(),
            }),
        }
    }
}

/// The keys one process signs and verifies with: at most one signing key (the active one) and
/// every key whose tokens may still be alive (the active one and those retired less than a
/// token lifetime ago, so a rotation logs nobody out).
pub struct Keyring {
    issuer: String,
    audience: String,
    signing: Option<SigningKey>,
    verifying: HashMap<String, VerifyingKey>,
    validation: Validation,
    verified: VerifiedTokens,
}

/// Tokens this keyring has verified, by SHA-256 of their bytes, until they expire. A client
/// sends the same access token with every request for 15 minutes, and the Ed25519 check is
/// nearly all of a verification's cost (≈ 50 µs here): a byte-identical token needs no second
/// one. Revocation is unaffected — it is decided by the session read on every request — and
/// a new keyring (every reload, every rotation) starts with an empty cache.
struct VerifiedTokens(Mutex<HashMap<[u8; 32], AccessClaims>>);

/// Bound on the cache: beyond it, expired entries are dropped, then everything.
const VERIFIED_TOKENS_MAX: usize = 16_384;

impl VerifiedTokens {
    fn get(&self, digest: &[u8; 32], now: i64) -> Option<AccessClaims> {
        let cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(digest)
            .filter(|c| c.exp + CLOCK_LEEWAY_SECONDS as i64 > now)
            .cloned()
    }

    fn put(&self, digest: [u8; 32], claims: &AccessClaims, now: i64) {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= VERIFIED_TOKENS_MAX {
            cache.retain(|_, c| c.exp + CLOCK_LEEWAY_SECONDS as i64 > now);
            if cache.len() >= VERIFIED_TOKENS_MAX {
                cache.clear();
            }
        }
        cache.insert(digest, claims.clone());
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("issuer", &self.issuer)
            .field("signing", &self.signing.as_ref().map(|k| k.kid))
            .field("verifying", &self.verifying.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    pub fn new(
        issuer: &str,
        audience: &str,
        signing: Option<SigningKey>,
        verifying: impl IntoIterator<Item = VerifyingKey>,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        // The library checks nbf, iss, aud and sub only when told they are required.
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = CLOCK_LEEWAY_SECONDS;
        let mut verifying: HashMap<String, VerifyingKey> = verifying
            .into_iter()
            .map(|k| (k.kid.to_string(), k))
            .collect();
        if let Some(key) = &signing {
            verifying.insert(key.kid.to_string(), key.verifying_key());
        }
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            signing,
            verifying,
            validation,
            verified: VerifiedTokens(Mutex::new(HashMap::new())),
        }
    }

    pub fn signing_kid(&self) -> Option<SigningKeyId> {
        self.signing.as_ref().map(|k| k.kid)
    }

    pub fn knows(&self, kid: &str) -> bool {
        self.verifying.contains_key(kid)
    }

    /// A new access token for `subject`, valid from `now` for [`ACCESS_TOKEN_SECONDS`].
    pub fn mint(
        &self,
        subject: &TokenSubject,
        now: i64,
    ) -> Result<(String, AccessClaims), TokenError> {
        let key = self
            .signing
            .as_ref()
            .ok_or_else(|| TokenError::Signing("no active signing key".into()))?;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.user,
            tid: subject.tenant,
            sid: subject.session,
            roles: vec![subject.role],
            amr: subject.amr.clone(),
            exp: now + ACCESS_TOKEN_SECONDS,
            nbf: now,
            iat: now,
            jti: ulid::Ulid::new().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(TOKEN_TYPE.into());
        header.kid = Some(key.kid.to_string());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok((token, claims))
    }

    /// Check a presented token: size, header, key, signature, then claims — or find it among
    /// the tokens this keyring verified already and that have not expired.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    fn verify_at(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.verified.get(&digest, now) {
            return Ok(claims);
        }
        let claims = self.verify_uncached(token)?;
        self.verified.put(digest, &claims, now);
        Ok(claims)
    }

    /// The full check, every time (what the cache saves; the benchmark's raw figure).
    pub fn verify_uncached(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(TokenError::HeaderRefused("typ is not at+jwt"));
        }
        // Keys are never taken from the token itself (RFC 8725 §3.10), and no extension is
        // understood, so one marked critical must be refused (RFC 7515 §4.1.11).
        if header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
        {
            return Err(TokenError::HeaderRefused("embedded or remote key"));
        }
        if header.crit.is_some() {
            return Err(TokenError::HeaderRefused("critical extension"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or(TokenError::HeaderRefused("no kid"))?;
        let key = self.verifying.get(kid).ok_or(TokenError::UnknownKey)?;
        jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(TokenError::Rejected)
    }

    /// The public keys, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> JwkSet {
        let mut keys: Vec<&VerifyingKey> = self.verifying.values().collect();
        keys.sort_by_key(|k| k.kid);
        JwkSet {
            keys: keys.into_iter().map(VerifyingKey::jwk).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::errors::ErrorKind;

    use super::*;

    const ISS: &str = "https://mvidarr.test";
    const AUD: &str = "mvidarr-api";

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn subject() -> TokenSubject {
        TokenSubject {
            user: UserId::generate(),
            tenant: TenantId::generate(),
            session: SessionId::generate(),
            role: Role::Editor,
            amr: vec!["pwd".into()],
        }
    }

    fn keyring() -> Keyring {
        Keyring::new(ISS, AUD, Some(SigningKey::generate().unwrap()), [])
    }

    fn rejected_kind(r: Result<AccessClaims, TokenError>) -> ErrorKind {
        match r {
            Err(TokenError::Rejected(e)) => e.into_kind(),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    /// Sign arbitrary claims and header with the keyring's key, bypassing `mint`.
    fn forge(ring: &Keyring, header: Header, claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(&header, claims, &ring.signing.as_ref().unwrap().encoding).unwrap()
    }

    fn header(ring: &Keyring) -> Header {
        let mut h = Header::new(Algorithm::EdDSA);
        h.typ = Some(TOKEN_TYPE.into());
        h.kid = ring.signing_kid().map(|k| k.to_string());
        h
    }

    fn claims_json(t: i64) -> serde_json::Value {
        let s = subject();
        serde_json::json!({
            "iss": ISS, "aud": AUD, "sub": s.user, "tid": s.tenant, "sid": s.session,
            "roles": ["viewer"], "amr": ["pwd"], "exp": t + 900, "nbf": t, "iat": t, "jti": "x",
        })
    }

    #[test]
    fn a_minted_token_verifies_and_carries_its_claims() {
        let ring = keyring();
        let s = subject();
        let (token, claims) = ring.mint(&s, now()).unwrap();
        let verified = ring.verify(&token).unwrap();
        assert_eq!(verified, claims);
        assert_eq!(verified.sub, s.user);
        assert_eq!(verified.tid, s.tenant);
        assert_eq!(verified.exp - verified.iat, ACCESS_TOKEN_SECONDS);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid, ring.signing_kid().map(|k| k.to_string()));
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_rejected() {
        let ring = keyring();
        let (old, _) = ring
            .mint(&subject(), now() - ACCESS_TOKEN_SECONDS - 120)
            .unwrap();
        assert_eq!(
            rejected_kind(ring.verify(&old)),
            ErrorKind::ExpiredSignature
        );
        let mut future = claims_json(now());
        future["nbf"] = (now() + 120).into();
        let token = forge(&ring, header(&ring), &future);
        assert_eq!(
            rejected_kind(ring.verify(&token)),
            ErrorKind::ImmatureSignature
        );
    }

    #[test]
    fn wrong_issuer_audience_or_missing_claims_are_rejected() {
        let ring = keyring();
        let t = now();
        let mut c = claims_json(t);
        c["iss"] = "https://evil.test".into();
        assert_eq!(
            rejected_kind(ring.verify(&forge(&ring, header(&ring), &c))),
            ErrorKind::InvalidIssuer
        );
        let mut c = claims_json(t);
        c["aud"] = "someone-else".into();
        assert_eq!(
            rejected_kind(ring.verify(&forge(&ring, header(&ring), &c))),
            ErrorKind::InvalidAudience
        );
        for claim in ["aud", "iss", "nbf", "exp", "sub"] {
            let mut c = claims_json(t);
            c.as_object_mut().unwrap().remove(claim);
            assert!(
                ring.verify(&forge(&ring, header(&ring), &c)).is_err(),
                "token without {claim} accepted"
            );
        }
    }

    #[test]
    fn alg_none_and_hmac_with_the_public_key_are_refused() {
        let ring = keyring();
        let (token, _) = ring.mint(&subject(), now()).unwrap();
        let mut parts = token.split('.');
        let (h, p) = (parts.next().unwrap(), parts.next().unwrap());
        let kid = ring.signing_kid().unwrap();

        let none_header = URL_SAFE_NO_PAD
            .encode(serde_json::json!({"alg": "none", "typ": TOKEN_TYPE, "kid": kid}).to_string());
        assert!(matches!(
            ring.verify(&format!("{none_header}.{p}.")),
            Err(TokenError::Malformed(_))
        ));

        // HS256 with the published public key as the HMAC secret (the classic confusion).
        let public = ring.signing.as_ref().unwrap().public;
        let mut hs = Header::new(Algorithm::HS256);
        hs.typ = Some(TOKEN_TYPE.into());
        hs.kid = Some(kid.to_string());
        let forged =
            jsonwebtoken::encode(&hs, &claims_json(now()), &EncodingKey::from_secret(&public))
                .unwrap();
        assert_eq!(
            rejected_kind(ring.verify(&forged)),
            ErrorKind::InvalidAlgorithm
        );
        let x = ring.signing.as_ref().unwrap().verifying_key().x();
        let forged_b64 = jsonwebtoken::encode(
            &hs,
            &claims_json(now()),
            &EncodingKey::from_secret(x.as_bytes()),
        )
        .unwrap();
        assert!(ring.verify(&forged_b64).is_err());
        assert!(ring.verify(&format!("{h}.{p}")).is_err());
    }

    #[test]
    fn a_tampered_payload_or_foreign_key_fails_the_signature() {
        let ring = keyring();
        let (token, claims) = ring.mint(&subject(), now()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut tampered = serde_json::to_value(&claims).unwrap();
        tampered["roles"] = serde_json::json!(["owner"]);
        parts[1] = URL_SAFE_NO_PAD.encode(tampered.to_string());
        assert_eq!(
            rejected_kind(ring.verify(&parts.join("."))),
            ErrorKind::InvalidSignature
        );

        // Same kid, different private key.
        let other = Keyring::new(
            ISS,
            AUD,
            Some(
                SigningKey::from_pkcs8(
                    ring.signing_kid().unwrap(),
                    SigningKey::generate().unwrap().pkcs8(),
                )
                .unwrap(),
            ),
            [],
        );
        let (foreign, _) = other.mint(&subject(), now()).unwrap();
        assert_eq!(
            rejected_kind(ring.verify(&foreign)),
            ErrorKind::InvalidSignature
        );
    }

    #[test]
    fn header_rules_unknown_kid_typ_embedded_keys_crit_and_size() {
        let ring = keyring();
        let c = claims_json(now());
        let mut unknown = header(&ring);
        unknown.kid = Some(SigningKeyId::generate().to_string());
        assert!(matches!(
            ring.verify(&forge(&ring, unknown, &c)),
            Err(TokenError::UnknownKey)
        ));
        let mut no_kid = header(&ring);
        no_kid.kid = None;
        assert!(matches!(
            ring.verify(&forge(&ring, no_kid, &c)),
            Err(TokenError::HeaderRefused(_))
        ));
        let mut id_token = header(&ring);
        id_token.typ = Some("JWT".into());
        assert!(matches!(
            ring.verify(&forge(&ring, id_token, &c)),
            Err(TokenError::HeaderRefused(_))
        ));
        let mut jku = header(&ring);
        jku.jku = Some("https://evil.test/jwks.json".into());
        assert!(matches!(
            ring.verify(&forge(&ring, jku, &c)),
            Err(TokenError::HeaderRefused(_))
        ));
        let mut embedded = header(&ring);
        embedded.jwk = Some(ring.signing.as_ref().unwrap().verifying_key().jwk());
        assert!(matches!(
            ring.verify(&forge(&ring, embedded, &c)),
            Err(TokenError::HeaderRefused(_))
        ));
        let mut crit = header(&ring);
        crit.crit = Some(vec!["exp".into()]);
        assert!(matches!(
            ring.verify(&forge(&ring, crit, &c)),
            Err(TokenError::HeaderRefused(_))
        ));
        let mut big = header(&ring);
        big.cty = Some("x".repeat(MAX_TOKEN_BYTES));
        assert!(matches!(
            ring.verify(&forge(&ring, big, &c)),
            Err(TokenError::TooLarge)
        ));
    }

    #[test]
    fn a_retired_key_still_verifies_and_the_jwks_lists_every_live_key() {
        let old = keyring();
        let (token, _) = old.mint(&subject(), now()).unwrap();
        let old_public = old.signing.as_ref().unwrap().verifying_key();
        let rotated = Keyring::new(
            ISS,
            AUD,
            Some(SigningKey::generate().unwrap()),
            [old_public.clone()],
        );
        assert!(rotated.verify(&token).is_ok());
        assert_ne!(rotated.signing_kid(), old.signing_kid());
        let jwks = serde_json::to_value(rotated.jwks()).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids.len(), 2);
        assert!(kids.contains(&old_public.kid.to_string().as_str()));
        let first = &jwks["keys"][0];
        assert_eq!(first["kty"], "OKP");
        assert_eq!(first["crv"], "Ed25519");
        assert_eq!(first["alg"], "EdDSA");
        assert_eq!(first["use"], "sig");
        // A verifier built only from the published JWK accepts the token.
        let published =
            jsonwebtoken::jwk::JwkSet::find(&rotated.jwks(), &old_public.kid.to_string())
                .cloned()
                .unwrap();
        let key = DecodingKey::from_jwk(&published).unwrap();
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[AUD]);
        assert!(jsonwebtoken::decode::<AccessClaims>(&token, &key, &v).is_ok());
    }

    #[test]
    fn debug_output_never_shows_private_key_bytes() {
        let key = SigningKey::generate().unwrap();
        let shown = format!(
            "{key:?} {:?}",
            Keyring::new(
                ISS,
                AUD,
                Some(SigningKey::from_pkcs8(key.kid, key.pkcs8()).unwrap()),
                []
            )
        );
        assert!(!shown.contains(&hex::encode(key.pkcs8())));
        assert!(!shown.contains(&URL_SAFE_NO_PAD.encode(key.pkcs8())));
        assert!(!shown.contains(&hex::encode(&key.pkcs8()[16..])));
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires_and_only_byte_for_byte() {
        let ring = keyring();
        let now = now();
        let (token, claims) = ring.mint(&subject(), now).unwrap();
        assert_eq!(ring.verify_at(&token, now).unwrap(), claims);
        assert_eq!(
            ring.verify_at(&token, now + 60).unwrap(),
            claims,
            "a cache hit"
        );
        // Past its expiry (and the leeway) the remembered answer is not used; the full check
        // runs and (at the real clock) accepts it, so only the cache's own rule is shown here.
        let late = now + ACCESS_TOKEN_SECONDS + CLOCK_LEEWAY_SECONDS as i64 + 1;
        assert!(
            ring.verified
                .get(&Sha256::digest(token.as_bytes()).into(), late)
                .is_none()
        );
        // A tampered copy is not the same bytes: it is checked, and fails.
        let mut tampered = token.clone();
        tampered.pop();
        assert!(ring.verify_at(&tampered, now).is_err());
        // Another keyring (a reload, a rotation) remembers nothing.
        let other = Keyring::new(
            ISS,
            AUD,
            None,
            [ring.signing.as_ref().unwrap().verifying_key()],
        );
        assert!(
            other
                .verified
                .get(&Sha256::digest(token.as_bytes()).into(), now)
                .is_none()
        );
        assert_eq!(other.verify_at(&token, now).unwrap(), claims);
    }

    proptest::proptest! {
        /// The verifier parses attacker-controlled input before any signature check: it must
        /// refuse anything, of any length, without panicking.
        #[test]
        fn arbitrary_input_is_refused_without_panicking(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..9000),
            parts in "[A-Za-z0-9_-]{0,400}\\.[A-Za-z0-9_-]{0,400}\\.[A-Za-z0-9_-]{0,120}",
        ) {
            let ring = keyring();
            proptest::prop_assert!(ring.verify(&String::from_utf8_lossy(&noise)).is_err());
            proptest::prop_assert!(ring.verify(&parts).is_err());
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}"}}"#, ring.signing_kid().unwrap()));
            let forged = format!("{header}.{parts}");
            proptest::prop_assert!(ring.verify(&forged).is_err());
        }
    }
}
