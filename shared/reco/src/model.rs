//! The trained recommender of one tenant, as served: collaborative (ALS), content, trending and
//! popularity models over one catalogue, and the blend that makes a personal list from them,
//! with diversity, seen-item filtering and a reason for every item.
//!
//! A model is trained from a [`TrainingSet`] (the platform reads it from its stores), encoded
//! to bytes for the model registry, and decoded once per process.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::als::{self, AlsConfig, AlsModel};
use crate::content::{ContentFeatures, ContentIndex};
use crate::matrix::Csr;
use crate::popularity::Popularity;
use crate::topk::{Scored, top_k_of};
use crate::trending::{Signal, Window, trending};

/// One catalogue item as the trainer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingItem {
    /// The platform's id (a media id).
    pub id: String,
    pub title: String,
    pub features: ContentFeatures,
}

/// One engagement, already turned into a strength (see [`event_strength`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingEvent {
    pub user: u32,
    pub item: u32,
    pub strength: f32,
    /// Unix seconds.
    pub at: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingSet {
    pub items: Vec<TrainingItem>,
    /// The platform's profile ids, by user index.
    pub users: Vec<String>,
    pub events: Vec<TrainingEvent>,
}

/// The most plays one event may stand for: `count` is client input, and an absurd one must
/// not overflow the sums (an infinite strength would make the tenant untrainable).
pub const MAX_EVENT_COUNT: f64 = 1e6;

/// What one event says about a user's taste. `count` is how many plays one event stands for
/// (an import's aggregated play count), 1 when absent, at most [`MAX_EVENT_COUNT`]. `None`
/// for kinds that say nothing.
pub fn event_strength(kind: &str, count: Option<f64>) -> Option<f32> {
    let count = count
        .filter(|c| c.is_finite() && *c > 0.0)
        .map_or(1.0, |c| c.min(MAX_EVENT_COUNT)) as f32;
    Some(match kind {
        "view" => 0.5 * count,
        "play" => count,
        "complete" => 2.0 * count,
        "like" => 4.0 * count,
        // A skip says "not this": enough of them make the preference negative.
        "skip" => -count,
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub als: AlsConfig,
    /// Items kept per trending window.
    pub trending_limit: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            als: AlsConfig::default(),
            trending_limit: 200,
        }
    }
}

/// How the personal blend weighs its sources, and how diverse it must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlendConfig {
    pub collab: f32,
    pub content: f32,
    pub trending: f32,
    /// At most this many items by one artist in one list.
    pub per_artist: usize,
}

impl Default for BlendConfig {
    fn default() -> Self {
        BlendConfig {
            collab: 0.7,
            content: 0.2,
            trending: 0.1,
            per_artist: 2,
        }
    }
}

/// Which list to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Personal,
    Trending(Window),
    Collab,
    Content,
}

