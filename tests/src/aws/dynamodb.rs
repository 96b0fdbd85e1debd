//! DynamoDB on moto: clients and fresh tables of the single-table schema.

use aws_sdk_dynamodb::Client;
use mvidarr_store_aws::dynamodb::{DynamoTable, create_table};

use super::Moto;
use super::moto::unique_name;

/// A DynamoDB client for `moto`, with the adapters' retry and timeout policy.
pub async fn dynamo_client(moto: &Moto) -> Client {
    Client::new(&moto.sdk_config().await)
}

/// A new, empty table of the single-table schema under a name no other test uses, ACTIVE.
pub async fn new_table(moto: &Moto) -> DynamoTable {
    let client = dynamo_client(moto).await;
    new_table_with(client).await
}

/// As [`new_table`], with a client of one's own (another timeout or retry policy).
pub async fn new_table_with(client: Client) -> DynamoTable {
    let name = unique_name("mvidarr-table");
    create_table(&client, &name)
        .await
        .unwrap_or_else(|e| panic!("create DynamoDB table {name}: {e}"));
    DynamoTable::new(client, name)
}
