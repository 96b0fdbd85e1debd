//! The HTTP API's Lambda authorizer: a REQUEST authorizer with payload format 2.0 and simple
//! responses (`{"isAuthorized": …, "context": {…}}`). It answers one question — who holds this
//! bearer credential — with the same identity service the API uses.
//!
//! # Why the answer depends on the credential alone
//!
//! API Gateway caches an answer for `ReauthorizeEvery` seconds under the identity source, the
//! `Authorization` header, and serves it for *every* route that credential calls. So the
//! authorizer only authenticates: it never looks at the route or method, and it reads the
//! credential from the identity source itself (the cache key), so a cached answer can only
//! ever be served for the credential it was made for. What the caller may do is decided by
//! the API on each request, from the permissions it finds itself: the API authenticates the
//! credential again, so a key revoked or a session ended is refused at once, even while API
//! Gateway still serves a cached Allow for it.
//!
//! # Refused, or failed
//!
//! A credential that is missing, malformed, unknown, expired or revoked is refused
//! (`isAuthorized: false`; API Gateway answers 403). When the identity store or the key
//! service fails, nothing was learnt about the credential: the invocation fails instead
//! ([`AuthorizerError`]), API Gateway answers 500 and caches nothing, so the next request
//! tries again. A Deny would be cached, locking a valid caller out for the whole TTL because
//! of one throttled read. The same holds for any failure a retry may cure, and for any kind
//! of failure the identity service may add later: never an Allow, never a cached Deny.

use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use aws_lambda_events::http::header::AUTHORIZATION;
use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use mvidarr_auth::service::{AuthError, Identity};
use mvidarr_auth::{Principal, Subject};
use mvidarr_core::ports::Platform;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

/// What API Gateway sends (HTTP API, authorizer payload format 2.0).
pub type AuthorizerRequest = ApiGatewayV2CustomAuthorizerV2Request;
/// What API Gateway expects back with `EnableSimpleResponses`.
pub type AuthorizerResponse = ApiGatewayV2CustomAuthorizerSimpleResponse<AuthorizerContext>;

/// The longest `Authorization` value looked at. Our access tokens are well under 1 KiB and
/// API keys under 100 bytes; anything longer is refused before it is parsed or looked up.
pub const MAX_AUTHORIZATION_BYTES: usize = 4096;

/// The response's `context`, passed by API Gateway to the integration as
/// `requestContext.authorizer.lambda`: the caller when allowed, `{}` when refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerContext {
    #[serde(flatten)]
    pub caller: Option<CallerContext>,
}

/// The authenticated caller, as flat strings (API Gateway passes only strings, numbers and
/// booleans through).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerContext {
    pub tenant: String,
    /// `user:{id}` or `key:{id}`, as in the audit log.
    pub principal: String,
    pub kind: CallerKind,
    /// A user's role; empty for an API key (which has scopes instead).
    pub role: String,
    /// Space-separated permission names (the OAuth `scope` form).
    pub permissions: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerKind {
    User,
    ApiKey,
}

impl From<&Principal> for CallerContext {
    fn from(principal: &Principal) -> Self {
        Self {
            tenant: principal.tenant.to_string(),
            principal: principal.subject.to_string(),
            kind: match principal.subject {
                Subject::User { .. } => CallerKind::User,
                Subject::ApiKey { .. } => CallerKind::ApiKey,
            },
            role: principal.role.map(|r| r.to_string()).unwrap_or_default(),
            permissions: principal.permissions.to_scope_string(),
        }
    }
}

/// No decision now (a retry may succeed): API Gateway answers 500 and caches nothing.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    #[error("could not authenticate now")]
    Unavailable(#[source] AuthError),
}

impl From<AuthorizerError> for Diagnostic {
    fn from(e: AuthorizerError) -> Self {
        let AuthorizerError::Unavailable(cause) = &e;
        Diagnostic {
            error_type: "Unavailable".into(),
            error_message: format!("{e}: {cause}"),
        }
    }
}

/// One Lambda invocation, in a span naming it.
pub async fn handle<P: Platform>(
    identity: &Identity<P>,
    event: LambdaEvent<AuthorizerRequest>,
) -> Result<AuthorizerResponse, AuthorizerError> {
    let span = tracing::info_span!(
        "authorize",
        request_id = %event.context.request_id,
        route = event.payload.route_key.as_deref().unwrap_or_default(),
    );
    authorize(identity, &event.payload, Utc::now())
        .instrument(span)
        .await
}

