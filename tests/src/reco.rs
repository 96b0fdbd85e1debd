//! A small library for recommendation tests: videos on two sides of taste (rock, pop) by
//! artists of three videos each, profiles, and the plays that say who likes which side.

use chrono::{DateTime, Utc};
use mvidarr_core::event::{ClientEventId, EventKind, StoredEvent};
use mvidarr_core::external::ExternalId;
use mvidarr_core::ids::{MediaId, ProfileId, TenantId};
use mvidarr_core::media::CatalogueEntry;
use mvidarr_core::metadata::VideoMetadata;
use mvidarr_core::ports::Table;
use mvidarr_core::repo::{EventRepo, MediaRepo, ProfileRepo};

/// Videos `m0…m{n-1}` ("Video i", by "artist i/3"): the first half rock, the rest pop.
pub fn catalogue(n: usize) -> Vec<CatalogueEntry> {
    (0..n)
        .map(|i| CatalogueEntry {
            external_id: ExternalId::parse(format!("m{i}")).expect("a valid external id"),
            metadata: VideoMetadata {
                title: Some(format!("Video {i}")),
                artist_name: Some(format!("artist {}", i / 3)),
                genres: vec![if i < n / 2 { "rock" } else { "pop" }.into()],
                ..VideoMetadata::default()
            },
        })
        .collect()
}

/// Imports `catalogue(videos)` and profiles `u0…u{profiles-1}`; their ids in that order.
pub async fn import<T: Table>(
    table: &T,
    tenant: TenantId,
    videos: usize,
    profiles: usize,
) -> (Vec<MediaId>, Vec<ProfileId>) {
    let now = Utc::now();
    let media = MediaRepo::new(table)
        .import_catalogue(tenant, catalogue(videos), now)
        .await
        .expect("catalogue imported")
        .into_iter()
        .map(|i| i.id)
        .collect();
    let external_ids = (0..profiles)
        .map(|u| ExternalId::parse(format!("u{u}")).expect("a valid external id"))
        .collect();
    let profiles = ProfileRepo::new(table)
        .import(tenant, external_ids, now)
        .await
        .expect("profiles imported")
        .into_iter()
        .map(|i| i.id)
        .collect();
    (media, profiles)
}

/// A play of `media` by `profile`, stored as the API would store it.
pub fn play(
    tenant: TenantId,
    id: &str,
    profile: ProfileId,
    media: MediaId,
    at: DateTime<Utc>,
) -> StoredEvent {
    StoredEvent {
        id: ClientEventId::parse(id).expect("a valid event id"),
        tenant,
        kind: EventKind::Play,
        media,
        profile,
        at,
        received_at: at,
        actor: "system:test".into(),
        props: Default::default(),
    }
}

/// Records `plays` of each profile: profile `u` plays `plays` consecutive videos of its side,
/// starting at `u` (profiles in the first half are rock fans, the rest pop fans).
pub async fn record_plays<T: Table>(
    table: &T,
    tenant: TenantId,
    media: &[MediaId],
    profiles: &[ProfileId],
    plays: usize,
) {
    let now = Utc::now();
    let side = media.len() / 2;
    let events = profiles
        .iter()
        .enumerate()
        .flat_map(|(u, &profile)| {
            let first = if u < profiles.len() / 2 { 0 } else { side };
            (0..plays).map(move |k| {
                let item = first + (u + k) % side;
                play(tenant, &format!("e{u}-{k}"), profile, media[item], now)
            })
        })
        .collect();
    EventRepo::new(table)
        .append(tenant, events)
        .await
        .expect("plays recorded");
}

/// The `title` of each item of a list the API answered (recommendations, similar media).
pub fn titles(body: &serde_json::Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {body}"))
        .iter()
        .map(|i| {
            i["title"]
                .as_str()
                .unwrap_or_else(|| panic!("an item without a title: {i}"))
                .to_owned()
        })
        .collect()
}
