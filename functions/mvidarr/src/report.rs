//! `mvidarr report KIND --format pdf --out FILE`: a report of the embedded platform's
//! analytics, queried with DataFusion over its Parquet files and rendered as the API would.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{Duration, Utc};
use mvidarr_analytics::query::LocalEngine;
use mvidarr_analytics::reports::{self, ReportRequest};
use mvidarr_core::analytics::report::{ReportFormat, ReportKind};
use mvidarr_core::analytics::summary::midnight;
use mvidarr_core::analytics::{Granularity, TimeRange};
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{MediaRepo, TenantRepo};

use crate::admin::open_local;
use crate::app::default_tenant;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// library_overview, analysis_quality, tag_review, engagement or trend.
    kind: ReportKind,
    /// csv, xlsx or pdf.
    #[arg(long, default_value = "pdf")]
    format: ReportFormat,
    /// Where to write it.
    #[arg(long)]
    out: PathBuf,
    /// First day (2026-11-01) or hour (2026-11-01T13:00:00Z); default 30 days before `to`.
    #[arg(long)]
    from: Option<String>,
    /// End, exclusive; default the end of today (UTC).
    #[arg(long)]
    to: Option<String>,
    /// The tenant (default: the embedded `default` tenant).
    #[arg(long)]
    tenant: Option<TenantId>,
}

pub async fn run(data: &Path, args: ReportArgs) -> anyhow::Result<()> {
    let (identity, _) = open_local(data).await?;
    let platform = identity.platform();
    let tenant = match args.tenant {
        Some(t) => t,
        None => default_tenant(&identity, data).await?,
    };
    let record = TenantRepo::new(platform.table())
        .by_id(tenant)
        .await?
        .with_context(|| format!("no tenant {tenant}"))?;
    let end_of_today = midnight(Utc::now().date_naive()) + Duration::days(1);
    let to = args.to.unwrap_or_else(|| end_of_today.to_rfc3339());
    let from = args
        .from
        .unwrap_or_else(|| (end_of_today - Duration::days(30)).to_rfc3339());
    let range = TimeRange::parse(&from, &to, Granularity::Day)?;
    let request = ReportRequest {
        kind: args.kind,
        tenant,
        tenant_name: record.name,
        range,
        generated_at: Utc::now(),
    };
    let engine = LocalEngine::new(platform.local_blobs().root());
    let ranked: Vec<MediaId> = reports::ranked_media(&engine, &request)
        .await?
        .iter()
        .filter_map(|id| id.parse().ok())
        .collect();
    let titles: HashMap<String, String> = MediaRepo::new(platform.table())
        .titles(tenant, ranked)
        .await?
        .into_iter()
        .map(|(id, title)| (id.to_string(), title))
        .collect();
    let report = reports::build(&engine, &request, &titles).await?;
    let bytes = mvidarr_report::render(&report, args.format)?;
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    let rows: usize = report.tables.iter().map(|t| t.rows.len()).sum();
    println!(
        "wrote {} ({} bytes): {} {} from {} to {}, {} rows{}",
        args.out.display(),
        bytes.len(),
        args.kind,
        args.format,
        range.from.to_rfc3339(),
        range.to.to_rfc3339(),
        rows,
        if report.is_empty() {
            " (no data in this range)"
        } else {
            ""
        }
    );
    Ok(())
}
