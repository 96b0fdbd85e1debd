//! The audit log: one hash chain per tenant, so that an edited, removed or reordered entry
//! is found by anyone who walks the chain with [`ChainVerifier`].
//!
//! Each entry commits to the one before it (`prev`) and to its own contents (`hash`); the
//! caller stores the entries and a [`ChainHead`] (the last seq and hash), written together.
//! The chain proves integrity relative to that head: whoever can rewrite every entry *and*
//! the head can forge history, so the head is what to anchor elsewhere (a signed export, a
//! second account) when that matters.
//!
//! Personal data never goes into an entry: `actor` and `target` are ids, and personal data
//! (an email, an IP address) is kept elsewhere with a random salt, the entry holding only a
//! commitment to it ([`pii_commitment`]). Erasing the data and its salt leaves the chain intact.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, SubsecRound as _, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// `prev` of the first entry.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version of the canonical encoding hashed by [`AuditEntry::entry_hash`]. Changing the
/// encoding would break every stored chain: a new encoding needs a new version, and the
/// verifier would pick the encoding by the version an entry was written with.
const ENCODING_VERSION: u32 = 1;

/// The actions written to the log.
pub mod actions {
    pub const LOGIN_SUCCEEDED: &str = "login.succeeded";
    pub const LOGIN_FAILED: &str = "login.failed";
    pub const LOGIN_LOCKED: &str = "login.locked";
    pub const PASSWORD_CHANGED: &str = "password.changed";
    pub const MFA_ENROLLED: &str = "mfa.enrolled";
    pub const MFA_DISABLED: &str = "mfa.disabled";
    pub const MFA_RECOVERY_USED: &str = "mfa.recovery_used";
    pub const ROLE_CHANGED: &str = "role.changed";
    pub const USER_INVITED: &str = "user.invited";
    pub const USER_ERASED: &str = "user.erased";
    pub const APIKEY_CREATED: &str = "apikey.created";
    pub const APIKEY_REVOKED: &str = "apikey.revoked";
    pub const SESSION_REVOKED: &str = "session.revoked";
    pub const REFRESH_REUSED: &str = "refresh.reused";
    pub const DATA_EXPORTED: &str = "data.exported";
    pub const MEDIA_DELETED: &str = "media.deleted";
    pub const SETTINGS_CHANGED: &str = "settings.changed";
    pub const SIGNING_KEY_ROTATED: &str = "signing_key.rotated";
    /// A person accepted or rejected a proposed tag.
    pub const TAG_DECIDED: &str = "tag.decided";
    /// A person tagged a media by hand.
    pub const TAG_ADDED: &str = "tag.added";
    /// The tag vocabulary or its thresholds changed.
    pub const TAG_VOCABULARY_CHANGED: &str = "tag.vocabulary_changed";
    /// A tag model version was promoted by hand (or rolled back to).
    pub const TAG_MODEL_PROMOTED: &str = "tag.model_promoted";

    pub const ALL: [&str; 22] = [
        LOGIN_SUCCEEDED,
        LOGIN_FAILED,
        LOGIN_LOCKED,
        PASSWORD_CHANGED,
        MFA_ENROLLED,
        MFA_DISABLED,
        MFA_RECOVERY_USED,
        ROLE_CHANGED,
        USER_INVITED,
        USER_ERASED,
        APIKEY_CREATED,
        APIKEY_REVOKED,
        SESSION_REVOKED,
        REFRESH_REUSED,
        DATA_EXPORTED,
        MEDIA_DELETED,
        SETTINGS_CHANGED,
        SIGNING_KEY_ROTATED,
        TAG_DECIDED,
        TAG_ADDED,
        TAG_VOCABULARY_CHANGED,
        TAG_MODEL_PROMOTED,
    ];
}

/// One entry of a tenant's audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1-based, contiguous within the tenant.
    pub seq: u64,
    /// `hash` of the previous entry; [`GENESIS_PREV`] for seq 1.
    pub prev: String,
    /// When it happened, at millisecond precision (finer digits are neither stored nor hashed).
    #[serde(with = "millis_rfc3339")]
    pub at: DateTime<Utc>,
    /// Who did it, as an id (`user:01H…`, `key:…`, `system`), never an email.
    pub actor: String,
    /// What happened: one of [`actions`].
    pub action: String,
    /// What it was done to, as an id.
    pub target: Option<String>,
    /// Non-personal particulars (`"role": "editor"`, `"reason": "bad_password"`).
    pub details: BTreeMap<String, String>,
    /// [`pii_commitment`] to personal data kept elsewhere, if any.
    pub pii: Option<String>,
    /// [`AuditEntry::entry_hash`] of this entry.
    pub hash: String,
}

