//! Learning a tag from people, end to end on the real binary: a catalogue whose truth is known
//! (a generated MovieLens-format dataset where `live` videos have fans of their own and often
//! say so in their titles), people's first decisions through the API, `mvidarr train-tags`,
//! then rounds of the review queue decided by the truth through bulk decisions and retrained.
//! Proposed → reviewed → retrained → better tags: the ranking of the tag's confidences over an
//! audit set nobody ever reviews improves, measured as average precision against the truth.

use std::collections::BTreeMap;
use std::path::Path;

use mvidarr_tests::server::{ApiClient, Server, ServerOptions, cli_stdout, run_cli};
use reqwest::Method;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_mvidarr");
const ITEMS: u32 = 400;
const USERS: u32 = 300;

/// A small deterministic generator (the test's data, not a statistic).
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A quarter of the catalogue nobody decides on: the tags are measured there, so reviewing
/// (which takes the most uncertain media out of the pool) cannot flatter the figure.
fn audited(i: u32) -> bool {
    i.is_multiple_of(4)
}

/// Whether item `i` is truly a live recording: 30% of the catalogue.
fn is_live(i: u32) -> bool {
    (i.wrapping_mul(2_654_435_761) >> 7) % 10 < 3
}

/// Writes the catalogue and its ratings in MovieLens 100K's format. Live videos say "Live"
/// in most of their titles (and a few studio ones do too); a third of the users are fans
/// whose plays are mostly live videos, the others mostly not.
fn write_dataset(dir: &Path) {
    let mut draws = Draws(0x9E37_79B9_7F4A_7C15);
    std::fs::write(dir.join("u.genre"), "unknown|0\nDrama|1\n").unwrap();
    let words = [
        "Night", "River", "Gold", "Echo", "Summer", "Glass", "Fire", "Road",
    ];
    let mut items = String::new();
    for i in 1..=ITEMS {
        let says_live = if is_live(i) {
            draws.unit() < 0.6
        } else {
            draws.unit() < 0.08
        };
        let word = words[(draws.next() % words.len() as u64) as usize];
        let title = if says_live {
            format!("{word} Live at Venue {i} (1995)")
        } else {
            format!("{word} Song {i} (1995)")
        };
        items.push_str(&format!("{i}|{title}|01-Jan-1995||url|0|1\n"));
    }
    std::fs::write(dir.join("u.item"), items).unwrap();
    let users: String = (1..=USERS)
        .map(|u| format!("{u}|30|F|other|00000\n"))
        .collect();
    std::fs::write(dir.join("u.user"), users).unwrap();
    let (live, studio): (Vec<u32>, Vec<u32>) = (1..=ITEMS).partition(|&i| is_live(i));
    let mut ratings = String::new();
    for u in 1..=USERS {
        let fan = u % 3 == 0;
        for k in 0..30 {
            let from_live = draws.unit() < if fan { 0.85 } else { 0.1 };
            let pool = if from_live { &live } else { &studio };
            let item = pool[(draws.next() % pool.len() as u64) as usize];
            ratings.push_str(&format!("{u}\t{item}\t5\t{}\n", 880_000_000 + k));
        }
    }
    std::fs::write(dir.join("u1.base"), ratings).unwrap();
    std::fs::write(dir.join("u1.test"), "").unwrap();
}

