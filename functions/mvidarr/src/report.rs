//! `mvidarr report KIND --format pdf --out FILE`: a report of the embedded platform's
//! analytics, queried with DataFusion over its Parquet files and rendered as the API would.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use mvidarr_analytics::query::LocalEngine;
use mvidarr_analytics::reports::ReportRequest;
use mvidarr_core::analytics::jobs::report_range;
use mvidarr_core::analytics::report::{ReportFormat, ReportKind};
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::TenantRepo;
use mvidarr_report_jobs::render_report;

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
    let range = report_range(
        args.from.as_deref(),
        args.to.as_deref(),
        Utc::now().date_naive(),
    )?;
    let request = ReportRequest {
        kind: args.kind,
        tenant,
        tenant_name: record.name,
        range,
        generated_at: Utc::now(),
    };
    let engine = LocalEngine::new(platform.local_blobs().root());
    let rendered = render_report(platform.table(), &engine, &request, args.format).await?;
    std::fs::write(&args.out, &rendered.bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {} ({} bytes): {} {} from {} to {}, {} rows{}",
        args.out.display(),
        rendered.bytes.len(),
        args.kind,
        args.format,
        range.from.to_rfc3339(),
        range.to.to_rfc3339(),
        rendered.rows,
        if rendered.empty {
            " (no data in this range)"
        } else {
            ""
        }
    );
    Ok(())
}
