//! Every format rendered from one realistic report and read back with an independent reader:
//! CSV with `csv`, XLSX with `calamine`, PDF with poppler's `pdftoppm` and `pdftotext`.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use calamine::{Data, DataType, Reader, SheetType, Xlsx};
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use mvidarr_core::analytics::report::{ReportKind, Table};
use mvidarr_report::{
    Cell, Chart, ChartKind, Column, ColumnKind, NO_DATA, ReportData, ReportFormat, render,
};

const TREND: &str = "Daily activity";
const TOP_MEDIA: &str = "Top media";
const CATALOGUE: &str = "Media catalogue";

/// Deterministic pseudo-random numbers (a fixed LCG): realistic-looking, same every run.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn day(offset: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).expect("valid date") + Duration::days(offset)
}

fn trend_table(numbers: &mut Numbers) -> Table {
    let rows = (0..40)
        .map(|i| {
            let plays = 900 + numbers.next(700) + if i % 7 >= 5 { 400 } else { 0 };
            let completions = plays * (55 + numbers.next(25)) / 100;
            let rate = completions as f64 / plays as f64;
            vec![
                Cell::Date(day(i)),
                Cell::from(plays),
                Cell::from(completions),
                Cell::Number(rate),
                Cell::Integer(i64::try_from(plays * (180_000 + numbers.next(90_000))).unwrap_or(0)),
            ]
        })
        .collect();
    Table {
        name: TREND.into(),
        columns: vec![
            Column::new("Day", ColumnKind::Date),
            Column::new("Plays", ColumnKind::Integer),
            Column::new("Completions", ColumnKind::Integer),
            Column::new("Completion rate", ColumnKind::Percent),
            Column::new("Watch time", ColumnKind::DurationMs),
        ],
        rows,
        totals: None,
        chart: Some(Chart {
            title: "Plays and completions per day".into(),
            kind: ChartKind::Line,
            x: 0,
            series: vec![1, 2],
        }),
    }
}

fn top_media_table(numbers: &mut Numbers) -> Table {
    let titles = [
        "Autumn product launch keynote (full length, director's cut)",
        "Onboarding: your first week",
        "東京の夜 \u{2013} city lights",
        "Customer story: \"Halvorsen & Søn\", Bergen",
        "Quarterly all-hands, Q3",
        "Safety briefing 2026",
        "Behind the scenes: studio B",
        "How we ship: release trains",
        "Design review recording",
        "Café interviews, part 2",
        "Support webinar: billing",
        "Holiday message",
    ];
    let rows: Vec<Vec<Cell>> = titles
        .iter()
        .enumerate()
        .map(|(i, title)| {
            let plays = 4_000 / (i as u64 + 1) + numbers.next(150);
            vec![
                Cell::from(*title),
                Cell::from(plays),
                Cell::from(plays * (120_000 + numbers.next(60_000))),
                Cell::from(plays * 6 / 10),
                Cell::Number(0.4 + numbers.next(50) as f64 / 100.0),
            ]
        })
        .collect();
    let sum = |col: usize| -> i64 {
        rows.iter()
            .map(|r| match r[col] {
                Cell::Integer(n) => n,
                _ => 0,
            })
            .sum()
    };
    let totals = vec![
        Cell::Empty,
        Cell::Integer(sum(1)),
        Cell::Integer(sum(2)),
        Cell::Integer(sum(3)),
        Cell::Empty,
    ];
    Table {
        name: TOP_MEDIA.into(),
        columns: vec![
            Column::new("Title", ColumnKind::Text),
            Column::new("Plays", ColumnKind::Integer),
            Column::new("Watch time", ColumnKind::DurationMs),
            Column::new("Distinct users", ColumnKind::Integer),
            Column::new("Average completion", ColumnKind::Percent),
        ],
        rows,
        totals: Some(totals),
        chart: Some(Chart {
            title: "Plays by title".into(),
            kind: ChartKind::Bar,
            x: 0,
            series: vec![1],
        }),
    }
}

