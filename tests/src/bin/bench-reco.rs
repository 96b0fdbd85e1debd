//! `bench-reco`: end-to-end HTTP latency of the recommendation API (issue 6; target p99
//! < 50 ms over HTTP, ≤ 5 ms in-process), against the real `mvidarr serve`.
//!
//! 1. A fresh data directory gets the embedded tenant `default` (bootstrapped as `serve` does
//!    it), a synthetic catalogue (100,000 catalogue media) and 50,000 profiles, written through
//!    the repositories. The plays are kept in memory only (two million event rows would
//!    dominate the run): they train a model with the real media and profile ids — the same
//!    taste model and seed as `reco-bench` (20 genres, 10 items per artist, ~40 Zipf-like plays
//!    per user) — which is published and promoted in the tenant's model registry.
//! 2. The same model answers in-process calls, for the in-process column.
//! 3. `mvidarr serve` starts on the directory (its scheduled training off, so nothing but the
//!    load runs and no other model replaces ours); one warm-up request per endpoint checks the
//!    answer (200, 20 items, the published model), and again after the load.
//! 4. autocannon (`scripts/node/bench-reco.mjs`) loads each endpoint in turn for a fixed time
//!    with a fixed number of requests in flight, on a path drawn at random per request (every
//!    user, every media). Any non-2xx answer or socket error fails the bench.
//!
//! The enterprise plan of the tenant `default` allows each caller 200 requests/s (burst
//! 1000): a closed-loop load from one key would measure the rate limiter's 429s. The load is
//! spread over `--keys` API keys of the tenant (as that many client apps would send it), so
//! every request is served and still pays for its rate-limit check.
//!
//! Run it with `scripts/bench-reco.sh` (release builds, node dependencies installed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use clap::Parser;
use mvidarr_api::bootstrap_default_tenant;
use mvidarr_auth::service::{Identity, IdentityConfig};
use mvidarr_core::asl::StateMachine;
use mvidarr_core::external::ExternalId;
use mvidarr_core::media::CatalogueEntry;
use mvidarr_core::metadata::VideoMetadata;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{MediaRepo, ProfileRepo};
use mvidarr_reco::als::AlsConfig;
use mvidarr_reco::content::ContentFeatures;
use mvidarr_reco::model::{
    BlendConfig, Kind, RecoModel, TrainConfig, TrainingEvent, TrainingItem, TrainingSet,
};
use mvidarr_reco::service::{TrainReport, publish};
use mvidarr_reco::trending::Window;
use mvidarr_store_local::{LocalConfig, LocalPlatform};
use mvidarr_tests::bench::{
    LoadReport, api_keys, load_average, ms, run_load, show_load, stop_requested,
};
use mvidarr_tests::server::{Server, ServerOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::Value;

/// The issue's end-to-end target for p99 over HTTP, in ms.
const TARGET_P99_MS: f64 = 50.0;
/// The issue's in-process target for p99, in µs.
const TARGET_IN_PROCESS_P99_US: f64 = 5_000.0;
const GENRES: usize = 20;
const TAGS: usize = 200;
const ITEMS_PER_ARTIST: usize = 10;
/// Every list the bench asks for is a top 20.
const LIST_LENGTH: usize = 20;
/// The token issuer named while bootstrapping offline (no token is signed here).
const OFFLINE_ISSUER: &str = "http://127.0.0.1:9";

#[derive(Parser)]
#[command(about = "End-to-end HTTP latency of the recommendation API on a synthetic catalogue")]
struct Args {
    /// The `mvidarr` binary to serve with (a release build for real figures).
    #[arg(long)]
    mvidarr: PathBuf,
    /// The load script, `scripts/node/bench-reco.mjs`, with its node modules installed.
    #[arg(long)]
    load_script: PathBuf,
    /// The node executable that runs the load script.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// Directory for the data directory and the server's log; it must not exist or be empty.
    /// By default a temporary one, removed at the end.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Smoke-test size: 5,000 items, 2,000 users, 2 s per endpoint (explicit flags win).
    #[arg(long)]
    quick: bool,
    /// Catalogue media (default 100,000).
    #[arg(long)]
    items: Option<usize>,
    /// Profiles (default 50,000).
    #[arg(long)]
    users: Option<usize>,
    /// Plays per user, on average.
    #[arg(long, default_value_t = 40)]
    plays: usize,
    #[arg(long, default_value_t = 64)]
    factors: usize,
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Seconds of load per endpoint (default 10).
    #[arg(long)]
    duration: Option<u64>,
    /// Requests in flight at once (autocannon connections).
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// API keys the load is spread over (each has its own rate-limit bucket).
    #[arg(long, default_value_t = 32)]
    keys: usize,
    /// In-process calls timed per list on the same model (default 2,000).
    #[arg(long)]
    in_process_requests: Option<usize>,
    /// Also write the figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The sizes of one run, after `--quick` and the explicit flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct Scale {
    items: usize,
    users: usize,
    duration_seconds: u64,
    in_process_requests: usize,
}

impl Scale {
    fn of(args: &Args) -> anyhow::Result<Scale> {
        let (items, users, duration_seconds, in_process_requests) = if args.quick {
            (5_000, 2_000, 2, 500)
        } else {
            (100_000, 50_000, 10, 2_000)
        };
        let scale = Scale {
            items: args.items.unwrap_or(items),
            users: args.users.unwrap_or(users),
            duration_seconds: args.duration.unwrap_or(duration_seconds),
            in_process_requests: args.in_process_requests.unwrap_or(in_process_requests),
        };
        // Fewer items than a top 20 in every genre would make short lists, not a benchmark.
        ensure!(
            scale.items >= GENRES * LIST_LENGTH,
            "--items must be at least {}",
            GENRES * LIST_LENGTH
        );
        ensure!(scale.users >= 1, "--users must be at least 1");
        ensure!(
            scale.duration_seconds >= 1,
            "--duration must be at least 1 s"
        );
        ensure!(
            scale.in_process_requests >= 1,
            "--in-process-requests must be at least 1"
        );
        ensure!(args.plays >= 1, "--plays must be at least 1");
        ensure!(args.connections >= 1, "--connections must be at least 1");
        ensure!(args.keys >= 1, "--keys must be at least 1");
        Ok(scale)
    }
}

/// One synthetic item: what its catalogue record and its training features are made of.
#[derive(Debug, Clone, PartialEq)]
struct SynthItem {
    genre: usize,
    tags: Vec<String>,
    /// The one probe-like measure that varies (log duration); fps and aspect are fixed.
    log_duration: f32,
}

/// One play: a user (index), an item (index) and how long before the training it happened.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Play {
    user: u32,
    item: u32,
    seconds_ago: i64,
}

