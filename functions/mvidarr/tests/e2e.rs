//! End to end: the real `mvidarr serve` binary on a free port with a fresh data directory,
//! driven over HTTP exactly as a client would.

use std::path::Path;
use std::time::Duration;

use mvidarr_tests::fixtures::{self, fake_ffmpeg, good_specs, random_bytes};
use mvidarr_tests::server::{Server, ServerOptions};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mvidarr");
const FINAL: Duration = Duration::from_secs(60);

fn start(data: &Path, env: &[(&str, String)]) -> Server {
    let options = ServerOptions {
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    };
    Server::start(Path::new(BIN), data, &options).unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_videos_are_indexed_with_their_probe_and_bad_inputs_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let limit = 2_000_000u64;
    let server = start(
        &tmp.path().join("data"),
        &[("MVIDARR_MAX_UPLOAD_BYTES", limit.to_string())],
    );
    let api = server.client();

    // Three real videos of different codecs and containers.
    let mut good = Vec::new();
    for (name, spec) in good_specs() {
        let path = fixtures::make(tmp.path(), name, &spec).await;
        let id = api
            .upload(name, std::fs::read(&path).unwrap())
            .await
            .unwrap();
        good.push((id, spec));
    }

    // Bad inputs that reach the store and must be quarantined, each with its reason.
    let real_mp4 =
        std::fs::read(fixtures::make(tmp.path(), "whole.mp4", &good_specs()[0].1).await).unwrap();
    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.mp4", vec![], "empty file"),
        (
            "noise.mp4",
            random_bytes(100_000, 7),
            "not a video container",
        ),
        (
            "truncated.mp4",
            real_mp4[..real_mp4.len() / 2].to_vec(),
            "ffmpeg cannot read",
        ),
        (
            "notes.mp4",
            b"just some notes, not a video\n".repeat(50),
            "not a video container",
        ),
    ];
    let mut quarantined = Vec::new();
    for (name, bytes, why) in bad {
        quarantined.push((api.upload(name, bytes).await.unwrap(), why));
    }

    for (id, spec) in &good {
        let m = api.wait_final(id, FINAL).await.unwrap();
        assert_eq!(m["status"], "indexed", "{m}");
        let probe = &m["probe"];
        assert_eq!(probe["video"][0]["width"], spec.width, "{m}");
        assert_eq!(probe["video"][0]["height"], spec.height, "{m}");
        assert_eq!(
            probe["video"][0]["codec"],
            spec.video_codec.ffmpeg_name(),
            "{m}"
        );
        let duration = probe["duration_seconds"].as_f64().unwrap();
        assert!((duration - spec.duration).abs() < 0.1, "{m}");
        let audio = spec.audio.unwrap();
        assert_eq!(probe["audio"][0]["sample_rate"], audio.sample_rate, "{m}");
        assert_eq!(probe["audio"][0]["channels"], audio.channels, "{m}");
        let (status, analysis) = api.get(&format!("/v1/media/{id}/analysis")).await.unwrap();
        assert_eq!(status, 200);
        // Every analyzer's document, each once, none failed.
        let kinds: Vec<&str> = analysis["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "audio",
                "fingerprint",
                "moderation",
                "probe",
                "quality",
                "scenes",
                "text",
                "thumbnails"
            ],
            "{analysis}"
        );
        assert!(
            analysis["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a.get("error").is_none()),
            "{analysis}"
        );
        let document = |kind: &str| {
            analysis["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["kind"] == kind)
                .map(|a| a["result"].clone())
                .unwrap()
        };
        let scenes = document("scenes");
        assert_eq!(scenes["shots"].as_array().unwrap().len(), 1, "{scenes}");
        let quality = document("quality");
        assert_eq!(document("moderation")["verdict"], "safe", "{analysis}");
        assert!(quality["score"].as_u64().unwrap() <= 100, "{quality}");
        // Thumbnails: listed best first, each size downloadable as a JPEG of that width.
        let (status, thumbs) = api
            .get(&format!("/v1/media/{id}/thumbnails"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{thumbs}");
        let items = thumbs["items"].as_array().unwrap();
        assert!(!items.is_empty(), "{thumbs}");
        let image = &items[0]["images"][0];
        let response = api
            .http
            .get(image["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        let jpeg = response.bytes().await.unwrap();
        let decoded = image::load_from_memory(&jpeg).unwrap();
        assert_eq!(u64::from(decoded.width()), image["width"].as_u64().unwrap());
        let widths: Vec<u64> = items[0]["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["width"].as_u64().unwrap())
            .collect();
        assert!(
            widths.windows(2).all(|w| w[0] > w[1]),
            "largest first, no repeats: {thumbs}"
        );
    }
    // The three are one picture (`testsrc2`) at other sizes, rates and codecs: each finds the
    // other two as the same video, and nothing else (the quarantined files have no analysis).
    for (id, _) in &good {
        let (status, found) = api
            .get(&format!("/v1/media/{id}/duplicates"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{found}");
        let mut others: Vec<&str> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["media_id"].as_str().unwrap())
            .collect();
        others.sort_unstable();
        let mut expected: Vec<&str> = good
            .iter()
            .map(|(other, _)| other.as_str())
            .filter(|other| *other != id.as_str())
            .collect();
        expected.sort_unstable();
        assert_eq!(others, expected, "{found}");
        for item in found["items"].as_array().unwrap() {
            assert_eq!(item["relation"], "same", "{found}");
            assert!(item["score"].as_f64().unwrap() >= 0.8, "{found}");
        }
    }
    // The tag step saw the same: whichever of the three was tagged last found the other two
    // analysed before it, so at least one carries `duplicate`, naming another of them.
    let mut tagged = 0;
    for (id, _) in &good {
        let (status, tags) = api.get(&format!("/v1/media/{id}/tags")).await.unwrap();
        assert_eq!(status, 200, "{tags}");
        if let Some(tag) = tags["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "duplicate")
        {
            let of = tag["evidence"]["of"].as_str().unwrap();
            assert!(
                of != id && good.iter().any(|(other, _)| other == of),
                "{tag}"
            );
            assert!(tag["confidence"].as_f64().unwrap() >= 0.8, "{tag}");
            tagged += 1;
        }
    }
    assert!(tagged >= 1, "no re-upload was tagged a duplicate");
    let (id, _) = &good[0];
    let (status, problem) = api
        .get(&format!("/v1/media/{id}/duplicates?min_score=2"))
        .await
        .unwrap();
    assert_eq!(status, 400, "{problem}");
    // A quarantined file was never analysed: it has no fingerprint to compare.
    let (id, _) = &quarantined[0];
    let (status, problem) = api
        .get(&format!("/v1/media/{id}/duplicates"))
        .await
        .unwrap();
    assert_eq!(status, 404, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no fingerprint"),
        "{problem}"
    );
    for (id, why) in &quarantined {
        let m = api.wait_final(id, FINAL).await.unwrap();
        assert_eq!(m["status"], "quarantined", "{m}");
        assert!(
            m["reason"].as_str().unwrap().contains(why),
            "expected {why:?} in {m}"
        );
        // Never deleted: the bytes are kept under the quarantine prefix.
        let kept = std::fs::read_dir(server.data.join("blobs/t"))
            .unwrap()
            .flatten()
            .any(|t| t.path().join("quarantine").join(id).exists());
        assert!(kept, "quarantined object {id} is missing");
    }

    // Listing by status, with pagination.
    let (status, page) = api.get("/v1/media?status=indexed&limit=2").await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, rest) = api
        .get(&format!("/v1/media?status=indexed&limit=2&cursor={cursor}"))
        .await
        .unwrap();
    let all: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .collect();
    assert_eq!(all.len(), 3);
    let (_, q) = api
        .get("/v1/media?status=quarantined&limit=100")
        .await
        .unwrap();
    assert_eq!(q["items"].as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_what_it_must_with_problem_json() {
    let tmp = tempfile::tempdir().unwrap();
    let limit = 1_000_000u64;
    let server = start(
        &tmp.path().join("data"),
        &[("MVIDARR_MAX_UPLOAD_BYTES", limit.to_string())],
    );
    let api = server.client();
    let http = reqwest::Client::new();

    // No key, a wrong key → 401 with problem+json.
    let r = http
        .get(format!("{}/v1/media", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let (status, _) = api
        .with_key("mvk_01ARZ3NDEKTSV4RRFFQ69G5FAV_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .get("/v1/media")
        .await
        .unwrap();
    assert_eq!(status, 401);

    // Malformed JSON → 400 problem+json.
    let r = http
        .post(format!("{}/v1/uploads", server.url))
        .bearer_auth(&server.api_key)
        .header("content-type", "application/json")
        .body("{\"filename\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 400);

    // Declared sizes: zero → 400, over the limit → 413.
    assert_eq!(api.reserve("a.mp4", "video/mp4", 0).await.unwrap().0, 400);
    assert_eq!(
        api.reserve("a.mp4", "video/mp4", limit + 1)
            .await
            .unwrap()
            .0,
        413
    );

    // A body over the limit under a small declared size → 413, and nothing is stored.
    let ticket = api.ticket("big.mp4", "video/mp4", 10).await.unwrap();
    assert_eq!(
        api.put(&ticket, random_bytes(limit as usize + 4096, 1))
            .await
            .unwrap(),
        413
    );
    assert!(
        !server
            .data
            .join("blobs")
            .join(ticket_key(&ticket.upload_url))
            .exists()
    );
    // Nothing was stored, so the same URL can be used again.
    assert_eq!(api.put(&ticket, b"now small".to_vec()).await.unwrap(), 200);

    // A body larger than the reservation declared → 413 (and the URL stays usable).
    let ticket = api.ticket("small.mp4", "video/mp4", 3).await.unwrap();
    let refused = http
        .put(&ticket.upload_url)
        .header("content-type", "video/mp4")
        .body("ten bytes!")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413);
    // Its body may be unread: the connection is not offered for reuse.
    assert_eq!(refused.headers()["connection"], "close");
    assert_eq!(api.put(&ticket, b"abc".to_vec()).await.unwrap(), 200);

    // An upload URL creates its object once: a second PUT cannot replace validated bytes.
    let ticket = api.ticket("once.mp4", "video/mp4", 5).await.unwrap();
    assert_eq!(api.put(&ticket, b"first".to_vec()).await.unwrap(), 200);
    let r = http
        .put(&ticket.upload_url)
        .header("content-type", "video/mp4")
        .body("second")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "{}", server.log());
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let stored = std::fs::read(
        server
            .data
            .join("blobs")
            .join(ticket_key(&ticket.upload_url)),
    )
    .or_else(|_| {
        // Already quarantined (it is not a video): the bytes moved, unchanged.
        let key = ticket_key(&ticket.upload_url).replace("/uploads/", "/quarantine/");
        std::fs::read(server.data.join("blobs").join(key))
    })
    .unwrap();
    assert_eq!(stored, b"first");

    // Tampered signature, tampered key, wrong content type → 403.
    let ticket = api.ticket("a.mp4", "video/mp4", 10).await.unwrap();
    let tampered = ticket.upload_url.replace("signature=", "signature=0");
    assert_eq!(
        api.put_url(&tampered, "video/mp4", b"x".to_vec())
            .await
            .unwrap(),
        403
    );
    let other_key = ticket
        .upload_url
        .replace(&ticket.media_id, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    assert_eq!(
        api.put_url(&other_key, "video/mp4", b"x".to_vec())
            .await
            .unwrap(),
        403
    );
    assert_eq!(
        api.put_url(&ticket.upload_url, "text/plain", b"x".to_vec())
            .await
            .unwrap(),
        403
    );
    // Expired → 403 (a second server that hands out 1-second URLs).
    let short = start(
        &tmp.path().join("short-lived-urls"),
        &[("MVIDARR_UPLOAD_URL_TTL", "1".into())],
    );
    let short_api = short.client();
    let ticket = short_api.ticket("a.mp4", "video/mp4", 10).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = http
        .put(&ticket.upload_url)
        .header("content-type", "video/mp4")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );

    // Unknown ids and garbage ids → 404; unknown routes → 404 problem+json.
    assert_eq!(
        api.get("/v1/media/01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .await
            .unwrap()
            .0,
        404
    );
    assert_eq!(api.get("/v1/media/not-an-id").await.unwrap().0, 404);
    assert_eq!(
        api.get("/v1/media/01ARZ3NDEKTSV4RRFFQ69G5FAV/analysis")
            .await
            .unwrap()
            .0,
        404
    );
    assert_eq!(api.get("/v1/nothing-here").await.unwrap().0, 404);
    assert_eq!(api.get("/v1/media?status=bogus").await.unwrap().0, 400);
    assert_eq!(api.get("/v1/media?limit=0").await.unwrap().0, 400);
    assert_eq!(api.get("/v1/media?cursor=garbage").await.unwrap().0, 400);
    let (status, health) = api.get("/healthz").await.unwrap();
    assert_eq!((status, health), (200, serde_json::json!({"status": "ok"})));
}

/// The object key inside a presigned URL.
fn ticket_key(url: &str) -> String {
    let path = url.split("/blobs/").nth(1).unwrap();
    path.split('?').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_media_is_not_found() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // First start creates tenant `default`; add a second tenant with its own key offline.
    let server = start(&data, &[]);
    let api = server.client();
    let path = fixtures::make(tmp.path(), "a.mp4", &good_specs()[0].1).await;
    let id = api
        .upload("a.mp4", std::fs::read(&path).unwrap())
        .await
        .unwrap();
    api.wait_final(&id, FINAL).await.unwrap();
    server.terminate().unwrap();

    let other_key = mvidarr_tests::tenants::create_tenant_offline(&data, "other").await;
    let server = start(&data, &[]);
    let other = server.client().with_key(&other_key);
    assert_eq!(other.get(&format!("/v1/media/{id}")).await.unwrap().0, 404);
    assert_eq!(
        other
            .get(&format!("/v1/media/{id}/analysis"))
            .await
            .unwrap()
            .0,
        404
    );
    let (status, list) = other.get("/v1/media").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
    // The owner still sees it.
    assert_eq!(
        server
            .client()
            .get(&format!("/v1/media/{id}"))
            .await
            .unwrap()
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_pipeline_loses_nothing_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A slow ffmpeg keeps work in flight when the process is killed.
    let slow = fake_ffmpeg(tmp.path(), 0.7, false);
    let server = start(
        &data,
        &[
            ("MVIDARR_FFMPEG", slow.display().to_string()),
            ("MVIDARR_WORKERS", "2".into()),
        ],
    );
    let api = server.client();
    let video =
        std::fs::read(fixtures::make(tmp.path(), "a.mp4", &good_specs()[0].1).await).unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            api.upload(&format!("v{i}.mp4"), video.clone())
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill_9().unwrap();

    let server = start(&data, &[]);
    let api = server.client();
    for id in &ids {
        let m = api.wait_final(id, FINAL).await.unwrap();
        assert_eq!(m["status"], "indexed", "{m}");
        let (_, analysis) = api.get(&format!("/v1/media/{id}/analysis")).await.unwrap();
        // Exactly one of each document, whatever the kill interrupted.
        assert_eq!(analysis["items"].as_array().unwrap().len(), 8, "{analysis}");
    }
    let (_, list) = api.get("/v1/media?limit=100").await.unwrap();
    let mut listed: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    listed.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(listed, expected, "every upload exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_in_flight_work_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let slow = fake_ffmpeg(tmp.path(), 1.0, false);
    let server = start(&data, &[("MVIDARR_FFMPEG", slow.display().to_string())]);
    let api = server.client();
    let video =
        std::fs::read(fixtures::make(tmp.path(), "a.mp4", &good_specs()[0].1).await).unwrap();
    let id = api.upload("a.mp4", video).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log_before = server.log();
    assert!(
        server.terminate().unwrap(),
        "graceful stop exits 0:\n{log_before}"
    );

    let server = start(&data, &[]);
    let m = server.client().wait_final(&id, FINAL).await.unwrap();
    assert_eq!(m["status"], "indexed", "{m}");
    assert!(server.log().contains("stopped cleanly"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let _first = start(&data, &[]);
    let out = std::process::Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is in use by another mvidarr process"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_command_uploads_a_directory_and_summarizes() {
    let tmp = tempfile::tempdir().unwrap();
    let media = tmp.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    for (name, spec) in good_specs().into_iter().take(2) {
        fixtures::make(&media, name, &spec).await;
    }
    std::fs::write(media.join("broken.mp4"), random_bytes(5000, 3)).unwrap();
    std::fs::write(media.join("readme.txt"), "not taken from a directory").unwrap();
    // No server running: ingest runs the platform in-process on the data directory.
    let out = std::process::Command::new(BIN)
        .arg("--data")
        .arg(tmp.path().join("data"))
        .arg("ingest")
        .arg(&media)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit 2 when something was quarantined:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("3 files: 2 indexed, 1 quarantined, 0 failed, 0 not finished"),
        "{stdout}"
    );
    assert!(
        stdout.contains("broken.mp4: not a video container"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_notification_was_lost_in_a_crash_is_processed_after_restart() {
    // Arrange: the state a crash leaves after an upload's bytes landed but before its
    // notification was queued: the object file plus the put's intent row.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = start(&data, &[]);
    let api = server.client();
    let ticket = api.ticket("a.mp4", "video/mp4", 100).await.unwrap();
    server.terminate().unwrap();
    let key = ticket_key(&ticket.upload_url);
    let video =
        std::fs::read(fixtures::make(tmp.path(), "a.mp4", &good_specs()[0].1).await).unwrap();
    let path = data.join("blobs").join(&key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, video).unwrap();
    let db = mvidarr_store_local::db::Database::open(&data.join("mvidarr.db")).unwrap();
    db.call(move |c| {
        c.execute(
            "INSERT INTO blob_put_intents (bucket, key, token) VALUES (?1, ?2, 'crashed')",
            [mvidarr_store_local::platform::LOCAL_BUCKET, key.as_str()],
        )
    })
    .await
    .unwrap();
    drop(db);

    // Act: the next start recovers the lost notification.
    let server = start(&data, &[]);

    // Assert
    let m = server
        .client()
        .wait_final(&ticket.media_id, FINAL)
        .await
        .unwrap();
    assert_eq!(m["status"], "indexed", "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_bootstrap_key_file_is_replaced_by_a_new_key_at_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = start(&data, &[]);
    let old_key = first.api_key.clone();
    first.terminate().unwrap();
    std::fs::remove_file(data.join("bootstrap-api-key")).unwrap();

    let second = start(&data, &[]);

    assert_ne!(second.api_key, old_key);
    assert_eq!(second.client().get("/v1/media").await.unwrap().0, 200);
    // The old key was not revoked: it still belongs to the tenant.
    assert_eq!(
        second
            .client()
            .with_key(&old_key)
            .get("/v1/media")
            .await
            .unwrap()
            .0,
        200
    );
}
