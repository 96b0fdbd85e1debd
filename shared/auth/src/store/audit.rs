//! The audit log's storage: one hash chain per tenant ([`crate::audit`]), its head and each
//! entry written in one transaction, so the head always names the last stored entry; and the
//! personal data the entries commit to, kept in a partition of its own that can be erased
//! without touching the chain.
//!
//! ```text
//! audit_pk(t)      head          ChainHead: seq and hash of the last entry
//! audit_pk(t)      e/{seq:020}   AuditEntry
//! audit_pii_pk(t)  {seq:020}     { salt: 16 random bytes as hex, data }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use mvidarr_core::ids::TenantId;
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::table::{MAX_PAGE_ITEMS, MAX_TRANSACT_ITEMS};
use mvidarr_core::ports::{Condition, Item, Query, Table, TableError, WriteOp};
use mvidarr_core::repo::{RepoError, decode, encode};
use serde::{Deserialize, Serialize};

use super::{Versioned, versioned, won};
use crate::audit::{AuditEntry, BreakKind, ChainBreak, ChainHead, ChainVerifier, pii_commitment};

const HEAD_SK: &str = "head";
const ENTRY_PREFIX: &str = "e/";
/// Digits of the zero-padded seq in sort keys, so that text order is seq order.
const SEQ_DIGITS: usize = 20;
/// Appends that lose the race for the head this many times give up as `Contended`.
pub const APPEND_ATTEMPTS: u32 = 20;
/// Personal-data reads in flight while a page of entries is joined with them.
const PII_READS_IN_FLIGHT: usize = 16;

fn entry_sk(seq: u64) -> String {
    format!("{ENTRY_PREFIX}{seq:020}")
}

fn pii_sk(seq: u64) -> String {
    format!("{seq:020}")
}

