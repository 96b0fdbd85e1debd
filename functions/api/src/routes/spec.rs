//! The route table: every route with the access it needs and the resource its `{id}` names.
//! The router is built from this list and the security tests walk it, so a route cannot be
//! added without declaring who may call it, and a new route is tested for tenant isolation,
//! 401 and 403 without anyone writing a test for it.

use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodFilter, MethodRouter, on};
use mvidarr_auth::Permission;
use mvidarr_core::ports::Platform;
use serde_json::Value;

use crate::ApiState;
use crate::auth::authorize;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials (health, JWKS, login).
    Public,
    /// Any authenticated caller; the handler acts on the caller's own data.
    Authenticated,
    /// A caller holding this permission.
    Needs(Permission),
}

/// What a route's path parameters name, so the isolation test can fill them with another
/// tenant's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    None,
    Media,
    User,
    ApiKey,
    Profile,
}

/// One route as declared, without its handler: what the tests walk.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub resource: Resource,
    /// A valid request body, for routes that take one (so a test reaches the handler's own
    /// checks rather than stopping at body validation).
    pub sample_body: Option<Value>,
}

pub(crate) struct RouteSpec<S> {
    info: RouteInfo,
    handler: MethodRouter<S>,
}

impl<S: Clone + Send + Sync + 'static> RouteSpec<S> {
    pub(crate) fn new<H, T>(
        method: Method,
        path: &'static str,
        access: Access,
        resource: Resource,
        handler: H,
    ) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} {path}: unsupported method"));
        Self {
            info: RouteInfo {
                method,
                path,
                access,
                resource,
                sample_body: None,
            },
            handler: on(filter, handler),
        }
    }

    pub(crate) fn with_body(mut self, body: Value) -> Self {
        self.info.sample_body = Some(body);
        self
    }
}

/// Every route, declared once.
pub(crate) fn specs<P: Platform>() -> Vec<RouteSpec<ApiState<P>>> {
    super::declared::<P>()
}

/// The route table as the tests see it.
pub fn route_table<P: Platform>() -> Vec<RouteInfo> {
    specs::<P>().into_iter().map(|s| s.info).collect()
}

/// The router built from the table: each route behind the check of its own access.
pub(crate) fn build<P: Platform>(state: &ApiState<P>) -> axum::Router<ApiState<P>> {
    specs::<P>()
        .into_iter()
        .fold(axum::Router::new(), |router, spec| {
            let handler = match spec.info.access {
                Access::Public => spec.handler,
                access => spec.handler.route_layer(from_fn_with_state(
                    (state.clone(), access, spec.info.path),
                    authorize::<P>,
                )),
            };
            // Several methods on one path merge into one route.
            router.route(spec.info.path, handler)
        })
}
