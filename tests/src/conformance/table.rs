//! The [`Table`] conformance suite: DynamoDB's semantics, which every adapter must reproduce.
//!
//! Each check is a `pub async fn name<T: Table>(table: &T)` that panics with a message naming
//! what went wrong. Each one writes only under keys of its own, unique to that call, so the
//! checks can share one table (and one moto server) as well as run on a fresh one each.
//! [`table_conformance!`](crate::table_conformance) turns them into one `#[tokio::test]` each.
//!
//! Where DynamoDB leaves something open, the checks accept every behaviour it allows: a query
//! may end with an empty page after an exactly-full one, and items with equal index sort keys
//! may come in any order.
//!
//! Expiry is checked with items written already expired (an expiry 10 s in the past) next to
//! items that expire an hour from now or never, so no check sleeps or races the clock.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mvidarr_core::ports::table::{MAX_ITEM_BYTES, MAX_PAGE_ITEMS, MAX_TRANSACT_ITEMS};
use mvidarr_core::ports::{Condition, Index, Item, Page, Query, Table, TableError, WriteOp};
use serde_json::json;

/// A table under test and whatever must outlive it (a temp dir, a moto server). Dropping the
/// fixture drops the table first.
pub struct Fixture<T, G> {
    table: T,
    _guard: G,
}

impl<T: Table, G> Fixture<T, G> {
    pub fn new(table: T, guard: G) -> Self {
        Self {
            table,
            _guard: guard,
        }
    }

    pub fn table(&self) -> &T {
        &self.table
    }
}

/// One `#[tokio::test]` per check, each on a fresh table: `$make` is an expression (evaluated
/// again for every test) whose `.await` gives a [`Fixture`]. Needs `tokio` in the calling crate.
///
/// ```ignore
/// async fn make_local_table() -> Fixture<SqliteTable, TempDir> { ... }
/// mvidarr_tests::table_conformance!(make_local_table());
/// ```
#[macro_export]
macro_rules! table_conformance {
    ($make:expr) => {
        $crate::table_conformance!(@checks $make;
            put_then_get_round_trips_every_field,
            get_of_an_absent_item_is_none,
            put_always_creates_and_overwrites,
            put_if_absent_refuses_an_existing_item,
            put_if_exists_refuses_a_missing_item,
            put_if_version_refuses_a_missing_item_or_another_version,
            version_checked_update_that_lost_the_race_is_refused,
            delete_honours_its_condition,
            delete_of_an_absent_item_succeeds_unless_it_must_exist,
            prefix_query_returns_only_matching_sort_keys_in_order,
            query_does_not_leak_a_partition_whose_name_extends_the_queried_one,
            pagination_visits_every_item_once_in_order,
            page_with_room_to_spare_has_no_cursor,
            query_limit_is_clamped_to_the_allowed_range,
            index_query_lists_only_indexed_items_in_index_order,
            index_follows_items_moved_between_index_partitions,
            index_pagination_visits_items_with_equal_sort_keys_once,
            transaction_applies_every_operation,
            transaction_with_a_failing_condition_writes_nothing_and_names_it,
            transaction_of_the_maximum_size_succeeds,
            transaction_over_the_operation_limit_is_invalid,
            transaction_touching_a_key_twice_is_invalid,
            oversize_item_is_invalid,
            empty_or_overlong_keys_are_invalid,
            garbage_cursor_is_refused,
            cursor_from_another_query_is_refused,
            tenants_never_see_each_others_items,
            expiry_round_trips_through_put_get_and_queries,
            expired_items_are_invisible_to_get_and_queries,
            absent_holds_over_an_expired_item,
            conditions_needing_an_item_fail_on_an_expired_one,
            transaction_treats_expired_items_as_absent,
            pagination_skips_expired_items_between_live_ones,
            keys_only_query_returns_every_field_but_the_data,
            get_many_answers_each_key_in_order_like_get,
            get_many_reads_more_than_one_response_holds,
        );
    };
    (@checks $make:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let fixture = $make.await;
                $crate::conformance::table::$check(fixture.table()).await;
            }
        )+
    };
}

// ---------------------------------------------------------------------------------------------
// Items: put, get, conditions
// ---------------------------------------------------------------------------------------------

pub async fn put_then_get_round_trips_every_field<T: Table>(table: &T) {
    let s = scope("round-trip");
    let mut indexed = Item::new(
        format!("t/{s}/media"),
        "01J0000000000000000000000A",
        json!({
            "title": "Ünïcødé — 🎵 \"quoted\" \\ back\nslash",
            "n": 42,
            "neg": -7,
            "big": 9_007_199_254_740_993_u64,
            "half": 1.5,
            // A float whose shortest form only parses back exactly with a correct parser
            // (serde_json's `float_roundtrip`): confidences and scores must not drift.
            "float": 1823.3521453552403,
            "tiny": 5e-324,
            "ok": true,
            "none": null,
            "list": [1, "two", {"three": 3}, []],
            "nested": {"a": {"b": {}}},
            "empty": "",
        }),
    )
    .with_index(
        format!("t/{s}/media-status/new"),
        "2026-01-01T00:00:00Z#01J",
    );
    indexed.version = 7;
    indexed.expires_at = Some(now() + 86_400);
    let mut plain = Item::new(format!("t/{s}/media"), "plain", json!("just a string"));
    plain.version = u64::MAX;

    for item in [&indexed, &plain] {
        table
            .put(item.clone(), Condition::Absent)
            .await
            .unwrap_or_else(|e| panic!("put {}: {e}", item.sk));
    }

    for item in [&indexed, &plain] {
        let got = get(table, &item.pk, &item.sk).await;
        assert_eq!(
            got.as_ref(),
            Some(item),
            "get returns the item exactly as put"
        );
    }
}

pub async fn get_of_an_absent_item_is_none<T: Table>(table: &T) {
    let s = scope("get-absent");
    let pk = format!("t/{s}/media");
    put_new(table, Item::new(&pk, "present", json!(1))).await;

    assert_eq!(get(table, &pk, "absent").await, None, "absent sort key");
    assert_eq!(
        get(table, &format!("{pk}x"), "present").await,
        None,
        "absent partition"
    );
}

pub async fn put_always_creates_and_overwrites<T: Table>(table: &T) {
    let s = scope("put-always");
    let pk = format!("t/{s}/media");
    let first = Item::new(&pk, "a", json!({"v": 1})).with_index(format!("t/{s}/g"), "x");
    table
        .put(first.clone(), Condition::Always)
        .await
        .expect("create with Always");
    assert_eq!(get(table, &pk, "a").await, Some(first));

    // Overwriting replaces the whole item: the index keys go away too.
    let mut second = Item::new(&pk, "a", json!({"v": 2}));
    second.version = 2;
    table
        .put(second.clone(), Condition::Always)
        .await
        .expect("overwrite with Always");
    assert_eq!(get(table, &pk, "a").await, Some(second));
}