/// Allow the holder of a valid credential, with who they are as context; refuse anything else.
/// Never logs the credential.
pub async fn authorize<P: Platform>(
    identity: &Identity<P>,
    request: &AuthorizerRequest,
    now: DateTime<Utc>,
) -> Result<AuthorizerResponse, AuthorizerError> {
    let Some(credential) = presented_credential(request) else {
        tracing::info!(reason = "no bearer credential", "refused");
        return Ok(response(None));
    };
    match identity.authenticate(credential, now).await {
        Ok(principal) => {
            tracing::info!(tenant = %principal.tenant, principal = %principal.subject, "allowed");
            Ok(response(Some(CallerContext::from(&principal))))
        }
        Err(e) if is_verdict_on_the_credential(&e) => {
            tracing::info!(reason = %e, "refused");
            Ok(response(None))
        }
        Err(e) => {
            tracing::error!(error = %e, "could not authenticate");
            Err(AuthorizerError::Unavailable(e))
        }
    }
}

/// Whether an error says the credential is not good, whatever the time. Everything else (the
/// store or the key service failing, contention, temporary locks and limits, and any kind of
/// error added later) leaves the request undecided rather than risk a cached Deny.
fn is_verdict_on_the_credential(e: &AuthError) -> bool {
    matches!(
        e,
        AuthError::InvalidCredentials
            | AuthError::Forbidden(_)
            | AuthError::NotFound(_)
            | AuthError::Invalid(_)
            | AuthError::WeakPassword(_)
    )
}

fn response(caller: Option<CallerContext>) -> AuthorizerResponse {
    let mut response = AuthorizerResponse::default();
    response.is_authorized = caller.is_some();
    response.context = AuthorizerContext { caller };
    response
}

/// The bearer credential, read from the identity source when API Gateway sends one (it is the
/// cache key, so the decision depends on nothing else), else from the `Authorization` header
/// (an authorizer without identity sources, which API Gateway never caches).
fn presented_credential(request: &AuthorizerRequest) -> Option<&str> {
    let authorization = match request.identity_source.as_deref() {
        Some([only]) => only.as_str(),
        // We configure exactly one identity source; anything else is not a request we know.
        Some(_) => return None,
        None => request.headers.get(AUTHORIZATION)?.to_str().ok()?,
    };
    bearer(authorization)
}

/// The credential of `Bearer <credential>`; the scheme is case-insensitive (RFC 9110 §11.1).
fn bearer(authorization: &str) -> Option<&str> {
    if authorization.len() > MAX_AUTHORIZATION_BYTES {
        return None;
    }
    let (scheme, credential) = authorization.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_credential() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bEARER abc"), Some("abc"));
        assert_eq!(bearer("Bearer   abc  "), Some("abc"));
        for refused in [
            "",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Basic dXNlcjpwdw==",
            "abc",
        ] {
            assert_eq!(bearer(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn an_oversized_authorization_is_not_read() {
        let at_limit = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES - 7));
        assert!(bearer(&at_limit).is_some());
        let over = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES - 6));
        assert_eq!(bearer(&over), None);
    }

    #[test]
    fn the_identity_source_is_read_before_the_header() {
        let mut request = AuthorizerRequest::default();
        request
            .headers
            .insert(AUTHORIZATION, "Bearer from-header".parse().unwrap());
        assert_eq!(presented_credential(&request), Some("from-header"));
        request.identity_source = Some(vec!["Bearer from-source".into()]);
        assert_eq!(presented_credential(&request), Some("from-source"));
        request.identity_source = Some(vec![]);
        assert_eq!(presented_credential(&request), None);
        request.identity_source = Some(vec!["Bearer a".into(), "Bearer b".into()]);
        assert_eq!(presented_credential(&request), None);
    }

    #[test]
    fn a_refusal_has_an_empty_context() {
        let refused = serde_json::to_value(response(None)).unwrap();
        assert_eq!(
            refused,
            serde_json::json!({"isAuthorized": false, "context": {}})
        );
    }
}
