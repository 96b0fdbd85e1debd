//! XLSX: a summary sheet, one typed worksheet per table and a chartsheet per charted table. See
//! the crate docs for what each sheet holds.

use std::collections::HashSet;

use chrono::Datelike;
use mvidarr_core::analytics::report::{Cell, ChartKind, Column, ColumnKind, ReportData, Table};
use rust_xlsxwriter::{
    Chart, ChartAxisCrossing, ChartLegendPosition, Color, DocProperties, ExcelDateTime, Format,
    FormatAlign, FormatBorder, Url, Workbook, Worksheet, XlsxError,
};

use crate::chart_plan::ChartPlan;
use crate::display::{cell_text, is_numeric};
use crate::heading::{generated_text, range_text, title};
use crate::{NO_DATA, RenderError};

const SUMMARY_SHEET: &str = "Summary";
/// Excel's limit on a sheet name, in characters.
const SHEET_NAME_MAX: usize = 31;
/// Column widths in Excel's character units: wide enough for a date, never a wall of text.
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;
const HEADER_FILL: u32 = 0x1F3A5F;
const TOTAL_FILL: u32 = 0xE8EDF3;

pub(crate) fn render(report: &ReportData) -> Result<Vec<u8>, RenderError> {
    let mut workbook = Workbook::new();
    let formats = Formats::new();
    let mut names = SheetNames::default();
    names.claim(SUMMARY_SHEET);

    // Sheet names first: the summary links to the table sheets.
    let empty = report.is_empty();
    let table_sheets: Vec<String> = if empty {
        Vec::new()
    } else {
        report.tables.iter().map(|t| names.claim(&t.name)).collect()
    };

    let mut summary = Worksheet::new();
    summary.set_name(SUMMARY_SHEET)?;
    write_summary(&mut summary, report, &table_sheets, &formats)?;
    workbook.push_worksheet(summary);

    for (table, sheet_name) in report.tables.iter().zip(&table_sheets) {
        let mut sheet = Worksheet::new();
        sheet.set_name(sheet_name)?;
        write_table(&mut sheet, table, &formats)?;
        workbook.push_worksheet(sheet);
        if let Some(plan) = ChartPlan::of(table) {
            let chart = chart(table, &plan, sheet_name);
            let mut chartsheet = Worksheet::new_chartsheet();
            chartsheet.set_name(names.claim(&format!("{} chart", table.name)))?;
            chartsheet.insert_chart(0, 0, &chart)?;
            workbook.push_worksheet(chartsheet);
        }
    }

    let mut properties = DocProperties::new()
        .set_title(format!("{} \u{2013} {}", title(report), report.tenant))
        .set_company(report.tenant.as_str());
    // The file's creation time is the report's, so a report renders to the same bytes.
    if let Ok(created) = ExcelDateTime::from_timestamp(report.generated_at.timestamp()) {
        properties = properties.set_creation_datetime(&created);
    }
    workbook.set_properties(&properties);
    Ok(workbook.save_to_buffer()?)
}

/// The formats the sheets share (Excel keeps one copy of each in the workbook).
struct Formats {
    title: Format,
    subtitle: Format,
    muted: Format,
    section: Format,
    label: Format,
    header: Format,
    header_numeric: Format,
    total_label: Format,
    link: Format,
}

impl Formats {
    fn new() -> Self {
        let header = Format::new()
            .set_bold()
            .set_font_color(Color::White)
            .set_background_color(Color::RGB(HEADER_FILL))
            .set_border_bottom(FormatBorder::Thin)
            .set_text_wrap();
        Self {
            title: Format::new().set_bold().set_font_size(18),
            subtitle: Format::new().set_font_size(12),
            muted: Format::new().set_font_color(Color::RGB(0x5A6270)),
            section: Format::new()
                .set_bold()
                .set_font_size(12)
                .set_border_bottom(FormatBorder::Thin),
            label: Format::new().set_font_color(Color::RGB(0x5A6270)),
            header_numeric: header.clone().set_align(FormatAlign::Right),
            header,
            total_label: total_format(Format::new()),
            link: Format::new()
                .set_font_color(Color::RGB(0x1F5FAF))
                .set_underline(rust_xlsxwriter::FormatUnderline::Single),
        }
    }
}