fn catalogue_table(numbers: &mut Numbers, rows: usize) -> Table {
    let statuses = ["Ready", "Ready", "Ready", "Analyzing", "Quarantined"];
    let rows = (0..rows)
        .map(|i| {
            vec![
                Cell::Text(format!("01JD{:06}XK", i * 7919 % 1_000_000)),
                Cell::Date(day((i % 40) as i64)),
                Cell::from(30_000 + numbers.next(3_600_000)),
                Cell::Number((numbers.next(250_000) as f64) / 100.0),
                Cell::from(numbers.next(25)),
                Cell::from(statuses[i % statuses.len()]),
            ]
        })
        .collect();
    Table {
        name: CATALOGUE.into(),
        columns: vec![
            Column::new("Media", ColumnKind::Text),
            Column::new("Uploaded", ColumnKind::Date),
            Column::new("Duration", ColumnKind::DurationMs),
            Column::new("Size (MB)", ColumnKind::Number),
            Column::new("Tags", ColumnKind::Integer),
            Column::new("Status", ColumnKind::Text),
        ],
        rows,
        totals: None,
        chart: None,
    }
}

fn report(tables: Vec<Table>) -> ReportData {
    let at = |month: u32, day: u32, hour: u32, minute: u32| {
        Utc.with_ymd_and_hms(2026, month, day, hour, minute, 0)
            .single()
            .expect("valid time")
    };
    ReportData {
        kind: ReportKind::Engagement,
        tenant: "Northwind Studios".into(),
        // 40 whole days: 1 Oct to 9 Nov.
        from: at(10, 1, 0, 0),
        to: at(11, 10, 0, 0),
        generated_at: at(11, 10, 6, 30),
        highlights: vec![
            ("Plays".into(), Cell::Integer(48_210)),
            ("Distinct viewers".into(), Cell::Integer(3_912)),
            ("Completion rate".into(), Cell::Number(0.634)),
            ("Watch time".into(), Cell::from("1,204 h")),
            ("Busiest day".into(), Cell::Date(day(12))),
        ],
        tables,
    }
}

/// The fixture: a 40-day trend with a line chart, top media with a bar chart and totals, and a
/// 120-row catalogue that spans pages.
fn fixture() -> ReportData {
    let mut numbers = Numbers(42);
    let tables = vec![
        trend_table(&mut numbers),
        top_media_table(&mut numbers),
        catalogue_table(&mut numbers, 120),
    ];
    report(tables)
}

fn empty_report() -> ReportData {
    let mut numbers = Numbers(7);
    let mut tables = vec![trend_table(&mut numbers), top_media_table(&mut numbers)];
    for table in &mut tables {
        table.rows.clear();
        table.totals = None;
    }
    let mut report = report(tables);
    report.highlights.clear();
    report
}

fn number(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Integer(n) => Some(*n as f64),
        Cell::Number(x) => Some(*x),
        _ => None,
    }
}

/// Sum of a column over the rows (totals excluded).
fn column_sum(table: &Table, col: usize) -> f64 {
    table.rows.iter().filter_map(|r| number(&r[col])).sum()
}

fn numeric(kind: ColumnKind) -> bool {
    matches!(
        kind,
        ColumnKind::Integer | ColumnKind::Number | ColumnKind::Percent | ColumnKind::DurationMs
    )
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} != {expected}"
    );
}

// ---------- CSV ----------

/// A CSV section read back: name, header, data rows, total row.
struct CsvSection {
    name: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    total: Option<Vec<String>>,
}

fn read_csv(bytes: &[u8]) -> (Vec<CsvSection>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("valid CSV").iter().map(str::to_owned).collect())
        .collect();
    let mut sections: Vec<CsvSection> = Vec::new();
    let mut loose = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let record = &records[i];
        let starts_section = record.len() == 1 && records.get(i + 1).is_some_and(|r| r.len() > 1);
        if starts_section {
            sections.push(CsvSection {
                name: record[0].clone(),
                header: records[i + 1].clone(),
                rows: Vec::new(),
                total: None,
            });
            i += 2;
            continue;
        }
        match sections.last_mut() {
            Some(section) if record.len() == section.header.len() => {
                if record[0] == "Total" {
                    section.total = Some(record.clone());
                } else {
                    section.rows.push(record.clone());
                }
            }
            _ => loose.push(record.clone()),
        }
        i += 1;
    }
    (sections, loose)
}

