//! `mvidarr report` on a data directory with three days of events: every report in every
//! format, figures equal to the rollups, an empty range said to be empty, bad input refused.

use std::path::Path;

use mvidarr_analytics::synthetic::{self, Stream};
use mvidarr_core::analytics::report::{ReportFormat, ReportKind};
use mvidarr_core::analytics::{Granularity, TimeRange, summarize};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{AnalyticsRepo, TenantRepo};
use mvidarr_tests::server::{cli_stdout, run_cli};
use mvidarr_tests::tenants::open_platform;

const BIN: &str = env!("CARGO_BIN_EXE_mvidarr");
const RANGE: [&str; 4] = ["--from", "2026-11-24", "--to", "2026-11-27"];

/// The `default` tenant (made by a first report) with 5,000 events over 24–26 Nov 2026.
async fn data_with_events(data: &Path) -> mvidarr_core::analytics::Summary {
    let out = data.join("first.csv");
    cli_stdout(
        Path::new(BIN),
        data,
        &[
            "report",
            "trend",
            "--format",
            "csv",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let platform = open_platform(data);
    let tenant = TenantRepo::new(platform.table())
        .by_name("default")
        .await
        .unwrap()
        .expect("the first report made the default tenant")
        .id;
    synthetic::ingest_stream(
        platform.blobs(),
        platform.table(),
        tenant,
        &Stream::three_days(8, 5000, 30, 50),
        1000,
    )
    .await
    .unwrap();
    let range = TimeRange::parse("2026-11-24", "2026-11-27", Granularity::Day).unwrap();
    let days = AnalyticsRepo::new(platform.table())
        .tenant_days(tenant, range)
        .await
        .unwrap();
    summarize(&days, range, Granularity::Day)
}

/// The rows of the CSV section whose header starts with `first_column`, and its header.
fn section(csv: &str, first_column: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv.as_bytes());
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let start = records
        .iter()
        .position(|r| r.first().is_some_and(|c| c == first_column))
        .unwrap_or_else(|| panic!("no section headed {first_column}: {csv}"));
    let rows = records[start + 1..]
        .iter()
        .take_while(|r| r.len() > 1 && r[0] != "Total")
        .cloned()
        .collect();
    (records[start].clone(), rows)
}

fn column_sum(header: &[String], rows: &[Vec<String>], name: &str) -> u64 {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no {name} in {header:?}"));
    rows.iter().map(|r| r[i].parse::<u64>().unwrap()).sum()
}

#[tokio::test]
async fn every_report_in_every_format_adds_up_to_the_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let summary = data_with_events(data).await;
    assert!(summary.totals.plays > 1000, "{:?}", summary.totals);

    let trend = data.join("trend.csv");
    let mut args = vec![
        "report",
        "trend",
        "--format",
        "csv",
        "--out",
        trend.to_str().unwrap(),
    ];
    args.extend(RANGE);
    let said = cli_stdout(Path::new(BIN), data, &args);
    assert!(said.contains("3 rows"), "{said}");
    let csv = std::fs::read_to_string(&trend).unwrap();
    let (header, rows) = section(&csv, "Day");
    assert_eq!(rows.len(), 3);
    assert_eq!(column_sum(&header, &rows, "Plays"), summary.totals.plays);
    assert_eq!(column_sum(&header, &rows, "Views"), summary.totals.views);
    assert_eq!(
        column_sum(&header, &rows, "Uploads"),
        summary.totals.uploads
    );
    assert_eq!(
        column_sum(&header, &rows, "API calls"),
        summary.totals.api_calls
    );

    for kind in ReportKind::ALL {
        for format in ReportFormat::ALL {
            let out = data.join(format!("{kind}.{format}"));
            let mut args = vec![
                "report",
                kind.as_str(),
                "--format",
                format.as_str(),
                "--out",
                out.to_str().unwrap(),
            ];
            args.extend(RANGE);
            cli_stdout(Path::new(BIN), data, &args);
            let bytes = std::fs::read(&out).unwrap();
            let magic: &[u8] = match format {
                ReportFormat::Pdf => b"%PDF-",
                ReportFormat::Xlsx => b"PK\x03\x04",
                ReportFormat::Csv => b"",
            };
            assert!(bytes.starts_with(magic), "{kind} {format}");
            if format == ReportFormat::Pdf {
                let pages = data.join(format!("{kind}-page"));
                let rendered = std::process::Command::new("pdftoppm")
                    .args(["-r", "30", "-png"])
                    .arg(&out)
                    .arg(&pages)
                    .status()
                    .expect("pdftoppm (poppler-utils) is installed by scripts/test.sh");
                assert!(rendered.success(), "{kind}: pdftoppm failed");
            }
        }
    }
    let analyses = std::fs::read_to_string(data.join("analysis_quality.csv")).unwrap();
    let (header, rows) = section(&analyses, "Day");
    assert_eq!(
        column_sum(&header, &rows, "Analyses"),
        summary.totals.analyses
    );
    let reviews = std::fs::read_to_string(data.join("tag_review.csv")).unwrap();
    let (header, rows) = section(&reviews, "Tag");
    assert_eq!(
        column_sum(&header, &rows, "Accepted"),
        summary.totals.tags_accepted
    );
    assert_eq!(
        column_sum(&header, &rows, "Rejected"),
        summary.totals.tags_rejected
    );
}

#[tokio::test]
async fn an_empty_range_says_so_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let out = data.join("empty.pdf");
    let said = cli_stdout(
        Path::new(BIN),
        data,
        &[
            "report",
            "engagement",
            "--out",
            out.to_str().unwrap(),
            "--from",
            "2020-01-01",
            "--to",
            "2020-01-02",
        ],
    );
    assert!(said.contains("no data in this range"), "{said}");
    assert!(std::fs::read(&out).unwrap().starts_with(b"%PDF-"));

    for (args, says) in [
        (
            vec!["report", "popularity", "--out", "x.pdf"],
            "unknown report",
        ),
        (
            vec!["report", "trend", "--format", "docx", "--out", "x"],
            "unknown format",
        ),
        (
            vec![
                "report",
                "trend",
                "--out",
                "x.pdf",
                "--from",
                "2026-11-02",
                "--to",
                "2026-11-01",
            ],
            "from must be before to",
        ),
    ] {
        let run = run_cli(Path::new(BIN), data, &args);
        assert!(!run.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
