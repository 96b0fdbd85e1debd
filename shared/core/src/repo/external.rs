//! The external-id index that media and profiles share: per tenant and kind of record, one
//! item per external id holding the id of the record filed under it. A record and its index
//! item are written in one transaction, each only if absent, so an external id names at most
//! one record however many writers race to create it.

use std::collections::HashMap;
use std::fmt::Display;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::external::ExternalId;
use crate::ids::TenantId;
use crate::keys::ExternalKind;
use crate::keys::table as keys;
use crate::ports::table::MAX_TRANSACT_ITEMS;
use crate::ports::{Condition, Item, Table, TableError, WriteOp};

use super::{RepoError, a_few_at_a_time, decode, encode};

/// Records per transaction: each takes two writes (the record and its index item).
const RECORDS_PER_TRANSACTION: usize = MAX_TRANSACT_ITEMS / 2;

/// What creating a record under an external id did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported<I> {
    /// The record filed under the external id now: the new one, or the one already there.
    pub id: I,
    /// Whether this call created it.
    pub created: bool,
}

/// A record to file under an external id: its id and its item.
pub(super) struct NewRecord<I> {
    pub external_id: ExternalId,
    pub id: I,
    pub item: Item,
}

#[derive(Serialize, Deserialize)]
struct Filed<I> {
    id: I,
}

pub(super) struct ExternalIndex<'a, T> {
    pub table: &'a T,
    pub tenant: TenantId,
    pub kind: ExternalKind,
}

impl<T: Table> ExternalIndex<'_, T> {
    /// The id filed under `external_id`, if any.
    pub async fn lookup<I: DeserializeOwned>(
        &self,
        external_id: &ExternalId,
    ) -> Result<Option<I>, RepoError> {
        let item = self
            .table
            .get(
                &keys::external_index_pk(self.tenant, self.kind),
                &keys::external_index_sk(external_id),
            )
            .await?;
        Ok(item.map(decode::<Filed<I>>).transpose()?.map(|f| f.id))
    }

    /// Create each record unless its external id is taken; for each (in order), the id filed
    /// under its external id afterwards and whether this call created it. A record whose
    /// external id appears earlier in `records` is not created (the earlier one is).
    pub async fn create_all<I>(
        &self,
        records: Vec<NewRecord<I>>,
    ) -> Result<Vec<Imported<I>>, RepoError>
    where
        I: Copy + Display + Serialize + DeserializeOwned + Send + Sync,
    {
        // One write per external id: a transaction may not touch a key twice.
        let mut first_of: HashMap<ExternalId, usize> = HashMap::new();
        let mut unique = Vec::with_capacity(records.len());
        let positions: Vec<usize> = records
            .into_iter()
            .map(|record| {
                *first_of
                    .entry(record.external_id.clone())
                    .or_insert_with(|| {
                        unique.push(record);
                        unique.len() - 1
                    })
            })
            .collect();
        let chunks = unique
            .chunks(RECORDS_PER_TRANSACTION)
            .map(|chunk| self.create_chunk(chunk))
            .collect();
        let created: Vec<bool> = a_few_at_a_time(chunks).await?.concat();
        // Those whose external id was taken: which record holds it.
        let lookups = (0..unique.len())
            .filter(|&i| !created[i])
            .map(|i| self.holder::<I>(i, &unique[i].external_id))
            .collect();
        let taken: HashMap<usize, I> = a_few_at_a_time(lookups).await?.into_iter().collect();
        // Only the first record with an external id is the one created.
        let mut seen = vec![false; unique.len()];
        Ok(positions
            .into_iter()
            .map(|i| {
                let first = !std::mem::replace(&mut seen[i], true);
                match taken.get(&i) {
                    Some(&id) => Imported { id, created: false },
                    None => Imported {
                        id: unique[i].id,
                        created: first,
                    },
                }
            })
            .collect())
    }

    /// The id filed under the external id of record `i`, which must be there.
    async fn holder<I: DeserializeOwned>(
        &self,
        i: usize,
        external_id: &ExternalId,
    ) -> Result<(usize, I), RepoError> {
        let id = self.lookup(external_id).await?.ok_or_else(|| {
            RepoError::NotFound(format!(
                "{} ext:{external_id} after a conflicting create",
                self.kind.as_str()
            ))
        })?;
        Ok((i, id))
    }

    /// One transaction's worth: write them all, and when some external ids turn out taken,
    /// drop those and write the rest again (each round drops at least one, so it ends).
    async fn create_chunk<I: Display + Serialize>(
        &self,
        chunk: &[NewRecord<I>],
    ) -> Result<Vec<bool>, RepoError> {
        let mut created = vec![true; chunk.len()];
        let mut pending: Vec<usize> = (0..chunk.len()).collect();
        while !pending.is_empty() {
            let ops = pending
                .iter()
                .flat_map(|&i| self.writes(&chunk[i]))
                .collect();
            match self.table.transact_write(ops).await {
                Ok(()) => return Ok(created),
                Err(TableError::TransactionCancelled { failed }) if !failed.is_empty() => {
                    let lost: Vec<usize> = failed.iter().map(|op| pending[op / 2]).collect();
                    for &i in &lost {
                        created[i] = false;
                    }
                    pending.retain(|i| !lost.contains(i));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(created)
    }

    fn writes<I: Display + Serialize>(&self, record: &NewRecord<I>) -> [WriteOp; 2] {
        let index = Item::new(
            keys::external_index_pk(self.tenant, self.kind),
            keys::external_index_sk(&record.external_id),
            encode(&Filed { id: &record.id }),
        );
        [
            WriteOp::Put {
                item: index,
                condition: Condition::Absent,
            },
            WriteOp::Put {
                item: record.item.clone(),
                condition: Condition::Absent,
            },
        ]
    }
}
