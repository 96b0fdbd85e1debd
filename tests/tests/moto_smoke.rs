//! The moto harness itself: the server starts, the SDK reaches it, and it stops on drop.

use mvidarr_tests::aws::Moto;
use mvidarr_tests::aws::moto::unique_name;

#[tokio::test]
async fn sdk_clients_reach_a_moto_server_and_it_stops_on_drop() {
    let moto = Moto::start().expect("start moto");
    let config = moto.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique_name("smoke");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let listed = s3.list_buckets().send().await.expect("list buckets");
    assert!(
        listed
            .buckets()
            .iter()
            .any(|b| b.name() == Some(bucket.as_str()))
    );

    let endpoint = moto.endpoint.clone();
    drop(moto);
    let address = endpoint.trim_start_matches("http://");
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "moto still listening on {address} after drop"
    );
}
