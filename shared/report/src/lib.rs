//! Renders a report that is already computed ([`ReportData`]: a heading, key figures and typed
//! tables, some with a chart) into the bytes of a CSV, XLSX or PDF file. Nothing here computes a
//! figure: every format lays out the same cells, so the three always agree.
//!
//! # What each format contains, and why
//!
//! - **CSV** ([`ReportFormat::Csv`]) is for machines (spreadsheets, scripts, BI imports): RFC 4180,
//!   UTF-8, no title block. One section per table: a line holding the table's name alone, the
//!   header row, the rows, an optional `Total` row, then an empty line before the next table.
//!   Numbers are plain (`1234.5`, no thousands separator); percentages are written 0–100 with the
//!   column name suffixed ` (%)` (a bare `0.25` would be ambiguous); durations are whole
//!   milliseconds with ` (ms)`; dates are ISO (`2026-11-01`). A report with no rows keeps each
//!   table's name and header (so an importer still sees the schema) and ends with the line
//!   `No data in this range.`
//! - **XLSX** ([`ReportFormat::Xlsx`]) is for a manager who wants to filter and re-chart: a
//!   `Summary` sheet (title, tenant, range, generation time, key figures, the list of tables), then
//!   one worksheet per table with real typed cells (numbers, Excel dates with a date format,
//!   percentages as fractions formatted `0.0%`, durations as milliseconds), a bold frozen header
//!   with an autofilter, fitted column widths and a bold totals row; each charted table is followed
//!   by a chartsheet whose chart references the worksheet's cells, so it stays live if the reader
//!   edits them. A report with no rows is the `Summary` sheet alone, saying so.
//! - **PDF** ([`ReportFormat::Pdf`]) is for reading and forwarding: A4 portrait, a heading and key
//!   figure cards on page 1, then each table (right-aligned numbers, zebra rows, truncated long
//!   text, header row repeated after a page break) followed by its chart, and `Page n of N` in
//!   every footer. Text uses the PDF standard fonts Helvetica and Helvetica-Bold, which every
//!   reader has built in: no font file is embedded or needed on the machine, and layout uses
//!   Helvetica's published metrics. Charts are drawn by `plotters` through a backend that writes
//!   PDF vector operations, so they stay sharp at any zoom. Text outside the Windows-1252 range
//!   the standard fonts cover is transliterated (`東京` reads `Dong Jing`). A report with no rows
//!   is one page that says so.
//!
//! Ranges are half-open like everywhere in the platform: a report `from` 1 Nov `to` 1 Dec
//! 00:00 covers November and is headed "1 Nov 2026 – 30 Nov 2026".
//!
//! Rendering is deterministic (the PDF's dates come from `generated_at`), so the same report
//! renders to the same bytes.

mod chart_plan;
mod csv_format;
mod display;
mod heading;
mod pdf;
mod xlsx;

pub use mvidarr_core::analytics::report::{
    Cell, Chart, ChartKind, Column, ColumnKind, ReportData, ReportFormat, Table,
};

/// Why a report could not be rendered. Every variant is a bug or a resource failure, never a
/// property of the figures: any `ReportData` renders.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing XLSX: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("drawing chart {chart:?}: {reason}")]
    Chart { chart: String, reason: String },
}

/// Renders `report` as `format`: the complete file, ready to store or send with
/// [`ReportFormat::content_type`].
pub fn render(report: &ReportData, format: ReportFormat) -> Result<Vec<u8>, RenderError> {
    match format {
        ReportFormat::Csv => csv_format::render(report),
        ReportFormat::Xlsx => xlsx::render(report),
        ReportFormat::Pdf => pdf::render(report),
    }
}

/// What every format says when a report has no rows.
pub const NO_DATA: &str = "No data in this range.";