/// The number format a column's cells are shown with.
fn value_format(kind: ColumnKind) -> Format {
    match kind {
        ColumnKind::Integer | ColumnKind::DurationMs => Format::new().set_num_format("#,##0"),
        ColumnKind::Number => Format::new().set_num_format("#,##0.00"),
        ColumnKind::Percent => Format::new().set_num_format("0.0%"),
        ColumnKind::Date => Format::new()
            .set_num_format("yyyy-mm-dd")
            .set_align(FormatAlign::Left),
        ColumnKind::Text => Format::new(),
    }
}

fn total_format(format: Format) -> Format {
    format
        .set_bold()
        .set_background_color(Color::RGB(TOTAL_FILL))
        .set_border_top(FormatBorder::Thin)
}

fn write_summary(
    sheet: &mut Worksheet,
    report: &ReportData,
    table_sheets: &[String],
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.set_screen_gridlines(false);
    sheet.set_column_width(0, 34)?;
    sheet.set_column_width(1, 24)?;
    sheet.write_string_with_format(0, 0, title(report), &formats.title)?;
    sheet.set_row_height(0, 26)?;
    sheet.write_string_with_format(1, 0, &report.tenant, &formats.subtitle)?;
    sheet.write_string_with_format(2, 0, range_text(report.from, report.to), &formats.muted)?;
    sheet.write_string_with_format(3, 0, generated_text(report.generated_at), &formats.muted)?;

    let mut row = 5;
    if report.is_empty() {
        sheet.write_string_with_format(row, 0, NO_DATA, &formats.section)?;
        return Ok(());
    }
    if !report.highlights.is_empty() {
        sheet.write_string_with_format(row, 0, "Key figures", &formats.section)?;
        sheet.write_blank(row, 1, &formats.section)?;
        row += 1;
        for (label, cell) in &report.highlights {
            sheet.write_string_with_format(row, 0, label, &formats.label)?;
            // A key figure has no column: its own type picks the format.
            let kind = match cell {
                Cell::Integer(_) => ColumnKind::Integer,
                Cell::Date(_) => ColumnKind::Date,
                Cell::Text(_) => ColumnKind::Text,
                Cell::Number(_) | Cell::Empty => ColumnKind::Number,
            };
            write_cell(
                sheet,
                row,
                1,
                cell,
                kind,
                &value_format(kind).set_align(FormatAlign::Right),
            )?;
            row += 1;
        }
        row += 1;
    }
    sheet.write_string_with_format(row, 0, "Tables", &formats.section)?;
    sheet.write_blank(row, 1, &formats.section)?;
    row += 1;
    for (table, sheet_name) in report.tables.iter().zip(table_sheets) {
        let link = Url::new(format!("internal:{}!A1", quoted_sheet(sheet_name)))
            .set_text(table.name.as_str());
        sheet.write_url_with_format(row, 0, link, &formats.link)?;
        let rows = table.rows.len();
        let noun = if rows == 1 { "row" } else { "rows" };
        sheet.write_string_with_format(row, 1, format!("{rows} {noun}"), &formats.muted)?;
        row += 1;
    }
    Ok(())
}