#[derive(Debug, Clone, PartialEq)]
struct Synthetic {
    items: Vec<SynthItem>,
    users: usize,
    plays: Vec<Play>,
}

/// reco-bench's catalogue and taste model, draw for draw (same seed, same order), so the two
/// benches measure the same model: items by artist (10 each) with a genre and two tags; each
/// user has a favourite genre and plays ~`plays` items, four in five in that genre, the rank
/// drawn Zipf-like (rank ~ u²), over the last week.
fn synthetic(items: usize, users: usize, plays: usize) -> Synthetic {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let items: Vec<SynthItem> = (0..items)
        .map(|_| {
            let genre = rng.random_range(0..GENRES);
            SynthItem {
                genre,
                tags: (0..2)
                    .map(|_| format!("t{}", rng.random_range(0..TAGS)))
                    .collect(),
                log_duration: rng.random_range(3.0..6.0),
            }
        })
        .collect();
    let all: Vec<u32> = (0..items.len() as u32).collect();
    let mut by_genre: Vec<Vec<u32>> = vec![Vec::new(); GENRES];
    for (i, item) in items.iter().enumerate() {
        by_genre[item.genre].push(i as u32);
    }
    let mut out = Vec::with_capacity(users * plays);
    for user in 0..users as u32 {
        let favourite = rng.random_range(0..GENRES);
        let count = rng.random_range(plays / 2..=plays * 3 / 2);
        for _ in 0..count {
            let pool = if rng.random_bool(0.8) {
                &by_genre[favourite]
            } else {
                &by_genre[rng.random_range(0..GENRES)]
            };
            // A genre no item drew (only in tiny catalogues): any item.
            let pool = if pool.is_empty() { &all } else { pool };
            let u: f64 = rng.random();
            let item = pool[((u * u) * pool.len() as f64) as usize % pool.len()];
            out.push(Play {
                user,
                item,
                seconds_ago: rng.random_range(0..7 * 86_400),
            });
        }
    }
    Synthetic {
        items,
        users,
        plays: out,
    }
}

