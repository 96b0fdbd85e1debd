//! `mvidarr import lastfm|movielens DIR [--tenant ID]`: a public dataset into a tenant, as
//! catalogue media (no video: metadata only), profiles and events, so recommendations can be
//! trained and tried on real listening and rating data.
//!
//! Every record is filed under the dataset's own id (media and profiles by external id,
//! events by an id made of the user's and item's), so importing again adds only what is new.
//! Works on the data directory directly, beside a running `mvidarr serve` or without one
//! (SQLite lets both write; each write is a short transaction).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use mvidarr_core::Timestamp;
use mvidarr_core::event::{ClientEventId, EventKind, StoredEvent};
use mvidarr_core::external::ExternalId;
use mvidarr_core::ids::{MediaId, ProfileId, TenantId};
use mvidarr_core::media::CatalogueEntry;
use mvidarr_core::metadata::VideoMetadata;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{EventRepo, MediaRepo, ProfileRepo, TenantRepo};
use mvidarr_reco::datasets::{CatalogueItem, Dataset, Interaction};
use serde_json::{Map, Value, json};

use crate::admin::open_local;
use crate::app::default_tenant;

/// Records written per repository call: a progress step, and a bound on what one call holds.
const BATCH: usize = 1000;
/// Who the imported events are recorded as posted by.
const ACTOR: &str = "system:import";

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// Last.fm HetRec 2011 (`artists.dat`, `user_artists.dat`): one `play` per user and
    /// artist, `props.count` the play count.
    Lastfm,
    /// MovieLens 100K (`u.item`, `u.genre`, `u.user`, `u.data`): a `like` for ratings of 4
    /// or more, else a `view`, `props.rating` the rating, at the rating's time.
    Movielens,
}

impl DatasetKind {
    pub const ALL: [DatasetKind; 2] = [DatasetKind::Lastfm, DatasetKind::Movielens];

    /// The key its ids are kept under in a media's `metadata.external_ids`.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Lastfm => "lastfm",
            DatasetKind::Movielens => "movielens",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The dataset's format.
    pub dataset: DatasetKind,
    /// The dataset's directory, e.g. ../shared/datasets/ml-100k.
    pub dir: PathBuf,
    /// The tenant to import into (its id); by default the embedded tenant `default`.
    #[arg(long)]
    pub tenant: Option<TenantId>,
    /// Import only the first N interactions, with the users and items they name (a quick trial).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// What an import did, per kind of record.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub new: usize,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub media: Counts,
    pub profiles: Counts,
    pub events: Counts,
}

