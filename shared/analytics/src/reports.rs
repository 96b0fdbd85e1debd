//! The report definitions: which queries each report runs and how their rows become the
//! tables, charts and key figures of a [`ReportData`]. Engine-agnostic: DataFusion locally,
//! Athena in AWS, the same queries.

use std::collections::{BTreeMap, HashMap};

use mvidarr_core::Timestamp;
use mvidarr_core::analytics::TimeRange;
use mvidarr_core::analytics::report::{
    Cell, Chart, ChartKind, Column, ColumnKind, ReportData, ReportKind, Table,
};
use mvidarr_core::ids::TenantId;

use crate::query::{QueryEngine, QueryError, ReportQuery, Rows};

/// How many media the engagement report ranks.
pub const TOP_MEDIA: usize = 25;

/// Who the report is for and what it covers.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub kind: ReportKind,
    pub tenant: TenantId,
    pub tenant_name: String,
    pub range: TimeRange,
    pub generated_at: Timestamp,
}

/// Run a report's queries and lay out their answers. `titles` names media by id (those it
/// does not know are shown by id).
pub async fn build<E: QueryEngine>(
    engine: &E,
    request: &ReportRequest,
    titles: &HashMap<String, String>,
) -> Result<ReportData, QueryError> {
    let run = |query| engine.run(request.tenant, request.range, query);
    let (highlights, tables) = match request.kind {
        ReportKind::LibraryOverview => {
            let daily = run(ReportQuery::Daily).await?;
            let reasons = run(ReportQuery::Quarantines).await?;
            library(&daily, &reasons)
        }
        ReportKind::AnalysisQuality => {
            let analyses = run(ReportQuery::Analyses).await?;
            let reasons = run(ReportQuery::Quarantines).await?;
            quality(&analyses, &reasons)
        }
        ReportKind::TagReview => tag_review(&run(ReportQuery::TagDecisions).await?),
        ReportKind::Engagement => engagement(
            &run(ReportQuery::TopMedia { limit: TOP_MEDIA }).await?,
            titles,
        ),
        ReportKind::Trend => trend(&run(ReportQuery::Daily).await?),
    };
    Ok(ReportData {
        kind: request.kind,
        tenant: request.tenant_name.clone(),
        from: request.range.from,
        to: request.range.to,
        generated_at: request.generated_at,
        highlights,
        tables,
    })
}

/// The media ids a report's engagement query will rank, for looking up titles first.
pub async fn ranked_media<E: QueryEngine>(
    engine: &E,
    request: &ReportRequest,
) -> Result<Vec<String>, QueryError> {
    if request.kind != ReportKind::Engagement {
        return Ok(Vec::new());
    }
    let top = engine
        .run(
            request.tenant,
            request.range,
            ReportQuery::TopMedia { limit: TOP_MEDIA },
        )
        .await?;
    Ok(top
        .rows
        .iter()
        .filter_map(|r| match r.first() {
            Some(Cell::Text(id)) => Some(id.clone()),
            _ => None,
        })
        .collect())
}

type Layout = (Vec<(String, Cell)>, Vec<Table>);

/// The integer in a row's column (0 where empty or absent).
fn int(rows: &Rows, row: &[Cell], name: &str) -> i64 {
    match rows.column(name).map(|i| &row[i]) {
        Some(Cell::Integer(n)) => *n,
        Some(Cell::Number(x)) => *x as i64,
        _ => 0,
    }
}

fn number(rows: &Rows, row: &[Cell], name: &str) -> Cell {
    match rows.column(name).map(|i| &row[i]) {
        Some(Cell::Number(x)) => Cell::Number(*x),
        Some(Cell::Integer(n)) => Cell::Number(*n as f64),
        _ => Cell::Empty,
    }
}

fn sum(rows: &Rows, name: &str) -> i64 {
    rows.rows.iter().map(|r| int(rows, r, name)).sum()
}

