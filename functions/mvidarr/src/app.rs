//! Wiring: one function builds the whole platform on a data directory and a listener, and the
//! same function serves `mvidarr serve`, in-process `mvidarr ingest`, and the tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mvidarr_analytics::query::LocalEngine;
use mvidarr_api::{ApiState, bootstrap_default_tenant};
use mvidarr_auth::service::{Identity, IdentityConfig};
use mvidarr_core::asl::StateMachine;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::upload::UploadLimits;
use mvidarr_media::Ffmpeg;
use mvidarr_report_jobs::ReportFunction;
use mvidarr_store_local::platform::write_private;
use mvidarr_store_local::{LocalConfig, LocalPlatform};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::data_dir::{self, DataDirLock};
use crate::workers;

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, env = "MVIDARR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Largest accepted upload, in bytes.
    #[arg(long, env = "MVIDARR_MAX_UPLOAD_BYTES", default_value_t = UploadLimits::default().max_bytes)]
    pub max_upload_bytes: u64,
    /// Longest accepted video, in seconds.
    #[arg(long, env = "MVIDARR_MAX_DURATION_SECONDS", default_value_t = UploadLimits::default().max_duration_seconds)]
    pub max_duration_seconds: f64,
    /// Concurrent pipeline executions and validations (default: the number of cores).
    #[arg(long, env = "MVIDARR_WORKERS")]
    pub workers: Option<usize>,
    /// How long a presigned upload URL stays valid, in seconds.
    #[arg(long, env = "MVIDARR_UPLOAD_URL_TTL", default_value_t = 3600)]
    pub upload_url_ttl: u64,
    /// The `iss` of the access tokens this server signs (default: the URL it serves on).
    #[arg(long, env = "MVIDARR_TOKEN_ISSUER")]
    pub token_issuer: Option<String>,
    /// Deliveries of an ingest message before it goes to the dead-letter queue.
    #[arg(long, env = "MVIDARR_INGEST_MAX_RECEIVES", default_value_t = 5)]
    pub ingest_max_receives: u32,
    /// Minutes between trainings of every tenant's recommender and tag heads (at start,
    /// tenants whose recommender is older than that are trained); 0 turns the schedule off
    /// (`mvidarr train` and `mvidarr train-tags` still work).
    #[arg(long, env = "MVIDARR_TRAIN_EVERY_MINUTES", default_value_t = 60)]
    pub train_every_minutes: u64,
    /// Seconds within which a newly promoted recommender model is served.
    #[arg(long, env = "MVIDARR_MODEL_REFRESH_SECONDS", default_value_t = 30)]
    pub model_refresh_seconds: u64,
    /// Seconds between scheduler ticks (due report schedules, alert rules).
    #[arg(long, env = "MVIDARR_TICK_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub tick_seconds: u64,
}

impl ServeArgs {
    /// The defaults (and `MVIDARR_*` environment), as `mvidarr serve` with no flags would have.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            args: ServeArgs,
        }
        <Defaults as clap::Parser>::parse_from(["mvidarr"]).args
    }

    pub fn limits(&self) -> UploadLimits {
        UploadLimits {
            max_bytes: self.max_upload_bytes,
            max_duration_seconds: self.max_duration_seconds,
        }
    }
}

/// A built, not yet running, platform.
pub struct App {
    pub platform: LocalPlatform,
    pub identity: Arc<Identity<LocalPlatform>>,
    pub url: String,
    listener: TcpListener,
    args: ServeArgs,
    ffmpeg: Ffmpeg,
    _lock: DataDirLock,
}

impl App {
    pub async fn build(data: &Path, args: ServeArgs) -> anyhow::Result<App> {
        let lock = data_dir::lock(data)?;
        let ffmpeg = Ffmpeg::locate().context("finding ffmpeg")?;
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let url = format!("http://{}", listener.local_addr()?);
        let machine = StateMachine::pipeline().context("parsing infra/pipeline.asl.json")?;
        let platform = LocalPlatform::open(
            &LocalConfig {
                data_dir: data.to_owned(),
                public_base_url: url.clone(),
                ingest_max_receives: args.ingest_max_receives,
            },
            machine,
        )?;
        // This process owns the directory now: anything a dead process had leased is free.
        let released = platform.local_pipeline().release_all_leases().await?;
        let redelivered = platform.ingest_queue().release_in_flight().await?
            + platform.events_queue().release_in_flight().await?
            + platform.reports_queue().release_in_flight().await?;
        let renotified = platform.local_blobs().recover_put_intents().await?;
        if released + redelivered + renotified > 0 {
            info!(
                released,
                redelivered, renotified, "resuming work interrupted by a previous stop"
            );
        }
        let issuer = args.token_issuer.clone().unwrap_or_else(|| url.clone());
        let identity = Arc::new(
            Identity::start(platform.clone(), IdentityConfig::new(&issuer))
                .await
                .context("loading the token-signing keys")?,
        );
        default_tenant(&identity, data).await?;
        lock.advertise(&url)?;
        Ok(App {
            platform,
            identity,
            url,
            listener,
            args,
            ffmpeg,
            _lock: lock,
        })
    }

