//! The table conformance suite on [`DynamoTable`] against `moto_server` (one server for the
//! binary, a fresh table for every check), and what only the AWS adapter has to show: races
//! decided by DynamoDB, the schema it creates, how it stores items, and its failures.
//!
//! Where moto differs from DynamoDB:
//! - moto reads are always consistent, so the suite's index checks (write, then query the GSI)
//!   pass here, while a real GSI is eventually consistent and may lag a write.
//! - moto never cancels a transaction for `TransactionConflict` or throttling, and never
//!   throttles; their mapping to `Transient` is unit-tested in `store-aws` on the documented
//!   cancellation reasons instead.
//! - moto ignores `ClientRequestToken`, so the idempotence of a retried transaction is not
//!   checked here.
//! - moto has no 4 MB limit on a whole transaction; DynamoDB's `ValidationException` for it
//!   maps to `Invalid` (the port does not declare that limit).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, KeyType, ProjectionType, ScalarAttributeType, TimeToLiveStatus,
};
use mvidarr_core::ports::{Condition, Item, Query, Table, TableError, WriteOp};
use mvidarr_store_aws::dynamodb::{
    DATA, DynamoTable, EXPIRES_AT, GSI1_NAME, GSI1_PK, GSI1_SK, TABLE_PK, TABLE_SK, VERSION,
    create_table,
};
use mvidarr_tests::aws::Moto;
use mvidarr_tests::aws::dynamodb::{dynamo_client, new_table};
use mvidarr_tests::aws::moto::{unique_name, unreachable_sdk_config};
use mvidarr_tests::conformance::table::Fixture;
use serde_json::json;

async fn make_dynamo_table() -> Fixture<DynamoTable, &'static Moto> {
    let moto = Moto::shared();
    Fixture::new(new_table(moto).await, moto)
}

mvidarr_tests::table_conformance!(make_dynamo_table());

#[tokio::test]
async fn concurrent_creates_of_one_key_have_exactly_one_winner() {
    // The adapter sends `attribute_not_exists(pk)` with the write itself, so DynamoDB decides
    // the race atomically. moto serves the two requests on two threads and checks the condition
    // and writes under Python's GIL without a lock of its own, so on moto this shows that the
    // condition travels with the write and that the loser is mapped to `ConditionFailed`; the
    // atomicity itself is DynamoDB's guarantee. Many rounds, so the requests overlap in some.
    let table = new_table(Moto::shared()).await;
    for round in 0..25 {
        let pk = format!("t/race/{round}");
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|writer| {
                let table = table.clone();
                let item = Item::new(&pk, "m", json!(writer));
                tokio::spawn(async move { table.put(item, Condition::Absent).await })
            })
            .collect();
        let mut won = 0;
        for writer in writers {
            match writer.await.expect("writer task") {
                Ok(()) => won += 1,
                Err(TableError::ConditionFailed { pk: got, sk }) => {
                    assert_eq!((got.as_str(), sk.as_str()), (pk.as_str(), "m"));
                }
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        assert_eq!(won, 1, "round {round}: exactly one create wins");
    }
}

#[tokio::test]
async fn create_table_makes_the_single_table_schema() {
    let moto = Moto::shared();
    let client = dynamo_client(moto).await;
    let name = unique_name("mvidarr-schema");
    create_table(&client, &name).await.expect("create");

    let described = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe");
    let table = described.table().expect("a description");
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(
        keys,
        [(TABLE_PK, &KeyType::Hash), (TABLE_SK, &KeyType::Range)]
    );
    let mut attributes: Vec<(&str, &ScalarAttributeType)> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type()))
        .collect();
    attributes.sort_by_key(|(name, _)| *name);
    let s = &ScalarAttributeType::S;
    assert_eq!(
        attributes,
        [(GSI1_PK, s), (GSI1_SK, s), (TABLE_PK, s), (TABLE_SK, s)]
    );
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let [gsi1] = table.global_secondary_indexes() else {
        panic!("one index: {:?}", table.global_secondary_indexes());
    };
    assert_eq!(gsi1.index_name(), Some(GSI1_NAME));
    let index_keys: Vec<(&str, &KeyType)> = gsi1
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(
        index_keys,
        [(GSI1_PK, &KeyType::Hash), (GSI1_SK, &KeyType::Range)]
    );
    assert_eq!(
        gsi1.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::All)
    );

    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .expect("describe TTL");
    let ttl = ttl.time_to_live_description().expect("a TTL description");
    assert_eq!(ttl.attribute_name(), Some(EXPIRES_AT), "{ttl:?}");
    assert!(
        matches!(
            ttl.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ),
        "{ttl:?}"
    );

    let again = create_table(&client, &name).await;
    assert!(
        matches!(&again, Err(TableError::Invalid(m)) if m.contains(&name)),
        "creating it twice: {again:?}"
    );
}