fn genre_name(genre: usize) -> String {
    format!("g{genre}")
}

fn artist_name(item: usize) -> String {
    format!("a{}", item / ITEMS_PER_ARTIST)
}

fn title(item: usize) -> String {
    format!("Video {item}")
}

/// The catalogue record of item `index`: the same title, artist and genre the model learns.
fn catalogue_entry(index: usize, item: &SynthItem) -> anyhow::Result<CatalogueEntry> {
    Ok(CatalogueEntry {
        external_id: ExternalId::parse(format!("bench-i{index}"))?,
        metadata: VideoMetadata {
            title: Some(title(index)),
            artist_name: Some(artist_name(index)),
            genres: vec![genre_name(item.genre)],
            ..VideoMetadata::default()
        },
    })
}

/// The training set with the store's ids: `media[i]` is item `i`, `profiles[u]` user `u`.
fn training_set(
    synth: &Synthetic,
    media: &[String],
    profiles: &[String],
    now: i64,
) -> anyhow::Result<TrainingSet> {
    ensure!(
        media.len() == synth.items.len() && profiles.len() == synth.users,
        "{} media and {} profiles for {} items and {} users",
        media.len(),
        profiles.len(),
        synth.items.len(),
        synth.users
    );
    let items = synth
        .items
        .iter()
        .zip(media)
        .enumerate()
        .map(|(i, (item, id))| TrainingItem {
            id: id.clone(),
            title: title(i),
            features: ContentFeatures {
                tags: item.tags.clone(),
                genres: vec![genre_name(item.genre)],
                artist: Some(artist_name(i)),
                numeric: vec![item.log_duration, 25.0, 1.78],
            },
        })
        .collect();
    let events = synth
        .plays
        .iter()
        .map(|p| TrainingEvent {
            user: p.user,
            item: p.item,
            strength: 1.0,
            at: now - p.seconds_ago,
        })
        .collect();
    Ok(TrainingSet {
        items,
        users: profiles.to_vec(),
        events,
    })
}

/// How long each step of the fixture took, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
struct FixtureTimes {
    synthesise_seconds: f64,
    catalogue_import_seconds: f64,
    profiles_import_seconds: f64,
    train_seconds: f64,
    publish_seconds: f64,
    model_bytes: usize,
    interactions: usize,
    plays: usize,
    server_start_seconds: f64,
    /// The first recommendation request: the server loads and decodes the model file.
    first_request_seconds: f64,
}

/// The tenant's data as the load addresses it, and the model it is served from.
struct Fixture {
    media: Vec<String>,
    profiles: Vec<String>,
    version: u32,
    model: RecoModel,
    times: FixtureTimes,
}

