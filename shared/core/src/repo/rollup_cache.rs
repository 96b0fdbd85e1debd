//! Decoded rollup items kept in memory by key and version, so that a dashboard read of 30 days
//! decodes only the days that changed since the last read (today's, while events arrive)
//! instead of ~600 KB of JSON each time.
//!
//! A reader lists the items' versions with a keys-only query, takes each one still at the
//! cached version from here, and reads and decodes the rest. A version names one content: the
//! writers bump it on every change, and a rollup item starts at a random version (see
//! `AnalyticsRepo::apply`), so one deleted and made again never repeats a version a reader has
//! cached.

use std::any::Any;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use lru::LruCache;

/// The default number of items kept: a month of days for ~30 tenants. A decoded tenant day
/// with a full ranking and user sketch is ~50 KB, so this is ~50 MB at most.
pub const ROLLUP_CACHE_ITEMS: usize = 1024;

type Key = (String, String);

struct Entry {
    version: u64,
    record: Arc<dyn Any + Send + Sync>,
}

/// Least-recently-used decoded rollups, shared by a process's requests.
pub struct RollupCache {
    entries: Mutex<LruCache<Key, Entry>>,
}

impl Default for RollupCache {
    fn default() -> Self {
        Self::new(NonZeroUsize::new(ROLLUP_CACHE_ITEMS).expect("a positive constant"))
    }
}

impl std::fmt::Debug for RollupCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.lock();
        write!(f, "RollupCache({}/{})", entries.len(), entries.cap())
    }
}

impl RollupCache {
    pub fn new(items: NonZeroUsize) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(items)),
        }
    }

    /// The record of `pk`/`sk` if it is cached at `version` (and is an `R`).
    pub(crate) fn get<R: Any + Send + Sync>(
        &self,
        pk: &str,
        sk: &str,
        version: u64,
    ) -> Option<Arc<R>> {
        let mut entries = self.lock();
        let entry = entries.get(&(pk.to_owned(), sk.to_owned()))?;
        if entry.version != version {
            return None;
        }
        Arc::clone(&entry.record).downcast::<R>().ok()
    }

    /// Keep `record` as `pk`/`sk` at `version`, in place of whatever was kept. Two readers
    /// may race and the older read land last; the next reader then finds the version changed
    /// and reads again. (Versions are not ordered across an item's lives: a re-made item
    /// starts at a random one.)
    pub(crate) fn put<R: Any + Send + Sync>(
        &self,
        pk: &str,
        sk: &str,
        version: u64,
        record: Arc<R>,
    ) {
        let key = (pk.to_owned(), sk.to_owned());
        self.lock().put(key, Entry { version, record });
    }

    /// Items kept now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Key, Entry>> {
        // A panic while holding the lock cannot leave the map half-changed (each call is one
        // map operation), so a poisoned lock is still good.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(items: usize) -> RollupCache {
        RollupCache::new(NonZeroUsize::new(items).unwrap())
    }

    #[test]
    fn a_record_is_found_only_at_its_version_and_type() {
        let cache = cache(4);
        cache.put("p", "2026-11-01", 3, Arc::new(7u64));
        assert_eq!(cache.get::<u64>("p", "2026-11-01", 3).as_deref(), Some(&7));
        assert_eq!(
            cache.get::<u64>("p", "2026-11-01", 4),
            None,
            "another version"
        );
        assert_eq!(cache.get::<u32>("p", "2026-11-01", 3), None, "another type");
        assert_eq!(
            cache.get::<u64>("q", "2026-11-01", 3),
            None,
            "another partition"
        );
        assert_eq!(
            cache.get::<u64>("p", "2026-11-02", 3),
            None,
            "another sort key"
        );
    }

    #[test]
    fn the_last_read_replaces_the_kept_one() {
        let cache = cache(4);
        cache.put("p", "s", 5, Arc::new(5u64));
        cache.put("p", "s", 4, Arc::new(4u64));
        assert_eq!(cache.get::<u64>("p", "s", 4).as_deref(), Some(&4));
        assert_eq!(
            cache.get::<u64>("p", "s", 5),
            None,
            "the version now is 5: read again"
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_least_recently_read_item_goes_first_when_full() {
        let cache = cache(2);
        cache.put("p", "a", 1, Arc::new(1u64));
        cache.put("p", "b", 1, Arc::new(2u64));
        assert!(cache.get::<u64>("p", "a", 1).is_some());
        cache.put("p", "c", 1, Arc::new(3u64));
        assert_eq!(cache.len(), 2);
        assert!(cache.get::<u64>("p", "a", 1).is_some(), "read last, kept");
        assert!(
            cache.get::<u64>("p", "b", 1).is_none(),
            "least recently used, gone"
        );
        assert!(cache.get::<u64>("p", "c", 1).is_some());
    }
}