pub async fn run(data: &Path, args: ImportArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let dataset = load(&args)?;
    let (identity, _) = open_local(data).await?;
    let (tenant, name) = match args.tenant {
        Some(id) => {
            let record = TenantRepo::new(identity.platform().table())
                .by_id(id)
                .await?
                .with_context(|| format!("no tenant {id}"))?;
            (record.id, record.name)
        }
        None => (default_tenant(&identity, data).await?, "default".to_owned()),
    };
    let summary = import(
        identity.platform().table(),
        tenant,
        args.dataset,
        &dataset,
        Utc::now(),
    )
    .await?;
    println!(
        "{} into tenant {name} ({tenant}): {} media ({} new), {} profiles ({} new), {} events ({} new, {} already there) in {:.1} s",
        args.dataset.name(),
        summary.media.total,
        summary.media.new,
        summary.profiles.total,
        summary.profiles.new,
        summary.events.total,
        summary.events.new,
        summary.events.total - summary.events.new,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The dataset, cut to `--limit` interactions if asked.
fn load(args: &ImportArgs) -> anyhow::Result<Dataset> {
    let dataset = match args.dataset {
        DatasetKind::Lastfm => Dataset::lastfm(&args.dir)?,
        DatasetKind::Movielens => movielens(&args.dir)?,
    };
    Ok(match args.limit {
        Some(limit) => first_interactions(dataset, limit),
        None => dataset,
    })
}

/// MovieLens 100K: its published 100,000 ratings (`Dataset::movielens` reads them from the
/// two halves of the first standard split). Rows of `u.data` beyond those — the copy in
/// `../shared/datasets` has ratings by users `u.user` does not list — are reported, not
/// imported.
fn movielens(dir: &Path) -> anyhow::Result<Dataset> {
    let dataset = Dataset::movielens(dir)?;
    if let Ok(text) = std::fs::read(dir.join("u.data")) {
        let rows = text
            .split(|&b| b == b'\n')
            .filter(|line| !line.trim_ascii().is_empty())
            .count();
        if rows > dataset.interactions.len() {
            eprintln!(
                "note: u.data has {rows} ratings, u1.base and u1.test {}: the other {} are not imported",
                dataset.interactions.len(),
                rows - dataset.interactions.len()
            );
        }
    }
    Ok(dataset)
}

/// The first `limit` interactions and only the users and items they name.
fn first_interactions(mut dataset: Dataset, limit: usize) -> Dataset {
    dataset.interactions.truncate(limit);
    let mut users = vec![None; dataset.users.len()];
    let mut items = vec![None; dataset.items.len()];
    let (mut kept_users, mut kept_items) = (Vec::new(), Vec::new());
    for i in &mut dataset.interactions {
        let user = &mut users[i.user as usize];
        i.user = *user.get_or_insert_with(|| {
            kept_users.push(dataset.users[i.user as usize].clone());
            kept_users.len() as u32 - 1
        });
        let item = &mut items[i.item as usize];
        i.item = *item.get_or_insert_with(|| {
            kept_items.push(dataset.items[i.item as usize].clone());
            kept_items.len() as u32 - 1
        });
    }
    dataset.users = kept_users;
    dataset.items = kept_items;
    dataset
}

/// Import `dataset` into `tenant`: catalogue media, then profiles, then events.
pub async fn import<T: mvidarr_core::ports::Table>(
    table: &T,
    tenant: TenantId,
    kind: DatasetKind,
    dataset: &Dataset,
    now: Timestamp,
) -> anyhow::Result<Summary> {
    refuse_another_dataset(table, tenant, kind).await?;
    let mut summary = Summary::default();
    let bar =
        progress((dataset.items.len() + dataset.users.len() + dataset.interactions.len()) as u64);

    bar.set_message("media");
    let mut media: Vec<MediaId> = Vec::with_capacity(dataset.items.len());
    for chunk in dataset.items.chunks(BATCH) {
        let entries = chunk
            .iter()
            .map(|item| catalogue_entry(kind, item))
            .collect::<anyhow::Result<_>>()?;
        let imported = MediaRepo::new(table)
            .import_catalogue(tenant, entries, now)
            .await?;
        summary.media.new += imported.iter().filter(|i| i.created).count();
        media.extend(imported.iter().map(|i| i.id));
        bar.inc(chunk.len() as u64);
    }
    summary.media.total = media.len();

    bar.set_message("profiles");
    let mut profiles: Vec<ProfileId> = Vec::with_capacity(dataset.users.len());
    for chunk in dataset.users.chunks(BATCH) {
        let external_ids = chunk
            .iter()
            .map(|u| external_id("user", u))
            .collect::<anyhow::Result<_>>()?;
        let imported = ProfileRepo::new(table)
            .import(tenant, external_ids, now)
            .await?;
        summary.profiles.new += imported.iter().filter(|i| i.created).count();
        profiles.extend(imported.iter().map(|i| i.id));
        bar.inc(chunk.len() as u64);
    }
    summary.profiles.total = profiles.len();

    bar.set_message("events");
    for chunk in dataset.interactions.chunks(BATCH) {
        let events = chunk
            .iter()
            .map(|i| {
                let (user, item) = (
                    &dataset.users[i.user as usize],
                    &dataset.items[i.item as usize],
                );
                let fact = Fact::of(kind, i, user, &item.external_id, now)?;
                Ok(StoredEvent {
                    id: fact.id,
                    tenant,
                    kind: fact.kind,
                    media: media[i.item as usize],
                    profile: profiles[i.user as usize],
                    at: fact.at,
                    received_at: now,
                    actor: ACTOR.to_owned(),
                    props: fact.props,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let outcome = EventRepo::new(table).append(tenant, events).await?;
        summary.events.new += outcome.stored;
        summary.events.total += outcome.stored + outcome.duplicates;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// Datasets number their items and users from 1 alike: a second dataset in the same tenant
/// would find the first one's records under its ids and attach its events to them. So a
/// tenant holds one dataset; another goes into another tenant.
async fn refuse_another_dataset<T: mvidarr_core::ports::Table>(
    table: &T,
    tenant: TenantId,
    kind: DatasetKind,
) -> anyhow::Result<()> {
    let media = MediaRepo::new(table).list_all(tenant).await?;
    for other in DatasetKind::ALL.into_iter().filter(|&d| d != kind) {
        let held = media
            .iter()
            .filter(|m| m.metadata.external_ids.contains_key(other.name()))
            .count();
        if held > 0 {
            bail!(
                "tenant {tenant} holds the {} catalogue ({held} media), whose ids {} would share: import {} into another tenant (--tenant; mvidarr tenant create makes one)",
                other.name(),
                kind.name(),
                kind.name()
            );
        }
    }
    Ok(())
}

fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn external_id(what: &str, id: &str) -> anyhow::Result<ExternalId> {
    ExternalId::parse(id).with_context(|| format!("the dataset's {what} id {id:?}"))
}

/// An item as a catalogue media: its dataset id is its external id, and is also kept among
/// the metadata's external ids under the dataset's name.
fn catalogue_entry(dataset: DatasetKind, item: &CatalogueItem) -> anyhow::Result<CatalogueEntry> {
    Ok(CatalogueEntry {
        external_id: external_id("item", &item.external_id)?,
        metadata: VideoMetadata {
            title: Some(item.title.clone()),
            artist_name: item.artist.clone(),
            year: item.year,
            genres: item.genres.clone(),
            external_ids: [(dataset.name().to_owned(), item.external_id.clone())].into(),
            ..VideoMetadata::default()
        },
    })
}

/// What one dataset row says happened.
struct Fact {
    id: ClientEventId,
    kind: EventKind,
    at: Timestamp,
    props: Map<String, Value>,
}

impl Fact {
    fn of(
        dataset: DatasetKind,
        row: &Interaction,
        user: &str,
        item: &str,
        now: Timestamp,
    ) -> anyhow::Result<Fact> {
        let (prefix, kind, prop) = match dataset {
            // A play count per user and artist, with no time.
            DatasetKind::Lastfm => ("lastfm", EventKind::Play, "count"),
            DatasetKind::Movielens if row.value >= 4.0 => ("ml", EventKind::Like, "rating"),
            DatasetKind::Movielens => ("ml", EventKind::View, "rating"),
        };
        let id = format!("{prefix}:{user}:{item}");
        let at = match row.at {
            Some(secs) => DateTime::from_timestamp(secs, 0)
                .with_context(|| format!("event {id}: time {secs} is out of range"))?,
            None => now,
        };
        Ok(Fact {
            id: ClientEventId::parse(&id).with_context(|| format!("event id {id:?}"))?,
            kind,
            at,
            props: Map::from_iter([(prop.to_owned(), number(row.value))]),
        })
    }
}

/// Counts and ratings are whole numbers in both datasets: kept as integers when they are.
fn number(value: f32) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user: u32, item: u32, value: f32, at: Option<i64>) -> Interaction {
        Interaction {
            user,
            item,
            value,
            at,
        }
    }

    #[test]
    fn lastfm_rows_are_plays_with_their_count_at_import_time() {
        let now = Utc::now();
        let f = Fact::of(
            DatasetKind::Lastfm,
            &row(0, 0, 13883.0, None),
            "2",
            "51",
            now,
        )
        .unwrap();
        assert_eq!(f.id.as_str(), "lastfm:2:51");
        assert_eq!(f.kind, EventKind::Play);
        assert_eq!(f.at, now);
        assert_eq!(Value::Object(f.props), json!({"count": 13883}));
    }

    #[test]
    fn movielens_ratings_of_4_or_more_are_likes_at_their_time() {
        let now = Utc::now();
        let like = Fact::of(
            DatasetKind::Movielens,
            &row(0, 0, 4.0, Some(881_250_949)),
            "196",
            "242",
            now,
        )
        .unwrap();
        assert_eq!(like.id.as_str(), "ml:196:242");
        assert_eq!(like.kind, EventKind::Like);
        assert_eq!(like.at.to_rfc3339(), "1997-12-04T15:55:49+00:00");
        assert_eq!(Value::Object(like.props), json!({"rating": 4}));
        let view = Fact::of(
            DatasetKind::Movielens,
            &row(0, 0, 3.0, Some(0)),
            "1",
            "2",
            now,
        )
        .unwrap();
        assert_eq!(view.kind, EventKind::View);
    }

    #[test]
    fn ids_the_event_id_rules_refuse_are_an_error_not_a_skip() {
        let now = Utc::now();
        let bad_user = Fact::of(
            DatasetKind::Movielens,
            &row(0, 0, 1.0, None),
            "a b",
            "1",
            now,
        );
        assert!(bad_user.is_err());
        let bad_time = Fact::of(
            DatasetKind::Movielens,
            &row(0, 0, 1.0, Some(i64::MAX)),
            "1",
            "1",
            now,
        );
        assert!(bad_time.is_err());
    }

    #[test]
    fn a_limit_keeps_the_first_rows_and_only_whom_and_what_they_name() {
        let item = |id: &str| CatalogueItem {
            external_id: id.into(),
            title: id.into(),
            artist: None,
            genres: Vec::new(),
            year: None,
        };
        let dataset = Dataset {
            name: "movielens",
            users: vec!["u0".into(), "u1".into(), "u2".into()],
            items: vec![item("i0"), item("i1"), item("i2")],
            interactions: vec![
                row(2, 1, 5.0, None),
                row(0, 1, 3.0, None),
                row(1, 0, 1.0, None),
            ],
        };
        let cut = first_interactions(dataset, 2);
        assert_eq!(cut.users, ["u2", "u0"]);
        assert_eq!(cut.items.len(), 1);
        assert_eq!(cut.items[0].external_id, "i1");
        assert_eq!(
            cut.interactions,
            [row(0, 0, 5.0, None), row(1, 0, 3.0, None)]
        );
    }
}