/// Every field but `hash`, in a fixed order: what [`AuditEntry::entry_hash`] hashes.
#[derive(Serialize)]
struct Canonical<'a> {
    v: u32,
    seq: u64,
    prev: &'a str,
    at: String,
    actor: &'a str,
    action: &'a str,
    target: Option<&'a str>,
    details: &'a BTreeMap<String, String>,
    pii: Option<&'a str>,
}

impl AuditEntry {
    /// The entry that follows `head` (`None`: the tenant's first entry). `at` is cut to
    /// milliseconds, the precision that is stored and hashed.
    pub fn next(
        head: Option<&ChainHead>,
        at: DateTime<Utc>,
        actor: impl Into<String>,
        action: impl Into<String>,
        target: Option<String>,
        details: BTreeMap<String, String>,
        pii: Option<String>,
    ) -> AuditEntry {
        let mut entry = AuditEntry {
            seq: head.map_or(1, |h| h.seq.saturating_add(1)),
            prev: head.map_or_else(|| GENESIS_PREV.to_owned(), |h| h.hash.clone()),
            at: at.trunc_subsecs(3),
            actor: actor.into(),
            action: action.into(),
            target,
            details,
            pii,
            hash: String::new(),
        };
        entry.hash = entry.entry_hash();
        entry
    }

    /// Lower-case hex SHA-256 of the canonical encoding of every field except `hash`.
    ///
    /// The encoding (version 1) is compact JSON of an object with exactly these members in
    /// this order: `v` (the number 1), `seq` (integer), `prev` (string), `at` (RFC 3339 UTC with
    /// exactly three fractional digits and `Z`, e.g. `"2024-05-01T12:00:00.250Z"`), `actor`,
    /// `action` (strings), `target` (string or null), `details` (object, keys in byte order),
    /// `pii` (string or null); strings escaped as serde_json does (only `"`, `\` and control
    /// characters; other characters as UTF-8). No floats appear, so no number formatting can
    /// vary. Changing any of this breaks every stored chain.
    pub fn entry_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_bytes()))
    }

    fn canonical_bytes(&self) -> Vec<u8> {
        let canonical = Canonical {
            v: ENCODING_VERSION,
            seq: self.seq,
            prev: &self.prev,
            at: self.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            actor: &self.actor,
            action: &self.action,
            target: self.target.as_deref(),
            details: &self.details,
            pii: self.pii.as_deref(),
        };
        // Strings, integers and a string map cannot fail to serialize.
        serde_json::to_vec(&canonical).unwrap_or_default()
    }

    /// The head to store once this entry is written.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// The last entry of a tenant's chain, stored beside the entries and updated with each one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

/// Commitment to personal data kept outside the chain: lower-case hex SHA-256 of
/// `salt ‖ data`. The salt (random, 16 bytes or more) is stored with the data and erased with
/// it; without it, a commitment to low-entropy data such as an email could be brute-forced.
pub fn pii_commitment(salt: &[u8], data: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(data.as_bytes());
    hex::encode(hasher.finalize())
}

/// Where a chain stops being trustworthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ChainBreak {
    /// The entry concerned: the edited or misplaced one, the first missing one, or for a
    /// truncated tail the seq the head records.
    pub seq: u64,
    pub kind: BreakKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// The entry's contents do not hash to its stored `hash`.
    Edited,
    /// Entries are missing: `seq` was expected, `found` came next.
    Missing { found: u64 },
    /// The entry is not where it should be: its seq went backwards (`expected` is the seq
    /// that should have come), or its seq is right (`expected == seq`) but its `prev` is not
    /// the previous entry's hash.
    Reordered { expected: u64 },
    /// The chain does not end where the head says: entries were cut off the end (or added
    /// after it), or the last entry is not the one the head records. `last_seq` is the last
    /// entry seen (0 if none).
    TruncatedTail { last_seq: u64 },
}

