//! The table conformance suite on the embedded adapter: a fresh SQLite database in a temp dir
//! for every check.

use mvidarr_store_local::db::Database;
use mvidarr_store_local::table::SqliteTable;
use mvidarr_tests::conformance::table::Fixture;
use tempfile::TempDir;

async fn make_local_table() -> Fixture<SqliteTable, TempDir> {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(&dir.path().join("mvidarr.db")).expect("open the database");
    let table = SqliteTable::new(db).expect("create the items table");
    Fixture::new(table, dir)
}

mvidarr_tests::table_conformance!(make_local_table());
