//! Reports as data: what a report says, whatever it is rendered as (CSV, XLSX, PDF). A report
//! is a title, the range it covers, and tables of typed cells, each table with an optional
//! chart of some of its columns. Renderers only lay it out; every figure is computed before.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The reports there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Library size, uploads, quarantines, analyses by day.
    LibraryOverview,
    /// Analysis outcomes and times, failures by reason.
    AnalysisQuality,
    /// Tag decisions: by tag and by reviewer, acceptance rates.
    TagReview,
    /// The most watched media: plays, completions, watch time, distinct users.
    Engagement,
    /// Every daily count over the range.
    Trend,
}

impl ReportKind {
    pub const ALL: [ReportKind; 5] = [
        ReportKind::LibraryOverview,
        ReportKind::AnalysisQuality,
        ReportKind::TagReview,
        ReportKind::Engagement,
        ReportKind::Trend,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::LibraryOverview => "library_overview",
            ReportKind::AnalysisQuality => "analysis_quality",
            ReportKind::TagReview => "tag_review",
            ReportKind::Engagement => "engagement",
            ReportKind::Trend => "trend",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ReportKind::LibraryOverview => "Library overview",
            ReportKind::AnalysisQuality => "Analysis quality",
            ReportKind::TagReview => "Tag review productivity",
            ReportKind::Engagement => "Engagement: top media",
            ReportKind::Trend => "Trend over time",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown report {s:?}; one of {}",
                    Self::ALL.map(ReportKind::as_str).join(", ")
                )
            })
    }
}

/// What a report is rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Csv,
    Xlsx,
    Pdf,
}

impl ReportFormat {
    pub const ALL: [ReportFormat; 3] = [ReportFormat::Csv, ReportFormat::Xlsx, ReportFormat::Pdf];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Csv => "csv",
            ReportFormat::Xlsx => "xlsx",
            ReportFormat::Pdf => "pdf",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ReportFormat::Pdf => "application/pdf",
        }
    }
}

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown format {s:?}; one of csv, xlsx, pdf"))
    }
}

/// How a column's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Text,
    Integer,
    /// A number with decimals.
    Number,
    /// A fraction 0–1 shown as a percentage.
    Percent,
    /// A UTC day.
    Date,
    /// Milliseconds, shown as a duration.
    DurationMs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

impl Column {
    pub fn new(name: impl Into<String>, kind: ColumnKind) -> Self {
        Self {
            name: name.into(),
            kind,
        }
    }
}

/// One value. `Empty` where there is nothing to say (a rate of nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    Empty,
    Integer(i64),
    Number(f64),
    Text(String),
    Date(chrono::NaiveDate),
}

impl From<u64> for Cell {
    fn from(n: u64) -> Self {
        Cell::Integer(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<Option<f64>> for Cell {
    fn from(n: Option<f64>) -> Self {
        n.map_or(Cell::Empty, Cell::Number)
    }
}

impl From<Option<u64>> for Cell {
    fn from(n: Option<u64>) -> Self {
        n.map_or(Cell::Empty, Cell::from)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }
}

/// How a table is charted: `x` is a column, `series` are numeric columns drawn against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub title: String,
    pub kind: ChartKind,
    pub x: usize,
    pub series: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    Line,
    Bar,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// Totals of the numeric columns, where adding them up means something.
    pub totals: Option<Vec<Cell>>,
    pub chart: Option<Chart>,
}

/// A report, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    pub kind: ReportKind,
    /// The tenant's name, for the heading.
    pub tenant: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub generated_at: Timestamp,
    /// Key figures, shown first (`label`, value).
    pub highlights: Vec<(String, Cell)>,
    pub tables: Vec<Table>,
}

impl ReportData {
    /// Whether there is anything to show: a report of an empty range says so.
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| t.rows.is_empty())
    }
}