/// The seq a sort key names: exactly [`SEQ_DIGITS`] digits (after `prefix`), nothing else.
fn seq_in(sk: &str, prefix: &str) -> Option<u64> {
    let digits = sk.strip_prefix(prefix)?;
    if digits.len() != SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What to log: everything an entry holds, plus personal data that stays out of the chain.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditDraft {
    pub at: DateTime<Utc>,
    /// An id (`user:01H…`, `key:…`, `system`), never an email.
    pub actor: String,
    /// One of [`crate::audit::actions`].
    pub action: String,
    pub target: Option<String>,
    pub details: BTreeMap<String, String>,
    /// Personal data (an email, an IP address) shown with the entry until it is erased; the
    /// entry holds only a salted commitment to it.
    pub pii: Option<String>,
}

impl AuditDraft {
    pub fn new(at: DateTime<Utc>, actor: impl Into<String>, action: impl Into<String>) -> Self {
        AuditDraft {
            at,
            actor: actor.into(),
            action: action.into(),
            target: None,
            details: BTreeMap::new(),
            pii: None,
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    pub fn pii(mut self, data: impl Into<String>) -> Self {
        self.pii = Some(data.into());
        self
    }
}

/// Personal data is not for logs.
impl fmt::Debug for AuditDraft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditDraft")
            .field("at", &self.at)
            .field("actor", &self.actor)
            .field("action", &self.action)
            .field("target", &self.target)
            .field("details", &self.details)
            .field("pii", &self.pii.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The personal data an entry commits to, as stored.
#[derive(Serialize, Deserialize)]
struct StoredPii {
    /// Hex of the random salt; erased with the data, so the commitment cannot be brute-forced.
    salt: String,
    data: String,
}

impl StoredPii {
    /// The data under a fresh salt, and the commitment the entry holds.
    fn seal(data: String) -> (Self, String) {
        let salt: [u8; 16] = rand::random();
        let commitment = pii_commitment(&salt, &data);
        let stored = StoredPii {
            salt: hex::encode(salt),
            data,
        };
        (stored, commitment)
    }

    /// The commitment an entry holds, or `None` if the salt is not hex.
    fn commitment(&self) -> Option<String> {
        let salt = hex::decode(&self.salt).ok()?;
        Some(pii_commitment(&salt, &self.data))
    }
}

/// An entry with the personal data it commits to, while that is kept.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub entry: AuditEntry,
    /// `None` when the entry has none, once it was erased, or if the stored data does not
    /// match the entry's commitment.
    pub pii: Option<String>,
}

impl fmt::Debug for AuditRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditRecord")
            .field("entry", &self.entry)
            .field("pii", &self.pii.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditOrder {
    /// By seq, first entry first: the order the chain is checked in.
    #[default]
    OldestFirst,
    /// Latest entry first: the order a listing shows.
    NewestFirst,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Pass back for the next page (with the same order); `None` at the end.
    pub next_cursor: Option<String>,
}

/// One stored piece of personal data, by the seq of the entry that commits to it.
#[derive(Clone, PartialEq, Eq)]
pub struct PiiRow {
    pub seq: u64,
    pub data: String,
}

impl fmt::Debug for PiiRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PiiRow")
            .field("seq", &self.seq)
            .field("data", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiPage {
    pub rows: Vec<PiiRow>,
    pub next_cursor: Option<String>,
}

/// The outcome of walking a tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Entries checked and found intact (before the break, if there is one).
    pub entries: u64,
    /// The hash the head records (`None`: the tenant has no entries): the value to anchor
    /// elsewhere to detect a rewrite of the whole chain.
    pub head_hash: Option<String>,
    pub ok: bool,
    /// The first break, as `{"seq", "kind", "message"}` plus `found`, `expected` or
    /// `last_seq` as the kind has them.
    #[serde(with = "break_json", default)]
    pub break_at: Option<ChainBreak>,
}

impl VerifyReport {
    fn new(entries: u64, head: Option<&ChainHead>, break_at: Option<ChainBreak>) -> Self {
        VerifyReport {
            entries,
            head_hash: head.map(|h| h.hash.clone()),
            ok: break_at.is_none(),
            break_at,
        }
    }
}

/// An entry item that does not decode, at sort-key seq `sk_seq`, where `expected` was due:
/// placed as the verifier places a readable entry with that seq.
fn undecodable_break(expected: u64, sk_seq: Option<u64>) -> ChainBreak {
    match sk_seq {
        Some(seq) if seq > expected => ChainBreak {
            seq: expected,
            kind: BreakKind::Missing { found: seq },
        },
        Some(seq) if seq < expected => ChainBreak {
            seq,
            kind: BreakKind::Reordered { expected },
        },
        _ => ChainBreak {
            seq: expected,
            kind: BreakKind::Edited,
        },
    }
}

/// How long to wait after losing a race: full jitter, doubling up to a cap, so appenders that
/// collided spread out instead of colliding again.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    attempts: u32,
    first_ms: u64,
    max_ms: u64,
}

impl Backoff {
    const APPEND: Backoff = Backoff {
        attempts: APPEND_ATTEMPTS,
        first_ms: 2,
        max_ms: 200,
    };

    async fn pause(&self, attempt: u32) {
        let cap = self
            .first_ms
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_ms);
        if cap > 0 {
            tokio::time::sleep(Duration::from_millis(rand::random_range(0..=cap))).await;
        }
    }
}

/// A tenant's audit log.
pub struct AuditLog<'a, T> {
    table: &'a T,
    backoff: Backoff,
}

impl<'a, T: Table> AuditLog<'a, T> {
    pub fn new(table: &'a T) -> Self {
        AuditLog {
            table,
            backoff: Backoff::APPEND,
        }
    }

    /// The last entry's seq and hash; `None` before the first entry.
    pub async fn head(&self, tenant: TenantId) -> Result<Option<ChainHead>, RepoError> {
        Ok(self.head_versioned(tenant).await?.map(|h| h.record))
    }

    async fn head_versioned(
        &self,
        tenant: TenantId,
    ) -> Result<Option<Versioned<ChainHead>>, RepoError> {
        self.table
            .get(&keys::audit_pk(tenant), HEAD_SK)
            .await?
            .map(versioned)
            .transpose()
    }

    /// Appends an entry after the current head: head, entry and personal data in one
    /// transaction. Losing the head to a concurrent appender means re-reading it and trying
    /// again, up to [`APPEND_ATTEMPTS`] times, then [`RepoError::Contended`].
    ///
    /// If the head holds but the next entry already exists, the chain was written around this
    /// log (or its head rolled back): that is refused at once, with a `Table(Backend)` error
    /// naming both seqs, since retrying cannot cure it; `verify` tells what is wrong.
    pub async fn append(
        &self,
        tenant: TenantId,
        draft: AuditDraft,
    ) -> Result<AuditEntry, RepoError> {
        let pk = keys::audit_pk(tenant);
        let AuditDraft {
            at,
            actor,
            action,
            target,
            details,
            pii,
        } = draft;
        let (pii, commitment) = pii.map(StoredPii::seal).unzip();
        let attempts = self.backoff.attempts;
        for attempt in 1..=attempts {
            let head = self.head_versioned(tenant).await?;
            let entry = AuditEntry::next(
                head.as_ref().map(|h| &h.record),
                at,
                actor.clone(),
                action.clone(),
                target.clone(),
                details.clone(),
                commitment.clone(),
            );
            let mut head_item = Item::new(pk.clone(), HEAD_SK, encode(&entry.head()));
            let head_condition = match &head {
                Some(h) => {
                    head_item.version = h.version + 1;
                    Condition::VersionIs(h.version)
                }
                None => Condition::Absent,
            };
            let mut ops = vec![
                WriteOp::Put {
                    item: head_item,
                    condition: head_condition,
                },
                WriteOp::Put {
                    item: Item::new(pk.clone(), entry_sk(entry.seq), encode(&entry)),
                    condition: Condition::Absent,
                },
            ];
            if let Some(pii) = &pii {
                ops.push(WriteOp::Put {
                    item: Item::new(keys::audit_pii_pk(tenant), pii_sk(entry.seq), encode(pii)),
                    condition: Condition::Absent,
                });
            }
            match self.table.transact_write(ops).await {
                Ok(()) => return Ok(entry),
                // Only the head's condition (op 0) fails when another appender won.
                Err(TableError::TransactionCancelled { failed })
                    if !failed.is_empty() && !failed.contains(&0) =>
                {
                    return Err(RepoError::Table(TableError::Backend(format!(
                        "audit chain of tenant {tenant}: the head records entry {} but entry {} \
                         or its personal data is already stored; verify the chain",
                        entry.seq.saturating_sub(1),
                        entry.seq
                    ))));
                }
                Err(e @ TableError::Transient(_)) if attempt == attempts => return Err(e.into()),
                // DynamoDB reports two transactions on one item at once as transient.
                Err(e) if e.is_conflict() || matches!(e, TableError::Transient(_)) => {
                    tracing::debug!(%tenant, attempt, error = %e, "audit append lost a race");
                    if attempt < attempts {
                        self.backoff.pause(attempt).await;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepoError::Contended {
            what: format!("the audit chain of tenant {tenant}"),
            attempts,
        })
    }

    /// One page of entries (at most `limit`, clamped to 1..=1000) in `order`, each with the
    /// personal data it commits to while that is kept. An entry item that does not decode
    /// fails the page as `Corrupt`; [`AuditLog::verify`] names where.
    pub async fn page(
        &self,
        tenant: TenantId,
        order: AuditOrder,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<AuditPage, RepoError> {
        let mut query = Query::partition(keys::audit_pk(tenant))
            .prefix(ENTRY_PREFIX)
            .limit(limit.clamp(1, MAX_PAGE_ITEMS))
            .after(cursor);
        if order == AuditOrder::NewestFirst {
            query = query.descending();
        }
        let page = self.table.query(query).await?;
        let entries = page
            .items
            .into_iter()
            .map(decode::<AuditEntry>)
            .collect::<Result<Vec<_>, _>>()?;
        let records = stream::iter(entries)
            .map(|entry| self.with_pii(tenant, entry))
            .buffered(PII_READS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(AuditPage {
            records,
            next_cursor: page.next_cursor,
        })
    }

    /// Joins an entry with its personal data. Data that is gone, does not decode or does not
    /// match the commitment is not shown: it is outside the chain, so this is logged, not
    /// failed.
    async fn with_pii(
        &self,
        tenant: TenantId,
        entry: AuditEntry,
    ) -> Result<AuditRecord, RepoError> {
        let Some(commitment) = entry.pii.as_deref() else {
            return Ok(AuditRecord { entry, pii: None });
        };
        let Some(item) = self
            .table
            .get(&keys::audit_pii_pk(tenant), &pii_sk(entry.seq))
            .await?
        else {
            return Ok(AuditRecord { entry, pii: None });
        };
        let pii = match decode::<StoredPii>(item) {
            Ok(stored) if stored.commitment().as_deref() == Some(commitment) => Some(stored.data),
            Ok(_) => {
                tracing::warn!(%tenant, seq = entry.seq, "audit personal data does not match its entry's commitment");
                None
            }
            Err(e) => {
                tracing::warn!(%tenant, seq = entry.seq, error = %e, "audit personal data does not decode");
                None
            }
        };
        Ok(AuditRecord { entry, pii })
    }

    /// Walks the whole chain in seq order, 1000 entries a page, and checks it against the
    /// head read first. Entries past that head are left out if the head has moved on since
    /// (appended during the walk); if it has not, they were written around the log and are
    /// checked, which reports them. An entry item that does not decode is a break at its
    /// place, not an error.
    pub async fn verify(&self, tenant: TenantId) -> Result<VerifyReport, RepoError> {
        let head = self.head(tenant).await?;
        let head_seq = head.as_ref().map_or(0, |h| h.seq);
        let mut verifier = ChainVerifier::new();
        let mut verified: u64 = 0;
        let mut past_head_checked = false;
        let mut query = Query::partition(keys::audit_pk(tenant))
            .prefix(ENTRY_PREFIX)
            .limit(MAX_PAGE_ITEMS);
        'pages: loop {
            let page = self.table.query(query.clone()).await?;
            for item in page.items {
                let sk_seq = seq_in(&item.sk, ENTRY_PREFIX);
                if !past_head_checked && sk_seq.is_some_and(|seq| seq > head_seq) {
                    if self.head(tenant).await? != head {
                        break 'pages;
                    }
                    past_head_checked = true;
                }
                let entry = match decode::<AuditEntry>(item) {
                    Ok(entry) => entry,
                    Err(e) => {
                        tracing::warn!(%tenant, error = %e, "audit entry does not decode");
                        let broken = undecodable_break(verified + 1, sk_seq);
                        return Ok(VerifyReport::new(verified, head.as_ref(), Some(broken)));
                    }
                };
                if let Err(broken) = verifier.push(&entry) {
                    return Ok(VerifyReport::new(verified, head.as_ref(), Some(broken)));
                }
                verified += 1;
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        let broken = verifier.finish(head.as_ref()).err();
        Ok(VerifyReport::new(verified, head.as_ref(), broken))
    }

    /// One page of the tenant's stored personal data in seq order (at most `limit`, clamped
    /// to 1..=1000), for finding what an erasure request covers.
    pub async fn pii_page(
        &self,
        tenant: TenantId,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<PiiPage, RepoError> {
        let query = Query::partition(keys::audit_pii_pk(tenant))
            .limit(limit.clamp(1, MAX_PAGE_ITEMS))
            .after(cursor);
        let page = self.table.query(query).await?;
        let mut rows = Vec::with_capacity(page.items.len());
        for item in page.items {
            let Some(seq) = seq_in(&item.sk, "") else {
                tracing::warn!(%tenant, sk = %item.sk, "audit personal data under an unexpected key");
                continue;
            };
            let stored: StoredPii = decode(item)?;
            rows.push(PiiRow {
                seq,
                data: stored.data,
            });
        }
        Ok(PiiPage {
            rows,
            next_cursor: page.next_cursor,
        })
    }

    /// Erases the personal data (and its salt) of entry `seq`; `false` if there was none.
    /// The entry keeps its commitment, so the chain still verifies.
    pub async fn delete_pii(&self, tenant: TenantId, seq: u64) -> Result<bool, RepoError> {
        won(self
            .table
            .delete(&keys::audit_pii_pk(tenant), &pii_sk(seq), Condition::Exists)
            .await)
    }

    /// Erases every stored piece of personal data `matches` picks (e.g. equal to an erased
    /// user's email), a page at a time; returns the seqs erased, in order.
    pub async fn erase_pii_where(
        &self,
        tenant: TenantId,
        matches: impl Fn(&PiiRow) -> bool,
    ) -> Result<Vec<u64>, RepoError> {
        let pk = keys::audit_pii_pk(tenant);
        let mut erased = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.pii_page(tenant, cursor, MAX_PAGE_ITEMS).await?;
            let seqs: Vec<u64> = page
                .rows
                .iter()
                .filter(|row| matches(row))
                .map(|row| row.seq)
                .collect();
            for chunk in seqs.chunks(MAX_TRANSACT_ITEMS) {
                let ops = chunk
                    .iter()
                    .map(|&seq| WriteOp::Delete {
                        pk: pk.clone(),
                        sk: pii_sk(seq),
                        // Already gone (erased concurrently) is as good as erased.
                        condition: Condition::Always,
                    })
                    .collect();
                self.table.transact_write(ops).await?;
            }
            erased.extend(seqs);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(erased),
            }
        }
    }
}

/// [`ChainBreak`] as JSON (it lives in the pure domain module, which has no serde for it).
mod break_json {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::audit::{BreakKind, ChainBreak};

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Kind {
        Edited,
        Missing { found: u64 },
        Reordered { expected: u64 },
        TruncatedTail { last_seq: u64 },
    }

    #[derive(Serialize, Deserialize)]
    struct Break {
        seq: u64,
        #[serde(flatten)]
        kind: Kind,
        /// What a person reads; ignored when read back.
        #[serde(default)]
        message: String,
    }

    impl From<ChainBreak> for Break {
        fn from(b: ChainBreak) -> Self {
            let kind = match b.kind {
                BreakKind::Edited => Kind::Edited,
                BreakKind::Missing { found } => Kind::Missing { found },
                BreakKind::Reordered { expected } => Kind::Reordered { expected },
                BreakKind::TruncatedTail { last_seq } => Kind::TruncatedTail { last_seq },
            };
            Break {
                seq: b.seq,
                kind,
                message: b.to_string(),
            }
        }
    }

    impl From<Break> for ChainBreak {
        fn from(b: Break) -> Self {
            let kind = match b.kind {
                Kind::Edited => BreakKind::Edited,
                Kind::Missing { found } => BreakKind::Missing { found },
                Kind::Reordered { expected } => BreakKind::Reordered { expected },
                Kind::TruncatedTail { last_seq } => BreakKind::TruncatedTail { last_seq },
            };
            ChainBreak { seq: b.seq, kind }
        }
    }

    pub fn serialize<S: Serializer>(b: &Option<ChainBreak>, s: S) -> Result<S::Ok, S::Error> {
        b.map(Break::from).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ChainBreak>, D::Error> {
        Ok(Option::<Break>::deserialize(d)?.map(ChainBreak::from))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use chrono::TimeZone as _;
    use mvidarr_core::ports::Page;
    use mvidarr_store_local::table::SqliteTable;

    use super::*;
    use crate::audit::actions;
    use crate::store::test_tables::{Interleaving, Outraced, sqlite as table};

    fn draft(i: u64) -> AuditDraft {
        let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
            + chrono::Duration::milliseconds(i64::try_from(i).unwrap());
        AuditDraft::new(at, format!("user:01HUSER{i:04}"), actions::ROLE_CHANGED)
            .target(format!("user:01HTARGET{i:04}"))
            .detail("n", i.to_string())
            .detail("reason", "test")
    }

    async fn log_of(table: &SqliteTable, n: u64) -> (TenantId, Vec<AuditEntry>) {
        let tenant = TenantId::generate();
        let log = AuditLog::new(table);
        let mut entries = Vec::new();
        for i in 1..=n {
            entries.push(log.append(tenant, draft(i)).await.unwrap());
        }
        (tenant, entries)
    }

    async fn entry_item(table: &SqliteTable, tenant: TenantId, seq: u64) -> Item {
        table
            .get(&keys::audit_pk(tenant), &entry_sk(seq))
            .await
            .unwrap()
            .unwrap()
    }

    async fn overwrite(table: &SqliteTable, item: Item) {
        table.put(item, Condition::Always).await.unwrap();
    }

    fn broken(seq: u64, kind: BreakKind) -> Option<ChainBreak> {
        Some(ChainBreak { seq, kind })
    }

    #[tokio::test]
    async fn a_hundred_appends_make_a_chain_that_verifies() {
        let (table, _dir) = table();
        let (tenant, entries) = log_of(&table, 100).await;
        let log = AuditLog::new(&table);

        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=100).collect::<Vec<_>>()
        );
        let head = log.head(tenant).await.unwrap().unwrap();
        assert_eq!(head, entries[99].head());
        let report = log.verify(tenant).await.unwrap();
        assert_eq!(
            report,
            VerifyReport {
                entries: 100,
                head_hash: Some(head.hash),
                ok: true,
                break_at: None
            }
        );
    }

    #[tokio::test]
    async fn an_empty_log_verifies_with_no_head() {
        let (table, _dir) = table();
        let log = AuditLog::new(&table);
        let tenant = TenantId::generate();
        assert_eq!(log.head(tenant).await.unwrap(), None);
        assert_eq!(
            log.verify(tenant).await.unwrap(),
            VerifyReport {
                entries: 0,
                head_hash: None,
                ok: true,
                break_at: None
            }
        );
    }

    #[tokio::test]
    async fn tenants_have_separate_chains() {
        let (table, _dir) = table();
        let (a, _) = log_of(&table, 3).await;
        let (b, _) = log_of(&table, 2).await;
        let log = AuditLog::new(&table);
        assert_eq!(log.verify(a).await.unwrap().entries, 3);
        assert_eq!(log.verify(b).await.unwrap().entries, 2);
        assert_eq!(log.head(b).await.unwrap().unwrap().seq, 2);
    }

    #[tokio::test]
    async fn an_entry_edited_in_the_table_is_reported_edited_at_its_seq() {
        let (table, _dir) = table();
        let (tenant, _) = log_of(&table, 100).await;
        let mut item = entry_item(&table, tenant, 42).await;
        item.data["details"]["reason"] = "nothing to see".into();
        overwrite(&table, item).await;

        let report = AuditLog::new(&table).verify(tenant).await.unwrap();
        assert!(!report.ok);
        assert_eq!(report.entries, 41);
        assert_eq!(report.break_at, broken(42, BreakKind::Edited));
    }

    #[tokio::test]
    async fn a_deleted_entry_is_reported_missing() {
        let (table, _dir) = table();
        let (tenant, _) = log_of(&table, 100).await;
        table
            .delete(&keys::audit_pk(tenant), &entry_sk(50), Condition::Exists)
            .await
            .unwrap();

        let report = AuditLog::new(&table).verify(tenant).await.unwrap();
        assert_eq!(
            report.break_at,
            broken(50, BreakKind::Missing { found: 51 })
        );
        assert_eq!(report.entries, 49);
    }

    #[tokio::test]
    async fn swapping_two_entries_data_breaks_at_the_earlier_seq() {
        let (table, _dir) = table();
        let (tenant, _) = log_of(&table, 20).await;
        let mut tenth = entry_item(&table, tenant, 10).await;
        let mut eleventh = entry_item(&table, tenant, 11).await;
        std::mem::swap(&mut tenth.data, &mut eleventh.data);
        overwrite(&table, tenth).await;
        overwrite(&table, eleventh).await;

        let report = AuditLog::new(&table).verify(tenant).await.unwrap();
        assert_eq!(
            report.break_at,
            broken(10, BreakKind::Missing { found: 11 })
        );
    }

    #[tokio::test]
    async fn deleting_the_last_entry_is_a_truncated_tail() {
        let (table, _dir) = table();
        let (tenant, _) = log_of(&table, 100).await;
        table
            .delete(&keys::audit_pk(tenant), &entry_sk(100), Condition::Exists)
            .await
            .unwrap();

        let report = AuditLog::new(&table).verify(tenant).await.unwrap();
        assert_eq!(
            report.break_at,
            broken(100, BreakKind::TruncatedTail { last_seq: 99 })
        );
        assert_eq!(report.entries, 99);
        assert!(!report.ok);
    }

    #[tokio::test]
    async fn an_entry_that_does_not_decode_is_a_break_at_its_place_not_an_error() {
        let (table, _dir) = table();
        let (tenant, _) = log_of(&table, 10).await;
        let mut item = entry_item(&table, tenant, 7).await;
        item.data = serde_json::json!({"not": "an entry"});
        overwrite(&table, item).await;
        let log = AuditLog::new(&table);

        let report = log.verify(tenant).await.unwrap();
        assert_eq!(report.break_at, broken(7, BreakKind::Edited));
        assert_eq!(report.entries, 6);
        // Listing that page is what fails, naming the item.
        let listed = log.page(tenant, AuditOrder::OldestFirst, None, 100).await;
        assert!(
            matches!(&listed, Err(RepoError::Corrupt { sk, .. }) if *sk == entry_sk(7)),
            "{listed:?}"
        );
    }

    #[tokio::test]
    async fn an_undecodable_item_after_a_gap_is_reported_as_the_gap() {
        let (table, _dir) = table();
        let (tenant, _) = log_of(&table, 10).await;
        let pk = keys::audit_pk(tenant);
        table
            .delete(&pk, &entry_sk(4), Condition::Exists)
            .await
            .unwrap();
        let mut item = entry_item(&table, tenant, 5).await;
        item.data = serde_json::json!("garbage");
        overwrite(&table, item).await;

        let report = AuditLog::new(&table).verify(tenant).await.unwrap();
        assert_eq!(report.break_at, broken(4, BreakKind::Missing { found: 5 }));
    }

    #[tokio::test]
    async fn an_entry_written_past_the_head_behind_the_logs_back_is_reported() {
        let (table, _dir) = table();
        let (tenant, entries) = log_of(&table, 5).await;
        let forged = AuditEntry::next(
            Some(&entries[4].head()),
            Utc::now(),
            "user:01HMALLORY",
            actions::ROLE_CHANGED,
            None,
            BTreeMap::new(),
            None,
        );
        table
            .put(
                Item::new(keys::audit_pk(tenant), entry_sk(6), encode(&forged)),
                Condition::Absent,
            )
            .await
            .unwrap();
        let log = AuditLog::new(&table);

        let report = log.verify(tenant).await.unwrap();
        assert_eq!(
            report.break_at,
            broken(5, BreakKind::TruncatedTail { last_seq: 6 })
        );
        // And the next append refuses to go on from a head that is behind the entries.
        let err = log.append(tenant, draft(6)).await.unwrap_err();
        assert!(
            matches!(&err, RepoError::Table(TableError::Backend(m)) if m.contains("entry 6")),
            "{err:?}"
        );
        assert_eq!(log.head(tenant).await.unwrap().unwrap().seq, 5);
    }

    /// Appends one entry through the log on the inner table just before the first query: an
    /// appender that commits while a verification is under way.
    struct AppendsDuringFirstQuery {
        inner: SqliteTable,
        tenant: TenantId,
        appended: AtomicBool,
    }

    impl Table for AppendsDuringFirstQuery {
        async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
            self.inner.get(pk, sk).await
        }
        async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
            self.inner.put(item, condition).await
        }
        async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
            self.inner.delete(pk, sk, condition).await
        }
        async fn query(&self, query: Query) -> Result<Page, TableError> {
            if !self.appended.swap(true, Ordering::SeqCst) {
                AuditLog::new(&self.inner)
                    .append(self.tenant, draft(99))
                    .await
                    .unwrap();
            }
            self.inner.query(query).await
        }
        async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
            self.inner.transact_write(ops).await
        }
    }

    #[tokio::test]
    async fn entries_appended_during_a_verification_are_not_a_break() {
        let (inner, _dir) = table();
        let (tenant, _) = log_of(&inner, 5).await;
        let racing = AppendsDuringFirstQuery {
            inner,
            tenant,
            appended: AtomicBool::new(false),
        };

        let report = AuditLog::new(&racing).verify(tenant).await.unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.entries, 5, "checked up to the head it read first");
        let now = AuditLog::new(&racing).verify(tenant).await.unwrap();
        assert_eq!((now.ok, now.entries), (true, 6));
    }

    /// 8 tasks appending 25 entries each to one tenant's log: 200 entries, seqs 1..=200.
    async fn append_from_eight_tasks<T: Table>(table: Arc<T>) {
        let tenant = TenantId::generate();
        let mut tasks = Vec::new();
        for writer in 0..8u64 {
            let table = Arc::clone(&table);
            tasks.push(tokio::spawn(async move {
                let log = AuditLog::new(&*table);
                let mut seqs = Vec::new();
                for i in 0..25 {
                    let entry = log.append(tenant, draft(writer * 100 + i)).await.unwrap();
                    seqs.push(entry.seq);
                }
                seqs
            }));
        }
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.extend(task.await.unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());

        let log = AuditLog::new(&*table);
        let report = log.verify(tenant).await.unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.entries, 200);
        let listed = log
            .page(tenant, AuditOrder::OldestFirst, None, 1000)
            .await
            .unwrap();
        assert_eq!(listed.records.len(), 200);
        assert_eq!(listed.next_cursor, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn eight_concurrent_appenders_make_one_contiguous_chain() {
        let (table, _dir) = table();
        append_from_eight_tasks(Arc::new(table)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn appenders_that_all_read_the_same_head_still_make_one_chain() {
        let (table, _dir) = table();
        let table = Arc::new(Interleaving::new(table));
        append_from_eight_tasks(Arc::clone(&table)).await;
        assert!(table.lost_writes() > 0, "the races did happen");
    }

    #[tokio::test]
    async fn an_append_that_keeps_losing_gives_up_as_contended() {
        let (inner, _dir) = table();
        let outraced = Outraced::new(inner);
        let log = AuditLog {
            table: &outraced,
            backoff: Backoff {
                first_ms: 0,
                ..Backoff::APPEND
            },
        };
        let err = log
            .append(TenantId::generate(), draft(1))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                RepoError::Contended {
                    attempts: APPEND_ATTEMPTS,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_transient());
        assert_eq!(outraced.write_attempts(), APPEND_ATTEMPTS);
    }

    #[tokio::test]
    async fn pages_run_oldest_or_newest_first_and_follow_cursors() {
        let (table, _dir) = table();
        let (tenant, _) = log_of(&table, 25).await;
        let log = AuditLog::new(&table);
        for (order, expected) in [
            (AuditOrder::OldestFirst, (1..=25).collect::<Vec<u64>>()),
            (AuditOrder::NewestFirst, (1..=25).rev().collect()),
        ] {
            let (mut seqs, mut cursor, mut pages) = (Vec::new(), None, 0);
            loop {
                let page = log.page(tenant, order, cursor, 10).await.unwrap();
                pages += 1;
                seqs.extend(page.records.iter().map(|r| r.entry.seq));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(seqs, expected, "{order:?}");
            assert_eq!(pages, 3);
        }
        // A cursor belongs to its order.
        let first = log
            .page(tenant, AuditOrder::NewestFirst, None, 10)
            .await
            .unwrap();
        let mixed = log
            .page(tenant, AuditOrder::OldestFirst, first.next_cursor, 10)
            .await;
        assert!(
            matches!(mixed, Err(RepoError::Table(TableError::BadCursor))),
            "{mixed:?}"
        );
    }

    #[tokio::test]
    async fn personal_data_is_shown_with_its_entry_until_erased_and_the_chain_survives() {
        let (table, _dir) = table();
        let tenant = TenantId::generate();
        let log = AuditLog::new(&table);
        let ana = "ana@example.com";
        log.append(tenant, draft(1).pii(ana)).await.unwrap();
        let entry = log
            .append(tenant, draft(2).pii("bo@example.com"))
            .await
            .unwrap();
        log.append(tenant, draft(3)).await.unwrap();
        log.append(tenant, draft(4).pii(ana)).await.unwrap();

        // The entry holds only a commitment; the data and its salt are stored apart.
        let commitment = entry.pii.clone().unwrap();
        assert_eq!(commitment.len(), 64);
        assert!(!serde_json::to_string(&entry).unwrap().contains("bo@"));
        let stored = table
            .get(&keys::audit_pii_pk(tenant), &pii_sk(2))
            .await
            .unwrap()
            .unwrap();
        let salt = hex::decode(stored.data["salt"].as_str().unwrap()).unwrap();
        assert_eq!(salt.len(), 16);
        assert_eq!(pii_commitment(&salt, "bo@example.com"), commitment);

        let shown = |page: AuditPage| -> Vec<Option<String>> {
            page.records.into_iter().map(|r| r.pii).collect()
        };
        let before = log
            .page(tenant, AuditOrder::OldestFirst, None, 10)
            .await
            .unwrap();
        assert_eq!(
            shown(before),
            [
                Some(ana.into()),
                Some("bo@example.com".into()),
                None,
                Some(ana.into())
            ]
        );
        let rows = log.pii_page(tenant, None, 10).await.unwrap();
        assert_eq!(
            rows.rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 2, 4]
        );

        let erased = log
            .erase_pii_where(tenant, |row| row.data == ana)
            .await
            .unwrap();
        assert_eq!(erased, [1, 4]);

        let after = log
            .page(tenant, AuditOrder::OldestFirst, None, 10)
            .await
            .unwrap();
        assert!(after.records[0].entry.pii.is_some(), "the commitment stays");
        assert_eq!(
            shown(after),
            [None, Some("bo@example.com".into()), None, None]
        );
        assert!(log.verify(tenant).await.unwrap().ok);
        assert_eq!(log.pii_page(tenant, None, 10).await.unwrap().rows.len(), 1);
    }

    #[tokio::test]
    async fn deleting_personal_data_says_whether_there_was_any() {
        let (table, _dir) = table();
        let tenant = TenantId::generate();
        let log = AuditLog::new(&table);
        log.append(tenant, draft(1).pii("203.0.113.7"))
            .await
            .unwrap();
        assert!(log.delete_pii(tenant, 1).await.unwrap());
        assert!(!log.delete_pii(tenant, 1).await.unwrap());
        assert!(!log.delete_pii(tenant, 2).await.unwrap());
        assert!(log.verify(tenant).await.unwrap().ok);
    }

    #[tokio::test]
    async fn personal_data_altered_in_the_table_is_not_shown() {
        let (table, _dir) = table();
        let tenant = TenantId::generate();
        let log = AuditLog::new(&table);
        log.append(tenant, draft(1).pii("ana@example.com"))
            .await
            .unwrap();
        log.append(tenant, draft(2).pii("bo@example.com"))
            .await
            .unwrap();
        let pk = keys::audit_pii_pk(tenant);
        let mut altered = table.get(&pk, &pii_sk(1)).await.unwrap().unwrap();
        altered.data["data"] = "eve@example.com".into();
        overwrite(&table, altered).await;
        let mut garbled = table.get(&pk, &pii_sk(2)).await.unwrap().unwrap();
        garbled.data = serde_json::json!(17);
        overwrite(&table, garbled).await;

        let page = log
            .page(tenant, AuditOrder::OldestFirst, None, 10)
            .await
            .unwrap();
        assert_eq!(page.records[0].pii, None);
        assert_eq!(page.records[1].pii, None);
    }

    #[test]
    fn personal_data_stays_out_of_debug_output() {
        let draft = draft(1).pii("ana@example.com");
        assert!(!format!("{draft:?}").contains("ana@"));
        let row = PiiRow {
            seq: 1,
            data: "ana@example.com".into(),
        };
        assert!(!format!("{row:?}").contains("ana@"));
        let record = AuditRecord {
            entry: AuditEntry::next(
                None,
                Utc::now(),
                "system",
                actions::USER_INVITED,
                None,
                BTreeMap::new(),
                None,
            ),
            pii: Some("ana@example.com".into()),
        };
        assert!(!format!("{record:?}").contains("ana@"));
    }

    #[test]
    fn a_verify_report_is_json_with_its_break_spelled_out() {
        let report = VerifyReport::new(
            41,
            Some(&ChainHead {
                seq: 100,
                hash: "ab".repeat(32),
            }),
            broken(42, BreakKind::Missing { found: 44 }),
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "entries": 41,
                "head_hash": "ab".repeat(32),
                "ok": false,
                "break_at": {
                    "seq": 42,
                    "kind": "missing",
                    "found": 44,
                    "message": "audit entry 42 is missing: the next entry found is 44"
                }
            })
        );
        assert_eq!(
            serde_json::from_value::<VerifyReport>(json).unwrap(),
            report
        );
        for kind in [
            BreakKind::Edited,
            BreakKind::Reordered { expected: 3 },
            BreakKind::TruncatedTail { last_seq: 2 },
        ] {
            let report = VerifyReport::new(1, None, broken(2, kind));
            let json = serde_json::to_string(&report).unwrap();
            assert_eq!(serde_json::from_str::<VerifyReport>(&json).unwrap(), report);
        }
        let ok = serde_json::to_value(VerifyReport::new(0, None, None)).unwrap();
        assert_eq!(ok["break_at"], serde_json::Value::Null);
    }

    #[test]
    fn only_zero_padded_seqs_are_read_from_sort_keys() {
        assert_eq!(seq_in(&entry_sk(42), ENTRY_PREFIX), Some(42));
        assert_eq!(seq_in(&pii_sk(u64::MAX), ""), Some(u64::MAX));
        assert_eq!(seq_in("e/42", ENTRY_PREFIX), None);
        assert_eq!(seq_in("e/+0000000000000000042", ENTRY_PREFIX), None);
        assert_eq!(seq_in("head", ENTRY_PREFIX), None);
    }
}