fn write_table(sheet: &mut Worksheet, table: &Table, formats: &Formats) -> Result<(), XlsxError> {
    let column_formats: Vec<Format> = table.columns.iter().map(|c| value_format(c.kind)).collect();
    for (col, column) in table.columns.iter().enumerate() {
        let col = column_index(col)?;
        let format = if is_numeric(column.kind) {
            &formats.header_numeric
        } else {
            &formats.header
        };
        sheet.write_string_with_format(0, col, header(column), format)?;
    }
    let mut row = 1u32;
    for cells in &table.rows {
        for (col, column) in table.columns.iter().enumerate() {
            if let Some(cell) = cells.get(col) {
                write_cell(
                    sheet,
                    row,
                    column_index(col)?,
                    cell,
                    column.kind,
                    &column_formats[col],
                )?;
            }
        }
        row += 1;
    }
    let last_data_row = row - 1;
    if let Some(totals) = &table.totals {
        for (col, column) in table.columns.iter().enumerate() {
            let col16 = column_index(col)?;
            match totals.get(col) {
                Some(Cell::Empty) | None if col == 0 => {
                    sheet.write_string_with_format(row, col16, "Total", &formats.total_label)?;
                }
                Some(cell) => {
                    let format = total_format(column_formats[col].clone());
                    write_cell(sheet, row, col16, cell, column.kind, &format)?;
                }
                None => {
                    sheet.write_blank(row, col16, &formats.total_label)?;
                }
            }
        }
    }
    if !table.columns.is_empty() {
        let last_col = column_index(table.columns.len() - 1)?;
        sheet.set_freeze_panes(1, 0)?;
        // Filtering the data rows only: the totals row stays put below them.
        sheet.autofilter(0, 0, last_data_row, last_col)?;
        sheet.set_row_height(0, 30)?;
    }
    for (col, width) in column_widths(table).into_iter().enumerate() {
        sheet.set_column_width(column_index(col)?, width as f64)?;
    }
    Ok(())
}

/// Writes one typed cell: numbers as numbers, dates as Excel dates, so the reader can compute.
fn write_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell,
    kind: ColumnKind,
    format: &Format,
) -> Result<(), XlsxError> {
    match cell {
        Cell::Empty => {
            sheet.write_blank(row, col, format)?;
        }
        Cell::Integer(n) => {
            sheet.write_number_with_format(row, col, *n as f64, format)?;
        }
        Cell::Number(x) if x.is_finite() => {
            let value = if kind == ColumnKind::DurationMs || kind == ColumnKind::Integer {
                x.round()
            } else {
                *x
            };
            sheet.write_number_with_format(row, col, value, format)?;
        }
        Cell::Number(_) => {
            sheet.write_blank(row, col, format)?;
        }
        Cell::Text(text) => {
            sheet.write_string_with_format(row, col, text, format)?;
        }
        Cell::Date(day) => match excel_date(*day) {
            Some(date) => {
                let date_format = if kind == ColumnKind::Date {
                    format.clone()
                } else {
                    value_format(ColumnKind::Date)
                };
                sheet.write_datetime_with_format(row, col, &date, &date_format)?;
            }
            // Excel has no dates before 1900: keep the day readable as text.
            None => {
                sheet.write_string_with_format(
                    row,
                    col,
                    day.format("%Y-%m-%d").to_string(),
                    format,
                )?;
            }
        },
    }
    Ok(())
}

fn excel_date(day: chrono::NaiveDate) -> Option<ExcelDateTime> {
    let year = u16::try_from(day.year()).ok()?;
    let month = u8::try_from(day.month()).ok()?;
    let date = u8::try_from(day.day()).ok()?;
    ExcelDateTime::from_ymd(year, month, date).ok()
}

/// A column's header; a duration says its unit, since the cells hold plain milliseconds.
fn header(column: &Column) -> String {
    match column.kind {
        ColumnKind::DurationMs => format!("{} (ms)", column.name),
        _ => column.name.clone(),
    }
}

/// Widths from the longest shown value per column (headers wrap, so they count by word).
fn column_widths(table: &Table) -> Vec<usize> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(col, column)| {
            let header_word = header(column)
                .split_whitespace()
                .map(|w| w.chars().count())
                .max()
                .unwrap_or(0);
            let values = table
                .rows
                .iter()
                .chain(table.totals.iter())
                .filter_map(|row| row.get(col))
                .map(|cell| cell_text(cell, Some(column.kind)).chars().count())
                .max()
                .unwrap_or(0);
            (header_word.max(values) + 3).clamp(MIN_WIDTH, MAX_WIDTH)
        })
        .collect()
}