impl ChainBreak {
    fn describe(&self) -> String {
        let seq = self.seq;
        match self.kind {
            BreakKind::Edited => {
                format!("audit entry {seq} was edited: its contents do not match its hash")
            }
            BreakKind::Missing { found } => {
                format!("audit entry {seq} is missing: the next entry found is {found}")
            }
            BreakKind::Reordered { expected } if expected == seq => format!(
                "audit entry {seq} is out of order: it does not follow entry {}",
                seq.saturating_sub(1)
            ),
            BreakKind::Reordered { expected } => {
                format!("audit entry {seq} is out of order: entry {expected} was expected next")
            }
            BreakKind::TruncatedTail { last_seq } if last_seq == seq => format!(
                "the audit head records entry {seq} with another hash than the last entry's"
            ),
            BreakKind::TruncatedTail { last_seq } => {
                format!("the audit chain ends at entry {last_seq} but its head records entry {seq}")
            }
        }
    }
}

/// Proof that a run of entries is intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// Entries checked by this verifier.
    pub entries: u64,
    /// Hash of the last entry ([`GENESIS_PREV`] if there were none).
    pub head_hash: String,
}

/// Checks entries fed one at a time in seq order, so a long chain can be read page by page.
///
/// Each entry is checked in this order, and the first failure is the answer: its hash
/// (→ [`BreakKind::Edited`]), its seq against the expected one (lower →
/// [`BreakKind::Reordered`], higher → [`BreakKind::Missing`]), then its `prev` against the
/// previous entry's hash (→ [`BreakKind::Reordered`]). After a break the verifier keeps
/// answering with that first break.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: u64,
    last_hash: String,
    entries: u64,
    broken: Option<ChainBreak>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier for a chain read from its first entry.
    pub fn new() -> Self {
        ChainVerifier {
            next_seq: 1,
            last_hash: GENESIS_PREV.to_owned(),
            entries: 0,
            broken: None,
        }
    }

    /// A verifier that continues after an already verified `checkpoint` (the head returned by
    /// an earlier run), checking only the entries written since.
    pub fn starting_after(checkpoint: &ChainHead) -> Self {
        ChainVerifier {
            next_seq: checkpoint.seq.saturating_add(1),
            last_hash: checkpoint.hash.clone(),
            entries: 0,
            broken: None,
        }
    }

    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        if let Some(broken) = &self.broken {
            return Err(*broken);
        }
        let kind = if entry.entry_hash() != entry.hash {
            Some(BreakKind::Edited)
        } else if entry.seq < self.next_seq {
            Some(BreakKind::Reordered {
                expected: self.next_seq,
            })
        } else if entry.seq > self.next_seq {
            Some(BreakKind::Missing { found: entry.seq })
        } else if entry.prev != self.last_hash {
            Some(BreakKind::Reordered {
                expected: self.next_seq,
            })
        } else {
            None
        };
        if let Some(kind) = kind {
            let seq = match kind {
                BreakKind::Missing { .. } => self.next_seq,
                _ => entry.seq,
            };
            let broken = ChainBreak { seq, kind };
            self.broken = Some(broken);
            return Err(broken);
        }
        self.next_seq = entry.seq.saturating_add(1);
        self.last_hash.clone_from(&entry.hash);
        self.entries += 1;
        Ok(())
    }

    /// Ends the walk: the last entry must be the one `head` records (`None`: the tenant has
    /// no head, so there must be no entries).
    pub fn finish(self, head: Option<&ChainHead>) -> Result<VerifiedChain, ChainBreak> {
        if let Some(broken) = self.broken {
            return Err(broken);
        }
        let last_seq = self.next_seq - 1;
        let (head_seq, head_hash) = head.map_or((0, GENESIS_PREV), |h| (h.seq, h.hash.as_str()));
        if head_seq != last_seq || head_hash != self.last_hash {
            return Err(ChainBreak {
                seq: head_seq,
                kind: BreakKind::TruncatedTail { last_seq },
            });
        }
        Ok(VerifiedChain {
            entries: self.entries,
            head_hash: self.last_hash,
        })
    }
}

