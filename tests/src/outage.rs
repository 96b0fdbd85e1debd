//! The embedded platform with a table that fails on demand, as in an outage or throttling:
//! every partition, or only those whose key starts with a prefix (one tenant's), answers
//! `Transient` until repaired. Blobs, queues and the rest are the embedded ones.

use std::sync::{Arc, Mutex};

use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::{Condition, Item, Page, Platform, Query, Table, TableError, WriteOp};
use mvidarr_store_local::LocalPlatform;

#[derive(Clone)]
pub struct OutagePlatform {
    local: LocalPlatform,
    table: OutageTable,
}

impl OutagePlatform {
    pub fn new(local: LocalPlatform) -> Self {
        Self {
            table: OutageTable {
                local: local.clone(),
                failing: Arc::default(),
            },
            local,
        }
    }

    /// The table; its outage switches act on every clone of this platform.
    pub fn outage(&self) -> &OutageTable {
        &self.table
    }
}

#[derive(Clone)]
pub struct OutageTable {
    local: LocalPlatform,
    /// The key prefix of the failing partitions (`""`: all of them).
    failing: Arc<Mutex<Option<String>>>,
}

impl OutageTable {
    /// Every request fails.
    pub fn fail_everything(&self) {
        self.fail_keys_starting_with("");
    }

    /// Requests to the tenant's partitions fail; other tenants' work.
    pub fn fail_tenant(&self, tenant: TenantId) {
        self.fail_keys_starting_with(&mvidarr_core::keys::tenant_prefix(tenant));
    }

    pub fn repair(&self) {
        *self.failing.lock().expect("no test panics holding it") = None;
    }

    fn fail_keys_starting_with(&self, prefix: &str) {
        *self.failing.lock().expect("no test panics holding it") = Some(prefix.to_owned());
    }

    fn check(&self, pk: &str) -> Result<(), TableError> {
        match &*self.failing.lock().expect("no test panics holding it") {
            Some(prefix) if pk.starts_with(prefix.as_str()) => Err(TableError::Transient(format!(
                "{pk}: the table is down (test outage)"
            ))),
            _ => Ok(()),
        }
    }
}

impl Table for OutageTable {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        self.check(pk)?;
        self.local.table().get(pk, sk).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        self.check(&item.pk)?;
        self.local.table().put(item, condition).await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
        self.check(pk)?;
        self.local.table().delete(pk, sk, condition).await
    }

    async fn query(&self, query: Query) -> Result<Page, TableError> {
        self.check(&query.partition)?;
        self.local.table().query(query).await
    }

    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        for op in &ops {
            match op {
                WriteOp::Put { item, .. } => self.check(&item.pk)?,
                WriteOp::Delete { pk, .. } | WriteOp::Check { pk, .. } => self.check(pk)?,
            }
        }
        self.local.table().transact_write(ops).await
    }
}

impl Platform for OutagePlatform {
    type Blobs = <LocalPlatform as Platform>::Blobs;
    type Table = OutageTable;
    type Queue = <LocalPlatform as Platform>::Queue;
    type Pipeline = <LocalPlatform as Platform>::Pipeline;
    type KeyWrap = <LocalPlatform as Platform>::KeyWrap;

    fn blobs(&self) -> &Self::Blobs {
        self.local.blobs()
    }
    fn table(&self) -> &OutageTable {
        &self.table
    }
    fn ingest_queue(&self) -> &Self::Queue {
        self.local.ingest_queue()
    }
    fn events_queue(&self) -> &Self::Queue {
        self.local.events_queue()
    }
    fn reports_queue(&self) -> &Self::Queue {
        self.local.reports_queue()
    }
    fn pipeline(&self) -> &Self::Pipeline {
        self.local.pipeline()
    }
    fn key_wrap(&self) -> &Self::KeyWrap {
        self.local.key_wrap()
    }
}