fn ratio(part: i64, whole: i64) -> Cell {
    if whole > 0 {
        Cell::Number(part as f64 / whole as f64)
    } else {
        Cell::Empty
    }
}

/// A rate among the key figures, which carry no column kind: written as a percentage.
fn percent(part: i64, whole: i64) -> Cell {
    match ratio(part, whole) {
        Cell::Number(r) => Cell::Text(format!("{:.1}%", r * 100.0)),
        other => other,
    }
}

fn day(rows: &Rows, row: &[Cell]) -> Cell {
    rows.column("day").map_or(Cell::Empty, |i| row[i].clone())
}

/// A table of some of a query's integer columns by day, with totals.
fn by_day(rows: &Rows, name: &str, columns: &[(&str, &str)], chart: Option<Chart>) -> Table {
    let mut header = vec![Column::new("Day", ColumnKind::Date)];
    header.extend(
        columns
            .iter()
            .map(|(_, title)| Column::new(*title, ColumnKind::Integer)),
    );
    let body = rows
        .rows
        .iter()
        .map(|r| {
            let mut cells = vec![day(rows, r)];
            cells.extend(columns.iter().map(|(c, _)| Cell::Integer(int(rows, r, c))));
            cells
        })
        .collect();
    let mut totals = vec![Cell::Text("Total".into())];
    totals.extend(columns.iter().map(|(c, _)| Cell::Integer(sum(rows, c))));
    Table {
        name: name.into(),
        columns: header,
        rows: body,
        totals: Some(totals),
        chart,
    }
}

fn reasons_table(reasons: &Rows) -> Table {
    Table {
        name: "Quarantined uploads by reason".into(),
        columns: vec![
            Column::new("Reason", ColumnKind::Text),
            Column::new("Uploads", ColumnKind::Integer),
        ],
        rows: reasons
            .rows
            .iter()
            .map(|r| vec![r[0].clone(), Cell::Integer(int(reasons, r, "uploads"))])
            .collect(),
        totals: Some(vec![
            Cell::Text("Total".into()),
            Cell::Integer(sum(reasons, "uploads")),
        ]),
        chart: None,
    }
}

fn library(daily: &Rows, reasons: &Rows) -> Layout {
    let (uploads, analyses, failures) = (
        sum(daily, "uploads"),
        sum(daily, "analyses"),
        sum(daily, "analysis_failures"),
    );
    let highlights = vec![
        ("Uploads".into(), Cell::Integer(uploads)),
        (
            "Quarantined".into(),
            Cell::Integer(sum(daily, "quarantines")),
        ),
        ("Analyses finished".into(), Cell::Integer(analyses)),
        (
            "Analysis success rate".into(),
            percent(analyses - failures, analyses),
        ),
    ];
    let chart = Chart {
        title: "Uploads and analyses by day".into(),
        kind: ChartKind::Line,
        x: 0,
        series: vec![1, 3],
    };
    let table = by_day(
        daily,
        "Library activity by day",
        &[
            ("uploads", "Uploads"),
            ("quarantines", "Quarantined"),
            ("analyses", "Analyses"),
            ("analysis_failures", "Failed analyses"),
        ],
        Some(chart),
    );
    (highlights, vec![table, reasons_table(reasons)])
}

