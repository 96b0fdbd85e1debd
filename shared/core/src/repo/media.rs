use crate::external::ExternalRef;
use crate::ids::{MediaId, TenantId};
use crate::keys::ExternalKind;
use crate::keys::table as keys;
use crate::media::{CatalogueEntry, Media, MediaEvent};
use crate::ports::table::MAX_PAGE_ITEMS;
use crate::ports::{Condition, Index, Item, Query, Table, WriteOp};
use crate::{Timestamp, keys::table::ingest_pk};

use super::external::{ExternalIndex, Imported, NewRecord};
use super::{RepoError, decode, encode, query_all};

/// How often a read-modify-write is retried when another writer got there first.
const MAX_UPDATE_ATTEMPTS: u32 = 8;

pub struct MediaRepo<'a, T> {
    table: &'a T,
}

/// The result of an idempotent create.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    New(Media),
    /// This object version was ingested before; here is the record it made.
    Existing(Media),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MediaPage {
    pub items: Vec<Media>,
    pub next_cursor: Option<String>,
}

fn media_item(media: &Media) -> Item {
    let mut item = Item::new(
        keys::media_pk(media.tenant),
        keys::media_sk(media.id),
        encode(media),
    )
    .with_index(
        keys::media_by_status_pk(media.tenant, media.status.name()),
        keys::media_sk(media.id),
    );
    item.version = media.version;
    item
}

impl<'a, T: Table> MediaRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Create the record for one stored object version, exactly once: the media record and a
    /// dedupe record for `(bucket, key, etag)` are written in one transaction, so a redelivered
    /// or reordered notification finds the existing record instead of making a second one.
    pub async fn create_once(&self, mut media: Media) -> Result<Created, RepoError> {
        media.version = 1;
        let dedupe = Item::new(
            ingest_pk(media.tenant),
            keys::ingest_sk(&media.bucket, &media.blob_key, &media.etag),
            serde_json::json!({ "media_id": media.id }),
        );
        let ops = vec![
            WriteOp::Put {
                item: dedupe,
                condition: Condition::Absent,
            },
            WriteOp::Put {
                item: media_item(&media),
                condition: Condition::Absent,
            },
        ];
        match self.table.transact_write(ops).await {
            Ok(()) => Ok(Created::New(media)),
            Err(e) if e.is_conflict() => {
                let existing = self.get(media.tenant, media.id).await?.ok_or_else(|| {
                    RepoError::NotFound(format!("media {} after a conflicting create", media.id))
                })?;
                Ok(Created::Existing(existing))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Each media's title for a listing (its metadata's, else its file name); ids of no media
    /// of the tenant are left out.
    pub async fn titles(
        &self,
        tenant: TenantId,
        ids: impl IntoIterator<Item = MediaId>,
    ) -> Result<std::collections::HashMap<MediaId, String>, RepoError> {
        let reads = ids.into_iter().map(|id| self.get(tenant, id)).collect();
        Ok(super::a_few_at_a_time(reads)
            .await?
            .into_iter()
            .flatten()
            .map(|m| {
                let title = m
                    .metadata
                    .title
                    .clone()
                    .unwrap_or_else(|| m.filename.clone());
                (m.id, title)
            })
            .collect())
    }

    pub async fn get(&self, tenant: TenantId, id: MediaId) -> Result<Option<Media>, RepoError> {
        match self
            .table
            .get(&keys::media_pk(tenant), &keys::media_sk(id))
            .await?
        {
            Some(item) => Ok(Some(decode(item)?)),
            None => Ok(None),
        }
    }

    /// The media, or `NotFound`.
    pub async fn require(&self, tenant: TenantId, id: MediaId) -> Result<Media, RepoError> {
        self.get(tenant, id)
            .await?
            .ok_or_else(|| RepoError::NotFound(format!("media {id}")))
    }

    /// Read-modify-write with optimistic concurrency: `change` runs on the latest record and
    /// returns whether to write; a lost race re-reads and runs it again.
    pub async fn update<F>(
        &self,
        tenant: TenantId,
        id: MediaId,
        mut change: F,
    ) -> Result<Media, RepoError>
    where
        F: FnMut(&mut Media) -> Result<bool, RepoError> + Send,
    {
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let mut media = self.require(tenant, id).await?;
            if !change(&mut media)? {
                return Ok(media);
            }
            let expected = media.version;
            media.version += 1;
            match self
                .table
                .put(media_item(&media), Condition::VersionIs(expected))
                .await
            {
                Ok(()) => return Ok(media),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepoError::Contended {
            what: format!("media {id}"),
            attempts: MAX_UPDATE_ATTEMPTS,
        })
    }

    /// Apply a status event unless the record is already past it (a replay): idempotent.
    pub async fn advance(
        &self,
        tenant: TenantId,
        id: MediaId,
        event: MediaEvent,
        now: Timestamp,
    ) -> Result<Media, RepoError> {
        self.update(tenant, id, |m| {
            if m.status.already_past(&event) {
                return Ok(false);
            }
            m.apply(event.clone(), now)?;
            Ok(true)
        })
        .await
    }

    /// The media of the tenant a reference names, if there is one (an id of another tenant's
    /// media names none).
    pub async fn resolve(
        &self,
        tenant: TenantId,
        reference: &ExternalRef<MediaId>,
    ) -> Result<Option<MediaId>, RepoError> {
        match reference {
            ExternalRef::Id(id) => Ok(self.get(tenant, *id).await?.map(|m| m.id)),
            ExternalRef::External(ext) => self.external_index(tenant).lookup(ext).await,
        }
    }

    /// File catalogue entries (see [`Media::catalogue_entry`]) as media, each unless a media
    /// of the tenant already has its external id: for each entry, in order, the media filed
    /// under its external id and whether this call created it. Importing the same catalogue
    /// again creates nothing. Written in transactions of up to 50 entries (100 writes).
    pub async fn import_catalogue(
        &self,
        tenant: TenantId,
        entries: Vec<CatalogueEntry>,
        now: Timestamp,
    ) -> Result<Vec<Imported<MediaId>>, RepoError> {
        let records = entries
            .into_iter()
            .map(|entry| {
                let external_id = entry.external_id.clone();
                let mut media = Media::catalogue_entry(tenant, entry, now);
                media.version = 1;
                NewRecord {
                    external_id,
                    id: media.id,
                    item: media_item(&media),
                }
            })
            .collect();
        self.external_index(tenant).create_all(records).await
    }

    /// Every media of the tenant with its metadata, oldest first, following cursors to the
    /// end (what a recommender trains on; the pages are the largest the table serves).
    pub async fn list_all(&self, tenant: TenantId) -> Result<Vec<Media>, RepoError> {
        query_all(
            self.table,
            Query::partition(keys::media_pk(tenant)).limit(MAX_PAGE_ITEMS),
        )
        .await
    }

    fn external_index(&self, tenant: TenantId) -> ExternalIndex<'a, T> {
        ExternalIndex {
            table: self.table,
            tenant,
            kind: ExternalKind::Media,
        }
    }

    /// A tenant's media, newest first, optionally only those in one status.
    pub async fn list(
        &self,
        tenant: TenantId,
        status: Option<&str>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<MediaPage, RepoError> {
        let query = match status {
            Some(s) => Query::partition(keys::media_by_status_pk(tenant, s)).on_index(Index::Gsi1),
            None => Query::partition(keys::media_pk(tenant)),
        }
        .limit(limit)
        .after(cursor)
        .descending();
        let page = self.table.query(query).await?;
        Ok(MediaPage {
            items: page
                .items
                .into_iter()
                .map(decode)
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        })
    }
}
