//! The key-wrap conformance suite on `LocalKeyWrap` (a master key in a fresh data dir). What
//! only the embedded adapter promises (file modes, a second process on the same dir) is in its
//! unit tests.

use mvidarr_store_local::keywrap::LocalKeyWrap;
use tempfile::TempDir;

async fn local_key_wrap() -> (LocalKeyWrap, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let key_wrap = LocalKeyWrap::open(dir.path()).expect("open the key service");
    (key_wrap, dir)
}

mvidarr_tests::keywrap_conformance!(local_key_wrap());
