//! Recommendations end to end on the real binary: MovieLens imported beside a running server,
//! `mvidarr train`, then every list through the API by the dataset's own ids.

use std::path::Path;
use std::time::Instant;

use mvidarr_reco::datasets::shared_datasets_dir;
use mvidarr_tests::reco::titles;
use mvidarr_tests::server::{Server, ServerOptions, cli_stdout};

const BIN: &str = env!("CARGO_BIN_EXE_mvidarr");

fn succeeds(data: &Path, args: &[&str]) -> String {
    cli_stdout(BIN.as_ref(), data, args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movielens_imported_trained_and_served_by_dataset_ids() {
    let Some(movielens) = shared_datasets_dir().map(|d| d.join("ml-100k")) else {
        eprintln!("skipped: ../shared/datasets is absent");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let options = ServerOptions {
        env: vec![("MVIDARR_MODEL_REFRESH_SECONDS".into(), "0".into())],
    };
    let server = Server::start(BIN.as_ref(), &data, &options).unwrap();
    let client = server.client();

    succeeds(&data, &["import", "movielens", movielens.to_str().unwrap()]);
    let started = Instant::now();
    let printed = succeeds(&data, &["train"]);
    eprintln!("{printed}train: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        printed.contains("1682 media, 943 profiles, 100000 events (0 ignored)"),
        "{printed}"
    );

    // MovieLens user 1 rated 272 films; none of them comes back.
    let (status, body) = client
        .get("/v1/recommendations?user=ext:1&kind=personal&limit=20")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 20, "{body}");
    let rated = ["Toy Story (1995)", "GoldenEye (1995)", "Star Wars (1977)"];
    assert!(
        titles(&body).iter().all(|t| !rated.contains(&t.as_str())),
        "{body}"
    );
    assert!(
        body["items"][0]["explain"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );

    for kind in ["collab", "content", "trending"] {
        let (status, body) = client
            .get(&format!(
                "/v1/recommendations?user=ext:1&kind={kind}&limit=10"
            ))
            .await
            .unwrap();
        assert_eq!(status, 200, "{kind}: {body}");
        assert_eq!(body["kind"], kind);
    }
    // Star Wars' neighbours by co-rating and genre.
    let (status, body) = client
        .get("/v1/media/ext:50/similar?limit=10")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let similar = titles(&body);
    assert_eq!(similar.len(), 10);
    assert!(
        similar
            .iter()
            .any(|t| t.starts_with("Return of the Jedi") || t.starts_with("Empire Strikes Back")),
        "{similar:?}"
    );
    assert!(server.terminate().unwrap(), "the server stopped uncleanly");
}