async fn build_fixture(
    data: &Path,
    scale: &Scale,
    args: &Args,
    now: DateTime<Utc>,
) -> anyhow::Result<Fixture> {
    let platform = LocalPlatform::open(
        &LocalConfig {
            data_dir: data.to_owned(),
            public_base_url: OFFLINE_ISSUER.into(),
            ingest_max_receives: 5,
        },
        StateMachine::pipeline()?,
    )?;
    let identity = Identity::start(platform.clone(), IdentityConfig::new(OFFLINE_ISSUER))
        .await
        .context("starting the identity service")?;
    // The tenant `serve` would create on its first start (enterprise plan). Its key is
    // dropped: `serve`, finding no key file, makes the owner key a client uses and saves it
    // where `Server::start` reads it.
    let (tenant, _key) = bootstrap_default_tenant(&identity, false).await?;
    let mut times = FixtureTimes::default();
    let table = platform.table();

    let started = Instant::now();
    let synth = synthetic(scale.items, scale.users, args.plays);
    times.synthesise_seconds = started.elapsed().as_secs_f64();
    times.plays = synth.plays.len();

    let started = Instant::now();
    let entries = synth
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| catalogue_entry(i, item))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let imported = MediaRepo::new(table)
        .import_catalogue(tenant, entries, now)
        .await?;
    times.catalogue_import_seconds = started.elapsed().as_secs_f64();
    ensure!(
        imported.iter().all(|i| i.created),
        "the data directory already held catalogue media: it must be fresh"
    );
    let media: Vec<String> = imported.iter().map(|i| i.id.to_string()).collect();
    eprintln!(
        "catalogue: {} media in {:.1} s",
        media.len(),
        times.catalogue_import_seconds
    );

    let started = Instant::now();
    let external_ids = (0..scale.users)
        .map(|u| ExternalId::parse(format!("bench-u{u}")))
        .collect::<Result<Vec<_>, _>>()?;
    let imported = ProfileRepo::new(table)
        .import(tenant, external_ids, now)
        .await?;
    times.profiles_import_seconds = started.elapsed().as_secs_f64();
    ensure!(
        imported.iter().all(|i| i.created),
        "the data directory already held profiles: it must be fresh"
    );
    let profiles: Vec<String> = imported.iter().map(|i| i.id.to_string()).collect();
    eprintln!(
        "profiles: {} in {:.1} s",
        profiles.len(),
        times.profiles_import_seconds
    );

    let set = training_set(&synth, &media, &profiles, now.timestamp())?;
    drop(synth);
    let config = TrainConfig {
        als: AlsConfig {
            factors: args.factors,
            iterations: args.iterations,
            ..AlsConfig::default()
        },
        ..TrainConfig::default()
    };
    eprintln!(
        "training on {} items, {} users, {} plays…",
        set.items.len(),
        set.users.len(),
        set.events.len()
    );
    let started = Instant::now();
    let unix_now = now.timestamp();
    let (model, bytes) = tokio::task::spawn_blocking(move || {
        let model = RecoModel::train(&set, &config, unix_now)?;
        let bytes = model.to_bytes();
        Ok::<_, mvidarr_reco::model::ModelError>((model, bytes))
    })
    .await??;
    times.train_seconds = started.elapsed().as_secs_f64();
    times.model_bytes = bytes.len();
    times.interactions = model.interaction_count();

    let started = Instant::now();
    let mut report = TrainReport {
        version: 0,
        items: model.item_count(),
        users: model.user_count(),
        events: times.plays,
        interactions: model.interaction_count(),
        events_ignored: 0,
        read_seconds: 0.0,
        train_seconds: times.train_seconds,
        model_bytes: bytes.len(),
    };
    let version = publish(&platform, tenant, bytes, &mut report, now).await?;
    times.publish_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "model v{}: trained in {:.1} s, {:.1} MB, published in {:.2} s",
        version.version,
        times.train_seconds,
        times.model_bytes as f64 / 1e6,
        times.publish_seconds
    );
    Ok(Fixture {
        media,
        profiles,
        version: version.version,
        model,
        times,
    })
}

/// One endpoint under load: its name, the paths drawn from, and the in-process call it wraps.
struct Endpoint {
    name: &'static str,
    pattern: &'static str,
    paths: Vec<String>,
}

