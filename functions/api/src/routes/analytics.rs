//! The dashboards: `GET /v1/analytics/summary` and `GET /v1/analytics/media/{id}`, read from
//! the rollups (a few table reads, whatever the number of events).
//!
//! Ranges: `from` and `to` are dates (`2026-11-01`, midnight UTC) or RFC 3339 times on the
//! hour; `to` is exclusive. Without them: the last 7 days up to the end of today (UTC).

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{Duration, Utc};
use mvidarr_core::analytics::summary::{Bucket, midnight};
use mvidarr_core::analytics::{Counters, Granularity, Summary, TimeRange, Users, summarize};
use mvidarr_core::ids::MediaId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{AnalyticsRepo, MediaRepo};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{ApiError, ApiState, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
}

impl RangeParams {
    fn parse(
        params: Result<Query<RangeParams>, QueryRejection>,
    ) -> Result<(TimeRange, Granularity), ApiError> {
        let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let granularity: Granularity = p
            .granularity
            .as_deref()
            .unwrap_or("day")
            .parse()
            .map_err(ApiError::BadRequest)?;
        let end_of_today = midnight(Utc::now().date_naive()) + Duration::days(1);
        let to = p.to.unwrap_or_else(|| end_of_today.to_rfc3339());
        let from = p
            .from
            .unwrap_or_else(|| (end_of_today - Duration::days(7)).to_rfc3339());
        let range = TimeRange::parse(&from, &to, granularity)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok((range, granularity))
    }
}

#[derive(Serialize)]
pub struct SummaryView {
    /// The library now: media accepted for analysis, and distinct users ever (estimated).
    library: Value,
    #[serde(flatten)]
    summary: Summary,
    /// Titles of the ranked media, by id.
    titles: HashMap<MediaId, String>,
}

pub async fn summary<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    params: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<SummaryView>, ApiError> {
    let (range, granularity) = RangeParams::parse(params)?;
    let repo = AnalyticsRepo::new(state.platform.table());
    let (days, all_time) = futures_util::try_join!(
        repo.cached_tenant_days(caller.tenant, range, &state.rollups),
        repo.cached_all_time(caller.tenant, &state.rollups)
    )?;
    let summary = summarize(&days, range, granularity);
    let titles = MediaRepo::new(state.platform.table())
        .titles(caller.tenant, summary.top_media.iter().map(|r| r.media))
        .await?;
    let totals = all_time.totals();
    Ok(Json(SummaryView {
        library: json!({
            "media": totals.uploads,
            "analyzed": totals.analyses - totals.analysis_failures,
            "quarantined": totals.quarantines,
            "unique_users": all_time.users.estimate(),
        }),
        summary,
        titles,
    }))
}

/// One media's engagement over a range: totals, distinct users, completion rate and a series
/// by day or week (media are counted by day, so not by hour).
pub async fn media<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
    params: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let media = super::media_ref(&state, caller.tenant, &id).await?;
    let (range, granularity) = RangeParams::parse(params)?;
    if granularity == Granularity::Hour {
        return Err(ApiError::BadRequest(
            "media are counted by day: granularity day or week".into(),
        ));
    }
    // A bound inside a day would silently count the whole day.
    let on_a_day = |t: chrono::DateTime<Utc>| t == midnight(t.date_naive());
    if !on_a_day(range.from) || !on_a_day(range.to) {
        return Err(ApiError::BadRequest(
            "media are counted by day: from and to must be dates (or midnight UTC)".into(),
        ));
    }
    let days = AnalyticsRepo::new(state.platform.table())
        .media_days(caller.tenant, media, range)
        .await?;
    let mut totals = Counters::default();
    let mut users = Users::default();
    let mut series: Vec<Bucket> = granularity
        .bucket_starts(range)
        .into_iter()
        .map(|start| Bucket {
            start,
            counters: Counters::default(),
        })
        .collect();
    for (date, day) in &days {
        totals.add(&day.counters);
        users.add(&day.users);
        let bucket = granularity.bucket_start(midnight(*date));
        if let Some(b) = series.iter_mut().find(|b| b.start == bucket) {
            b.counters.add(&day.counters);
        }
    }
    let completion_rate =
        (totals.plays > 0).then(|| totals.completions as f64 / totals.plays as f64);
    Ok(Json(json!({
        "media": media,
        "from": range.from,
        "to": range.to,
        "granularity": granularity,
        "totals": totals,
        "unique_users": users.estimate(),
        "completion_rate": completion_rate,
        "series": series,
    })))
}