fn quality(analyses: &Rows, reasons: &Rows) -> Layout {
    let (total, failures) = (sum(analyses, "analyses"), sum(analyses, "failures"));
    let weighted: f64 = analyses
        .rows
        .iter()
        .map(|r| match number(analyses, r, "mean_ms") {
            Cell::Number(mean) => mean * int(analyses, r, "analyses") as f64,
            _ => 0.0,
        })
        .sum();
    let mean = if total > 0 {
        Cell::Number(weighted / total as f64)
    } else {
        Cell::Empty
    };
    let highlights = vec![
        ("Analyses finished".into(), Cell::Integer(total)),
        ("Failed".into(), Cell::Integer(failures)),
        ("Success rate".into(), percent(total - failures, total)),
        ("Mean time from upload (ms)".into(), mean),
    ];
    let table = Table {
        name: "Analyses by day".into(),
        columns: vec![
            Column::new("Day", ColumnKind::Date),
            Column::new("Analyses", ColumnKind::Integer),
            Column::new("Failed", ColumnKind::Integer),
            Column::new("Success rate", ColumnKind::Percent),
            Column::new("Mean time", ColumnKind::DurationMs),
            Column::new("Longest", ColumnKind::DurationMs),
        ],
        rows: analyses
            .rows
            .iter()
            .map(|r| {
                let (n, failed) = (int(analyses, r, "analyses"), int(analyses, r, "failures"));
                vec![
                    day(analyses, r),
                    Cell::Integer(n),
                    Cell::Integer(failed),
                    ratio(n - failed, n),
                    number(analyses, r, "mean_ms"),
                    number(analyses, r, "max_ms"),
                ]
            })
            .collect(),
        totals: Some(vec![
            Cell::Text("Total".into()),
            Cell::Integer(total),
            Cell::Integer(failures),
            ratio(total - failures, total),
            Cell::Empty,
            Cell::Empty,
        ]),
        chart: Some(Chart {
            title: "Analyses and failures by day".into(),
            kind: ChartKind::Bar,
            x: 0,
            series: vec![1, 2],
        }),
    };
    (highlights, vec![table, reasons_table(reasons)])
}

fn tag_review(decisions: &Rows) -> Layout {
    let mut by_tag: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut by_reviewer: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in &decisions.rows {
        let text = |i: usize| match &r[i] {
            Cell::Text(s) => s.clone(),
            _ => "(unknown)".into(),
        };
        let (accepted, rejected) = (int(decisions, r, "accepted"), int(decisions, r, "rejected"));
        for (map, key) in [(&mut by_tag, text(0)), (&mut by_reviewer, text(1))] {
            let entry = map.entry(key).or_default();
            entry.0 += accepted;
            entry.1 += rejected;
        }
    }
    let (accepted, rejected) = (sum(decisions, "accepted"), sum(decisions, "rejected"));
    let highlights = vec![
        ("Decisions".into(), Cell::Integer(accepted + rejected)),
        ("Accepted".into(), Cell::Integer(accepted)),
        ("Rejected".into(), Cell::Integer(rejected)),
        (
            "Acceptance rate".into(),
            percent(accepted, accepted + rejected),
        ),
        ("Reviewers".into(), Cell::Integer(by_reviewer.len() as i64)),
    ];
    let table = |name: &str, first: &str, map: BTreeMap<String, (i64, i64)>, chart| {
        let mut rows: Vec<(String, (i64, i64))> = map.into_iter().collect();
        rows.sort_by(|a, b| (b.1.0 + b.1.1, &a.0).cmp(&(a.1.0 + a.1.1, &b.0)));
        Table {
            name: name.into(),
            columns: vec![
                Column::new(first, ColumnKind::Text),
                Column::new("Accepted", ColumnKind::Integer),
                Column::new("Rejected", ColumnKind::Integer),
                Column::new("Acceptance rate", ColumnKind::Percent),
            ],
            rows: rows
                .into_iter()
                .map(|(key, (a, r))| {
                    vec![
                        Cell::Text(key),
                        Cell::Integer(a),
                        Cell::Integer(r),
                        ratio(a, a + r),
                    ]
                })
                .collect(),
            totals: Some(vec![
                Cell::Text("Total".into()),
                Cell::Integer(accepted),
                Cell::Integer(rejected),
                ratio(accepted, accepted + rejected),
            ]),
            chart,
        }
    };
    let chart = Chart {
        title: "Decisions by tag".into(),
        kind: ChartKind::Bar,
        x: 0,
        series: vec![1, 2],
    };
    let tables = vec![
        table("Decisions by tag", "Tag", by_tag, Some(chart)),
        table("Decisions by reviewer", "Reviewer", by_reviewer, None),
    ];
    (highlights, tables)
}