fn endpoints(fixture: &Fixture) -> Vec<Endpoint> {
    vec![
        Endpoint {
            name: "personal",
            pattern: "GET /v1/recommendations?user={profile}&kind=personal&limit=20",
            paths: fixture
                .profiles
                .iter()
                .map(|p| format!("/v1/recommendations?user={p}&kind=personal&limit={LIST_LENGTH}"))
                .collect(),
        },
        Endpoint {
            name: "trending",
            pattern: "GET /v1/recommendations?kind=trending&limit=20",
            paths: vec![format!(
                "/v1/recommendations?kind=trending&limit={LIST_LENGTH}"
            )],
        },
        Endpoint {
            name: "similar",
            pattern: "GET /v1/media/{media}/similar?limit=20",
            paths: fixture
                .media
                .iter()
                .map(|m| format!("/v1/media/{m}/similar?limit={LIST_LENGTH}"))
                .collect(),
        },
    ]
}

/// Latency percentiles in µs (nearest rank, as reco-bench).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct Micros {
    p50: f64,
    p99: f64,
    max: f64,
}

fn summarise(mut samples: Vec<Duration>) -> Option<Micros> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let rank = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1].as_secs_f64() * 1e6
    };
    Some(Micros {
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
    })
}

/// The model answering the endpoint's calls in this process, on random users and media.
fn in_process(
    endpoint: &str,
    fixture: &Fixture,
    requests: usize,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<Micros> {
    let blend = BlendConfig::default();
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let len = match endpoint {
            "personal" => {
                let user = &fixture.profiles[rng.random_range(0..fixture.profiles.len())];
                fixture
                    .model
                    .recommend(Some(user), Kind::Personal, LIST_LENGTH, &blend)
                    .len()
            }
            "trending" => fixture
                .model
                .recommend(None, Kind::Trending(Window::Day), LIST_LENGTH, &blend)
                .len(),
            "similar" => {
                let item = &fixture.media[rng.random_range(0..fixture.media.len())];
                fixture
                    .model
                    .similar(item, LIST_LENGTH)
                    .map_or(0, |l| l.len())
            }
            other => bail!("no in-process call for endpoint {other}"),
        };
        samples.push(started.elapsed());
        ensure!(len > 0, "in-process {endpoint} returned an empty list");
    }
    summarise(samples).context("no in-process samples")
}

/// What the load script reports for one endpoint.
/// Runs the load script on one endpoint.
async fn load(
    args: &Args,
    work: &Path,
    url: &str,
    keys: &[String],
    endpoint: &Endpoint,
    scale: &Scale,
) -> anyhow::Result<LoadReport> {
    run_load(
        &args.node,
        &args.load_script,
        &work.join(format!("load-{}.json", endpoint.name)),
        url,
        &endpoint.paths,
        args.connections,
        scale.duration_seconds,
        keys,
    )
    .await
    .with_context(|| format!("load on {}", endpoint.name))
}

/// One request to `path`: it must be a 200 with a full list from the published model.
/// (Before the load it warms up; after it, it shows that the same model served throughout.)
async fn warm_up(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    path: &str,
    version: u32,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let response = http
        .get(format!("{url}{path}"))
        .bearer_auth(key)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let elapsed = started.elapsed();
    ensure!(status == 200, "GET {path} answered {status}: {body}");
    let items = body["items"].as_array().map_or(0, Vec::len);
    ensure!(
        items == LIST_LENGTH,
        "GET {path} listed {items} items, not {LIST_LENGTH}: {body}"
    );
    ensure!(
        body["model"]["version"].as_u64() == Some(u64::from(version)),
        "GET {path} was served by model {}, not the published v{version}",
        body["model"]["version"]
    );
    Ok(elapsed)
}

/// One endpoint's row of the table.
#[derive(Debug, Clone, Serialize)]
struct Row {
    endpoint: &'static str,
    request: &'static str,
    /// Distinct paths the requests were drawn from.
    rotation: usize,
    http: LoadReport,
    in_process_us: Micros,
}

