use crate::analysis::Analysis;
use crate::ids::{MediaId, TenantId};
use crate::keys::table as keys;
use crate::ports::{Condition, Item, Query, Table};

use super::{RepoError, decode, encode};

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

    /// Every analysis document of a media, by kind then version.
    pub async fn list(&self, tenant: TenantId, media: MediaId) -> Result<Vec<Analysis>, RepoError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .table
                .query(
                    Query::partition(keys::media_items_pk(tenant, media))
                        .prefix(keys::analysis_prefix())
                        .after(cursor),
                )
                .await?;
            for item in page.items {
                out.push(decode(item)?);
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}
