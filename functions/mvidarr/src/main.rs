//! `mvidarr`: the whole platform in one process on local storage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use mvidarr::{admin, app, import, ingest, models, report, train};

#[derive(Parser)]
#[command(
    version,
    about = "MVidarr Cloud, embedded: API, pipeline and workers in one process"
)]
struct Cli {
    /// Where everything is kept: database, blobs, keys.
    #[arg(
        long,
        global = true,
        env = "MVIDARR_DATA",
        default_value = "./mvidarr-data"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API and the pipeline workers until Ctrl-C.
    Serve(app::ServeArgs),
    /// Upload files (or every video file in directories) and wait for each to finish.
    Ingest(ingest::IngestArgs),
    /// List ONNX Runtime and the models: version, source wheel, licence, SHA-256 check, path.
    /// Exits non-zero when something is missing or differs from the registry.
    Models(models::ModelsArgs),
    /// Import a public dataset (Last.fm HetRec, MovieLens 100K) into a tenant: catalogue
    /// media, profiles and events, for recommendations. Importing again adds only what is new.
    Import(import::ImportArgs),
    /// Train the recommender of a tenant (or every tenant) now, register and promote it.
    Train(train::TrainArgs),
    /// Train the tag heads of a tenant (or every tenant) from people's decisions: each new
    /// head is registered, and promoted only if it beats the served one on held-out
    /// decisions; then the catalogue is re-tagged.
    TrainTags(train::TrainTagsArgs),
    /// Write a report of the analytics (library_overview, analysis_quality, tag_review,
    /// engagement, trend) as PDF, XLSX or CSV.
    Report(report::ReportArgs),
    /// Manage tenants.
    Tenant(admin::TenantArgs),
    /// Manage the access-token signing keys.
    SigningKey(admin::SigningKeyArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MVIDARR_LOG")
                .unwrap_or_else(|_| "info,hyper=warn,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve(args) => app::serve(&cli.data, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Ingest(args) => ingest::run(&cli.data, args).await,
        Command::Models(args) => Ok(models::run(&args)),
        Command::Import(args) => import::run(&cli.data, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Train(args) => train::run(&cli.data, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::TrainTags(args) => train::run_tags(&cli.data, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Report(args) => report::run(&cli.data, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Tenant(args) => admin::tenant(&cli.data, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::SigningKey(args) => admin::signing_key(&cli.data, args)
            .await
            .map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}