fn column_index(col: usize) -> Result<u16, XlsxError> {
    u16::try_from(col).map_err(|_| XlsxError::RowColumnLimitError)
}

fn quoted_sheet(name: &str) -> String {
    format!("'{}'", name.replace('\'', "''"))
}

/// A chart of the table's sheet: categories from the x column, one series per value column.
fn chart(table: &Table, plan: &ChartPlan<'_>, sheet_name: &str) -> Chart {
    let mut chart = match plan.kind {
        ChartKind::Line => Chart::new_line(),
        ChartKind::Bar => Chart::new_bar(),
    };
    let last_row = u32::try_from(table.rows.len()).unwrap_or(u32::MAX);
    let x = u16::try_from(plan.x).unwrap_or(u16::MAX);
    for &series_col in &plan.series {
        let col = u16::try_from(series_col).unwrap_or(u16::MAX);
        chart
            .add_series()
            .set_name((sheet_name, 0, col))
            .set_categories((sheet_name, 1, x, last_row, x))
            .set_values((sheet_name, 1, col, last_row, col));
    }
    chart.title().set_name(plan.title);
    chart.legend().set_position(ChartLegendPosition::Bottom);
    let value_format = match plan.value_kind(table) {
        ColumnKind::Percent => "0%",
        ColumnKind::Number => "#,##0.##",
        _ => "#,##0",
    };
    chart.y_axis().set_num_format(value_format);
    if plan.kind == ChartKind::Bar {
        // Bars read top-down in the table's order (the first row is the top one); the value
        // axis stays at the bottom.
        chart
            .x_axis()
            .set_reverse()
            .set_crossing(ChartAxisCrossing::Max);
    }
    if table.columns.get(plan.x).map(|c| c.kind) == Some(ColumnKind::Date) {
        chart.x_axis().set_date_axis(true).set_num_format("d mmm");
    }
    chart
}

/// Sheet names as Excel allows them: no `[]:*?/\`, at most 31 characters, unique regardless of
/// case.
#[derive(Default)]
struct SheetNames {
    taken: HashSet<String>,
}

impl SheetNames {
    /// A free name as close to `wanted` as Excel allows, now taken.
    fn claim(&mut self, wanted: &str) -> String {
        let cleaned: String = wanted
            .chars()
            .map(|c| match c {
                '[' | ']' | ':' | '*' | '?' | '/' | '\\' => '-',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect();
        let cleaned = cleaned.trim().trim_matches('\'').trim();
        let base = if cleaned.is_empty() || cleaned.eq_ignore_ascii_case("history") {
            "Table"
        } else {
            cleaned
        };
        let mut suffix_number = 1;
        loop {
            let suffix = if suffix_number == 1 {
                String::new()
            } else {
                format!(" ({suffix_number})")
            };
            let room = SHEET_NAME_MAX - suffix.chars().count();
            let stem: String = base.chars().take(room).collect();
            let name = format!("{}{suffix}", stem.trim_end());
            if self.taken.insert(name.to_lowercase()) {
                return name;
            }
            suffix_number += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_cleaned_shortened_and_unique() {
        let mut names = SheetNames::default();
        assert_eq!(names.claim("Summary"), "Summary");
        assert_eq!(names.claim("summary"), "summary (2)");
        assert_eq!(names.claim("Plays [by day]: 1/2"), "Plays -by day-- 1-2");
        let long = "A very long table name that Excel would refuse";
        let first = names.claim(long);
        assert_eq!(first.chars().count(), SHEET_NAME_MAX);
        let second = names.claim(long);
        assert!(second.ends_with(" (2)") && second.chars().count() <= SHEET_NAME_MAX);
        assert_eq!(names.claim("''"), "Table");
        assert_eq!(names.claim("History"), "Table (2)");
    }

    #[test]
    fn dates_before_1900_are_not_excel_dates() {
        let old = chrono::NaiveDate::from_ymd_opt(1850, 1, 1).expect("valid date");
        assert!(excel_date(old).is_none());
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date");
        assert!(excel_date(day).is_some());
    }
}
