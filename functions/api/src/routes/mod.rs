//! Routes, one module per resource; [`spec`] holds the table that declares them all.

mod admin;
mod alerts;
mod analytics;
mod api_keys;
mod duplicates;
mod events;
mod health;
mod media;
mod privacy;
mod profiles;
mod recommendations;
mod references;
mod reports;
mod review;
mod session;
pub mod spec;
mod tags;
mod thumbnails;
mod uploads;
mod users;
mod vocabulary;

use axum::Router;
use axum::http::Method;
use mvidarr_auth::Permission::*;
use mvidarr_core::ports::Platform;
use serde_json::json;
use spec::Access::*;
use spec::{Resource, RouteSpec};

use crate::ApiState;
use crate::problem::ApiError;

pub(crate) use references::{media_ref, path_ref, profile_ref};

/// The declaration of every route: method, path, access, the resource its path names, handler.
/// One line per route (rustfmt would spread each over seven).
#[rustfmt::skip]
fn declared<P: Platform>() -> Vec<RouteSpec<ApiState<P>>> {
    use Method as M;
    use RouteSpec as R;
    use Resource as Of;
    vec![
        R::new(M::GET, "/healthz", Public, Of::None, health::healthz),
        R::new(M::GET, "/.well-known/jwks.json", Public, Of::None, session::jwks::<P>),
        R::new(M::POST, "/v1/auth/login", Public, Of::None, session::login::<P>)
            .with_body(json!({"email": "nobody@example.com", "password": "not the password"})),
        R::new(M::POST, "/v1/auth/mfa", Public, Of::None, session::complete_mfa::<P>)
            .with_body(json!({"mfa_token": "mvm_junk", "code": "123456"})),
        R::new(M::POST, "/v1/auth/refresh", Public, Of::None, session::refresh::<P>)
            .with_body(json!({"refresh_token": "mvr_junk"})),
        R::new(M::POST, "/v1/auth/invites/accept", Public, Of::None, session::accept_invite::<P>)
            .with_body(json!({"token": "mvi_junk", "password": "correct horse battery staple 9"})),
        R::new(M::POST, "/v1/auth/logout", Authenticated, Of::None, session::logout::<P>),
        R::new(M::GET, "/v1/me", Authenticated, Of::None, session::me),
        R::new(M::POST, "/v1/me/password", Authenticated, Of::None, session::change_password::<P>)
            .with_body(json!({"current_password": "not it", "new_password": "correct horse battery staple 10"})),
        R::new(M::POST, "/v1/me/mfa/totp", Authenticated, Of::None, session::enrol_totp::<P>)
            .with_body(json!({"password": "not it"})),
        R::new(M::POST, "/v1/me/mfa/totp/confirm", Authenticated, Of::None, session::confirm_totp::<P>)
            .with_body(json!({"code": "123456"})),
        R::new(M::POST, "/v1/me/mfa/totp/disable", Authenticated, Of::None, session::disable_totp::<P>)
            .with_body(json!({"password": "not it", "code": "123456"})),
        R::new(M::POST, "/v1/me/export", Authenticated, Of::None, privacy::export::<P>),
        R::new(M::POST, "/v1/invites", Needs(AdminUsers), Of::None, users::invite::<P>)
            .with_body(json!({"email": "new.person@example.com", "role": "viewer"})),
        R::new(M::GET, "/v1/users", Needs(AdminUsers), Of::None, users::list::<P>),
        R::new(M::PATCH, "/v1/users/{id}", Needs(AdminUsers), Of::User, users::update::<P>)
            .with_body(json!({"role": "viewer"})),
        R::new(M::DELETE, "/v1/users/{id}", Needs(AdminUsers), Of::User, privacy::erase::<P>),
        R::new(M::POST, "/v1/api-keys", Needs(ApiKeysManage), Of::None, api_keys::create::<P>)
            .with_body(json!({"name": "ci", "scopes": ["media:read"]})),
        R::new(M::GET, "/v1/api-keys", Needs(ApiKeysManage), Of::None, api_keys::list::<P>),
        R::new(M::DELETE, "/v1/api-keys/{id}", Needs(ApiKeysManage), Of::ApiKey, api_keys::revoke::<P>),
        R::new(M::GET, "/v1/audit", Needs(AuditRead), Of::None, admin::audit::<P>),
        R::new(M::GET, "/v1/audit/verify", Needs(AuditRead), Of::None, admin::verify_audit::<P>),
        R::new(M::GET, "/v1/settings", Needs(AdminSettings), Of::None, admin::settings::<P>),
        R::new(M::PUT, "/v1/settings/retention", Needs(AdminSettings), Of::None, admin::set_retention::<P>)
            .with_body(json!({"events_days": 365})),
        R::new(M::POST, "/v1/uploads", Needs(MediaWrite), Of::None, uploads::create::<P>)
            .with_body(json!({"filename": "clip.mp4", "content_type": "video/mp4", "size": 1000})),
        R::new(M::GET, "/v1/media", Needs(MediaRead), Of::None, media::list::<P>),
        R::new(M::GET, "/v1/media/{id}", Needs(MediaRead), Of::Media, media::get::<P>),
        R::new(M::GET, "/v1/media/{id}/analysis", Needs(MediaRead), Of::Media, media::analysis::<P>),
        R::new(M::GET, "/v1/media/{id}/thumbnails", Needs(MediaRead), Of::Media, thumbnails::list::<P>),
        R::new(M::GET, "/v1/media/{id}/duplicates", Needs(MediaRead), Of::Media, duplicates::list::<P>),
        R::new(M::GET, "/v1/media/{id}/similar", Needs(MediaRead), Of::Media, recommendations::similar::<P>),
        R::new(M::GET, "/v1/media/{id}/tags", Needs(MediaRead), Of::Media, tags::list::<P>),
        R::new(M::POST, "/v1/media/{id}/tags", Needs(TagsReview), Of::Media, tags::add::<P>)
            .with_body(json!({"name": "live"})),
        R::new(M::POST, "/v1/media/{id}/tags/{tag}/accept", Needs(TagsReview), Of::Media, tags::accept::<P>),
        R::new(M::POST, "/v1/media/{id}/tags/{tag}/reject", Needs(TagsReview), Of::Media, tags::reject::<P>),
        R::new(M::GET, "/v1/tags", Needs(MediaRead), Of::None, vocabulary::list::<P>),
        R::new(M::GET, "/v1/tags/vocabulary", Needs(MediaRead), Of::None, vocabulary::get_vocabulary::<P>),
        R::new(M::PUT, "/v1/tags/vocabulary", Needs(TagsManage), Of::None, vocabulary::put_vocabulary::<P>)
            .with_body(json!({"version": 0, "tags": {"explicit": {"synonyms": ["nsfw"]}}})),
        R::new(M::GET, "/v1/tags/models", Needs(MediaRead), Of::None, vocabulary::models::<P>),
        R::new(M::POST, "/v1/tags/models/{tag}/promote", Needs(TagsManage), Of::None, vocabulary::promote::<P>)
            .with_body(json!({"version": 1})),
        R::new(M::GET, "/v1/review", Needs(TagsReview), Of::None, review::queue::<P>),
        R::new(M::POST, "/v1/review/decisions", Needs(TagsReview), Of::None, review::decide::<P>)
            .with_body(json!({"decisions": [{"media": "ext:sample-media", "tag": "live", "accept": true}]})),
        R::new(M::GET, "/v1/recommendations", Needs(MediaRead), Of::None, recommendations::list::<P>),
        R::new(M::POST, "/v1/events", Needs(EventsWrite), Of::None, events::record::<P>)
            .with_body(json!({"events": [{"id": "sample-1", "kind": "play", "media": "ext:sample-media", "user": "ext:sample-user"}]})),
        R::new(M::GET, "/v1/analytics/summary", Needs(ReportsRead), Of::None, analytics::summary::<P>),
        R::new(M::GET, "/v1/analytics/media/{id}", Needs(ReportsRead), Of::Media, analytics::media::<P>),
        R::new(M::POST, "/v1/reports", Needs(ReportsRead), Of::None, reports::create::<P>)
            .with_body(json!({"kind": "trend", "format": "csv"})),
        R::new(M::GET, "/v1/reports", Needs(ReportsRead), Of::None, reports::list::<P>),
        R::new(M::GET, "/v1/reports/{id}", Needs(ReportsRead), Of::None, reports::get::<P>),
        R::new(M::POST, "/v1/report-schedules", Needs(ReportsManage), Of::None, reports::create_schedule::<P>)
            .with_body(json!({"name": "weekly", "kind": "trend", "format": "pdf", "cron": "0 8 * * MON", "period_days": 7})),
        R::new(M::GET, "/v1/report-schedules", Needs(ReportsRead), Of::None, reports::list_schedules::<P>),
        R::new(M::GET, "/v1/report-schedules/{id}", Needs(ReportsRead), Of::None, reports::get_schedule::<P>),
        R::new(M::PUT, "/v1/report-schedules/{id}", Needs(ReportsManage), Of::None, reports::update_schedule::<P>)
            .with_body(json!({"name": "weekly", "kind": "trend", "format": "pdf", "cron": "0 8 * * MON", "period_days": 7})),
        R::new(M::DELETE, "/v1/report-schedules/{id}", Needs(ReportsManage), Of::None, reports::delete_schedule::<P>),
        R::new(M::POST, "/v1/alert-rules", Needs(ReportsManage), Of::None, alerts::create_rule::<P>)
            .with_body(json!({"name": "failures", "metric": "analysis_failure_rate", "window_hours": 1, "threshold": 0.05})),
        R::new(M::GET, "/v1/alert-rules", Needs(ReportsRead), Of::None, alerts::list_rules::<P>),
        R::new(M::GET, "/v1/alert-rules/{id}", Needs(ReportsRead), Of::None, alerts::get_rule::<P>),
        R::new(M::PUT, "/v1/alert-rules/{id}", Needs(ReportsManage), Of::None, alerts::update_rule::<P>)
            .with_body(json!({"name": "failures", "metric": "analysis_failure_rate", "window_hours": 1, "threshold": 0.05})),
        R::new(M::DELETE, "/v1/alert-rules/{id}", Needs(ReportsManage), Of::None, alerts::delete_rule::<P>),
        R::new(M::GET, "/v1/alerts", Needs(ReportsRead), Of::None, alerts::list_alerts::<P>),
        R::new(M::GET, "/v1/alerts/notifications", Needs(ReportsRead), Of::None, alerts::list_notifications::<P>),
        R::new(M::POST, "/v1/profiles", Needs(EventsWrite), Of::None, profiles::create::<P>)
            .with_body(json!({"external_id": "sample-user"})),
        R::new(M::GET, "/v1/profiles/{id}", Needs(MediaRead), Of::Profile, profiles::get::<P>),
    ]
}

pub fn router<P: Platform>(state: &ApiState<P>) -> Router<ApiState<P>> {
    spec::build(state)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The id in a path, as an id of the kind the route names. One that does not parse is simply
/// not found: no hint about what ids look like or which exist.
pub(crate) fn path_id<T: std::str::FromStr>(id: &str, what: &str) -> Result<T, ApiError> {
    id.parse()
        .map_err(|_| ApiError::NotFound(format!("no {what} {id}")))
}

/// `?limit=&cursor=` of a list read newest first a page at a time (reports, alerts).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

impl PageParams {
    /// The page size (50 unless asked, 1 to 100) and the cursor, or why the query is refused.
    pub(crate) fn parse(
        params: Result<axum::extract::Query<PageParams>, axum::extract::rejection::QueryRejection>,
    ) -> Result<(usize, Option<String>), ApiError> {
        let axum::extract::Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let limit = p.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::BadRequest("limit must be 1 to 100".into()));
        }
        Ok((limit, p.cursor))
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// axum adds the `Allow` header to this response itself.
async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("method not allowed on this route".into())
}