/// `at` as RFC 3339 UTC with exactly three fractional digits, the form that is hashed.
mod millis_rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::{Duration, TimeZone as _};

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn details(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A chain of `n` entries (with sub-millisecond times, which must not matter) and its head.
    fn chain(n: u64) -> (Vec<AuditEntry>, ChainHead) {
        chain_from(t0(), n)
    }

    fn chain_from(start: DateTime<Utc>, n: u64) -> (Vec<AuditEntry>, ChainHead) {
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let action = actions::ALL[usize::try_from(i).unwrap() % actions::ALL.len()];
            let entry = AuditEntry::next(
                entries.last().map(AuditEntry::head).as_ref(),
                start + Duration::microseconds(i64::try_from(i).unwrap() * 1_234_567),
                format!("user:01HUSER{i:04}"),
                action,
                Some(format!("media:01HMEDIA{i:04}")),
                details(&[("n", &i.to_string()), ("reason", "test")]),
                None,
            );
            entries.push(entry);
        }
        let head = entries.last().unwrap().head();
        (entries, head)
    }

    fn verify(
        entries: &[AuditEntry],
        head: Option<&ChainHead>,
    ) -> Result<VerifiedChain, ChainBreak> {
        let mut verifier = ChainVerifier::new();
        for entry in entries {
            verifier.push(entry)?;
        }
        verifier.finish(head)
    }

    #[test]
    fn a_chain_of_100_verifies() {
        let (entries, head) = chain(100);
        assert_eq!(entries[0].seq, 1);
        assert_eq!(entries[0].prev, GENESIS_PREV);
        assert_eq!(entries[99].seq, 100);
        assert_eq!(entries[99].prev, entries[98].hash);
        let verified = verify(&entries, Some(&head)).unwrap();
        assert_eq!(verified.entries, 100);
        assert_eq!(verified.head_hash, head.hash);
    }

    #[test]
    fn an_empty_chain_verifies_only_without_a_head() {
        assert_eq!(
            verify(&[], None).unwrap(),
            VerifiedChain {
                entries: 0,
                head_hash: GENESIS_PREV.to_owned()
            }
        );
        let (_, head) = chain(3);
        let err = verify(&[], Some(&head)).unwrap_err();
        assert_eq!(err.kind, BreakKind::TruncatedTail { last_seq: 0 });
        assert_eq!(err.seq, 3);
        let (entries, _) = chain(3);
        let err = verify(&entries, None).unwrap_err();
        assert_eq!(
            (err.seq, err.kind),
            (0, BreakKind::TruncatedTail { last_seq: 3 })
        );
    }

    #[test]
    fn editing_any_field_of_an_entry_is_found_at_that_entry() {
        let (entries, head) = chain(100);
        type Edit = (&'static str, fn(&mut AuditEntry));
        let edits: Vec<Edit> = vec![
            ("details value", |e| {
                e.details.insert("reason".into(), "changed".into());
            }),
            ("details key added", |e| {
                e.details.insert("extra".into(), String::new());
            }),
            ("actor", |e| e.actor = "user:01HSOMEONEELSE".into()),
            ("at", |e| e.at += Duration::seconds(1)),
            ("at by a millisecond", |e| e.at += Duration::milliseconds(1)),
            // Another action than the entry's, whichever it is.
            ("action", |e| e.action = format!("{}.edited", e.action)),
            ("target", |e| e.target = None),
            ("pii", |e| e.pii = Some(pii_commitment(b"salt", "x"))),
            ("prev", |e| e.prev = GENESIS_PREV.into()),
            ("hash", |e| e.hash = "ab".repeat(32)),
        ];
        for (what, edit) in edits {
            let mut tampered = entries.clone();
            edit(&mut tampered[41]);
            let err = verify(&tampered, Some(&head)).unwrap_err();
            assert_eq!((err.seq, &err.kind), (42, &BreakKind::Edited), "{what}");
        }
    }

    #[test]
    fn a_removed_entry_is_missing() {
        let (mut entries, head) = chain(100);
        entries.remove(50);
        let err = verify(&entries, Some(&head)).unwrap_err();
        assert_eq!(
            err,
            ChainBreak {
                seq: 51,
                kind: BreakKind::Missing { found: 52 }
            }
        );
        assert_eq!(
            err.to_string(),
            "audit entry 51 is missing: the next entry found is 52"
        );
        // Removing the first entry too.
        let (mut entries, head) = chain(5);
        entries.remove(0);
        let err = verify(&entries, Some(&head)).unwrap_err();
        assert_eq!((err.seq, err.kind), (1, BreakKind::Missing { found: 2 }));
    }

    #[test]
    fn swapped_entries_are_found_in_each_form_of_swap() {
        let (entries, head) = chain(20);

        // Rows swapped, fields intact: read in seq order the later one comes first, which
        // reads as the earlier one missing; fed in that order anyway, the earlier one is then
        // out of order.
        let mut rows = entries.clone();
        rows.swap(9, 10);
        let err = verify(&rows, Some(&head)).unwrap_err();
        assert_eq!((err.seq, err.kind), (10, BreakKind::Missing { found: 11 }));
        let mut verifier = ChainVerifier::new();
        for entry in &entries[..9] {
            verifier.push(entry).unwrap();
        }
        verifier.push(&entries[9]).unwrap();
        verifier.push(&entries[10]).unwrap();
        let err = verifier.push(&entries[9]).unwrap_err();
        assert_eq!(
            (err.seq, err.kind),
            (10, BreakKind::Reordered { expected: 12 })
        );
        assert_eq!(
            err.to_string(),
            "audit entry 10 is out of order: entry 12 was expected next"
        );

        // Contents swapped and seq renumbered to look contiguous: the hash covers seq.
        let mut renumbered = entries.clone();
        renumbered.swap(9, 10);
        renumbered[9].seq = 10;
        renumbered[10].seq = 11;
        let err = verify(&renumbered, Some(&head)).unwrap_err();
        assert_eq!((err.seq, err.kind), (10, BreakKind::Edited));

        // ...and each entry's own hash recomputed: its prev still points elsewhere.
        for entry in &mut renumbered[9..=10] {
            entry.hash = entry.entry_hash();
        }
        let err = verify(&renumbered, Some(&head)).unwrap_err();
        assert_eq!(
            (err.seq, &err.kind),
            (10, &BreakKind::Reordered { expected: 10 })
        );
        assert_eq!(
            err.to_string(),
            "audit entry 10 is out of order: it does not follow entry 9"
        );
    }

    #[test]
    fn a_dropped_last_entry_is_a_truncated_tail() {
        let (mut entries, head) = chain(100);
        entries.pop();
        let err = verify(&entries, Some(&head)).unwrap_err();
        assert_eq!(
            err,
            ChainBreak {
                seq: 100,
                kind: BreakKind::TruncatedTail { last_seq: 99 }
            }
        );
        assert_eq!(
            err.to_string(),
            "the audit chain ends at entry 99 but its head records entry 100"
        );
    }

    #[test]
    fn a_head_from_another_chain_is_a_truncated_tail() {
        let (entries, _) = chain(100);
        // Another tenant's chain of the same length: same seq, other history.
        let other = chain_from(t0() + Duration::days(1), 100).1;
        let err = verify(&entries, Some(&other)).unwrap_err();
        assert_eq!(
            (err.seq, err.kind),
            (100, BreakKind::TruncatedTail { last_seq: 100 })
        );
        assert!(err.to_string().contains("another hash"), "{err}");
    }

    #[test]
    fn erasing_personal_data_leaves_the_chain_intact() {
        // Personal data lives outside the chain, keyed by seq, with its salt.
        let mut personal: HashMap<u64, ([u8; 16], String)> = HashMap::new();
        let mut entries: Vec<AuditEntry> = Vec::new();
        for (i, email) in ["ana@example.com", "bo@example.com"]
            .into_iter()
            .enumerate()
        {
            let salt = [u8::try_from(i).unwrap() + 1; 16];
            let entry = AuditEntry::next(
                entries.last().map(AuditEntry::head).as_ref(),
                t0(),
                "system",
                actions::USER_INVITED,
                Some(format!("user:01HINVITEE{i}")),
                BTreeMap::new(),
                Some(pii_commitment(&salt, email)),
            );
            personal.insert(entry.seq, (salt, email.to_owned()));
            entries.push(entry);
        }
        let head = entries.last().unwrap().head();
        // Before erasure the data can be shown to match the log.
        let (salt, email) = &personal[&1];
        assert_eq!(
            entries[0].pii.as_deref(),
            Some(pii_commitment(salt, email).as_str())
        );

        personal.remove(&1);
        assert!(verify(&entries, Some(&head)).is_ok());
        assert!(!entries[0].pii.as_deref().unwrap().contains("ana"));
    }

    #[test]
    fn entries_survive_a_json_round_trip() {
        let (entries, head) = chain(30);
        let stored: Vec<String> = entries
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let read: Vec<AuditEntry> = stored
            .iter()
            .map(|json| serde_json::from_str(json).unwrap())
            .collect();
        assert_eq!(read, entries);
        let head: ChainHead = serde_json::from_str(&serde_json::to_string(&head).unwrap()).unwrap();
        assert_eq!(verify(&read, Some(&head)).unwrap().entries, 30);
        assert!(
            stored[1].contains(r#""at":"2024-05-01T12:00:01.234Z""#),
            "{}",
            stored[1]
        );
    }

    #[test]
    fn the_canonical_encoding_is_pinned() {
        let entry = AuditEntry::next(
            None,
            t0() + Duration::microseconds(250_999),
            "user:01HACTOR",
            actions::ROLE_CHANGED,
            Some("user:01HTARGET".into()),
            details(&[("to", "editor"), ("from", "viewer"), ("note", "ü \"q\"")]),
            None,
        );
        assert_eq!(
            String::from_utf8(entry.canonical_bytes()).unwrap(),
            r#"{"v":1,"seq":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","at":"2024-05-01T12:00:00.250Z","actor":"user:01HACTOR","action":"role.changed","target":"user:01HTARGET","details":{"from":"viewer","note":"ü \"q\"","to":"editor"},"pii":null}"#
        );
        assert_eq!(
            entry.hash,
            hex::encode(Sha256::digest(entry.canonical_bytes()))
        );
    }

    #[test]
    fn verification_can_resume_after_a_checkpoint() {
        let (entries, head) = chain(100);
        let mut first = ChainVerifier::new();
        for entry in &entries[..60] {
            first.push(entry).unwrap();
        }
        let checkpoint = ChainHead {
            seq: 60,
            hash: first.finish(Some(&entries[59].head())).unwrap().head_hash,
        };
        let mut rest = ChainVerifier::starting_after(&checkpoint);
        for entry in &entries[60..] {
            rest.push(entry).unwrap();
        }
        assert_eq!(rest.finish(Some(&head)).unwrap().entries, 40);
        // A wrong checkpoint does not vouch for what follows.
        let mut wrong = ChainVerifier::starting_after(&ChainHead {
            seq: 60,
            hash: GENESIS_PREV.into(),
        });
        let err = wrong.push(&entries[60]).unwrap_err();
        assert_eq!(
            (err.seq, err.kind),
            (61, BreakKind::Reordered { expected: 61 })
        );
    }

    #[test]
    fn after_a_break_the_verifier_keeps_the_first_break() {
        let (mut entries, head) = chain(10);
        entries[3].actor = "user:01HMALLORY".into();
        let mut verifier = ChainVerifier::new();
        let first = entries
            .iter()
            .map(|e| verifier.push(e))
            .find_map(Result::err)
            .unwrap();
        assert_eq!(first.seq, 4);
        assert_eq!(verifier.push(&entries[4]), Err(first));
        assert_eq!(verifier.finish(Some(&head)), Err(first));
    }

    #[test]
    fn action_names_are_distinct_and_dotted() {
        let unique: std::collections::HashSet<_> = actions::ALL.iter().collect();
        assert_eq!(unique.len(), actions::ALL.len());
        assert!(
            actions::ALL
                .iter()
                .all(|a| a.contains('.') && !a.contains(' '))
        );
    }

    #[test]
    fn pii_commitments_depend_on_salt_and_data() {
        let a = pii_commitment(b"salt-one-16bytes", "ana@example.com");
        assert_eq!(a.len(), 64);
        assert_ne!(a, pii_commitment(b"salt-two-16bytes", "ana@example.com"));
        assert_ne!(a, pii_commitment(b"salt-one-16bytes", "bo@example.com"));
        assert_eq!(a, pii_commitment(b"salt-one-16bytes", "ana@example.com"));
    }
}