#[tokio::test]
async fn items_are_stored_as_json_text_and_numbers_round_trip_exactly() {
    // Numbers a native DynamoDB map would refuse (out of range) or change (`1.0` read back as
    // `1`). Only floats known to parse back exactly are used: without its `float_roundtrip`
    // feature, which the workspace does not enable, `serde_json` reads some floats of 16-17
    // significant digits one ULP off. That is every JSON reader here, not this adapter's
    // storage: the text stored is exact (checked below).
    let table = new_table(Moto::shared()).await;
    let data = json!({
        "float_one": 1.0,
        "int_one": 1,
        "u64_max": u64::MAX,
        "i64_min": i64::MIN,
        "beyond_dynamodb_numbers": [1e300, -1.7976931348623157e308, 5e-324],
        "tenth": 0.1,
        "digits": 0.30000000000000004,
    });
    let mut item = Item::new("t/json/media", "m", data.clone());
    item.version = u64::MAX;
    table
        .put(item.clone(), Condition::Absent)
        .await
        .expect("put");
    assert_eq!(
        table.get("t/json/media", "m").await.expect("get"),
        Some(item)
    );

    let raw = table
        .client()
        .get_item()
        .table_name(table.table_name())
        .key(TABLE_PK, AttributeValue::S("t/json/media".into()))
        .key(TABLE_SK, AttributeValue::S("m".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("raw get");
    let raw = raw.item().expect("the item");
    assert_eq!(
        raw.get(VERSION),
        Some(&AttributeValue::N(u64::MAX.to_string()))
    );
    let Some(AttributeValue::S(text)) = raw.get(DATA) else {
        panic!("data is a string: {raw:?}");
    };
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(text).ok(),
        Some(data)
    );
    assert!(
        !raw.contains_key(GSI1_PK) && !raw.contains_key(GSI1_SK) && !raw.contains_key(EXPIRES_AT),
        "no index keys and no TTL attribute on an unindexed, lasting item: {raw:?}"
    );
}

#[tokio::test]
async fn an_expiry_is_stored_in_the_ttl_attribute_as_a_number() {
    // DynamoDB's TTL only deletes items whose TTL attribute is a Number of epoch seconds.
    let table = new_table(Moto::shared()).await;
    let item = Item::new("t/ttl/session", "s", json!(null)).with_expiry(1_900_000_000);
    table.put(item, Condition::Absent).await.expect("put");
    let raw = table
        .client()
        .get_item()
        .table_name(table.table_name())
        .key(TABLE_PK, AttributeValue::S("t/ttl/session".into()))
        .key(TABLE_SK, AttributeValue::S("s".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("raw get");
    assert_eq!(
        raw.item().and_then(|i| i.get(EXPIRES_AT)),
        Some(&AttributeValue::N("1900000000".to_owned()))
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_transient() {
    let table = DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&unreachable_sdk_config().await),
        "unreachable",
    );
    let started = Instant::now();
    let item = || Item::new("t/x/media", "a", json!(1));
    let results = [
        ("get", table.get("t/x/media", "a").await.map(drop)),
        ("put", table.put(item(), Condition::Absent).await),
        (
            "delete",
            table.delete("t/x/media", "a", Condition::Always).await,
        ),
        (
            "query",
            table.query(Query::partition("t/x/media")).await.map(drop),
        ),
        (
            "transact_write",
            table
                .transact_write(vec![WriteOp::Put {
                    item: item(),
                    condition: Condition::Always,
                }])
                .await,
        ),
    ];
    for (call, result) in results {
        assert!(
            matches!(&result, Err(TableError::Transient(m)) if m.contains("unreachable")),
            "{call}: {result:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "fails fast: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_missing_table_is_an_error_naming_it() {
    let client = dynamo_client(Moto::shared()).await;
    let name = unique_name("mvidarr-missing");
    let table = DynamoTable::new(client, &name);
    let item = || Item::new("t/x/media", "a", json!(1));
    let results = [
        ("get", table.get("t/x/media", "a").await.map(drop)),
        ("put", table.put(item(), Condition::Always).await),
        (
            "delete",
            table.delete("t/x/media", "a", Condition::Exists).await,
        ),
        (
            "query",
            table.query(Query::partition("t/x/media")).await.map(drop),
        ),
        (
            "transact_write",
            table
                .transact_write(vec![WriteOp::Put {
                    item: item(),
                    condition: Condition::Always,
                }])
                .await,
        ),
    ];
    for (call, result) in results {
        match &result {
            Err(TableError::Backend(m) | TableError::Invalid(m)) if m.contains(&name) => {}
            other => panic!("{call}: expected an error naming {name}, got {other:?}"),
        }
    }
}
