//! The heading every human-facing format shows: what the report is, for whom, over which range
//! and when it was made. One wording, so the XLSX summary and the PDF's first page agree.

use chrono::{Duration, NaiveTime, Timelike};
use mvidarr_core::Timestamp;
use mvidarr_core::analytics::report::ReportData;

/// The range as a reader says it. Ranges are half-open, so a range of whole days names its last
/// day (`from` 1 Nov `to` 1 Dec reads "1 Nov 2026 – 30 Nov 2026"); a range with hours shows them.
pub(crate) fn range_text(from: Timestamp, to: Timestamp) -> String {
    let whole_days = from.time() == NaiveTime::MIN && to.time() == NaiveTime::MIN && to > from;
    if whole_days {
        let first = from.date_naive();
        let last = (to - Duration::days(1)).date_naive();
        if first == last {
            return format!("{} (UTC)", day_text(first));
        }
        return format!("{} \u{2013} {} (UTC)", day_text(first), day_text(last));
    }
    format!("{} \u{2013} {} UTC", moment_text(from), moment_text(to))
}

/// When the report was made, to the minute.
pub(crate) fn generated_text(at: Timestamp) -> String {
    format!("Generated {} UTC", moment_text(at))
}

/// The report's title: its kind's title.
pub(crate) fn title(report: &ReportData) -> &'static str {
    report.kind.title()
}

fn day_text(day: chrono::NaiveDate) -> String {
    day.format("%-d %b %Y").to_string()
}

fn moment_text(at: Timestamp) -> String {
    // Seconds only clutter a heading; a range is on the hour anyway.
    let at = at.with_second(0).unwrap_or(at);
    at.format("%-d %b %Y %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono::Utc;

    fn at(y: i32, m: u32, d: u32, h: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("valid test time")
    }

    #[test]
    fn whole_day_range_names_its_last_day() {
        assert_eq!(
            range_text(at(2026, 11, 1, 0), at(2026, 12, 1, 0)),
            "1 Nov 2026 \u{2013} 30 Nov 2026 (UTC)"
        );
    }

    #[test]
    fn one_day_range_names_one_day() {
        assert_eq!(
            range_text(at(2026, 11, 1, 0), at(2026, 11, 2, 0)),
            "1 Nov 2026 (UTC)"
        );
    }

    #[test]
    fn range_with_hours_shows_them() {
        assert_eq!(
            range_text(at(2026, 11, 1, 8), at(2026, 11, 2, 14)),
            "1 Nov 2026 08:00 \u{2013} 2 Nov 2026 14:00 UTC"
        );
    }

    #[test]
    fn generated_time_is_to_the_minute() {
        let t = Utc
            .with_ymd_and_hms(2026, 12, 1, 7, 5, 59)
            .single()
            .expect("valid test time");
        assert_eq!(generated_text(t), "Generated 1 Dec 2026 07:05 UTC");
    }
}