    /// Serve until `stop` is cancelled; then stop taking work, hand in-flight work back to the
    /// queues (it becomes visible again) and return.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        let workers = self
            .args
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let mut api_state = ApiState::new(self.platform.clone(), self.identity.clone())
            .with_model_refresh(Duration::from_secs(self.args.model_refresh_seconds));
        api_state.limits = self.args.limits();
        api_state.upload_url_ttl = Duration::from_secs(self.args.upload_url_ttl);
        let api_events = api_state.events.clone();
        let app = mvidarr_api::router(api_state)
            .merge(crate::blob_routes::router(
                self.platform.clone(),
                self.args.limits(),
            ))
            .layer(tower_http::trace::TraceLayer::new_for_http());

        let ingest = tokio::spawn(workers::run_ingest(
            self.platform.clone(),
            self.ffmpeg.clone(),
            self.args.limits(),
            self.args.ingest_max_receives,
            workers,
            stop.clone(),
        ));
        let events = tokio::spawn(workers::run_events(
            self.platform.clone(),
            workers,
            stop.clone(),
        ));
        let pipeline = tokio::spawn(workers::run_pipeline(
            self.platform.clone(),
            self.ffmpeg.clone(),
            workers,
            stop.clone(),
        ));
        let reporting = tokio::spawn(workers::flush_api_events(api_events, stop.clone()));
        let report_function = Arc::new(ReportFunction::new(
            self.platform.clone(),
            LocalEngine::new(self.platform.local_blobs().root()),
        ));
        let reports = tokio::spawn(workers::run_reports(report_function.clone(), stop.clone()));
        let ticks = tokio::spawn(workers::tick_reports(
            report_function,
            Duration::from_secs(self.args.tick_seconds),
            stop.clone(),
        ));
        let training = (self.args.train_every_minutes > 0).then(|| {
            tokio::spawn(crate::train::on_schedule(
                self.platform.clone(),
                Duration::from_secs(self.args.train_every_minutes * 60),
                stop.clone(),
            ))
        });
        info!(url = %self.url, data = %self.platform.data_dir().display(), workers, "mvidarr serving");
        let shutdown = stop.clone();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .context("serving HTTP")?;
        ingest.await.context("ingest workers")?;
        reporting.await.context("API analytics events")?;
        events.await.context("events workers")?;
        reports.await.context("report worker")?;
        ticks.await.context("scheduler")?;
        pipeline.await.context("pipeline workers")?;
        if let Some(training) = training {
            training.await.context("scheduled training")?;
        }
        info!("stopped cleanly");
        Ok(())
    }
}

pub fn bootstrap_key_path(data: &Path) -> PathBuf {
    data.join("bootstrap-api-key")
}

/// The embedded tenant `default`, created on first use with an owner key saved beside the
/// database (a new key too if that file is gone: an owner with no key could never get in).
pub async fn default_tenant(
    identity: &Identity<LocalPlatform>,
    data: &Path,
) -> anyhow::Result<TenantId> {
    let key_missing = !bootstrap_key_path(data).exists();
    let (tenant, new_key) = bootstrap_default_tenant(identity, key_missing).await?;
    if let Some(key) = new_key {
        let path = bootstrap_key_path(data);
        write_private(&path, key.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "API key for tenant `default` ({tenant}), shown once, also saved to {}:\n{key}",
            path.display()
        );
    }
    Ok(tenant)
}

pub async fn serve(data: &Path, args: ServeArgs) -> anyhow::Result<()> {
    let app = App::build(data, args).await?;
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    app.run(stop).await
}

/// Ctrl-C or SIGTERM: stop gracefully. A second signal exits at once.
async fn stop_on_signal(stop: CancellationToken) {
    wait_for_signal().await;
    info!("stopping: finishing HTTP requests, handing in-flight work back to the queues");
    stop.cancel();
    wait_for_signal().await;
    std::process::exit(130);
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