#[test]
fn csv_reads_back_with_every_row_and_column_sum() {
    let report = fixture();
    let bytes = render(&report, ReportFormat::Csv).expect("CSV renders");
    let text = std::str::from_utf8(&bytes).expect("CSV is UTF-8");
    assert!(
        text.contains("\r\n\r\nTop media\r\n"),
        "an empty line between tables"
    );

    let (sections, loose) = read_csv(&bytes);
    assert!(
        loose.is_empty(),
        "every line belongs to a section: {loose:?}"
    );
    assert_eq!(sections.len(), report.tables.len());
    for (section, table) in sections.iter().zip(&report.tables) {
        assert_eq!(section.name, table.name);
        assert_eq!(section.rows.len(), table.rows.len(), "{} rows", table.name);
        for (col, column) in table.columns.iter().enumerate() {
            let header = &section.header[col];
            match column.kind {
                ColumnKind::Percent => assert_eq!(header, &format!("{} (%)", column.name)),
                ColumnKind::DurationMs => assert_eq!(header, &format!("{} (ms)", column.name)),
                _ => assert_eq!(header, &column.name),
            }
            if !numeric(column.kind) {
                continue;
            }
            let parsed: f64 = section
                .rows
                .iter()
                .map(|r| r[col].parse::<f64>().expect("a plain number"))
                .sum();
            let scale = if column.kind == ColumnKind::Percent {
                100.0
            } else {
                1.0
            };
            assert_close(
                parsed / scale,
                column_sum(table, col),
                &format!("{} {}", table.name, column.name),
            );
        }
        if column_is_date(table, 0) {
            assert_eq!(section.rows[0][0], "2026-10-01", "ISO dates");
        }
    }
    let top = &sections[1];
    let total = top.total.as_ref().expect("top media has a total row");
    assert_eq!(total[1], column_sum(&report.tables[1], 1).to_string());
    assert_eq!(
        top.rows[3][0],
        "Customer story: \"Halvorsen & Søn\", Bergen"
    );
    assert_eq!(top.rows[2][0], "東京の夜 \u{2013} city lights");
}

fn column_is_date(table: &Table, col: usize) -> bool {
    table.columns[col].kind == ColumnKind::Date
}

#[test]
fn csv_of_an_empty_report_keeps_the_headings_and_says_no_data() {
    let report = empty_report();
    let bytes = render(&report, ReportFormat::Csv).expect("CSV renders");
    let (sections, loose) = read_csv(&bytes);
    assert_eq!(sections.len(), 2);
    assert!(sections.iter().all(|s| s.rows.is_empty()));
    assert_eq!(loose, vec![vec![NO_DATA.to_owned()]]);
    let text = String::from_utf8(bytes).expect("UTF-8");
    assert!(text.ends_with("No data in this range.\r\n"));
}

// ---------- XLSX ----------

fn open_xlsx(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
    calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("the workbook opens")
}