fn engagement(top: &Rows, titles: &HashMap<String, String>) -> Layout {
    let columns = [
        ("plays", "Plays"),
        ("views", "Views"),
        ("completions", "Completions"),
        ("likes", "Likes"),
        ("skips", "Skips"),
        ("unique_users", "People"),
    ];
    let mut header = vec![Column::new("Media", ColumnKind::Text)];
    header.extend(
        columns
            .iter()
            .map(|(_, t)| Column::new(*t, ColumnKind::Integer)),
    );
    header.push(Column::new("Completion rate", ColumnKind::Percent));
    header.push(Column::new("Watch time", ColumnKind::DurationMs));
    let rows: Vec<Vec<Cell>> = top
        .rows
        .iter()
        .map(|r| {
            let name = match &r[0] {
                Cell::Text(id) => Cell::Text(titles.get(id).cloned().unwrap_or_else(|| id.clone())),
                other => other.clone(),
            };
            let mut cells = vec![name];
            cells.extend(columns.iter().map(|(c, _)| Cell::Integer(int(top, r, c))));
            cells.push(ratio(int(top, r, "completions"), int(top, r, "plays")));
            cells.push(Cell::Integer(int(top, r, "watch_ms")));
            cells
        })
        .collect();
    let (plays, completions) = (sum(top, "plays"), sum(top, "completions"));
    let highlights = vec![
        ("Plays of the top media".into(), Cell::Integer(plays)),
        ("Their completion rate".into(), percent(completions, plays)),
        // In hours, to a tenth: a key figure of billions of milliseconds reads as noise (the
        // table's cells and totals keep milliseconds, shown as hours and minutes).
        (
            "Watch time (hours)".into(),
            Cell::Number((sum(top, "watch_ms") as f64 / 360_000.0).round() / 10.0),
        ),
    ];
    let mut totals = vec![Cell::Text("Total".into())];
    totals.extend(columns.iter().map(|(c, _)| match *c {
        // People are not additive over media.
        "unique_users" => Cell::Empty,
        c => Cell::Integer(sum(top, c)),
    }));
    totals.push(ratio(completions, plays));
    totals.push(Cell::Integer(sum(top, "watch_ms")));
    let table = Table {
        name: format!("Top {} media by plays", rows.len()),
        columns: header,
        rows,
        totals: Some(totals),
        chart: Some(Chart {
            title: "Plays and completions".into(),
            kind: ChartKind::Bar,
            x: 0,
            series: vec![1, 3],
        }),
    };
    (highlights, vec![table])
}

fn trend(daily: &Rows) -> Layout {
    let columns = [
        ("plays", "Plays"),
        ("views", "Views"),
        ("completions", "Completions"),
        ("likes", "Likes"),
        ("skips", "Skips"),
        ("unique_users", "People"),
        ("uploads", "Uploads"),
        ("analyses", "Analyses"),
        ("tags_accepted", "Tags accepted"),
        ("tags_rejected", "Tags rejected"),
        ("api_calls", "API calls"),
    ];
    let mut table = by_day(
        daily,
        "Daily activity",
        &columns,
        Some(Chart {
            title: "Plays, views and people by day".into(),
            kind: ChartKind::Line,
            x: 0,
            series: vec![1, 2, 6],
        }),
    );
    // People are not additive over days.
    if let Some(totals) = &mut table.totals {
        totals[6] = Cell::Empty;
    }
    let highlights = vec![
        ("Plays".into(), Cell::Integer(sum(daily, "plays"))),
        ("Views".into(), Cell::Integer(sum(daily, "views"))),
        ("Uploads".into(), Cell::Integer(sum(daily, "uploads"))),
        ("API calls".into(), Cell::Integer(sum(daily, "api_calls"))),
    ];
    (highlights, vec![table])
}
