//! Analyzer tags against generated media whose truth is known by construction
//! (`mvidarr_tests::tag_truth`): the real analysis pass, the real rules, scored.
//!
//! The ignored tests are the long runs:
//! - `cargo test -p mvidarr-tests --test tag_truth -- --ignored --nocapture calibration_constants`
//!   fits the rules' curves (seed 1, 6 media per case) and prints `Rule::curve`'s constants;
//! - `… --ignored --nocapture full_evaluation` prints the evaluation table (seed 2, 3 per case).
//!
//! `TAG_TRUTH_SET=path.json` keeps the generated set in that file and reads it back on the next
//! run (the analysis is the slow part; the rules and the fit are instant).

use std::path::Path;

use mvidarr_tests::fixtures;
use mvidarr_tests::tag_truth::{Case, TruthConfig, TruthSet, fit_calibration, generate, report};

/// The set `config` describes: read from `$TAG_TRUTH_SET` when it holds that set, else
/// generated (and written there when the variable is set).
async fn truth_set(dir: &Path, config: &TruthConfig) -> TruthSet {
    let cache = std::env::var_os("TAG_TRUTH_SET");
    if let Some(path) = &cache
        && let Ok(bytes) = std::fs::read(path)
        && let Ok(set) = serde_json::from_slice::<TruthSet>(&bytes)
        && set.seed == config.seed
        && set.per_case == config.per_case
    {
        eprintln!("truth set read from {}", Path::new(path).display());
        return set;
    }
    let set = generate(dir, &fixtures::ffmpeg(), config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(path) = cache {
        std::fs::write(&path, serde_json::to_vec(&set).unwrap()).unwrap();
    }
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyzer_tags_are_precise_at_the_auto_accept_threshold() {
    // A small set (one media of each case but the audio-only variations), on a seed the
    // calibration was not fitted on.
    let dir = tempfile::tempdir().unwrap();
    let config = TruthConfig {
        per_case: 1,
        seed: 3,
        cases: Case::ALL
            .into_iter()
            .filter(|c| !matches!(c, Case::SilentAudio | Case::SpeechOverMusic))
            .collect(),
        ..TruthConfig::default()
    };
    let set = generate(dir.path(), &fixtures::ffmpeg(), &config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report = report(&set, config.threshold);
    eprintln!("{report}");
    assert!(
        report.analysis_failures.is_empty(),
        "{:?}",
        report.analysis_failures
    );
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let measured = report.overall.measured_at_threshold;
    let all = report.overall.all_at_threshold;
    assert!(measured.proposed > 0, "{measured:?}");
    assert!(
        measured.precision.unwrap() >= 0.85,
        "measured tags at {}: {measured:?}",
        config.threshold
    );
    assert!(all.precision.unwrap() >= 0.85, "{all:?}");
    for tag in &report.tags {
        assert!((0.0..=1.0).contains(&tag.brier), "{tag:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes: fits the rules' curves on 6 media per case"]
async fn calibration_constants() {
    let dir = tempfile::tempdir().unwrap();
    let config = TruthConfig {
        per_case: 6,
        seed: 1,
        ..TruthConfig::default()
    };
    let set = truth_set(dir.path(), &config).await;
    println!("{}", fit_calibration(&set));
    println!("{}", report(&set, config.threshold));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes: the evaluation table on 3 media per case"]
async fn full_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let config = TruthConfig::default();
    let set = truth_set(dir.path(), &config).await;
    let report = report(&set, config.threshold);
    println!("{report}");
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
