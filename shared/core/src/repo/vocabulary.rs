use crate::ids::TenantId;
use crate::keys::table as keys;
use crate::ports::{Item, Table};
use crate::vocabulary::Vocabulary;

use super::{RepoError, Versioned, encode, put_over, versioned};

/// A tenant's tag vocabulary: one item beside its settings. A tenant that never set one has
/// the default vocabulary at version 0.
pub struct VocabularyRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> VocabularyRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    pub async fn get(&self, tenant: TenantId) -> Result<Versioned<Vocabulary>, RepoError> {
        match self
            .table
            .get(&keys::settings_pk(tenant), keys::VOCABULARY_SK)
            .await?
        {
            Some(item) => versioned(item),
            None => Ok(Versioned {
                record: Vocabulary::default(),
                version: 0,
            }),
        }
    }

    /// Stores `vocabulary` over the version it was read at (0: none stored yet). The caller
    /// validates it first. `Ok(None)` when it changed since: nothing was written.
    pub async fn put(
        &self,
        tenant: TenantId,
        vocabulary: &Vocabulary,
        read_at: u64,
    ) -> Result<Option<u64>, RepoError> {
        let item = Item::new(
            keys::settings_pk(tenant),
            keys::VOCABULARY_SK,
            encode(vocabulary),
        );
        let expected = (read_at > 0).then_some(read_at);
        let won = put_over(self.table, item, expected).await?;
        Ok(won.then_some(read_at + 1))
    }
}