pub async fn put_if_absent_refuses_an_existing_item<T: Table>(table: &T) {
    let s = scope("put-absent");
    let pk = format!("t/{s}/media");
    let original = Item::new(&pk, "a", json!("original"));
    table
        .put(original.clone(), Condition::Absent)
        .await
        .expect("Absent holds for a new key");

    let result = table
        .put(Item::new(&pk, "a", json!("second")), Condition::Absent)
        .await;
    expect_condition_failed(result, &pk, "a", "second put with Absent");
    assert_eq!(
        get(table, &pk, "a").await,
        Some(original),
        "the refused put changed nothing"
    );
}

pub async fn put_if_exists_refuses_a_missing_item<T: Table>(table: &T) {
    let s = scope("put-exists");
    let pk = format!("t/{s}/media");

    let result = table
        .put(Item::new(&pk, "a", json!("new")), Condition::Exists)
        .await;
    expect_condition_failed(result, &pk, "a", "put with Exists on a missing item");
    assert_eq!(
        get(table, &pk, "a").await,
        None,
        "the refused put created nothing"
    );

    put_new(table, Item::new(&pk, "a", json!("first"))).await;
    let replacement = Item::new(&pk, "a", json!("replaced"));
    table
        .put(replacement.clone(), Condition::Exists)
        .await
        .expect("Exists holds");
    assert_eq!(get(table, &pk, "a").await, Some(replacement));
}

pub async fn put_if_version_refuses_a_missing_item_or_another_version<T: Table>(table: &T) {
    let s = scope("put-version");
    let pk = format!("t/{s}/media");

    let result = table
        .put(versioned(&pk, "a", 2, "new"), Condition::VersionIs(1))
        .await;
    expect_condition_failed(result, &pk, "a", "VersionIs on a missing item");
    assert_eq!(get(table, &pk, "a").await, None);

    put_new(table, versioned(&pk, "a", 3, "v3")).await;
    for wrong in [0, 2, 4] {
        let result = table
            .put(versioned(&pk, "a", 9, "wrong"), Condition::VersionIs(wrong))
            .await;
        expect_condition_failed(
            result,
            &pk,
            "a",
            &format!("VersionIs({wrong}) on version 3"),
        );
    }
    assert_eq!(
        get(table, &pk, "a").await,
        Some(versioned(&pk, "a", 3, "v3"))
    );

    table
        .put(versioned(&pk, "a", 4, "v4"), Condition::VersionIs(3))
        .await
        .expect("VersionIs(3) holds on version 3");
    assert_eq!(
        get(table, &pk, "a").await,
        Some(versioned(&pk, "a", 4, "v4"))
    );
}

pub async fn version_checked_update_that_lost_the_race_is_refused<T: Table>(table: &T) {
    let s = scope("lost-race");
    let pk = format!("t/{s}/media");
    put_new(table, versioned(&pk, "m", 1, "start")).await;

    // Two writers read the same version, then both try to write the next one.
    let read_by_a = get(table, &pk, "m").await.expect("a reads");
    let read_by_b = get(table, &pk, "m").await.expect("b reads");
    let from_a = versioned(&pk, "m", read_by_a.version + 1, "written by a");
    let from_b = versioned(&pk, "m", read_by_b.version + 1, "written by b");

    table
        .put(from_a.clone(), Condition::VersionIs(read_by_a.version))
        .await
        .expect("the first writer wins");
    let result = table
        .put(from_b, Condition::VersionIs(read_by_b.version))
        .await;
    expect_condition_failed(result, &pk, "m", "the second writer");
    assert_eq!(
        get(table, &pk, "m").await,
        Some(from_a),
        "the winner's write stands"
    );
}

pub async fn delete_honours_its_condition<T: Table>(table: &T) {
    let s = scope("delete-cond");
    let pk = format!("t/{s}/media");
    put_new(table, versioned(&pk, "a", 3, "keep me")).await;

    for (condition, why) in [
        (Condition::VersionIs(2), "another version"),
        (Condition::Absent, "Absent on an existing item"),
    ] {
        let result = table.delete(&pk, "a", condition).await;
        expect_condition_failed(result, &pk, "a", why);
        assert!(
            get(table, &pk, "a").await.is_some(),
            "{why}: the item must remain"
        );
    }

    table
        .delete(&pk, "a", Condition::VersionIs(3))
        .await
        .expect("VersionIs(3) holds");
    assert_eq!(get(table, &pk, "a").await, None, "deleted");

    put_new(table, versioned(&pk, "b", 1, "b")).await;
    table
        .delete(&pk, "b", Condition::Exists)
        .await
        .expect("Exists holds");
    assert_eq!(get(table, &pk, "b").await, None, "deleted");
}

