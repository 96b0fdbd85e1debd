//! Records named in paths by our id or by their external id (`ext:…`): one resolver per kind,
//! for every route that takes one. A reference that does not parse, names nothing, or names
//! another tenant's record is simply not found: no hint about what exists elsewhere.

use mvidarr_core::external::ExternalRef;
use mvidarr_core::ids::{InvalidId, MediaId, ProfileId, TenantId};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{MediaRepo, ProfileRepo};

use crate::{ApiError, ApiState};

/// A path's `{id}` as a reference to a record of kind `what`; not found if it does not parse.
pub(crate) fn path_ref<I>(raw: &str, what: &str) -> Result<ExternalRef<I>, ApiError>
where
    I: std::str::FromStr<Err = InvalidId>,
{
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no {what} {raw}")))
}

/// The media of `tenant` that `raw` (a media id or `ext:…`) names, or 404.
pub(crate) async fn media_ref<P: Platform>(
    state: &ApiState<P>,
    tenant: TenantId,
    raw: &str,
) -> Result<MediaId, ApiError> {
    let reference = path_ref::<MediaId>(raw, "media")?;
    MediaRepo::new(state.platform.table())
        .resolve(tenant, &reference)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no media {raw}")))
}

/// The profile of `tenant` that `raw` (a profile id or `ext:…`) names, or 404.
pub(crate) async fn profile_ref<P: Platform>(
    state: &ApiState<P>,
    tenant: TenantId,
    raw: &str,
) -> Result<ProfileId, ApiError> {
    let reference = path_ref::<ProfileId>(raw, "profile")?;
    ProfileRepo::new(state.platform.table())
        .resolve(tenant, &reference)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no profile {raw}")))
}
