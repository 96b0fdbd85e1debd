use crate::analysis::{Analysis, AnalyzerKind};
use crate::ids::{MediaId, TenantId};
use crate::keys::table as keys;
use crate::ports::{Condition, Item, Query, Table};

use super::{RepoError, encode, query_all};

pub struct AnalysisRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> AnalysisRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Store one analyzer version's document. Writing the same (kind, version) again replaces
    /// it, which keeps a re-run step idempotent; a new version is a separate record.
    pub async fn put(&self, tenant: TenantId, analysis: &Analysis) -> Result<(), RepoError> {
        let item = Item::new(
            keys::media_items_pk(tenant, analysis.media_id),
            keys::analysis_sk(analysis.kind.as_str(), analysis.version),
            encode(analysis),
        );
        self.table.put(item, Condition::Always).await?;
        Ok(())
    }

    /// Whether a media has the document of one analyzer version (one read, no query).
    pub async fn exists(
        &self,
        tenant: TenantId,
        media: MediaId,
        kind: AnalyzerKind,
        version: u32,
    ) -> Result<bool, RepoError> {
        Ok(self.item(tenant, media, kind, version).await?.is_some())
    }

    /// One analyzer version's document, if stored.
    pub async fn get(
        &self,
        tenant: TenantId,
        media: MediaId,
        kind: AnalyzerKind,
        version: u32,
    ) -> Result<Option<Analysis>, RepoError> {
        self.item(tenant, media, kind, version)
            .await?
            .map(super::decode)
            .transpose()
    }

    async fn item(
        &self,
        tenant: TenantId,
        media: MediaId,
        kind: AnalyzerKind,
        version: u32,
    ) -> Result<Option<crate::ports::Item>, RepoError> {
        Ok(self
            .table
            .get(
                &keys::media_items_pk(tenant, media),
                &keys::analysis_sk(kind.as_str(), version),
            )
            .await?)
    }

    /// Every analysis document of a media, by kind then version.
    pub async fn list(&self, tenant: TenantId, media: MediaId) -> Result<Vec<Analysis>, RepoError> {
        let query =
            Query::partition(keys::media_items_pk(tenant, media)).prefix(keys::analysis_prefix());
        query_all(self.table, query).await
    }
}
