//! How a cell reads to a person (PDF tables, key figures, chart axes): grouped thousands, two
//! decimals, percentages from fractions, durations in the largest sensible unit. The CSV and
//! XLSX writers keep raw values instead and never go through here.

use mvidarr_core::analytics::report::{Cell, ColumnKind};

/// What an empty cell shows: a dash reads as "nothing to say", a blank as "forgot".
pub(crate) const EMPTY_TEXT: &str = "\u{2013}";

/// A cell's text in a column of `kind`; `None` for a value with no column (a key figure), where
/// the cell's own type decides.
pub(crate) fn cell_text(cell: &Cell, kind: Option<ColumnKind>) -> String {
    match cell {
        Cell::Empty => EMPTY_TEXT.to_owned(),
        Cell::Text(text) => text.clone(),
        Cell::Date(day) => day.format("%Y-%m-%d").to_string(),
        Cell::Integer(n) => match kind {
            Some(ColumnKind::Percent) => percent_text(*n as f64, 1),
            Some(ColumnKind::DurationMs) => duration_text(*n as f64),
            Some(ColumnKind::Number) => grouped(*n as f64, 2),
            _ => grouped(*n as f64, 0),
        },
        Cell::Number(x) if !x.is_finite() => EMPTY_TEXT.to_owned(),
        Cell::Number(x) => match kind {
            Some(ColumnKind::Percent) => percent_text(*x, 1),
            Some(ColumnKind::DurationMs) => duration_text(*x),
            Some(ColumnKind::Integer) => grouped(x.round(), 0),
            Some(_) => grouped(*x, 2),
            None => trimmed(grouped(*x, 2)),
        },
    }
}

/// Whether a column's values line up on the right (numbers) rather than the left (words).
pub(crate) fn is_numeric(kind: ColumnKind) -> bool {
    matches!(
        kind,
        ColumnKind::Integer | ColumnKind::Number | ColumnKind::Percent | ColumnKind::DurationMs
    )
}

/// A cell as a number to plot, if it is one.
pub(crate) fn cell_value(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Integer(n) => Some(*n as f64),
        Cell::Number(x) if x.is_finite() => Some(*x),
        _ => None,
    }
}

/// A chart axis tick: no needless decimals ("1,500", "25%", "2 min").
pub(crate) fn axis_text(value: f64, kind: ColumnKind) -> String {
    match kind {
        ColumnKind::Percent => {
            let text = trimmed(grouped(value * 100.0, 1));
            format!("{text}%")
        }
        ColumnKind::DurationMs => duration_text(value),
        _ => trimmed(grouped(value, 2)),
    }
}

/// `x` with `decimals` decimals and comma-grouped thousands: `-1,234.50`.
pub(crate) fn grouped(x: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, x.abs());
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text.as_str(), None),
    };
    let mut out = String::with_capacity(text.len() + text.len() / 3 + 1);
    // A value that rounds to zero shows no sign ("-0.00" reads like an error).
    if x < 0.0 && text.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        out.push('-');
    }
    let digits = int_part.len();
    for (i, digit) in int_part.chars().enumerate() {
        if i > 0 && (digits - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(frac) = frac_part {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// Drops trailing decimal zeros: "1,500.00" → "1,500", "2.50" → "2.5".
fn trimmed(text: String) -> String {
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn percent_text(fraction: f64, decimals: usize) -> String {
    format!("{}%", grouped(fraction * 100.0, decimals))
}

/// Milliseconds in the largest unit that still reads exactly enough: "850 ms", "12.3 s",
/// "4 min 05 s", "2 h 05 min".
pub(crate) fn duration_text(ms: f64) -> String {
    let sign = if ms < 0.0 { "-" } else { "" };
    let ms = ms.abs();
    if ms < 1_000.0 {
        return format!("{sign}{} ms", ms.round());
    }
    let seconds = ms / 1_000.0;
    if seconds < 60.0 {
        return format!("{sign}{} s", trimmed(format!("{seconds:.1}")));
    }
    let whole_seconds = seconds.round() as u64;
    if whole_seconds < 3_600 {
        return format!(
            "{sign}{} min {:02} s",
            whole_seconds / 60,
            whole_seconds % 60
        );
    }
    let minutes = whole_seconds / 60;
    format!(
        "{sign}{} h {:02} min",
        grouped((minutes / 60) as f64, 0),
        minutes % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn integers_group_thousands() {
        assert_eq!(
            cell_text(&Cell::Integer(1_234_567), Some(ColumnKind::Integer)),
            "1,234,567"
        );
        assert_eq!(
            cell_text(&Cell::Integer(-1_234), Some(ColumnKind::Integer)),
            "-1,234"
        );
        assert_eq!(cell_text(&Cell::Integer(999), None), "999");
    }

    #[test]
    fn numbers_show_two_decimals_in_tables_and_trim_in_key_figures() {
        assert_eq!(
            cell_text(&Cell::Number(1234.5), Some(ColumnKind::Number)),
            "1,234.50"
        );
        assert_eq!(cell_text(&Cell::Number(1234.5), None), "1,234.5");
        assert_eq!(
            cell_text(&Cell::Number(-0.001), Some(ColumnKind::Number)),
            "0.00"
        );
    }

    #[test]
    fn percent_is_a_fraction_shown_out_of_100() {
        assert_eq!(
            cell_text(&Cell::Number(0.256), Some(ColumnKind::Percent)),
            "25.6%"
        );
        assert_eq!(
            cell_text(&Cell::Integer(1), Some(ColumnKind::Percent)),
            "100.0%"
        );
        assert_eq!(axis_text(0.25, ColumnKind::Percent), "25%");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration_text(850.0), "850 ms");
        assert_eq!(duration_text(12_340.0), "12.3 s");
        assert_eq!(duration_text(245_000.0), "4 min 05 s");
        assert_eq!(duration_text(7_500_000.0), "2 h 05 min");
        assert_eq!(duration_text(-1_500.0), "-1.5 s");
    }

    #[test]
    fn empty_and_non_finite_cells_show_a_dash() {
        assert_eq!(
            cell_text(&Cell::Empty, Some(ColumnKind::Integer)),
            EMPTY_TEXT
        );
        assert_eq!(
            cell_text(&Cell::Number(f64::NAN), Some(ColumnKind::Number)),
            EMPTY_TEXT
        );
    }

    #[test]
    fn dates_are_iso() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date");
        assert_eq!(
            cell_text(&Cell::Date(day), Some(ColumnKind::Date)),
            "2026-11-01"
        );
    }

    #[test]
    fn only_finite_numbers_plot() {
        assert_eq!(cell_value(&Cell::Integer(3)), Some(3.0));
        assert_eq!(cell_value(&Cell::Number(f64::INFINITY)), None);
        assert_eq!(cell_value(&Cell::Text("3".into())), None);
    }
}
