//! The duplicate index over the [`Table`] port: each fingerprint key is a partition holding
//! one item per media filed under it, so finding candidates is one short query per key of the
//! media asked about, and filing a media is one put per key (both idempotent).

use std::collections::HashMap;

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::ids::{MediaId, TenantId};
use crate::keys::table as keys;
use crate::ports::{Condition, Item, Query, Table};

use super::RepoError;

/// Requests in flight at once when filing or looking up a media's keys.
const CONCURRENT: usize = 16;
/// Media read per key: a key shared by more media than this (a stock intro, a common jingle)
/// says little, and its first page is enough to keep the lookup bounded.
const PER_KEY: usize = 200;

pub struct FingerprintIndex<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> FingerprintIndex<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// File `media` under each of its keys.
    pub async fn file(
        &self,
        tenant: TenantId,
        media: MediaId,
        index_keys: &[String],
    ) -> Result<(), RepoError> {
        // Owned keys: a stream of futures borrowing the slice trips the compiler's
        // higher-ranked lifetime inference inside axum handlers.
        stream::iter(index_keys.to_vec())
            .map(|key| {
                let item = Item::new(
                    keys::fingerprint_index_pk(tenant, &key),
                    media.to_string(),
                    serde_json::json!({}),
                );
                self.table.put(item, Condition::Always)
            })
            .buffer_unordered(CONCURRENT)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    /// The other media filed under any of `index_keys`, with how many keys each shares, most
    /// shared first; at most `limit`.
    pub async fn candidates(
        &self,
        tenant: TenantId,
        media: MediaId,
        index_keys: &[String],
        limit: usize,
    ) -> Result<Vec<(MediaId, usize)>, RepoError> {
        let pages: Vec<_> = stream::iter(index_keys.to_vec())
            .map(|key| {
                let query =
                    Query::partition(keys::fingerprint_index_pk(tenant, &key)).limit(PER_KEY);
                self.table.query(query)
            })
            .buffer_unordered(CONCURRENT)
            .try_collect()
            .await?;
        let mut shared: HashMap<MediaId, usize> = HashMap::new();
        for item in pages.into_iter().flat_map(|page| page.items) {
            // An item whose sort key is not a media id is not ours to count.
            if let Ok(other) = item.sk.parse::<MediaId>()
                && other != media
            {
                *shared.entry(other).or_default() += 1;
            }
        }
        let mut ranked: Vec<(MediaId, usize)> = shared.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(limit);
        Ok(ranked)
    }
}