#[test]
fn xlsx_has_summary_typed_tables_and_chart_sheets() {
    let report = fixture();
    let bytes = render(&report, ReportFormat::Xlsx).expect("XLSX renders");
    let mut workbook = open_xlsx(bytes);

    let sheets: Vec<(String, SheetType)> = workbook
        .sheets_metadata()
        .iter()
        .map(|s| (s.name.clone(), s.typ))
        .collect();
    let expected = vec![
        ("Summary".to_owned(), SheetType::WorkSheet),
        (TREND.to_owned(), SheetType::WorkSheet),
        (format!("{TREND} chart"), SheetType::ChartSheet),
        (TOP_MEDIA.to_owned(), SheetType::WorkSheet),
        (format!("{TOP_MEDIA} chart"), SheetType::ChartSheet),
        (CATALOGUE.to_owned(), SheetType::WorkSheet),
    ];
    assert_eq!(sheets, expected);

    let summary = workbook.worksheet_range("Summary").expect("summary sheet");
    let strings: Vec<String> = summary
        .rows()
        .flat_map(|r| r.iter().filter_map(|c| c.get_string().map(str::to_owned)))
        .collect();
    for wanted in [
        "Engagement: top media",
        "Northwind Studios",
        "1 Oct 2026 \u{2013} 9 Nov 2026 (UTC)",
        "Generated 10 Nov 2026 06:30 UTC",
        "Key figures",
        "Distinct viewers",
    ] {
        assert!(
            strings.iter().any(|s| s == wanted),
            "summary says {wanted:?}: {strings:?}"
        );
    }

    for table in &report.tables {
        let range = workbook.worksheet_range(&table.name).expect("table sheet");
        let rows: Vec<&[Data]> = range.rows().collect();
        let total_rows = usize::from(table.totals.is_some());
        assert_eq!(
            rows.len(),
            1 + table.rows.len() + total_rows,
            "{} rows",
            table.name
        );
        assert_eq!(rows[0][0], Data::String(table.columns[0].name.clone()));
        for (col, column) in table.columns.iter().enumerate() {
            let data = rows[1..=table.rows.len()].iter().map(|r| &r[col]);
            match column.kind {
                ColumnKind::Date => {
                    for (cell, expected) in data.zip(&table.rows) {
                        let Data::DateTime(value) = cell else {
                            panic!("{}: a date cell, got {cell:?}", table.name);
                        };
                        let Cell::Date(day) = expected[col] else {
                            unreachable!()
                        };
                        assert_eq!(value.as_datetime().map(|d| d.date()), Some(day));
                    }
                }
                kind if numeric(kind) => {
                    let sum: f64 = data
                        .map(|c| match c {
                            Data::Float(x) => *x,
                            other => panic!("{}: a number, got {other:?}", column.name),
                        })
                        .sum();
                    assert_close(
                        sum,
                        column_sum(table, col),
                        &format!("{} {}", table.name, column.name),
                    );
                }
                _ => assert!(data.into_iter().all(|c| matches!(c, Data::String(_)))),
            }
        }
        if let Some(totals) = &table.totals {
            let last = rows[rows.len() - 1];
            assert_eq!(last[0], Data::String("Total".into()));
            assert_eq!(Some(last[1].clone()), number(&totals[1]).map(Data::Float));
        }
    }
}

#[test]
fn xlsx_of_an_empty_report_is_a_summary_saying_so() {
    let bytes = render(&empty_report(), ReportFormat::Xlsx).expect("XLSX renders");
    let mut workbook = open_xlsx(bytes);
    assert_eq!(workbook.sheet_names(), vec!["Summary".to_owned()]);
    let summary = workbook.worksheet_range("Summary").expect("summary sheet");
    assert!(
        summary
            .rows()
            .flatten()
            .any(|c| c.get_string() == Some(NO_DATA))
    );
}

// ---------- PDF ----------

/// The PDF's pages as PNGs at 50 dpi, and its text, by poppler.
struct RenderedPdf {
    pages: Vec<image::GrayImage>,
    text: String,
}

fn rasterize(bytes: &[u8]) -> RenderedPdf {
    let dir = tempfile::tempdir().expect("temp dir");
    let pdf = dir.path().join("report.pdf");
    std::fs::write(&pdf, bytes).expect("write PDF");
    // To look at a rendering: MVIDARR_REPORT_KEEP=/some/dir keeps the PDF and its pages there.
    if let Some(keep) = std::env::var_os("MVIDARR_REPORT_KEEP") {
        let keep = Path::new(&keep).join(format!("report-{}-pages", bytes.len()));
        std::fs::create_dir_all(&keep).expect("keep dir");
        std::fs::write(keep.join("report.pdf"), bytes).expect("keep PDF");
        let _ = Command::new("pdftoppm")
            .args(["-r", "80", "-png"])
            .arg(keep.join("report.pdf"))
            .arg(keep.join("page"))
            .status();
    }
    let status = Command::new("pdftoppm")
        .args(["-r", "50", "-png"])
        .arg(&pdf)
        .arg(dir.path().join("page"))
        .status()
        .expect("pdftoppm runs (poppler-utils is installed by test.sh)");
    assert!(status.success(), "pdftoppm reads the PDF");
    let mut pngs: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list temp dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    let pages = pngs
        .iter()
        .map(|p| image::open(p).expect("a PNG page").to_luma8())
        .collect();
    RenderedPdf {
        pages,
        text: pdf_text(&pdf),
    }
}

fn pdf_text(pdf: &Path) -> String {
    let output = Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs (poppler-utils)");
    assert!(output.status.success(), "pdftotext reads the PDF");
    String::from_utf8(output.stdout).expect("UTF-8 text")
}