#[derive(Debug, Clone, Serialize)]
struct Figures {
    scale: Scale,
    plays_per_user: usize,
    factors: usize,
    iterations: usize,
    connections: usize,
    api_keys: usize,
    cores: usize,
    load_average_before: Option<[f64; 3]>,
    load_average_after: Option<[f64; 3]>,
    fixture: FixtureTimes,
    model_version: u32,
    endpoints: Vec<Row>,
    target_p99_ms: f64,
    target_met: bool,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let scale = Scale::of(&args)?;
    let tmp;
    let work = match &args.work {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            ensure!(
                std::fs::read_dir(dir)?.next().is_none(),
                "{} is not empty",
                dir.display()
            );
            dir.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_owned()
        }
    };
    let data = work.join("data");
    let now = Utc::now();
    eprintln!(
        "fixture: {} items, {} users, ~{} plays each, in {}",
        scale.items,
        scale.users,
        args.plays,
        data.display()
    );
    let mut fixture = build_fixture(&data, &scale, &args, now).await?;

    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let names = ["personal", "trending", "similar"];
    let mut in_process_figures = BTreeMap::new();
    for name in names {
        in_process_figures.insert(
            name,
            in_process(name, &fixture, scale.in_process_requests, &mut rng)?,
        );
    }

    let started = Instant::now();
    // No scheduled training: `serve` would otherwise train the tenant at start from the store
    // (which holds no events), load the CPU during the run and promote that model over ours.
    let options = ServerOptions {
        env: vec![("MVIDARR_TRAIN_EVERY_MINUTES".into(), "0".into())],
    };
    let server = Server::start(&args.mvidarr, &data, &options)?;
    fixture.times.server_start_seconds = started.elapsed().as_secs_f64();
    let http = reqwest::Client::new();
    let endpoints = endpoints(&fixture);
    for (i, endpoint) in endpoints.iter().enumerate() {
        let took = warm_up(
            &http,
            &server.url,
            &server.api_key,
            &endpoint.paths[0],
            fixture.version,
        )
        .await?;
        if i == 0 {
            fixture.times.first_request_seconds = took.as_secs_f64();
        }
    }
    let keys = api_keys(
        &http,
        &server.url,
        &server.api_key,
        args.keys,
        "bench-reco",
        &["media:read"],
    )
    .await?;

    let load_average_before = load_average();
    eprintln!(
        "load: {} s per endpoint, {} connections, {} API keys; load average before {}",
        scale.duration_seconds,
        args.connections,
        keys.len(),
        show_load(load_average_before)
    );
    let mut rows = Vec::new();
    for endpoint in &endpoints {
        let report = load(&args, &work, &server.url, &keys, endpoint, &scale).await?;
        if let Err(problem) = report.check() {
            let log = server.log();
            // Not the line with the owner key `serve` printed at its start.
            let tail: Vec<&str> = log
                .lines()
                .filter(|l| !l.contains(server.api_key.as_str()))
                .rev()
                .take(20)
                .collect();
            bail!(
                "{}: {problem}\nlast lines of the server's log:\n{}",
                endpoint.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        rows.push(Row {
            endpoint: endpoint.name,
            request: endpoint.pattern,
            rotation: endpoint.paths.len(),
            http: report,
            in_process_us: in_process_figures
                .get(endpoint.name)
                .copied()
                .context("in-process figures")?,
        });
    }
    let load_average_after = load_average();
    // Every figure is of the published model: nothing replaced it during the load.
    for endpoint in &endpoints {
        warm_up(
            &http,
            &server.url,
            &server.api_key,
            &endpoint.paths[0],
            fixture.version,
        )
        .await
        .with_context(|| format!("after the load on {}", endpoint.name))?;
    }
    ensure!(
        server.terminate()?,
        "mvidarr serve did not stop cleanly after the bench"
    );

    let target_met = rows
        .iter()
        .all(|r| r.http.latency_ms.p99.is_some_and(|p99| p99 < TARGET_P99_MS));
    let figures = Figures {
        scale,
        plays_per_user: args.plays,
        factors: args.factors,
        iterations: args.iterations,
        connections: args.connections,
        api_keys: keys.len(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average_before,
        load_average_after,
        fixture: fixture.times.clone(),
        model_version: fixture.version,
        endpoints: rows,
        target_p99_ms: TARGET_P99_MS,
        target_met,
    };
    print(&figures);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&figures)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print(f: &Figures) {
    let t = &f.fixture;
    println!();
    println!(
        "catalogue: {} media, {} profiles, {} plays ({} distinct user–item pairs), model v{} of {:.1} MB ({} factors, {} iterations)",
        f.scale.items,
        f.scale.users,
        t.plays,
        t.interactions,
        f.model_version,
        t.model_bytes as f64 / 1e6,
        f.factors,
        f.iterations
    );
    println!(
        "fixture: synthesise {:.1} s, import catalogue {:.1} s, import profiles {:.1} s, train {:.1} s, publish {:.2} s; server start {:.2} s, first request (model load) {:.2} s",
        t.synthesise_seconds,
        t.catalogue_import_seconds,
        t.profiles_import_seconds,
        t.train_seconds,
        t.publish_seconds,
        t.server_start_seconds,
        t.first_request_seconds
    );
    println!(
        "load: {} s per endpoint, {} connections, spread over {} API keys; {} cores shared by server and load generator; load average (1/5/15 min) before {}, after {}",
        f.scale.duration_seconds,
        f.connections,
        f.api_keys,
        f.cores,
        show_load(f.load_average_before),
        show_load(f.load_average_after)
    );
    println!();
    println!(
        "| endpoint (top 20) | requests | req/s | HTTP p50 ms | HTTP p99 ms | HTTP max ms | in-process p50 µs | in-process p99 µs |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &f.endpoints {
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {:.0} | {:.0} |",
            r.request,
            r.http.responses,
            r.http.requests_per_second,
            ms(r.http.latency_ms.p50),
            ms(r.http.latency_ms.p99),
            ms(r.http.latency_ms.max),
            r.in_process_us.p50,
            r.in_process_us.p99
        );
    }
    println!();
    let in_process_met = f
        .endpoints
        .iter()
        .all(|r| r.in_process_us.p99 <= TARGET_IN_PROCESS_P99_US);
    println!(
        "targets: HTTP p99 < {:.0} ms: {}; in-process p99 ≤ {:.0} ms: {}",
        f.target_p99_ms,
        if f.target_met { "met" } else { "NOT met" },
        TARGET_IN_PROCESS_P99_US / 1000.0,
        if in_process_met { "met" } else { "NOT met" }
    );
}

/// Ctrl-C or SIGTERM.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // On a signal the bench is dropped first: that kills the server and the load generator
    // and removes a temporary work directory. Exiting at once then skips waiting for a
    // training still running on a blocking thread.
    let finished = tokio::select! {
        outcome = run(args) => Some(outcome),
        () = stop_requested() => None,
    };
    match finished {
        Some(outcome) => outcome,
        None => {
            eprintln!("bench-reco: stopped; the server and the load generator were ended");
            std::process::exit(130);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec![
            "bench-reco",
            "--mvidarr",
            "/bin/mvidarr",
            "--load-script",
            "x.mjs",
        ];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    fn report(statuses: &[(&str, u64)], errors: u64, timeouts: u64) -> LoadReport {
        LoadReport::from_counts(statuses, errors, timeouts)
    }

    #[test]
    fn the_default_scale_is_the_issues_catalogue() {
        let scale = Scale::of(&args(&[])).unwrap();
        assert_eq!(
            scale,
            Scale {
                items: 100_000,
                users: 50_000,
                duration_seconds: 10,
                in_process_requests: 2_000
            }
        );
    }

    #[test]
    fn quick_is_small_and_explicit_flags_still_win() {
        let quick = Scale::of(&args(&["--quick"])).unwrap();
        assert_eq!(
            (quick.items, quick.users, quick.duration_seconds),
            (5_000, 2_000, 2)
        );
        let quick = Scale::of(&args(&["--quick", "--users", "300"])).unwrap();
        assert_eq!((quick.items, quick.users), (5_000, 300));
    }

    #[test]
    fn sizes_that_cannot_make_a_benchmark_are_refused() {
        for bad in [
            &["--items", "10"][..],
            &["--users", "0"],
            &["--duration", "0"],
            &["--connections", "0"],
            &["--keys", "0"],
            &["--plays", "0"],
        ] {
            assert!(Scale::of(&args(bad)).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_synthetic_catalogue_is_reproducible_and_shaped_as_reco_bench_s() {
        let a = synthetic(1_000, 100, 40);
        assert_eq!(a, synthetic(1_000, 100, 40));
        assert_eq!(a.items.len(), 1_000);
        assert!(
            a.items
                .iter()
                .all(|i| i.genre < GENRES && i.tags.len() == 2)
        );
        // ~40 plays per user: between 20 and 60 each.
        let mut per_user = vec![0usize; 100];
        for p in &a.plays {
            per_user[p.user as usize] += 1;
            assert!((p.item as usize) < 1_000);
            assert!((0..7 * 86_400).contains(&p.seconds_ago));
        }
        assert!(per_user.iter().all(|&n| (20..=60).contains(&n)));
        // Most of a user's plays are in one genre.
        let genre_of = |p: &Play| a.items[p.item as usize].genre;
        let user0: Vec<usize> = a
            .plays
            .iter()
            .filter(|p| p.user == 0)
            .map(genre_of)
            .collect();
        let top = (0..GENRES)
            .map(|g| user0.iter().filter(|&&x| x == g).count())
            .max()
            .unwrap();
        assert!(top * 2 > user0.len(), "{top} of {}", user0.len());
    }

    #[test]
    fn the_training_set_carries_the_store_ids_and_the_catalogue_metadata() {
        let synth = synthetic(400, 3, 4);
        let media: Vec<String> = (0..400).map(|i| format!("M{i}")).collect();
        let profiles: Vec<String> = (0..3).map(|u| format!("P{u}")).collect();
        let set = training_set(&synth, &media, &profiles, 1_000_000).unwrap();
        assert_eq!(set.items[12].id, "M12");
        assert_eq!(set.items[12].features.artist.as_deref(), Some("a1"));
        assert_eq!(set.users, profiles);
        assert_eq!(set.events.len(), synth.plays.len());
        assert_eq!(set.events[0].at, 1_000_000 - synth.plays[0].seconds_ago);
        let entry = catalogue_entry(12, &synth.items[12]).unwrap();
        assert_eq!(entry.external_id.as_str(), "bench-i12");
        assert_eq!(entry.metadata.genres, set.items[12].features.genres);
        assert_eq!(
            entry.metadata.title.as_deref(),
            Some(set.items[12].title.as_str())
        );
    }

    #[test]
    fn a_training_set_with_ids_missing_is_refused() {
        let synth = synthetic(400, 3, 4);
        let media: Vec<String> = (0..399).map(|i| format!("M{i}")).collect();
        let profiles: Vec<String> = (0..3).map(|u| format!("P{u}")).collect();
        assert!(training_set(&synth, &media, &profiles, 0).is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let m = summarise(samples).unwrap();
        assert_eq!((m.p50, m.p99, m.max), (50.0, 99.0, 100.0));
        assert_eq!(summarise(Vec::new()), None);
    }

    #[test]
    fn a_load_with_only_2xx_passes() {
        assert_eq!(report(&[("200", 500)], 0, 0).check(), Ok(()));
    }

    #[test]
    fn rate_limited_or_failed_answers_fail_the_bench() {
        let limited = report(&[("200", 500), ("429", 3)], 0, 0)
            .check()
            .unwrap_err();
        assert!(limited.contains("3 × 429"), "{limited}");
        assert!(report(&[("200", 5), ("500", 1)], 0, 0).check().is_err());
    }

    #[test]
    fn socket_errors_timeouts_or_no_response_fail_the_bench() {
        assert!(report(&[("200", 5)], 1, 0).check().is_err());
        assert!(report(&[("200", 5)], 0, 1).check().is_err());
        assert!(report(&[], 0, 0).check().is_err());
    }
}