/// Why an item was recommended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Reason {
    /// People with this user's taste played it; `because_of` is the history item most like it.
    Collaborative {
        because_of: Option<String>,
    },
    /// It shares these features with `because_of`, an item in the user's history.
    Content {
        because_of: String,
        shared: Vec<String>,
    },
    Trending {
        window: Window,
    },
    Popular,
    /// For similar-item lists: played by the same people.
    PlayedTogether,
    /// For similar-item lists: these features in common.
    SameFeatures {
        shared: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub item: String,
    pub title: String,
    pub score: f32,
    pub reason: Reason,
    /// The reason in words.
    pub explain: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoModel {
    /// Unix seconds.
    pub trained_at: i64,
    items: Vec<String>,
    titles: Vec<String>,
    users: Vec<String>,
    /// Users × items, summed strengths: what each user has engaged with.
    history: Csr,
    als: Option<AlsModel>,
    content: ContentIndex,
    /// Per item, its artist's index in `artist_names` (for the per-artist cap).
    artists: Vec<Option<u32>>,
    trending: Vec<(Window, Vec<Scored>)>,
    popularity: Popularity,
    #[serde(skip)]
    item_index: HashMap<String, u32>,
    #[serde(skip)]
    user_index: HashMap<String, u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Training(#[from] als::AlsError),
    #[error(
        "a training event names user {user} or item {item}, beyond the {users} users and {items} items"
    )]
    OutOfRange {
        user: u32,
        item: u32,
        users: usize,
        items: usize,
    },
    #[error("model bytes do not decode: {0}")]
    Decode(#[from] postcard::Error),
    #[error("not a model file of this format (it starts {0:?})")]
    Format(String),
    #[error("model tables disagree: {0}")]
    Shape(String),
}

/// The tag a model file starts with; a new layout gets a new tag.
const FORMAT: &[u8] = b"mvidarr-reco/1\n";

impl RecoModel {
    /// Trains every part on one tenant's data as of `now` (Unix seconds).
    pub fn train(set: &TrainingSet, config: &TrainConfig, now: i64) -> Result<Self, ModelError> {
        let (users, items) = (set.users.len(), set.items.len());
        if let Some(e) = set
            .events
            .iter()
            .find(|e| e.user as usize >= users || e.item as usize >= items)
        {
            return Err(ModelError::OutOfRange {
                user: e.user,
                item: e.item,
                users,
                items,
            });
        }
        // A strength that is not finite says nothing usable; it must not stop the training.
        let summed = Csr::from_triplets(
            users,
            items,
            set.events
                .iter()
                .filter(|e| e.strength.is_finite())
                .map(|e| (e.user, e.item, e.strength)),
        );
        // Counts span orders of magnitude: the model sees their logarithm, sign kept.
        let history = summed.map_values(|r| {
            let r = r.signum() * r.abs().ln_1p();
            if r.is_finite() { r } else { 0.0 }
        });
        let als = if history.nnz() == 0 {
            None
        } else {
            Some(als::fit(&history, &config.als)?)
        };
        let positives = Csr::from_triplets(
            users,
            items,
            history.triplets().filter(|&(_, _, r)| r > 0.0),
        );
        let signals: Vec<Signal> = set
            .events
            .iter()
            .filter(|e| e.strength.is_finite())
            .map(|e| Signal {
                item: e.item,
                actor: u64::from(e.user),
                at: e.at,
                weight: e.strength.clamp(0.0, 4.0),
            })
            .collect();
        let trending = Window::ALL
            .into_iter()
            .map(|w| (w, trending(&signals, now, w, config.trending_limit)))
            .collect();
        let mut artist_ids: HashMap<String, u32> = HashMap::new();
        let artists = set
            .items
            .iter()
            .map(|i| {
                i.features.artist.as_ref().map(|a| {
                    let next = artist_ids.len() as u32;
                    *artist_ids.entry(a.to_lowercase()).or_insert(next)
                })
            })
            .collect();
        let content_features: Vec<ContentFeatures> =
            set.items.iter().map(|i| i.features.clone()).collect();
        let mut model = RecoModel {
            trained_at: now,
            items: set.items.iter().map(|i| i.id.clone()).collect(),
            titles: set.items.iter().map(|i| i.title.clone()).collect(),
            users: set.users.clone(),
            history,
            als,
            content: ContentIndex::build(&content_features),
            artists,
            trending,
            popularity: Popularity::fit(&positives),
            item_index: HashMap::new(),
            user_index: HashMap::new(),
        };
        model.build_indexes();
        Ok(model)
    }

    /// The file: a format tag, then the model (postcard does not describe its own layout, so
    /// a file from a binary with another layout is refused by its tag, not misread).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = FORMAT.to_vec();
        bytes.extend(
            postcard::to_stdvec(self).expect("a model encodes: plain data, no maps with odd keys"),
        );
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let body = bytes.strip_prefix(FORMAT).ok_or_else(|| {
            let tag = String::from_utf8_lossy(&bytes[..bytes.len().min(FORMAT.len())]).into_owned();
            ModelError::Format(tag)
        })?;
        let mut model: RecoModel = postcard::from_bytes(body)?;
        model.check_shapes()?;
        model.build_indexes();
        Ok(model)
    }

    /// Every per-item and per-user table agrees on the catalogue's and the users' sizes.
    fn check_shapes(&self) -> Result<(), ModelError> {
        let items = self.items.len();
        let users = self.users.len();
        let item_sizes = [
            ("titles", self.titles.len()),
            ("artists", self.artists.len()),
            ("history columns", self.history.cols()),
            ("content index", self.content.len()),
            ("popularity", self.popularity.len()),
            (
                "item factors",
                self.als.as_ref().map_or(items, |a| a.items.rows()),
            ),
        ];
        let user_sizes = [
            ("history rows", self.history.rows()),
            (
                "user factors",
                self.als.as_ref().map_or(users, |a| a.users.rows()),
            ),
        ];
        for (what, n) in item_sizes {
            if n != items {
                return Err(ModelError::Shape(format!("{what}: {n}, items: {items}")));
            }
        }
        for (what, n) in user_sizes {
            if n != users {
                return Err(ModelError::Shape(format!("{what}: {n}, users: {users}")));
            }
        }
        let out_of_range = self
            .trending
            .iter()
            .flat_map(|(_, list)| list)
            .any(|s| s.index as usize >= items);
        if out_of_range {
            return Err(ModelError::Shape(
                "a trending item beyond the catalogue".into(),
            ));
        }
        Ok(())
    }

    fn build_indexes(&mut self) {
        if let Some(als) = &mut self.als {
            als.prepare_serving();
        }
        self.item_index = (0..self.items.len() as u32)
            .map(|i| (self.items[i as usize].clone(), i))
            .collect();
        self.user_index = (0..self.users.len() as u32)
            .map(|u| (self.users[u as usize].clone(), u))
            .collect();
    }

    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    pub fn interaction_count(&self) -> usize {
        self.history.nnz()
    }

    pub fn knows_item(&self, item: &str) -> bool {
        self.item_index.contains_key(item)
    }

    /// How many people engaged with `item` (0 for an item the model does not know).
    pub fn audience(&self, item: &str) -> u64 {
        self.item_index
            .get(item)
            .map_or(0, |&i| self.popularity.users_of(i) as u64)
    }

    /// The item's collaborative factors: where co-interaction puts it (for content features
    /// elsewhere, e.g. tag models). `None` for an unknown item or a model without them.
    pub fn item_embedding(&self, item: &str) -> Option<&[f32]> {
        let &i = self.item_index.get(item)?;
        Some(self.als.as_ref()?.items.row(i as usize))
    }

    /// The length of [`RecoModel::item_embedding`]'s vectors (0 without collaborative factors).
    pub fn embedding_dim(&self) -> usize {
        self.als.as_ref().map_or(0, |a| a.items.dim())
    }

    /// A list of `kind` for `user` (a profile id; unknown or history-less users get trending,
    /// then popular items), at most `limit` long.
    pub fn recommend(
        &self,
        user: Option<&str>,
        kind: Kind,
        limit: usize,
        blend: &BlendConfig,
    ) -> Vec<Recommendation> {
        self.recommend_with_recent(user, &[], kind, limit, blend)
    }

    /// [`Self::recommend`], accounting for what the user did since the model was trained:
    /// `recent` engagements (media id, strength as [`event_strength`] gives it) are never
    /// recommended again, and they change the user's taste at once (their factor vector is
    /// folded in anew from the whole history), so a profile made after training is served
    /// personally from its first plays. Media the model does not know are ignored.
    pub fn recommend_with_recent(
        &self,
        user: Option<&str>,
        recent: &[(String, f32)],
        kind: Kind,
        limit: usize,
        blend: &BlendConfig,
    ) -> Vec<Recommendation> {
        let taste = self.taste(user, recent);
        let seen = taste.as_ref().map(|t| t.seen.clone()).unwrap_or_default();
        let picked = match (kind, &taste) {
            (Kind::Trending(window), _) => self.trending_list(window, limit, &seen),
            (_, None) => self.trending_list(Window::Week, limit, &seen),
            (Kind::Collab, Some(t)) => self.collab(t, limit),
            (Kind::Content, Some(t)) => self.content_for(t, limit),
            (Kind::Personal, Some(t)) => self.personal(t, limit, blend),
        };
        picked
            .into_iter()
            .map(|(item, score, reason)| self.recommendation(item, score, reason))
            .collect()
    }

    /// What is known of a user's taste: the trained history plus `recent`; `None` when both
    /// are empty.
    fn taste(&self, user: Option<&str>, recent: &[(String, f32)]) -> Option<Taste> {
        let trained = user.and_then(|u| self.user_index.get(u).copied());
        let mut cells: HashMap<u32, f32> = HashMap::new();
        if let Some(u) = trained {
            let (items, strengths) = self.history.row(u as usize);
            cells.extend(items.iter().copied().zip(strengths.iter().copied()));
        }
        let mut recent_sums: HashMap<u32, f32> = HashMap::new();
        for (media, strength) in recent {
            if let Some(&item) = self.item_index.get(media)
                && strength.is_finite()
            {
                *recent_sums.entry(item).or_default() += strength;
            }
        }
        for (&item, &sum) in &recent_sums {
            // On the same log scale the training used.
            *cells.entry(item).or_default() += sum.signum() * sum.abs().ln_1p();
        }
        if cells.is_empty() {
            return None;
        }
        let strongest = top_k_of(
            cells.iter().map(|(&i, &r)| Scored { index: i, score: r }),
            10,
            |_| false,
        )
        .into_iter()
        .filter(|s| s.score > 0.0)
        .map(|s| (s.index, s.score))
        .collect();
        let vector = match (&self.als, trained) {
            (Some(als), Some(u)) if recent_sums.is_empty() => {
                Some(als.users.row(u as usize).to_vec())
            }
            (Some(als), _) => {
                let history: Vec<(u32, f32)> = cells.iter().map(|(&i, &r)| (i, r)).collect();
                Some(als.fold_in(&history))
            }
            (None, _) => None,
        };
        Some(Taste {
            seen: cells.into_keys().collect(),
            strongest,
            vector,
        })
    }

    /// Items like `item`: played by the same people (when it has been played) and sharing its
    /// features (always, so a new video has neighbours too). `None` for an unknown item.
    pub fn similar(&self, item: &str, limit: usize) -> Option<Vec<Recommendation>> {
        let item = *self.item_index.get(item)?;
        let pool = limit.max(1) * 5;
        let mut parts: HashMap<u32, (f32, f32)> = HashMap::new();
        if let Some(als) = &self.als
            && self.popularity.users_of(item) > 0.0
        {
            // Only what the item's listeners also played, and only positive similarity.
            for s in als.similar_items(item, pool) {
                if s.score > 0.0 && self.popularity.users_of(s.index) > 0.0 {
                    parts.entry(s.index).or_default().0 = s.score;
                }
            }
        }
        for s in self.content.similar(item, pool) {
            if s.score > 0.0 {
                parts.entry(s.index).or_default().1 = s.score;
            }
        }
        let scored = parts.iter().map(|(&i, &(collab, content))| Scored {
            index: i,
            score: 0.6 * collab + 0.4 * content,
        });
        let out = top_k_of(scored, limit, |i| i == item)
            .into_iter()
            .map(|s| {
                let (collab, content) = parts[&s.index];
                let reason = if 0.6 * collab >= 0.4 * content {
                    Reason::PlayedTogether
                } else {
                    Reason::SameFeatures {
                        shared: self.shared(item, s.index),
                    }
                };
                self.recommendation(s.index, s.score, reason)
            })
            .collect();
        Some(out)
    }

    fn trending_list(&self, window: Window, limit: usize, seen: &HashSet<u32>) -> Picked {
        let mut out: Picked = self
            .trending
            .iter()
            .find(|(w, _)| *w == window)
            .map(|(_, list)| list.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|s| !seen.contains(&s.index))
            .take(limit)
            .map(|s| (s.index, s.score, Reason::Trending { window }))
            .collect();
        self.fill_with_popular(&mut out, limit, seen);
        out
    }

    fn fill_with_popular(&self, out: &mut Picked, limit: usize, seen: &HashSet<u32>) {
        if out.len() >= limit {
            return;
        }
        let taken: HashSet<u32> = out.iter().map(|p| p.0).collect();
        let more = self.popularity.recommend(limit, |i| {
            seen.contains(&i) || taken.contains(&i) || self.popularity.users_of(i) == 0.0
        });
        for s in more.into_iter().take(limit - out.len()) {
            out.push((s.index, s.score, Reason::Popular));
        }
    }

    fn collab(&self, taste: &Taste, limit: usize) -> Picked {
        let (Some(als), Some(vector)) = (&self.als, &taste.vector) else {
            return self.trending_list(Window::Week, limit, &taste.seen);
        };
        als.recommend_fast_for(vector, limit, |i| taste.seen.contains(&i))
            .into_iter()
            .map(|s| {
                let because_of = self.closest_in_history(&taste.strongest, s.index);
                (s.index, s.score, Reason::Collaborative { because_of })
            })
            .collect()
    }

    fn content_for(&self, taste: &Taste, limit: usize) -> Picked {
        if taste.strongest.is_empty() {
            // Only dislikes on record: nothing to be like.
            return self.trending_list(Window::Week, limit, &taste.seen);
        }
        self.content
            .similar_to_history(&taste.strongest, limit, |i| taste.seen.contains(&i))
            .into_iter()
            .map(|s| {
                (
                    s.index,
                    s.score,
                    self.content_reason(&taste.strongest, s.index),
                )
            })
            .collect()
    }

    fn personal(&self, taste: &Taste, limit: usize, blend: &BlendConfig) -> Picked {
        let seen = &taste.seen;
        let pool = (limit * 10).max(50);
        // Per candidate, each source's score on its own scale (divided by the source's best),
        // for the sources that nominated it with a positive score.
        let mut parts: HashMap<u32, [Option<f32>; 3]> = HashMap::new();
        let mut add = |list: Vec<Scored>, slot: usize| {
            let Some(best) = list.first().map(|s| s.score).filter(|&b| b > 0.0) else {
                return;
            };
            for s in list.into_iter().filter(|s| s.score > 0.0) {
                parts.entry(s.index).or_default()[slot] = Some(s.score / best);
            }
        };
        if let (Some(als), Some(vector)) = (&self.als, &taste.vector) {
            add(
                als.recommend_fast_for(vector, pool, |i| seen.contains(&i)),
                0,
            );
        }
        let history = &taste.strongest;
        add(
            self.content
                .similar_to_history(history, pool / 2, |i| seen.contains(&i)),
            1,
        );
        if let Some((_, list)) = self.trending.iter().find(|(w, _)| *w == Window::Week) {
            add(
                list.iter()
                    .filter(|s| !seen.contains(&s.index))
                    .copied()
                    .collect(),
                2,
            );
        }
        let weights = [blend.collab, blend.content, blend.trending];
        let weighted = |p: &[Option<f32>; 3], slot: usize| p[slot].unwrap_or(0.0) * weights[slot];
        let ranked = top_k_of(
            parts.iter().map(|(&i, p)| Scored {
                index: i,
                score: (0..3).map(|slot| weighted(p, slot)).sum(),
            }),
            parts.len(),
            |_| false,
        );
        let blended = ranked.into_iter().filter(|s| s.score > 0.0).map(|s| {
            let p = parts[&s.index];
            // The reason is the nominating source that contributed most.
            let strongest = (0..3)
                .filter(|&slot| p[slot].is_some())
                .max_by(|&a, &b| weighted(&p, a).total_cmp(&weighted(&p, b)))
                .unwrap_or(0);
            let reason = match strongest {
                0 => Reason::Collaborative {
                    because_of: self.closest_in_history(history, s.index),
                },
                1 => self.content_reason(history, s.index),
                _ => Reason::Trending {
                    window: Window::Week,
                },
            };
            (s.index, s.score, reason)
        });
        // Popular items top up a short list, under the same per-artist cap.
        let popular = self
            .popularity
            .recommend(limit * 4, |i| seen.contains(&i) || parts.contains_key(&i))
            .into_iter()
            .filter(|s| s.score > 0.0)
            .map(|s| (s.index, s.score, Reason::Popular));
        let mut per_artist: HashMap<u32, usize> = HashMap::new();
        blended
            .chain(popular)
            .filter(|(item, _, _)| match self.artists[*item as usize] {
                Some(artist) => {
                    let n = per_artist.entry(artist).or_default();
                    *n += 1;
                    *n <= blend.per_artist
                }
                None => true,
            })
            .take(limit)
            .collect()
    }

    /// The item of the user's strongest history whose factors are most like `item`'s.
    fn closest_in_history(&self, history: &[(u32, f32)], item: u32) -> Option<String> {
        let als = self.als.as_ref()?;
        history
            .iter()
            .map(|&(h, _)| (h, als.item_similarity(h, item)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(h, _)| self.items[h as usize].clone())
    }

    fn content_reason(&self, history: &[(u32, f32)], item: u32) -> Reason {
        let best = history
            .iter()
            .map(|&(h, _)| (h, self.content.shared_features(h, item).len()))
            .max_by_key(|&(_, shared)| shared);
        match best {
            Some((h, _)) => Reason::Content {
                because_of: self.items[h as usize].clone(),
                shared: self.shared(h, item),
            },
            None => Reason::Popular,
        }
    }

    fn shared(&self, a: u32, b: u32) -> Vec<String> {
        self.content
            .shared_features(a, b)
            .into_iter()
            .take(3)
            .map(str::to_owned)
            .collect()
    }

    fn recommendation(&self, item: u32, score: f32, reason: Reason) -> Recommendation {
        let title = |id: &str| {
            self.item_index
                .get(id)
                .map(|&i| self.titles[i as usize].as_str())
                .unwrap_or(id)
                .to_owned()
        };
        let explain = match &reason {
            Reason::Collaborative {
                because_of: Some(h),
            } => format!("people who played “{}” also played this", title(h)),
            Reason::Collaborative { because_of: None } => {
                "people with your taste played this".into()
            }
            Reason::Content { because_of, shared } => {
                format!("like “{}”: {}", title(because_of), shared.join(", "))
            }
            Reason::Trending { window } => format!("trending this {}", window.as_str()),
            Reason::Popular => "popular in this library".into(),
            Reason::PlayedTogether => "played by the same people".into(),
            Reason::SameFeatures { shared } => format!("in common: {}", shared.join(", ")),
        };
        Recommendation {
            item: self.items[item as usize].clone(),
            title: self.titles[item as usize].clone(),
            score,
            reason,
            explain,
        }
    }
}

/// Chosen items with their score and reason, best first.
type Picked = Vec<(u32, f32, Reason)>;

/// What serving knows of one user's taste.
struct Taste {
    /// Everything engaged with (trained history and recent events): never recommended again.
    seen: HashSet<u32>,
    /// The ten strongest positive engagements, for content similarity and reasons.
    strongest: Vec<(u32, f32)>,
    /// The user's factor vector: as trained, or folded in anew when there is more history.
    vector: Option<Vec<f32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    /// Rock items (0–5, two artists) and pop items (6–11, two artists); rock fans p0–p19 and
    /// pop fans p20–p39, each playing four of their side's six items.
    fn library() -> TrainingSet {
        let items = (0..12)
            .map(|i| TrainingItem {
                id: format!("m{i}"),
                title: format!("Video {i}"),
                features: ContentFeatures {
                    genres: vec![if i < 6 { "rock" } else { "pop" }.into()],
                    artist: Some(format!("artist {}", i / 3)),
                    ..Default::default()
                },
            })
            .collect();
        let mut events = Vec::new();
        for u in 0..40u32 {
            let side = if u < 20 { 0 } else { 6 };
            for k in 0..4 {
                events.push(TrainingEvent {
                    user: u,
                    item: side + (u + k) % 6,
                    strength: 3.0,
                    at: NOW - 600,
                });
            }
        }
        TrainingSet {
            items,
            users: (0..40).map(|u| format!("p{u}")).collect(),
            events,
        }
    }

    fn config() -> TrainConfig {
        TrainConfig {
            // Two sides of taste: two factors (more would memorise forty users).
            als: AlsConfig {
                factors: 2,
                iterations: 10,
                ..AlsConfig::default()
            },
            trending_limit: 50,
        }
    }

    fn model() -> RecoModel {
        RecoModel::train(&library(), &config(), NOW).unwrap()
    }

    fn ids(recs: &[Recommendation]) -> Vec<&str> {
        recs.iter().map(|r| r.item.as_str()).collect()
    }

    #[test]
    fn personal_lists_skip_what_the_user_played_and_stay_on_their_side() {
        let m = model();
        let recs = m.recommend(Some("p0"), Kind::Personal, 2, &BlendConfig::default());
        assert_eq!(recs.len(), 2);
        // p0 played m0..m3; the unplayed rock items are m4 and m5.
        let mut got = ids(&recs);
        got.sort_unstable();
        assert_eq!(got, ["m4", "m5"], "{recs:#?}");
        assert!(recs.iter().all(|r| !r.explain.is_empty()));
    }

    #[test]
    fn plays_since_training_are_not_recommended_again_and_move_the_taste() {
        let m = model();
        let recent: Vec<(String, f32)> = vec![("m4".into(), 1.0)];
        let recs = m.recommend_with_recent(
            Some("p0"),
            &recent,
            Kind::Personal,
            5,
            &BlendConfig::default(),
        );
        assert!(recs.iter().all(|r| r.item != "m4"), "{recs:#?}");
        assert_eq!(
            recs[0].item, "m5",
            "the one rock video p0 has still not played"
        );

        // A profile the model has never seen, with three rock plays: personal at once.
        let recent: Vec<(String, f32)> = ["m0", "m1", "m2"]
            .iter()
            .map(|m| (m.to_string(), 3.0))
            .collect();
        let recs = m.recommend_with_recent(
            Some("newcomer"),
            &recent,
            Kind::Collab,
            3,
            &BlendConfig::default(),
        );
        assert_eq!(recs.len(), 3);
        for r in &recs {
            assert!(["m3", "m4", "m5"].contains(&r.item.as_str()), "{recs:#?}");
            assert!(
                matches!(
                    r.reason,
                    Reason::Collaborative {
                        because_of: Some(_)
                    }
                ),
                "{r:?}"
            );
        }
        // Media the model does not know are ignored, not an error.
        let unknown = vec![("not-in-the-catalogue".to_string(), 1.0)];
        let recs = m.recommend_with_recent(
            Some("newcomer"),
            &unknown,
            Kind::Personal,
            3,
            &BlendConfig::default(),
        );
        assert!(
            matches!(recs[0].reason, Reason::Trending { .. }),
            "{recs:#?}"
        );
    }

    #[test]
    fn no_more_than_k_items_from_one_artist() {
        let m = model();
        let blend = BlendConfig {
            per_artist: 1,
            ..BlendConfig::default()
        };
        let recs = m.recommend(Some("p0"), Kind::Personal, 8, &blend);
        // Three artists have videos p0 has not played: one each, the cap shortens the list.
        assert_eq!(recs.len(), 3, "{recs:#?}");
        let mut per_artist: HashMap<u32, usize> = HashMap::new();
        for r in &recs {
            let i = m.item_index[&r.item];
            *per_artist
                .entry(m.artists[i as usize].unwrap())
                .or_default() += 1;
        }
        assert!(per_artist.values().all(|&n| n <= 1), "{recs:#?}");
    }

    #[test]
    fn a_user_without_history_gets_trending_items() {
        let m = model();
        for user in [None, Some("nobody")] {
            let recs = m.recommend(user, Kind::Personal, 5, &BlendConfig::default());
            assert_eq!(recs.len(), 5);
            assert!(
                matches!(
                    recs[0].reason,
                    Reason::Trending {
                        window: Window::Week
                    }
                ),
                "{recs:#?}"
            );
        }
    }

    #[test]
    fn every_kind_serves_and_explains() {
        let m = model();
        for kind in [
            Kind::Personal,
            Kind::Collab,
            Kind::Content,
            Kind::Trending(Window::Day),
        ] {
            let recs = m.recommend(Some("p27"), kind, 3, &BlendConfig::default());
            assert!(!recs.is_empty(), "{kind:?}");
            for r in &recs {
                // p27 played m6, m9, m10 and m11.
                assert!(
                    !["m6", "m9", "m10", "m11"].contains(&r.item.as_str()),
                    "{kind:?} {r:?}"
                );
            }
        }
        let content = m.recommend(Some("p27"), Kind::Content, 1, &BlendConfig::default());
        assert!(content[0].explain.starts_with("like “Video"), "{content:?}");
    }

    #[test]
    fn a_new_video_without_plays_has_similar_items_by_content() {
        let mut set = library();
        set.items.push(TrainingItem {
            id: "fresh".into(),
            title: "Fresh upload".into(),
            features: ContentFeatures {
                genres: vec!["pop".into()],
                artist: Some("artist 3".into()),
                ..Default::default()
            },
        });
        let m = RecoModel::train(&set, &config(), NOW).unwrap();
        let similar = m.similar("fresh", 3).unwrap();
        assert_eq!(similar.len(), 3);
        assert!(
            similar
                .iter()
                .all(|r| ["m9", "m10", "m11"].contains(&r.item.as_str())),
            "{similar:#?}"
        );
        assert!(matches!(similar[0].reason, Reason::SameFeatures { .. }));
        assert!(m.similar("unknown", 3).is_none());
    }

    #[test]
    fn an_empty_tenant_serves_empty_lists() {
        let m = RecoModel::train(&TrainingSet::default(), &config(), NOW).unwrap();
        for kind in [
            Kind::Personal,
            Kind::Collab,
            Kind::Content,
            Kind::Trending(Window::Hour),
        ] {
            assert!(
                m.recommend(Some("p0"), kind, 20, &BlendConfig::default())
                    .is_empty()
            );
        }
    }

    #[test]
    fn a_model_survives_its_bytes() {
        let m = model();
        let back = RecoModel::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
        let a = m.recommend(Some("p3"), Kind::Personal, 5, &BlendConfig::default());
        let b = back.recommend(Some("p3"), Kind::Personal, 5, &BlendConfig::default());
        assert_eq!(a, b);
        assert!(matches!(
            RecoModel::from_bytes(b"not a model"),
            Err(ModelError::Format(_))
        ));
        // The right tag over a body of another layout is refused, not misread.
        let mut other = FORMAT.to_vec();
        other.extend(postcard::to_stdvec(&(1u8, "x")).unwrap());
        assert!(RecoModel::from_bytes(&other).is_err());
    }

    #[test]
    fn tables_of_disagreeing_sizes_are_refused_on_decode() {
        let mut m = model();
        m.titles.pop();
        let err = RecoModel::from_bytes(&m.to_bytes()).unwrap_err();
        assert!(matches!(err, ModelError::Shape(_)), "{err}");
    }

    #[test]
    fn an_absurd_play_count_neither_overflows_nor_stops_training() {
        assert_eq!(
            event_strength("like", Some(1e39)),
            Some(4.0 * MAX_EVENT_COUNT as f32)
        );
        let mut set = library();
        for strength in [f32::INFINITY, f32::NAN, f32::MAX, f32::MAX] {
            set.events.push(TrainingEvent {
                user: 0,
                item: 5,
                strength,
                at: NOW,
            });
        }
        let m = RecoModel::train(&set, &config(), NOW).unwrap();
        assert!(
            !m.recommend(Some("p1"), Kind::Personal, 5, &BlendConfig::default())
                .is_empty()
        );
    }

    #[test]
    fn predicted_dislikes_are_neither_recommended_nor_called_trending() {
        // Rock fans skip the pop videos; nothing was played this week, so nothing trends.
        let mut set = library();
        let month_ago = NOW - 30 * 86_400;
        for e in &mut set.events {
            e.at = month_ago;
        }
        for u in 1..20 {
            for item in 6..12 {
                set.events.push(TrainingEvent {
                    user: u,
                    item,
                    strength: -3.0,
                    at: month_ago,
                });
            }
        }
        let m = RecoModel::train(&set, &config(), NOW).unwrap();
        let recs = m.recommend(Some("p0"), Kind::Personal, 10, &BlendConfig::default());
        assert!(!recs.is_empty());
        for r in &recs {
            assert!(r.score > 0.0, "{r:?}");
            assert!(!matches!(r.reason, Reason::Trending { .. }), "{r:?}");
        }
    }

    #[test]
    fn events_outside_the_catalogue_are_refused() {
        let mut set = library();
        set.events.push(TrainingEvent {
            user: 0,
            item: 99,
            strength: 1.0,
            at: NOW,
        });
        assert!(matches!(
            RecoModel::train(&set, &config(), NOW),
            Err(ModelError::OutOfRange { item: 99, .. })
        ));
    }

    #[test]
    fn event_kinds_weigh_what_they_say() {
        assert_eq!(event_strength("play", None), Some(1.0));
        assert_eq!(event_strength("play", Some(250.0)), Some(250.0));
        assert_eq!(event_strength("like", None), Some(4.0));
        assert_eq!(event_strength("skip", None), Some(-1.0));
        assert_eq!(event_strength("play", Some(f64::NAN)), Some(1.0));
        assert_eq!(event_strength("search", None), None);
    }
}