/// Share of a page's pixels that are not white.
fn ink_share(page: &image::GrayImage) -> f64 {
    let inked = page.pixels().filter(|p| p.0[0] < 235).count();
    inked as f64 / (page.width() * page.height()) as f64
}

/// Page 1: heading, key figures and the first 28 days; page 2: the last 12 days, the line chart
/// and the top media table; page 3: the bar chart (it no longer fits on page 2) and the start of
/// the catalogue; pages 4 and 5: the rest of the 120-row catalogue, its header repeated.
const FIXTURE_PAGES: usize = 5;

#[test]
fn pdf_pages_are_all_drawn_and_read_as_the_report() {
    let bytes = render(&fixture(), ReportFormat::Pdf).expect("PDF renders");
    assert!(bytes.starts_with(b"%PDF-"));
    let rendered = rasterize(&bytes);
    assert_eq!(rendered.pages.len(), FIXTURE_PAGES);
    for (i, page) in rendered.pages.iter().enumerate() {
        let share = ink_share(page);
        assert!(
            share > 0.02,
            "page {} has content ({share:.3} inked)",
            i + 1
        );
        // A4 portrait at 50 dpi.
        assert_eq!((page.width(), page.height()), (414, 585));
    }
    let text = &rendered.text;
    for wanted in [
        "Engagement: top media",
        "Northwind Studios",
        "1 Oct 2026 \u{2013} 9 Nov 2026 (UTC)",
        "Key figures",
        "Completion rate",
        "Plays and completions per day",
        "Plays by title",
        "Media catalogue (continued)",
        "Average completion",
        "Page 1 of 5",
        "Page 5 of 5",
        "Café interviews, part 2",
    ] {
        assert!(text.contains(wanted), "the PDF says {wanted:?}");
    }
    // Text the standard fonts cannot show is transliterated, not lost.
    assert!(text.contains("Dong Jing no Ye"), "transliterated title");
}

#[test]
fn pdf_of_an_empty_report_is_one_page_saying_so() {
    let bytes = render(&empty_report(), ReportFormat::Pdf).expect("PDF renders");
    let rendered = rasterize(&bytes);
    assert_eq!(rendered.pages.len(), 1);
    assert!(ink_share(&rendered.pages[0]) > 0.01);
    assert!(rendered.text.contains(NO_DATA));
    assert!(rendered.text.contains("Page 1 of 1"));
}

#[test]
fn rendering_is_deterministic() {
    let report = fixture();
    for format in ReportFormat::ALL {
        let first = render(&report, format).expect("renders");
        let second = render(&report, format).expect("renders");
        assert!(first == second, "{format} renders to the same bytes");
    }
}

#[test]
fn charts_naming_missing_columns_are_left_out_not_fatal() {
    let mut report = fixture();
    report.tables[0].chart = Some(Chart {
        title: "Broken".into(),
        kind: ChartKind::Line,
        x: 99,
        series: vec![42],
    });
    for format in ReportFormat::ALL {
        render(&report, format).expect("renders without the chart");
    }
    let bytes = render(&report, ReportFormat::Xlsx).expect("XLSX renders");
    let workbook = open_xlsx(bytes);
    assert!(
        !workbook
            .sheet_names()
            .iter()
            .any(|n| n == &format!("{TREND} chart"))
    );
}

/// Run with `cargo test -p mvidarr-report --release -- --ignored --nocapture`.
#[test]
#[ignore = "timing: run in release"]
fn thousand_rows_render_fast_in_every_format() {
    let mut numbers = Numbers(1);
    let mut big = catalogue_table(&mut numbers, 1_000);
    big.chart = Some(Chart {
        title: "Tags by upload".into(),
        kind: ChartKind::Line,
        x: 1,
        series: vec![4],
    });
    let report = report(vec![big]);
    for format in ReportFormat::ALL {
        let started = std::time::Instant::now();
        let bytes = render(&report, format).expect("renders");
        let took = started.elapsed();
        println!("{format}: {} bytes in {took:?}", bytes.len());
        assert!(
            took < std::time::Duration::from_millis(500),
            "{format} took {took:?}"
        );
    }
}
