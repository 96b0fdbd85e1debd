//! CSV: one section per table for importers. See the crate docs for the layout.

use mvidarr_core::analytics::report::{Cell, Column, ColumnKind, ReportData, Table};

use crate::{NO_DATA, RenderError};

pub(crate) fn render(report: &ReportData) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::new();
    let empty = report.is_empty();
    for (i, table) in report.tables.iter().enumerate() {
        if i > 0 {
            // A truly empty line: the csv writer would write an empty record as `""`.
            out.extend_from_slice(b"\r\n");
        }
        let mut writer = section_writer(&mut out);
        write_table(&mut writer, table, empty)?;
        writer.flush().map_err(csv::Error::from)?;
    }
    if empty {
        if !report.tables.is_empty() {
            out.extend_from_slice(b"\r\n");
        }
        let mut writer = section_writer(&mut out);
        writer.write_record([NO_DATA])?;
        writer.flush().map_err(csv::Error::from)?;
    }
    Ok(out)
}

/// A writer for one section. Flexible: the name line has one field, the rows one per column.
fn section_writer(out: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new()
        .flexible(true)
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

fn write_table(
    writer: &mut csv::Writer<&mut Vec<u8>>,
    table: &Table,
    header_only: bool,
) -> Result<(), RenderError> {
    writer.write_record([table.name.as_str()])?;
    writer.write_record(table.columns.iter().map(header))?;
    if header_only {
        return Ok(());
    }
    for row in &table.rows {
        writer.write_record(row_fields(&table.columns, row))?;
    }
    if let Some(totals) = &table.totals {
        let mut fields = row_fields(&table.columns, totals);
        // The label goes where the totals leave room: the first cell, when it holds nothing.
        if let (Some(first), Some(Cell::Empty) | None) = (fields.first_mut(), totals.first()) {
            *first = "Total".to_owned();
        }
        writer.write_record(fields)?;
    }
    Ok(())
}

/// A column's header, with the unit its numbers are in.
fn header(column: &Column) -> String {
    match column.kind {
        ColumnKind::Percent => format!("{} (%)", column.name),
        ColumnKind::DurationMs => format!("{} (ms)", column.name),
        _ => column.name.clone(),
    }
}

/// One field per column: a short row is padded, so every line of a section has its width.
fn row_fields(columns: &[Column], row: &[Cell]) -> Vec<String> {
    columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            row.get(i)
                .map_or_else(String::new, |c| field(c, column.kind))
        })
        .collect()
}

fn field(cell: &Cell, kind: ColumnKind) -> String {
    match (cell, kind) {
        (Cell::Empty, _) => String::new(),
        (Cell::Text(text), _) => text.clone(),
        (Cell::Date(day), _) => day.format("%Y-%m-%d").to_string(),
        (Cell::Integer(n), ColumnKind::Percent) => (n.saturating_mul(100)).to_string(),
        (Cell::Integer(n), _) => n.to_string(),
        (Cell::Number(x), _) if !x.is_finite() => String::new(),
        (Cell::Number(x), ColumnKind::Percent) => plain_number(x * 100.0),
        (Cell::Number(x), ColumnKind::DurationMs | ColumnKind::Integer) => plain_number(x.round()),
        (Cell::Number(x), _) => plain_number(*x),
    }
}

/// The shortest text that reads back as `x`, after dropping the float noise a scaling adds
/// (`0.07 * 100` is `7.000000000000001`): ten decimals is far below any figure a report shows.
fn plain_number(x: f64) -> String {
    let rounded = (x * 1e10).round() / 1e10;
    let value = if rounded.is_finite() { rounded } else { x };
    if value == 0.0 {
        // No "-0".
        return "0".to_owned();
    }
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_written_out_of_100_without_float_noise() {
        assert_eq!(field(&Cell::Number(0.07), ColumnKind::Percent), "7");
        assert_eq!(field(&Cell::Number(0.255), ColumnKind::Percent), "25.5");
        assert_eq!(field(&Cell::Integer(1), ColumnKind::Percent), "100");
    }

    #[test]
    fn durations_are_whole_milliseconds() {
        assert_eq!(field(&Cell::Number(1234.6), ColumnKind::DurationMs), "1235");
        assert_eq!(field(&Cell::Integer(90), ColumnKind::DurationMs), "90");
    }

    #[test]
    fn numbers_are_plain_and_non_finite_is_empty() {
        assert_eq!(field(&Cell::Number(1234.5), ColumnKind::Number), "1234.5");
        assert_eq!(field(&Cell::Number(-0.0), ColumnKind::Number), "0");
        assert_eq!(field(&Cell::Number(f64::NAN), ColumnKind::Number), "");
    }

    #[test]
    fn headers_carry_their_unit() {
        assert_eq!(
            header(&Column::new("Completion", ColumnKind::Percent)),
            "Completion (%)"
        );
        assert_eq!(
            header(&Column::new("Watch time", ColumnKind::DurationMs)),
            "Watch time (ms)"
        );
        assert_eq!(header(&Column::new("Plays", ColumnKind::Integer)), "Plays");
    }

    #[test]
    fn short_rows_are_padded_to_the_columns() {
        let columns = [
            Column::new("A", ColumnKind::Text),
            Column::new("B", ColumnKind::Integer),
        ];
        assert_eq!(row_fields(&columns, &[Cell::from("x")]), ["x", ""]);
    }
}