pub async fn delete_of_an_absent_item_succeeds_unless_it_must_exist<T: Table>(table: &T) {
    let s = scope("delete-absent");
    let pk = format!("t/{s}/media");

    table
        .delete(&pk, "nothing", Condition::Always)
        .await
        .expect("Always on an absent item");
    table
        .delete(&pk, "nothing", Condition::Absent)
        .await
        .expect("Absent on an absent item");
    for (condition, why) in [
        (Condition::Exists, "Exists on an absent item"),
        (Condition::VersionIs(1), "VersionIs on an absent item"),
    ] {
        let result = table.delete(&pk, "nothing", condition).await;
        expect_condition_failed(result, &pk, "nothing", why);
    }
    assert_eq!(get(table, &pk, "nothing").await, None);
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

pub async fn prefix_query_returns_only_matching_sort_keys_in_order<T: Table>(table: &T) {
    let s = scope("prefix");
    let pk = format!("t/{s}/media");
    // `%` and `_` are SQL LIKE wildcards; `/` and `#` are our separators; `0` follows `/` and
    // `$` follows `#`, so a sloppy upper bound shows; the non-ASCII keys check byte order.
    let sort_keys = [
        "a", "a#", "a#1", "a#2", "a$", "a%", "a%%", "a%/x", "a%b", "a/", "a/1", "a/2/x", "a/z",
        "a/é", "a/\u{7f}", "a0", "a_", "a_b", "aXb", "ab", "b", "b%", "é", "é/1", "zz",
    ];
    for sk in sort_keys {
        put_new(table, Item::new(&pk, sk, json!({"sk": sk}))).await;
    }

    for prefix in [
        "", "a", "a%", "a%%", "a_", "a/", "a#", "a%/", "a/é", "é", "b%", "nothing",
    ] {
        let mut expected: Vec<&str> = sort_keys
            .iter()
            .copied()
            .filter(|sk| sk.starts_with(prefix))
            .collect();
        expected.sort_unstable(); // byte order, as DynamoDB sorts strings

        let ascending = query_all(table, Query::partition(&pk).prefix(prefix)).await;
        assert_eq!(
            sort_keys_of(&ascending),
            expected,
            "ascending, prefix {prefix:?}"
        );

        let descending = query_all(table, Query::partition(&pk).prefix(prefix).descending()).await;
        expected.reverse();
        assert_eq!(
            sort_keys_of(&descending),
            expected,
            "descending, prefix {prefix:?}"
        );
    }
}

pub async fn query_does_not_leak_a_partition_whose_name_extends_the_queried_one<T: Table>(
    table: &T,
) {
    let s = scope("partition-prefix");
    let media = format!("t/{s}/media");
    let media_status = format!("t/{s}/media-status");
    let media_slash = format!("t/{s}/media/01J");
    for (pk, sk) in [
        (&media, "01J1"),
        (&media, "01J2"),
        (&media_status, "01J1"),
        (&media_status, "01J3"),
        (&media_slash, "01J4"),
    ] {
        put_new(table, Item::new(pk, sk, json!(null))).await;
    }

    for (pk, prefix, expected) in [
        (&media, "", vec!["01J1", "01J2"]),
        (&media, "01J", vec!["01J1", "01J2"]),
        (&media_status, "", vec!["01J1", "01J3"]),
        (&media_slash, "", vec!["01J4"]),
    ] {
        let items = query_all(table, Query::partition(pk).prefix(prefix)).await;
        assert!(
            items.iter().all(|i| &i.pk == pk),
            "partition {pk:?} leaked: {items:?}"
        );
        assert_eq!(
            sort_keys_of(&items),
            expected,
            "partition {pk:?}, prefix {prefix:?}"
        );
    }
    let none = query_all(table, Query::partition(format!("t/{s}/med"))).await;
    assert!(
        none.is_empty(),
        "a partition is matched exactly, never as a prefix: {none:?}"
    );
}

pub async fn pagination_visits_every_item_once_in_order<T: Table>(table: &T) {
    let s = scope("pages");
    let pk = format!("t/{s}/media");
    let expected: Vec<String> = (0..250).map(|i| format!("item/{i:04}")).collect();
    for sk in &expected {
        put_new(table, Item::new(&pk, sk, json!({"sk": sk}))).await;
    }
    // Neighbours on either side of the prefix range, which no page may include.
    for sk in ["item.", "item0", "iteM/9999", "a", "z"] {
        put_new(table, Item::new(&pk, sk, json!(null))).await;
    }

    let ascending = query_all(table, Query::partition(&pk).prefix("item/").limit(7)).await;
    assert_eq!(
        sort_keys_of(&ascending),
        expected,
        "ascending pages, limit 7"
    );

    let descending = query_all(
        table,
        Query::partition(&pk).prefix("item/").limit(7).descending(),
    )
    .await;
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(
        sort_keys_of(&descending),
        reversed,
        "descending pages, limit 7"
    );

    // A limit that divides the count exactly: the last full page may or may not carry a cursor.
    let by_ten = query_all(table, Query::partition(&pk).prefix("item/").limit(10)).await;
    assert_eq!(sort_keys_of(&by_ten), expected, "ascending pages, limit 10");
}

pub async fn page_with_room_to_spare_has_no_cursor<T: Table>(table: &T) {
    let s = scope("room");
    let pk = format!("t/{s}/media");
    for sk in ["a", "b", "c"] {
        put_new(table, Item::new(&pk, sk, json!(null))).await;
    }

    let page = query_page(table, Query::partition(&pk).limit(4)).await;
    assert_eq!(sort_keys_of(&page.items), ["a", "b", "c"]);
    assert_eq!(
        page.next_cursor, None,
        "fewer items than the limit: nothing more to read"
    );

    let empty = query_page(table, Query::partition(&pk).prefix("x")).await;
    assert!(
        empty.items.is_empty() && empty.next_cursor.is_none(),
        "{empty:?}"
    );

    let first = query_page(table, Query::partition(&pk).limit(2)).await;
    assert_eq!(sort_keys_of(&first.items), ["a", "b"]);
    assert!(
        first.next_cursor.is_some(),
        "a page that stops short of the end has a cursor"
    );
}

pub async fn query_limit_is_clamped_to_the_allowed_range<T: Table>(table: &T) {
    let s = scope("clamp");
    let pk = format!("t/{s}/media");
    for sk in ["a", "b", "c"] {
        put_new(table, Item::new(&pk, sk, json!(null))).await;
    }

    let zero = query_page(table, Query::partition(&pk).limit(0)).await;
    assert_eq!(sort_keys_of(&zero.items), ["a"], "limit 0 reads as 1");
    assert!(
        zero.next_cursor.is_some(),
        "limit 0 reads as 1, so more follow"
    );

    for limit in [MAX_PAGE_ITEMS, MAX_PAGE_ITEMS + 1, usize::MAX] {
        let page = query_page(table, Query::partition(&pk).limit(limit)).await;
        assert_eq!(sort_keys_of(&page.items), ["a", "b", "c"], "limit {limit}");
        assert_eq!(page.next_cursor, None, "limit {limit}");
    }
}

// ---------------------------------------------------------------------------------------------
// The secondary index
// ---------------------------------------------------------------------------------------------

pub async fn index_query_lists_only_indexed_items_in_index_order<T: Table>(table: &T) {
    let s = scope("gsi-sparse");
    let pk = format!("t/{s}/media");
    let status = format!("t/{s}/media-status/new");
    let indexed = [
        Item::new(&pk, "m3", json!(3)).with_index(&status, "2026-01-01#m3"),
        Item::new(&pk, "m1", json!(1)).with_index(&status, "2026-01-03#m1"),
        Item::new(&pk, "m2", json!(2)).with_index(&status, "2026-01-02#m2"),
        Item::new(&pk, "m4", json!(4)).with_index(&status, "2025-12-31#m4"),
    ];
    for item in &indexed {
        put_new(table, item.clone()).await;
    }
    // Not in the index: no index keys at all.
    put_new(table, Item::new(&pk, "m5", json!(5))).await;
    put_new(
        table,
        Item::new(
            &status,
            "2026-01-01#m3",
            json!("a table item, not an index entry"),
        ),
    )
    .await;

    let all = query_all(table, Query::partition(&status).on_index(Index::Gsi1)).await;
    assert_eq!(
        sort_keys_of(&all),
        ["m4", "m3", "m2", "m1"],
        "the index lists exactly the indexed items, by index sort key"
    );
    for item in &all {
        let put = indexed
            .iter()
            .find(|i| i.sk == item.sk)
            .expect("an indexed item");
        assert_eq!(item, put, "the index returns whole items");
    }

    let january = query_all(
        table,
        Query::partition(&status)
            .on_index(Index::Gsi1)
            .prefix("2026-01-0")
            .descending(),
    )
    .await;
    assert_eq!(
        sort_keys_of(&january),
        ["m1", "m2", "m3"],
        "index prefix, descending"
    );

    let table_view = query_all(table, Query::partition(&pk)).await;
    assert_eq!(
        sort_keys_of(&table_view),
        ["m1", "m2", "m3", "m4", "m5"],
        "the table view"
    );
}

pub async fn index_follows_items_moved_between_index_partitions<T: Table>(table: &T) {
    let s = scope("gsi-move");
    let pk = format!("t/{s}/media");
    let new = format!("t/{s}/media-status/new");
    let ready = format!("t/{s}/media-status/ready");
    let on_index = |partition: &str| Query::partition(partition).on_index(Index::Gsi1);

    put_new(table, versioned(&pk, "m1", 1, "new").with_index(&new, "k1")).await;
    put_new(table, versioned(&pk, "m2", 1, "new").with_index(&new, "k2")).await;

    table
        .put(
            versioned(&pk, "m1", 2, "ready").with_index(&ready, "k1"),
            Condition::VersionIs(1),
        )
        .await
        .expect("move m1 to ready");
    assert_eq!(
        sort_keys_of(&query_all(table, on_index(&new)).await),
        ["m2"],
        "left new"
    );
    let in_ready = query_all(table, on_index(&ready)).await;
    assert_eq!(
        in_ready,
        [versioned(&pk, "m1", 2, "ready").with_index(&ready, "k1")]
    );

    // Dropping the index keys drops the item from the index; deleting it drops it too.
    table
        .put(
            versioned(&pk, "m1", 3, "unindexed"),
            Condition::VersionIs(2),
        )
        .await
        .expect("unindex m1");
    assert!(
        query_all(table, on_index(&ready)).await.is_empty(),
        "m1 left the index"
    );
    table
        .delete(&pk, "m2", Condition::Exists)
        .await
        .expect("delete m2");
    assert!(
        query_all(table, on_index(&new)).await.is_empty(),
        "m2 left the index"
    );
}

pub async fn index_pagination_visits_items_with_equal_sort_keys_once<T: Table>(table: &T) {
    let s = scope("gsi-ties");
    let status = format!("t/{s}/media-status/new");
    let mut expected = BTreeSet::new();
    for n in 0..13 {
        let pk = format!("t/{s}/media/{}", n % 3);
        let sk = format!("m{n:02}");
        let gsi1sk = format!("same/{}", n % 4); // four sort keys shared by 13 items
        put_new(
            table,
            Item::new(&pk, &sk, json!(n)).with_index(&status, gsi1sk),
        )
        .await;
        expected.insert((pk, sk));
    }

    for descending in [false, true] {
        let mut query = Query::partition(&status).on_index(Index::Gsi1).limit(2);
        if descending {
            query = query.descending();
        }
        let items = query_all(table, query).await;
        let keys: Vec<(String, String)> =
            items.iter().map(|i| (i.pk.clone(), i.sk.clone())).collect();
        let unique: BTreeSet<_> = keys.iter().cloned().collect();
        assert_eq!(
            keys.len(),
            unique.len(),
            "descending={descending}: an item came twice"
        );
        assert_eq!(
            unique, expected,
            "descending={descending}: every item, once"
        );
        let index_keys: Vec<&str> = items.iter().filter_map(|i| i.gsi1sk.as_deref()).collect();
        let mut sorted = index_keys.clone();
        sorted.sort_unstable();
        if descending {
            sorted.reverse();
        }
        assert_eq!(
            index_keys, sorted,
            "descending={descending}: in index sort-key order"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

pub async fn transaction_applies_every_operation<T: Table>(table: &T) {
    let s = scope("tx-ok");
    let pk = format!("t/{s}/media");
    put_new(table, versioned(&pk, "update", 1, "old")).await;
    put_new(table, versioned(&pk, "delete", 1, "doomed")).await;
    put_new(table, versioned(&pk, "check", 4, "checked")).await;

    let created = Item::new(&pk, "create", json!("created")).with_index(format!("t/{s}/g"), "k");
    let updated = versioned(&pk, "update", 2, "new");
    table
        .transact_write(vec![
            WriteOp::Put {
                item: created.clone(),
                condition: Condition::Absent,
            },
            WriteOp::Put {
                item: updated.clone(),
                condition: Condition::VersionIs(1),
            },
            WriteOp::Delete {
                pk: pk.clone(),
                sk: "delete".into(),
                condition: Condition::Exists,
            },
            WriteOp::Check {
                pk: pk.clone(),
                sk: "check".into(),
                condition: Condition::VersionIs(4),
            },
            WriteOp::Check {
                pk: pk.clone(),
                sk: "missing".into(),
                condition: Condition::Absent,
            },
        ])
        .await
        .expect("every condition holds");

    assert_eq!(get(table, &pk, "create").await, Some(created));
    assert_eq!(get(table, &pk, "update").await, Some(updated));
    assert_eq!(get(table, &pk, "delete").await, None);
    assert_eq!(
        get(table, &pk, "check").await,
        Some(versioned(&pk, "check", 4, "checked"))
    );
    assert_eq!(
        get(table, &pk, "missing").await,
        None,
        "a check writes nothing"
    );
}

pub async fn transaction_with_a_failing_condition_writes_nothing_and_names_it<T: Table>(table: &T) {
    let s = scope("tx-cancel");
    let pk = format!("t/{s}/media");
    let update_me = versioned(&pk, "update", 1, "old");
    let delete_me = versioned(&pk, "delete", 1, "kept");
    put_new(table, update_me.clone()).await;
    put_new(table, delete_me.clone()).await;

    let result = table
        .transact_write(vec![
            WriteOp::Put {
                item: Item::new(&pk, "create", json!("never")),
                condition: Condition::Absent,
            },
            WriteOp::Put {
                item: versioned(&pk, "update", 6, "never"),
                condition: Condition::VersionIs(5), // fails: the item is at version 1
            },
            WriteOp::Delete {
                pk: pk.clone(),
                sk: "delete".into(),
                condition: Condition::Exists,
            },
            WriteOp::Check {
                pk: pk.clone(),
                sk: "missing".into(),
                condition: Condition::Exists, // fails: there is no such item
            },
        ])
        .await;
    match result {
        Err(TableError::TransactionCancelled { failed }) => {
            assert_eq!(failed, [1, 3], "the indexes of the failed conditions")
        }
        other => panic!("expected TransactionCancelled, got {other:?}"),
    }
    assert_eq!(
        get(table, &pk, "create").await,
        None,
        "the put did not happen"
    );
    assert_eq!(
        get(table, &pk, "update").await,
        Some(update_me),
        "the update did not happen"
    );
    assert_eq!(
        get(table, &pk, "delete").await,
        Some(delete_me),
        "the delete did not happen"
    );
}

pub async fn transaction_of_the_maximum_size_succeeds<T: Table>(table: &T) {
    let s = scope("tx-max");
    let pk = format!("t/{s}/media");
    let ops = (0..MAX_TRANSACT_ITEMS).map(|i| WriteOp::Put {
        item: Item::new(&pk, format!("{i:03}"), json!(i)),
        condition: Condition::Absent,
    });
    table
        .transact_write(ops.collect())
        .await
        .expect("MAX_TRANSACT_ITEMS operations");
    let items = query_all(table, Query::partition(&pk).limit(MAX_PAGE_ITEMS)).await;
    assert_eq!(items.len(), MAX_TRANSACT_ITEMS);
}

pub async fn transaction_over_the_operation_limit_is_invalid<T: Table>(table: &T) {
    let s = scope("tx-limit");
    let pk = format!("t/{s}/media");
    let ops = (0..=MAX_TRANSACT_ITEMS).map(|i| WriteOp::Put {
        item: Item::new(&pk, format!("{i:03}"), json!(i)),
        condition: Condition::Always,
    });
    let result = table.transact_write(ops.collect()).await;
    assert!(
        matches!(result, Err(TableError::Invalid(_))),
        "{} ops: {result:?}",
        MAX_TRANSACT_ITEMS + 1
    );
    let written = query_all(table, Query::partition(&pk)).await;
    assert!(
        written.is_empty(),
        "nothing written: {} items",
        written.len()
    );
}

pub async fn transaction_touching_a_key_twice_is_invalid<T: Table>(table: &T) {
    let s = scope("tx-dup");
    let pk = format!("t/{s}/media");
    let put = |sk: &str| WriteOp::Put {
        item: Item::new(&pk, sk, json!("never")),
        condition: Condition::Always,
    };
    let twice = [
        vec![put("a"), put("b"), put("a")],
        vec![
            put("a"),
            WriteOp::Check {
                pk: pk.clone(),
                sk: "a".into(),
                condition: Condition::Absent,
            },
        ],
        vec![
            WriteOp::Delete {
                pk: pk.clone(),
                sk: "a".into(),
                condition: Condition::Always,
            },
            put("a"),
        ],
    ];
    for ops in twice {
        let shape = format!("{ops:?}");
        let result = table.transact_write(ops).await;
        assert!(
            matches!(result, Err(TableError::Invalid(_))),
            "{shape}: {result:?}"
        );
    }
    assert!(
        query_all(table, Query::partition(&pk)).await.is_empty(),
        "nothing written"
    );
}

// ---------------------------------------------------------------------------------------------
// Limits and validation
// ---------------------------------------------------------------------------------------------

pub async fn oversize_item_is_invalid<T: Table>(table: &T) {
    let s = scope("oversize");
    let pk = format!("t/{s}/media");
    let sized = |sk: &str, bytes: usize| Item::new(&pk, sk, json!({ "blob": "x".repeat(bytes) }));

    // Well inside and well outside the limit, so adapters may count overhead differently.
    let big = sized("big", MAX_ITEM_BYTES - 10 * 1024);
    table
        .put(big.clone(), Condition::Absent)
        .await
        .expect("an item under the limit");
    assert_eq!(get(table, &pk, "big").await, Some(big));

    let result = table
        .put(sized("huge", MAX_ITEM_BYTES + 1024), Condition::Always)
        .await;
    assert!(
        matches!(result, Err(TableError::Invalid(_))),
        "put over the limit: {result:?}"
    );
    assert_eq!(get(table, &pk, "huge").await, None);

    let result = table
        .transact_write(vec![
            WriteOp::Put {
                item: Item::new(&pk, "small", json!(1)),
                condition: Condition::Always,
            },
            WriteOp::Put {
                item: sized("huge", MAX_ITEM_BYTES + 1024),
                condition: Condition::Always,
            },
        ])
        .await;
    assert!(
        matches!(result, Err(TableError::Invalid(_))),
        "transaction over the limit: {result:?}"
    );
    assert_eq!(get(table, &pk, "small").await, None, "nothing written");
}

pub async fn empty_or_overlong_keys_are_invalid<T: Table>(table: &T) {
    let s = scope("keys");
    let pk = format!("t/{s}/media");
    // DynamoDB: key values are non-empty, partition keys at most 2048 bytes, sort keys 1024.
    let long_pk = format!("{pk}/{}", "p".repeat(2048 - pk.len() - 1));
    let long_sk = "s".repeat(1024);
    assert_eq!((long_pk.len(), long_sk.len()), (2048, 1024));

    let (too_long_pk, too_long_sk) = (format!("{long_pk}p"), format!("{long_sk}s"));
    for (item_pk, item_sk, why) in [
        ("", "a", "empty partition key"),
        (pk.as_str(), "", "empty sort key"),
        (too_long_pk.as_str(), "a", "2049-byte partition key"),
        (pk.as_str(), too_long_sk.as_str(), "1025-byte sort key"),
    ] {
        let result = table
            .put(Item::new(item_pk, item_sk, json!(null)), Condition::Always)
            .await;
        assert!(
            matches!(result, Err(TableError::Invalid(_))),
            "{why}: {result:?}"
        );
    }

    let longest = Item::new(&long_pk, &long_sk, json!("at the limits"));
    table
        .put(longest.clone(), Condition::Absent)
        .await
        .expect("keys at the limits");
    assert_eq!(get(table, &long_pk, &long_sk).await, Some(longest));
}

pub async fn garbage_cursor_is_refused<T: Table>(table: &T) {
    let s = scope("garbage-cursor");
    let pk = format!("t/{s}/media");
    put_new(table, Item::new(&pk, "a", json!(null))).await;

    let garbage = [
        "not a cursor!".to_owned(),
        "%%%".to_owned(),
        URL_SAFE_NO_PAD.encode("{}"),
        URL_SAFE_NO_PAD.encode("not json"),
        URL_SAFE_NO_PAD.encode(format!(r#"{{"pk":"{pk}","sk":"a"}}"#)),
        URL_SAFE_NO_PAD.encode([0xff, 0x00, 0x13, 0x37]),
    ];
    for cursor in garbage {
        let result = table
            .query(Query::partition(&pk).after(Some(cursor.clone())))
            .await;
        assert!(
            matches!(result, Err(TableError::BadCursor)),
            "cursor {cursor:?}: {result:?}"
        );
    }
}

pub async fn cursor_from_another_query_is_refused<T: Table>(table: &T) {
    let s = scope("foreign-cursor");
    let mine = format!("t/{s}/media");
    let theirs = format!("t/{s}/other");
    let index = format!("t/{s}/media-status/new");
    for pk in [&mine, &theirs] {
        for sk in ["a", "b", "c"] {
            put_new(table, Item::new(pk, sk, json!(null)).with_index(&index, sk)).await;
        }
    }
    let first = query_page(table, Query::partition(&mine).limit(1)).await;
    let cursor = first
        .next_cursor
        .expect("a cursor after the first of three");

    let next = query_page(
        table,
        Query::partition(&mine).limit(1).after(Some(cursor.clone())),
    )
    .await;
    assert_eq!(
        sort_keys_of(&next.items),
        ["b"],
        "the cursor works for its own query"
    );

    for (query, why) in [
        (Query::partition(&theirs), "another partition"),
        (Query::partition(&mine).descending(), "the other direction"),
        (Query::partition(&mine).on_index(Index::Gsi1), "the index"),
        (
            Query::partition(&index).on_index(Index::Gsi1),
            "an index partition",
        ),
    ] {
        let result = table
            .query(query.limit(1).after(Some(cursor.clone())))
            .await;
        assert!(
            matches!(result, Err(TableError::BadCursor)),
            "{why}: {result:?}"
        );
    }

    let on_index = query_page(
        table,
        Query::partition(&index).on_index(Index::Gsi1).limit(1),
    )
    .await;
    let index_cursor = on_index.next_cursor.expect("an index cursor");
    let result = table
        .query(Query::partition(&mine).after(Some(index_cursor)))
        .await;
    assert!(
        matches!(result, Err(TableError::BadCursor)),
        "index cursor on the table: {result:?}"
    );
}

pub async fn tenants_never_see_each_others_items<T: Table>(table: &T) {
    let s = scope("tenants");
    // Tenant ids where one is a prefix of the other, with the same item keys underneath.
    let tenants = [format!("{s}-a"), format!("{s}-ab")];
    for tenant in &tenants {
        for sk in ["01J1", "01J2", "tag/x"] {
            let item = Item::new(format!("t/{tenant}/media"), sk, json!({ "tenant": tenant }))
                .with_index(format!("t/{tenant}/media-status/new"), sk);
            put_new(table, item).await;
        }
    }

    for tenant in &tenants {
        for query in [
            Query::partition(format!("t/{tenant}/media")),
            Query::partition(format!("t/{tenant}/media"))
                .prefix("01J")
                .descending(),
            Query::partition(format!("t/{tenant}/media-status/new")).on_index(Index::Gsi1),
            Query::partition(format!("t/{tenant}/media-status/new"))
                .on_index(Index::Gsi1)
                .limit(1),
        ] {
            let items = query_all(table, query.clone()).await;
            assert!(!items.is_empty(), "{query:?} found nothing");
            assert!(
                items.iter().all(|i| i.data == json!({ "tenant": tenant })),
                "{query:?} returned another tenant's items: {items:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------------------------

pub async fn expiry_round_trips_through_put_get_and_queries<T: Table>(table: &T) {
    let s = scope("expiry-round-trip");
    let pk = format!("t/{s}/session");
    let index = format!("t/{s}/sessions-by-user");
    let expires_at = now() + 3600;
    let expiring = Item::new(&pk, "a", json!({"user": "u1"}))
        .with_index(&index, "u1#a")
        .with_expiry(expires_at);
    let lasting = Item::new(&pk, "b", json!({"user": "u1"})).with_index(&index, "u1#b");
    put_new(table, expiring.clone()).await;
    put_new(table, lasting.clone()).await;

    assert_eq!(get(table, &pk, "a").await, Some(expiring.clone()), "get");
    assert_eq!(get(table, &pk, "b").await, Some(lasting.clone()), "get");
    let expected = [expiring, lasting];
    assert_eq!(
        query_all(table, Query::partition(&pk)).await,
        expected,
        "query"
    );
    assert_eq!(
        query_all(table, Query::partition(&index).on_index(Index::Gsi1)).await,
        expected,
        "index query"
    );

    // An update may drop the expiry: the item then lasts.
    let mut kept = Item::new(&pk, "a", json!({"user": "u1"}));
    kept.version = 2;
    table
        .put(kept.clone(), Condition::VersionIs(1))
        .await
        .expect("drop the expiry");
    assert_eq!(get(table, &pk, "a").await, Some(kept));
}

pub async fn expired_items_are_invisible_to_get_and_queries<T: Table>(table: &T) {
    let s = scope("expired-hidden");
    let pk = format!("t/{s}/session");
    let index = format!("t/{s}/sessions-by-user");
    let live = Item::new(&pk, "live", json!("live"))
        .with_index(&index, "u1#live")
        .with_expiry(now() + 3600);
    put_new(
        table,
        expired(&pk, "dead", "dead").with_index(&index, "u1#dead"),
    )
    .await;
    put_new(table, live.clone()).await;

    assert_eq!(
        get(table, &pk, "dead").await,
        None,
        "get of an expired item"
    );
    assert_eq!(get(table, &pk, "live").await, Some(live.clone()));
    let only_live = vec![live];
    for (query, why) in [
        (Query::partition(&pk), "primary"),
        (Query::partition(&pk).descending(), "primary, descending"),
        (Query::partition(&index).on_index(Index::Gsi1), "index"),
        (
            Query::partition(&index).on_index(Index::Gsi1).descending(),
            "index, descending",
        ),
        (
            Query::partition(&index).on_index(Index::Gsi1).limit(1),
            "index, limit 1",
        ),
    ] {
        assert_eq!(query_all(table, query).await, only_live, "{why}");
    }
    let dead_prefix = query_all(table, Query::partition(&pk).prefix("d")).await;
    assert!(
        dead_prefix.is_empty(),
        "only the expired item matches: {dead_prefix:?}"
    );
}

pub async fn absent_holds_over_an_expired_item<T: Table>(table: &T) {
    let s = scope("expired-absent");
    let pk = format!("t/{s}/invite");
    put_new(
        table,
        expired(&pk, "a", "old").with_index(format!("t/{s}/g"), "a"),
    )
    .await;

    // The put replaces the expired item whole: no expiry, no index keys left behind.
    let fresh = Item::new(&pk, "a", json!("fresh"));
    table
        .put(fresh.clone(), Condition::Absent)
        .await
        .expect("Absent holds over an expired item");
    assert_eq!(get(table, &pk, "a").await, Some(fresh));
    assert!(
        query_all(
            table,
            Query::partition(format!("t/{s}/g")).on_index(Index::Gsi1)
        )
        .await
        .is_empty(),
        "the old index entry went with the old item"
    );

    put_new(table, expired(&pk, "b", "old")).await;
    table
        .delete(&pk, "b", Condition::Absent)
        .await
        .expect("a delete guarded by Absent holds over an expired item");
    assert_eq!(get(table, &pk, "b").await, None);
}

pub async fn conditions_needing_an_item_fail_on_an_expired_one<T: Table>(table: &T) {
    let s = scope("expired-present");
    let pk = format!("t/{s}/invite");
    let mut old = expired(&pk, "a", "old");
    old.version = 3;
    put_new(table, old).await;

    for condition in [Condition::Exists, Condition::VersionIs(3)] {
        let mut update = Item::new(&pk, "a", json!("updated")).with_expiry(now() + 3600);
        update.version = 4;
        let result = table.put(update, condition).await;
        expect_condition_failed(result, &pk, "a", &format!("put with {condition:?}"));
        let result = table.delete(&pk, "a", condition).await;
        expect_condition_failed(result, &pk, "a", &format!("delete with {condition:?}"));
    }
    assert_eq!(get(table, &pk, "a").await, None, "still gone");

    // An expired item never counts as present, not even to a put that overwrites it.
    table
        .put(versioned(&pk, "a", 1, "new"), Condition::Absent)
        .await
        .expect("the refused writes left the key free");
    assert_eq!(
        get(table, &pk, "a").await,
        Some(versioned(&pk, "a", 1, "new"))
    );
}

pub async fn transaction_treats_expired_items_as_absent<T: Table>(table: &T) {
    let s = scope("expired-tx");
    let pk = format!("t/{s}/invite");
    for sk in [
        "put-exists",
        "put-version",
        "delete",
        "check",
        "create",
        "check-absent",
    ] {
        let mut item = expired(&pk, sk, "old");
        item.version = 2;
        put_new(table, item).await;
    }
    let live = versioned(&pk, "live", 1, "live");
    put_new(table, live.clone()).await;

    let result = table
        .transact_write(vec![
            WriteOp::Put {
                item: versioned(&pk, "put-exists", 3, "never"),
                condition: Condition::Exists,
            },
            WriteOp::Put {
                item: versioned(&pk, "put-version", 3, "never"),
                condition: Condition::VersionIs(2),
            },
            WriteOp::Delete {
                pk: pk.clone(),
                sk: "delete".into(),
                condition: Condition::VersionIs(2),
            },
            WriteOp::Check {
                pk: pk.clone(),
                sk: "check".into(),
                condition: Condition::Exists,
            },
            WriteOp::Put {
                item: versioned(&pk, "live", 2, "never"),
                condition: Condition::VersionIs(1),
            },
        ])
        .await;
    match result {
        Err(TableError::TransactionCancelled { failed }) => assert_eq!(
            failed,
            [0, 1, 2, 3],
            "every condition on an expired item fails, the live one holds"
        ),
        other => panic!("expected TransactionCancelled, got {other:?}"),
    }
    assert_eq!(get(table, &pk, "live").await, Some(live), "nothing written");

    let created = versioned(&pk, "create", 1, "created");
    table
        .transact_write(vec![
            WriteOp::Put {
                item: created.clone(),
                condition: Condition::Absent,
            },
            WriteOp::Check {
                pk: pk.clone(),
                sk: "check-absent".into(),
                condition: Condition::Absent,
            },
        ])
        .await
        .expect("Absent holds over expired items in a transaction");
    assert_eq!(get(table, &pk, "create").await, Some(created));
    assert_eq!(
        get(table, &pk, "check-absent").await,
        None,
        "a check writes nothing"
    );
}

pub async fn pagination_skips_expired_items_between_live_ones<T: Table>(table: &T) {
    let s = scope("expired-pages");
    let pk = format!("t/{s}/session");
    let index = format!("t/{s}/sessions-by-user");
    // Runs of expired items of every length up to a few pages (limit 3), between live ones,
    // at both ends too, so some whole pages hold nothing live.
    let pattern = "xlxxlxxxlxxxxxxxllxlxxxxxxxxxxlllx";
    let mut live = Vec::new();
    for (n, kind) in pattern.chars().enumerate() {
        let sk = format!("s/{n:03}");
        let item = if kind == 'l' {
            live.push(sk.clone());
            Item::new(&pk, &sk, json!(n)).with_expiry(now() + 3600)
        } else {
            expired(&pk, &sk, "expired")
        };
        put_new(table, item.with_index(&index, format!("u1#{sk}"))).await;
    }

    for (base, why) in [
        (Query::partition(&pk).prefix("s/"), "primary"),
        (Query::partition(&index).on_index(Index::Gsi1), "index"),
    ] {
        for limit in [1, 2, 3, 5] {
            let ascending = query_all(table, base.clone().limit(limit)).await;
            assert_eq!(sort_keys_of(&ascending), live, "{why}, limit {limit}");
            let descending = query_all(table, base.clone().limit(limit).descending()).await;
            let mut reversed = live.clone();
            reversed.reverse();
            assert_eq!(
                sort_keys_of(&descending),
                reversed,
                "{why}, limit {limit}, descending"
            );
        }
    }
}

pub async fn keys_only_query_returns_every_field_but_the_data<T: Table>(table: &T) {
    let s = scope("keys-only");
    let pk = format!("t/{s}/days");
    let index = format!("t/{s}/days-by-month");
    let mut items = Vec::new();
    for (i, sk) in [
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
        "2026-11-04",
        "2026-11-05",
    ]
    .into_iter()
    .enumerate()
    {
        let mut item = Item::new(&pk, sk, json!({"views": i, "pad": "x".repeat(2000)}))
            .with_index(&index, format!("2026-11#{i}"));
        if i % 2 == 0 {
            item = item.with_expiry(now() + 3600);
        }
        put_new(table, item.clone()).await;
        items.push(item);
    }
    // A later version, and an expired item, which a keys-only query skips like any other.
    let mut updated = items[1].clone();
    updated.version = 2;
    updated.data = json!({"views": 100});
    table
        .put(updated.clone(), Condition::VersionIs(1))
        .await
        .expect("update");
    items[1] = updated;
    put_new(
        table,
        Item::new(&pk, "2026-11-00", json!({})).with_expiry(now() - 10),
    )
    .await;

    let without_data: Vec<Item> = items
        .iter()
        .map(|item| Item {
            data: serde_json::Value::Null,
            ..item.clone()
        })
        .collect();
    for limit in [2, 100] {
        let keys = query_all(table, Query::partition(&pk).limit(limit).keys_only()).await;
        assert_eq!(keys, without_data, "keys-only query, pages of {limit}");
        let mut by_index = query_all(
            table,
            Query::partition(&index)
                .on_index(Index::Gsi1)
                .limit(limit)
                .keys_only(),
        )
        .await;
        by_index.sort_by(|a, b| a.sk.cmp(&b.sk));
        assert_eq!(
            by_index, without_data,
            "keys-only index query, pages of {limit}"
        );
    }
    // The full query still has the data.
    assert_eq!(query_all(table, Query::partition(&pk)).await, items);
}

pub async fn get_many_answers_each_key_in_order_like_get<T: Table>(table: &T) {
    let s = scope("get-many");
    let pk = |i: usize| format!("t/{s}/media/{}", i % 7);
    let sk = |i: usize| format!("2026-11-{:03}", i);
    // 450 keys, five DynamoDB requests (more than the adapter sends at once): every third item
    // written, every fifth of those expired; the rest absent.
    let mut keys = Vec::new();
    for i in 0..450 {
        keys.push((pk(i), sk(i)));
        if i % 3 == 0 {
            let item = if i % 5 == 0 {
                expired(&pk(i), &sk(i), "gone")
            } else {
                versioned(&pk(i), &sk(i), i as u64 + 1, &"x".repeat(i * 10))
            };
            put_new(table, item).await;
        }
    }
    // A key asked for twice, and the answers in the keys' order, not the table's.
    keys.push(keys[3].clone());
    keys.reverse();
    let many = table.get_many(&keys).await.expect("get_many");
    assert_eq!(many.len(), keys.len(), "one answer per key");
    for ((pk, sk), got) in keys.iter().zip(&many) {
        assert_eq!(got, &get(table, pk, sk).await, "get_many of {pk} / {sk}");
    }
    let found = many.iter().flatten().count();
    assert_eq!(found, 121, "live items found (the duplicate twice)");
    assert!(
        table.get_many(&[]).await.expect("no keys").is_empty(),
        "no keys, no answers"
    );
    let err = table
        .get_many(&[(pk(1), String::new())])
        .await
        .expect_err("an empty sort key");
    assert!(
        matches!(err, TableError::Invalid(_)),
        "an empty key is invalid, got {err:?}"
    );
}

/// DynamoDB answers a `BatchGetItem` with at most 16 MB and leaves the other keys unprocessed:
/// the adapter asks again until every key is answered.
pub async fn get_many_reads_more_than_one_response_holds<T: Table>(table: &T) {
    let s = scope("get-many-16mb");
    let pk = format!("t/{s}/big");
    // 48 items just under the item limit: ~18.7 MB, more than one response's 16 MB.
    let mut keys = Vec::new();
    for i in 0..48 {
        let sk = format!("{i:02}");
        let mut item = Item::new(&pk, &sk, json!(format!("{i:02}{}", "x".repeat(380 * 1024))));
        item.version = 7;
        put_new(table, item).await;
        keys.push((pk.clone(), sk));
    }
    let many = table.get_many(&keys).await.expect("get_many");
    assert_eq!(many.len(), keys.len(), "one answer per key");
    for ((_, sk), got) in keys.iter().zip(&many) {
        let got = got
            .as_ref()
            .unwrap_or_else(|| panic!("item {sk} not answered"));
        assert_eq!(&got.sk, sk, "answers in the keys' order");
        assert_eq!(got.version, 7);
        assert!(
            got.data
                .as_str()
                .is_some_and(|d| d.starts_with(sk.as_str()) && d.len() == sk.len() + 380 * 1024),
            "item {sk} read whole"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Now, in Unix seconds.
fn now() -> i64 {
    mvidarr_core::ports::table::unix_now()
}

/// An item that expired 10 s ago.
fn expired(pk: &str, sk: &str, data: &str) -> Item {
    Item::new(pk, sk, json!(data)).with_expiry(now() - 10)
}

/// A key segment unique to this call, so checks never collide, even on a shared table that
/// outlives one test run.
fn scope(check: &str) -> String {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    format!("conf-{check}-{:x}-{nanos:x}-{call}", std::process::id())
}

fn versioned(pk: &str, sk: &str, version: u64, data: &str) -> Item {
    let mut item = Item::new(pk, sk, json!(data));
    item.version = version;
    item
}

async fn put_new<T: Table>(table: &T, item: Item) {
    let key = format!("{} / {}", item.pk, item.sk);
    table
        .put(item, Condition::Absent)
        .await
        .unwrap_or_else(|e| panic!("setup put of {key}: {e}"));
}

async fn get<T: Table>(table: &T, pk: &str, sk: &str) -> Option<Item> {
    table
        .get(pk, sk)
        .await
        .unwrap_or_else(|e| panic!("get {pk} / {sk}: {e}"))
}

async fn query_page<T: Table>(table: &T, query: Query) -> Page {
    let shape = format!("{query:?}");
    table
        .query(query)
        .await
        .unwrap_or_else(|e| panic!("query {shape}: {e}"))
}

/// Every page of `query`, concatenated. Checks that each page respects the limit and that only
/// the last page may be empty (DynamoDB may hand out a cursor after an exactly-full page).
async fn query_all<T: Table>(table: &T, query: Query) -> Vec<Item> {
    let limit = query.limit.clamp(1, MAX_PAGE_ITEMS);
    let mut items: Vec<Item> = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let page = query_page(table, query.clone().after(cursor)).await;
        assert!(
            page.items.len() <= limit,
            "a page of {} items, limit {limit}",
            page.items.len()
        );
        if page.items.is_empty() {
            assert!(
                page.next_cursor.is_none(),
                "an empty page with a cursor: {query:?}"
            );
        }
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
    panic!("{query:?}: the pages never end");
}

fn sort_keys_of(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.sk.as_str()).collect()
}

fn expect_condition_failed(result: Result<(), TableError>, pk: &str, sk: &str, why: &str) {
    match result {
        Err(TableError::ConditionFailed {
            pk: got_pk,
            sk: got_sk,
        }) => {
            assert_eq!(
                (got_pk.as_str(), got_sk.as_str()),
                (pk, sk),
                "{why}: the failed key"
            )
        }
        other => panic!("{why}: expected ConditionFailed, got {other:?}"),
    }
}