/// Each audited item's confidence for `live` (0 without a proposal).
async fn confidences(client: &ApiClient) -> BTreeMap<u32, f64> {
    let mut confidence = BTreeMap::new();
    for i in (1..=ITEMS).filter(|&i| audited(i)) {
        let (status, body) = client
            .get(&format!("/v1/media/ext:{i}/tags"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let live = body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "live");
        if let Some(t) = live {
            assert!(
                !matches!(t["status"].as_str(), Some("accepted" | "rejected")),
                "audited media are never decided: {t}"
            );
        }
        confidence.insert(i, live.map_or(0.0, |t| t["confidence"].as_f64().unwrap()));
    }
    confidence
}

/// Average precision of the confidences against the truth.
fn average_precision(confidence: &BTreeMap<u32, f64>) -> f64 {
    let mut ranked: Vec<(u32, f64)> = confidence.iter().map(|(&i, &c)| (i, c)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let positives = ranked.iter().filter(|(i, _)| is_live(*i)).count() as f64;
    let (mut hits, mut sum) = (0.0, 0.0);
    for (rank, (i, _)) in ranked.iter().enumerate() {
        if is_live(*i) {
            hits += 1.0;
            sum += hits / (rank + 1) as f64;
        }
    }
    sum / positives
}

async fn decide_by_hand(client: &ApiClient, items: &[u32]) {
    for &i in items {
        let (status, body) = client
            .send(
                Method::POST,
                &format!("/v1/media/ext:{i}/tags"),
                &json!({"name": "live", "accept": is_live(i)}),
            )
            .await
            .unwrap();
        // 201 for a new tag; 200 when a head had proposed it already (then decided by hand).
        assert!(status == 201 || status == 200, "{status} {body}");
        let decided = if is_live(i) { "accepted" } else { "rejected" };
        assert_eq!(body["status"], decided, "{body}");
    }
}

/// Up to `n` items of `pool` from `from` on (fewer at its end).
fn next(pool: &[u32], from: usize, n: usize) -> &[u32] {
    &pool[from.min(pool.len())..(from + n).min(pool.len())]
}

fn train_tags(data: &Path) -> String {
    let printed = cli_stdout(BIN.as_ref(), data, &["train-tags"]);
    eprintln!("{printed}");
    printed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposed_reviewed_retrained_and_the_tags_get_better() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tmp.path().join("dataset");
    std::fs::create_dir(&dataset).unwrap();
    write_dataset(&dataset);
    let data = tmp.path().join("data");
    // The server's own training schedule off: it would train the recommender at start, in a
    // race with the import, and make the run depend on the timing.
    let options = ServerOptions {
        env: vec![("MVIDARR_TRAIN_EVERY_MINUTES".into(), "0".into())],
    };
    let server = Server::start(BIN.as_ref(), &data, &options).unwrap();
    let client = server.client();
    cli_stdout(
        BIN.as_ref(),
        &data,
        &["import", "movielens", dataset.to_str().unwrap()],
    );
    cli_stdout(BIN.as_ref(), &data, &["train"]);

    // Nobody has decided anything: there is nothing to learn from, and it says so.
    let out = run_cli(BIN.as_ref(), &data, &["train-tags", "--tag", "live"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("nobody has accepted or rejected tag live"),
        "{said}"
    );

    // Three decisions are too few: a clear message and no model.
    let live: Vec<u32> = (1..=ITEMS).filter(|&i| is_live(i) && !audited(i)).collect();
    let studio: Vec<u32> = (1..=ITEMS)
        .filter(|&i| !is_live(i) && !audited(i))
        .collect();
    decide_by_hand(&client, &[live[0], live[1], studio[0]]).await;
    let out = run_cli(BIN.as_ref(), &data, &["train-tags", "--tag", "live"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("tag live has 2 accepted and 1 rejected decisions"),
        "{said}"
    );
    let (_, models) = client.get("/v1/tags/models").await.unwrap();
    assert_eq!(models["items"], json!([]), "no model registered");

    // Decisions by hand, a batch at a time, until a first head beats the prior on its
    // held-out decisions (which media are held out follows their ids, new on every run: a
    // small fold may not show the head better yet, and then it is rightly not promoted).
    let mut hand = (2, 1);
    let mut version = 0;
    for _ in 0..4 {
        decide_by_hand(&client, next(&live, hand.0, 10)).await;
        decide_by_hand(&client, next(&studio, hand.1, 10)).await;
        hand = (hand.0 + 10, hand.1 + 10);
        let printed = train_tags(&data);
        let promoted = printed
            .split("live: version ")
            .nth(1)
            .filter(|rest| rest.contains(" promoted (was none)"))
            .and_then(|rest| rest.split(' ').next()?.parse::<u32>().ok());
        if let Some(v) = promoted {
            version = v;
            break;
        }
        assert!(printed.contains("registered, not promoted"), "{printed}");
    }
    assert!(
        version > 0,
        "no first head beat the prior after 80 decisions"
    );
    // Nothing new to learn from: no new version.
    let printed = train_tags(&data);
    assert!(
        printed.contains(&format!("live: no new decisions since version {version}")),
        "{printed}"
    );
    let mut quality = vec![average_precision(&confidences(&client).await)];

    // Rounds of the review queue, decided by the truth, each followed by training. A head
    // sure of everything leaves nothing between the thresholds to review: reviewers then tag
    // by hand instead, as they would browsing the catalogue (at least one round must come
    // from the queue).
    let mut from_queue = 0;
    for _ in 0..3 {
        if review_round_by_truth(&client, 50).await > 0 {
            from_queue += 1;
        } else {
            decide_by_hand(&client, next(&live, hand.0, 25)).await;
            decide_by_hand(&client, next(&studio, hand.1, 25)).await;
            hand = (hand.0 + 25, hand.1 + 25);
        }
        train_tags(&data);
        quality.push(average_precision(&confidences(&client).await));
    }
    assert!(
        from_queue > 0,
        "the review queue never had a live tag to decide"
    );
    eprintln!("average precision of live on the audit set, per round: {quality:?}");
    let audit: Vec<u32> = (1..=ITEMS).filter(|&i| audited(i)).collect();
    let base_rate = audit.iter().filter(|&&i| is_live(i)).count() as f64 / audit.len() as f64;
    assert!(
        quality[0] > base_rate,
        "{quality:?} vs base rate {base_rate}"
    );
    assert!(
        quality.last().unwrap() > &quality[0],
        "reviewing and retraining made the tags better: {quality:?}"
    );

    // The versions and their held-out figures are in the API; the served one is promoted.
    let (_, models) = client.get("/v1/tags/models?tag=live").await.unwrap();
    let versions = models["versions"].as_array().unwrap();
    assert!(versions.len() >= 2, "{models}");
    assert!(
        versions
            .iter()
            .all(|v| v["metrics"]["held_out"]["log_loss"].is_number()),
        "{models}"
    );
    let (_, tags) = client.get("/v1/tags").await.unwrap();
    let live_entry = tags["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "live")
        .unwrap()
        .clone();
    assert!(
        live_entry["counts"]["accepted"].as_u64().unwrap() > 12,
        "{live_entry}"
    );
}

/// A review round: the first `n` of the queue outside the audit set, decided by the truth of
/// each media's dataset id in one bulk request.
async fn review_round_by_truth(client: &ApiClient, n: usize) -> usize {
    let (status, queue) = client.get("/v1/review?limit=100").await.unwrap();
    assert_eq!(status, 200, "{queue}");
    let mut decisions = Vec::new();
    for item in queue["items"].as_array().unwrap() {
        if item["tag"]["name"] != "live" || decisions.len() == n {
            continue;
        }
        let id = item["media"].as_str().unwrap();
        let (status, media) = client.get(&format!("/v1/media/{id}")).await.unwrap();
        assert_eq!(status, 200, "{media}");
        let external: u32 = media["external_id"].as_str().unwrap().parse().unwrap();
        if audited(external) {
            continue;
        }
        decisions.push(json!({
            "media": id,
            "tag": "live",
            "accept": is_live(external),
            "version": item["tag"]["version"],
        }));
    }
    if decisions.is_empty() {
        return 0;
    }
    let (status, body) = client
        .send(
            Method::POST,
            "/v1/review/decisions",
            &json!({ "decisions": decisions }),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["failed"], 0, "{body}");
    body["decided"].as_u64().unwrap() as usize
}
