//! Signing in and out: `POST /v1/auth/login|refresh|logout`, invitations accepted, `GET /v1/me`
//! and the public keys at `GET /.well-known/jwks.json`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use chrono::Utc;
use mvidarr_auth::Subject;
use mvidarr_auth::service::{Credentials, LoginOutcome, SecondFactor, TokenPair};
use mvidarr_core::ports::Platform;
use serde::{Deserialize, Serialize};

use crate::json::ApiJson;
use crate::{ApiError, ApiState, Caller};

/// Never printed (it holds the password).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
    #[serde(default)]
    tenant: Option<String>,
}

pub async fn login<P: Platform>(
    State(state): State<ApiState<P>>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let outcome = state
        .identity
        .login(
            &Credentials {
                email: &req.email,
                password: &req.password,
                tenant: req.tenant.as_deref(),
            },
            Utc::now(),
        )
        .await?;
    Ok(match outcome {
        LoginOutcome::Tokens(tokens) => no_store(tokens).into_response(),
        LoginOutcome::MfaRequired { mfa_token } => (
            [(CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({
                "mfa_required": true,
                "mfa_token": mfa_token,
                "methods": ["totp", "recovery_code"],
            })),
        )
            .into_response(),
    })
}

/// Exactly one of `code` (TOTP) and `recovery_code`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaAnswer {
    mfa_token: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

pub async fn complete_mfa<P: Platform>(
    State(state): State<ApiState<P>>,
    ApiJson(req): ApiJson<MfaAnswer>,
) -> Result<impl IntoResponse, ApiError> {
    let factor = match (&req.code, &req.recovery_code) {
        (Some(code), None) => SecondFactor::Totp(code),
        (None, Some(code)) => SecondFactor::RecoveryCode(code),
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of `code` and `recovery_code`".into(),
            ));
        }
    };
    let tokens = state
        .identity
        .complete_mfa(&req.mfa_token, factor, Utc::now())
        .await?;
    Ok(no_store(tokens))
}

/// Never printed (it holds the password).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordAgain {
    password: String,
}

/// Start two-factor enrolment (the password again): the secret for the authenticator app
/// (shown once).
pub async fn enrol_totp<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordAgain>,
) -> Result<impl IntoResponse, ApiError> {
    let enrolment = state
        .identity
        .enrol_totp(&caller.principal, &req.password, Utc::now())
        .await?;
    Ok((
        StatusCode::CREATED,
        [(CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({
            "secret": enrolment.secret_base32,
            "otpauth_uri": enrolment.otpauth_uri,
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    code: String,
}

/// Confirm enrolment with a first code; the answer holds the recovery codes (shown once).
pub async fn confirm_totp<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    ApiJson(req): ApiJson<TotpCode>,
) -> Result<impl IntoResponse, ApiError> {
    let codes = state
        .identity
        .confirm_totp(&caller.principal, &req.code, Utc::now())
        .await?;
    Ok((
        [(CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "recovery_codes": codes })),
    ))
}

/// Never printed (it holds the password).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisableTotp {
    password: String,
    code: String,
}

pub async fn disable_totp<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    ApiJson(req): ApiJson<DisableTotp>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .disable_totp(&caller.principal, &req.password, &req.code, Utc::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

pub async fn refresh<P: Platform>(
    State(state): State<ApiState<P>>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let tokens = state
        .identity
        .refresh(&req.refresh_token, Utc::now())
        .await?;
    Ok(no_store(tokens))
}

/// Token responses must not be cached by anything on the way (RFC 6749 §5.1).
fn no_store(tokens: TokenPair) -> impl IntoResponse {
    ([(CACHE_CONTROL, "no-store")], Json(tokens))
}

/// Never printed (it holds passwords).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

pub async fn change_password<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .change_password(
            &caller.principal,
            &req.current_password,
            &req.new_password,
            Utc::now(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn logout<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    state.identity.logout(&caller.principal, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    token: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Serialize)]
pub struct UserView {
    id: mvidarr_core::ids::UserId,
    tenant: mvidarr_core::ids::TenantId,
    email: String,
    name: Option<String>,
    role: mvidarr_auth::Role,
    mfa: bool,
    created_at: chrono::DateTime<Utc>,
}

impl From<mvidarr_auth::store::UserRecord> for UserView {
    fn from(u: mvidarr_auth::store::UserRecord) -> Self {
        Self {
            id: u.id,
            tenant: u.tenant,
            email: u.email,
            name: u.name,
            role: u.role,
            mfa: u.mfa,
            created_at: u.created_at,
        }
    }
}

pub async fn accept_invite<P: Platform>(
    State(state): State<ApiState<P>>,
    ApiJson(req): ApiJson<AcceptInvite>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = state
        .identity
        .accept_invite(&req.token, &req.password, req.name.as_deref(), Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Who the caller is and what they may do.
pub async fn me(caller: Caller) -> Json<serde_json::Value> {
    let p = &caller.principal;
    let mut body = serde_json::json!({
        "tenant": p.tenant,
        "subject": p.subject,
        "permissions": p.permissions,
    });
    if let Some(role) = p.role {
        body["role"] = serde_json::json!(role);
    }
    if let Subject::User { id, .. } = p.subject {
        body["user"] = serde_json::json!(id);
    }
    Json(body)
}

pub async fn jwks<P: Platform>(
    State(state): State<ApiState<P>>,
) -> Result<impl IntoResponse, ApiError> {
    // Short enough that a rotation's new key is seen well before the old one retires.
    Ok((
        [(CACHE_CONTROL, "public, max-age=300")],
        Json(state.identity.keyring().await?.jwks()),
    ))
}
