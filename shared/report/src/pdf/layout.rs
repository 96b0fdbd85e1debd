//! The report laid out on A4 pages: the heading and key figures on page 1, then each table and
//! its chart, flowing onto new pages as needed. Footers are added once the page count is known
//! (see the module above).

use mvidarr_core::analytics::report::{Cell, ReportData, Table};

use super::chart::{chart_height, draw_chart};
use super::font::{Font, encode, truncate, wrap};
use super::page::{Align, PAGE_HEIGHT, PAGE_WIDTH, Page, Rgb};
use crate::chart_plan::ChartPlan;
use crate::display::{cell_text, is_numeric};
use crate::heading::{generated_text, range_text, title};
use crate::{NO_DATA, RenderError};

pub(crate) const MARGIN_X: f32 = 48.0;
pub(crate) const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN_X;
const TOP: f32 = 48.0;
/// Content stops here; the footer sits below.
const BOTTOM: f32 = PAGE_HEIGHT - 58.0;

pub(crate) const INK: Rgb = Rgb(0x1B, 0x26, 0x33);
pub(crate) const MUTED: Rgb = Rgb(0x5A, 0x62, 0x70);
pub(crate) const RULE: Rgb = Rgb(0xD0, 0xD7, 0xE0);
const ACCENT: Rgb = Rgb(0x1F, 0x5F, 0xAF);
const HEADER_FILL: Rgb = Rgb(0x1F, 0x3A, 0x5F);
const HEADER_TEXT: Rgb = Rgb(0xFF, 0xFF, 0xFF);
const ZEBRA: Rgb = Rgb(0xF3, 0xF5, 0xF8);
const TOTAL_FILL: Rgb = Rgb(0xE6, 0xEB, 0xF1);
const CARD_FILL: Rgb = Rgb(0xF3, 0xF5, 0xF8);

const CELL_SIZE: f32 = 8.5;
const HEADER_SIZE: f32 = 8.0;
const HEADER_LINE: f32 = 10.0;
const ROW_HEIGHT: f32 = 15.0;
const CELL_PADDING: f32 = 5.0;
/// A text column never gets narrower than this when the table must shrink to fit.
const MIN_TEXT_COLUMN: f32 = 48.0;

/// Lays `report` out; the pages have no footers yet.
pub(crate) fn lay_out(report: &ReportData) -> Result<Vec<Page>, RenderError> {
    let mut doc = Flow::new();
    heading(&mut doc, report);
    if report.is_empty() {
        no_data(&mut doc);
        return Ok(doc.finish());
    }
    if !report.highlights.is_empty() {
        highlights(&mut doc, &report.highlights);
    }
    for table in &report.tables {
        table_section(&mut doc, table)?;
    }
    Ok(doc.finish())
}

/// Pages being filled top to bottom.
struct Flow {
    done: Vec<Page>,
    page: Page,
    /// Where the next thing goes, in points from the top.
    y: f32,
}

impl Flow {
    fn new() -> Self {
        Self {
            done: Vec::new(),
            page: Page::new(),
            y: TOP,
        }
    }

    fn new_page(&mut self) {
        let full = std::mem::replace(&mut self.page, Page::new());
        self.done.push(full);
        self.y = TOP;
    }

    /// Starts a new page unless `height` more points fit on this one.
    fn ensure(&mut self, height: f32) {
        if self.y + height > BOTTOM && self.y > TOP {
            self.new_page();
        }
    }

    fn finish(mut self) -> Vec<Page> {
        self.done.push(self.page);
        self.done
    }
}

fn heading(doc: &mut Flow, report: &ReportData) {
    let page = &mut doc.page;
    page.fill_rect(MARGIN_X, TOP, 36.0, 3.0, ACCENT);
    page.text(
        MARGIN_X,
        TOP + 20.0,
        Align::Left,
        Font::Bold,
        8.0,
        ACCENT,
        b"MVIDARR REPORT",
    );
    let title_text = truncate(Font::Bold, &encode(title(report)), 22.0, CONTENT_WIDTH);
    page.text(
        MARGIN_X,
        TOP + 46.0,
        Align::Left,
        Font::Bold,
        22.0,
        INK,
        &title_text,
    );
    let tenant = truncate(Font::Regular, &encode(&report.tenant), 13.0, CONTENT_WIDTH);
    page.text(
        MARGIN_X,
        TOP + 66.0,
        Align::Left,
        Font::Regular,
        13.0,
        INK,
        &tenant,
    );
    let range = encode(&range_text(report.from, report.to));
    page.text(
        MARGIN_X,
        TOP + 84.0,
        Align::Left,
        Font::Regular,
        9.0,
        MUTED,
        &range,
    );
    let generated = encode(&generated_text(report.generated_at));
    page.text(
        PAGE_WIDTH - MARGIN_X,
        TOP + 84.0,
        Align::Right,
        Font::Regular,
        9.0,
        MUTED,
        &generated,
    );
    let rule_y = TOP + 94.0;
    page.line(
        (MARGIN_X, rule_y),
        (PAGE_WIDTH - MARGIN_X, rule_y),
        0.75,
        RULE,
    );
    doc.y = rule_y + 22.0;
}

fn no_data(doc: &mut Flow) {
    let top = doc.y + 10.0;
    doc.page
        .fill_rect(MARGIN_X, top, CONTENT_WIDTH, 70.0, CARD_FILL);
    doc.page.text(
        PAGE_WIDTH / 2.0,
        top + 32.0,
        Align::Center,
        Font::Bold,
        14.0,
        INK,
        &encode(NO_DATA),
    );
    doc.page.text(
        PAGE_WIDTH / 2.0,
        top + 50.0,
        Align::Center,
        Font::Regular,
        9.0,
        MUTED,
        b"Nothing was recorded for this tenant between these dates.",
    );
    doc.y = top + 80.0;
}

fn section_title(doc: &mut Flow, text: &str) {
    let text = truncate(Font::Bold, &encode(text), 13.0, CONTENT_WIDTH);
    doc.page.text(
        MARGIN_X,
        doc.y + 13.0,
        Align::Left,
        Font::Bold,
        13.0,
        INK,
        &text,
    );
    doc.y += 22.0;
}

/// Key figures as cards, three to a row.
fn highlights(doc: &mut Flow, highlights: &[(String, Cell)]) {
    const PER_ROW: usize = 3;
    const GAP: f32 = 10.0;
    const CARD_HEIGHT: f32 = 50.0;
    let card_width = (CONTENT_WIDTH - GAP * (PER_ROW - 1) as f32) / PER_ROW as f32;
    doc.ensure(22.0 + CARD_HEIGHT);
    section_title(doc, "Key figures");
    for row in highlights.chunks(PER_ROW) {
        doc.ensure(CARD_HEIGHT);
        for (i, (label, value)) in row.iter().enumerate() {
            let left = MARGIN_X + i as f32 * (card_width + GAP);
            let top = doc.y;
            let page = &mut doc.page;
            page.fill_rect(left, top, card_width, CARD_HEIGHT, CARD_FILL);
            page.fill_rect(left, top, 2.5, CARD_HEIGHT, ACCENT);
            let inner = card_width - 20.0;
            let label = truncate(Font::Regular, &encode(label), 8.0, inner);
            page.text(
                left + 12.0,
                top + 17.0,
                Align::Left,
                Font::Regular,
                8.0,
                MUTED,
                &label,
            );
            let value = truncate(Font::Bold, &encode(&cell_text(value, None)), 16.0, inner);
            page.text(
                left + 12.0,
                top + 39.0,
                Align::Left,
                Font::Bold,
                16.0,
                INK,
                &value,
            );
        }
        doc.y += CARD_HEIGHT + GAP;
    }
    doc.y += 14.0;
}

/// A table's cells as they are shown, encoded once: measured for the widths, then drawn.
struct ShownTable {
    header: Vec<Vec<u8>>,
    rows: Vec<Vec<Vec<u8>>>,
    totals: Option<Vec<Vec<u8>>>,
    right_aligned: Vec<bool>,
}

impl ShownTable {
    fn of(table: &Table) -> Self {
        let shown_row = |cells: &[Cell]| -> Vec<Vec<u8>> {
            table
                .columns
                .iter()
                .enumerate()
                .map(|(i, column)| match cells.get(i) {
                    Some(cell) => encode(&cell_text(cell, Some(column.kind))),
                    None => Vec::new(),
                })
                .collect()
        };
        let totals = table.totals.as_ref().map(|cells| {
            let mut shown = shown_row(cells);
            if let (Some(first), Some(Cell::Empty) | None) = (shown.first_mut(), cells.first()) {
                *first = b"Total".to_vec();
            }
            shown
        });
        Self {
            header: table.columns.iter().map(|c| encode(&c.name)).collect(),
            rows: table.rows.iter().map(|r| shown_row(r)).collect(),
            totals,
            right_aligned: table.columns.iter().map(|c| is_numeric(c.kind)).collect(),
        }
    }

    /// Column widths filling the content width: as wide as the content where it fits; when it
    /// does not, numbers keep their width and text columns give way (their cells are cut).
    fn column_widths(&self) -> Vec<f32> {
        let columns = self.header.len();
        let mut natural = vec![0.0f32; columns];
        let mut desired = vec![0.0f32; columns];
        for col in 0..columns {
            let content = self
                .rows
                .iter()
                .map(|row| Font::Regular.width(&row[col], CELL_SIZE))
                .chain(
                    self.totals
                        .iter()
                        .map(|t| Font::Bold.width(&t[col], CELL_SIZE)),
                )
                .fold(0.0, f32::max);
            let header = &self.header[col];
            let longest_word = header
                .split(|&b| b == b' ')
                .map(|w| Font::Bold.width(w, HEADER_SIZE))
                .fold(0.0, f32::max);
            let whole_header = Font::Bold.width(header, HEADER_SIZE);
            natural[col] = content.max(longest_word.min(120.0)) + 2.0 * CELL_PADDING;
            desired[col] = content.max(whole_header.min(160.0)) + 2.0 * CELL_PADDING;
        }
        let (sum_natural, sum_desired): (f32, f32) = (natural.iter().sum(), desired.iter().sum());
        let mut widths = if sum_desired <= CONTENT_WIDTH {
            desired
        } else if sum_natural <= CONTENT_WIDTH {
            let t = (CONTENT_WIDTH - sum_natural) / (sum_desired - sum_natural);
            natural
                .iter()
                .zip(&desired)
                .map(|(n, d)| n + (d - n) * t)
                .collect()
        } else {
            let fixed: f32 = natural
                .iter()
                .zip(&self.right_aligned)
                .filter(|(_, numeric)| **numeric)
                .map(|(w, _)| w)
                .sum();
            let flexible: f32 = sum_natural - fixed;
            let room = (CONTENT_WIDTH - fixed).max(0.0);
            natural
                .iter()
                .zip(&self.right_aligned)
                .map(|(&w, &numeric)| {
                    if numeric || flexible <= 0.0 {
                        w
                    } else {
                        (w * room / flexible).max(MIN_TEXT_COLUMN.min(w))
                    }
                })
                .collect::<Vec<f32>>()
        };
        // Fill the content width exactly: stretched if narrower, squeezed if still wider.
        let total: f32 = widths.iter().sum();
        if total > 0.0 {
            let scale = CONTENT_WIDTH / total;
            for w in &mut widths {
                *w *= scale;
            }
        }
        widths
    }
}

fn table_section(doc: &mut Flow, table: &Table) -> Result<(), RenderError> {
    let shown = ShownTable::of(table);
    let widths = shown.column_widths();
    let header_lines: Vec<Vec<Vec<u8>>> = shown
        .header
        .iter()
        .zip(&widths)
        .map(|(h, w)| wrap(Font::Bold, h, HEADER_SIZE, w - 2.0 * CELL_PADDING, 2))
        .collect();
    let line_count = header_lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let header_height = line_count as f32 * HEADER_LINE + 8.0;

    // Keep the title with the header and the first rows.
    let first_rows = table.rows.len().clamp(1, 3) as f32;
    doc.ensure(22.0 + header_height + first_rows * ROW_HEIGHT);
    section_title(doc, &table.name);
    header_row(
        doc,
        &header_lines,
        &widths,
        &shown.right_aligned,
        header_height,
    );

    if shown.rows.is_empty() {
        doc.ensure(ROW_HEIGHT);
        doc.page.text(
            MARGIN_X + CELL_PADDING,
            doc.y + 10.5,
            Align::Left,
            Font::Regular,
            CELL_SIZE,
            MUTED,
            &encode(NO_DATA),
        );
        doc.y += ROW_HEIGHT;
    }
    for (i, row) in shown.rows.iter().enumerate() {
        if doc.y + ROW_HEIGHT > BOTTOM {
            continued(
                doc,
                table,
                &header_lines,
                &widths,
                &shown.right_aligned,
                header_height,
            );
        }
        if i % 2 == 1 {
            doc.page
                .fill_rect(MARGIN_X, doc.y, CONTENT_WIDTH, ROW_HEIGHT, ZEBRA);
        }
        cells(doc, row, &widths, &shown.right_aligned, Font::Regular, INK);
        doc.y += ROW_HEIGHT;
    }
    let right = MARGIN_X + CONTENT_WIDTH;
    match &shown.totals {
        Some(totals) => {
            if doc.y + ROW_HEIGHT > BOTTOM {
                continued(
                    doc,
                    table,
                    &header_lines,
                    &widths,
                    &shown.right_aligned,
                    header_height,
                );
            }
            doc.page
                .fill_rect(MARGIN_X, doc.y, CONTENT_WIDTH, ROW_HEIGHT, TOTAL_FILL);
            doc.page.line((MARGIN_X, doc.y), (right, doc.y), 0.8, INK);
            cells(doc, totals, &widths, &shown.right_aligned, Font::Bold, INK);
            doc.y += ROW_HEIGHT;
        }
        None => doc.page.line((MARGIN_X, doc.y), (right, doc.y), 0.5, RULE),
    }
    doc.y += 18.0;

    if let Some(plan) = ChartPlan::of(table) {
        let height = chart_height(table, &plan, CONTENT_WIDTH);
        doc.ensure(height);
        draw_chart(
            &mut doc.page,
            (MARGIN_X, doc.y),
            (CONTENT_WIDTH, height),
            table,
            &plan,
        )?;
        doc.y += height + 18.0;
    }
    doc.y += 10.0;
    Ok(())
}

/// A page break inside a table: the table's name again, then its header row.
fn continued(
    doc: &mut Flow,
    table: &Table,
    header_lines: &[Vec<Vec<u8>>],
    widths: &[f32],
    right_aligned: &[bool],
    header_height: f32,
) {
    doc.new_page();
    let name = truncate(
        Font::Regular,
        &encode(&format!("{} (continued)", table.name)),
        9.0,
        CONTENT_WIDTH,
    );
    doc.page.text(
        MARGIN_X,
        doc.y + 9.0,
        Align::Left,
        Font::Regular,
        9.0,
        MUTED,
        &name,
    );
    doc.y += 16.0;
    header_row(doc, header_lines, widths, right_aligned, header_height);
}

fn header_row(
    doc: &mut Flow,
    lines: &[Vec<Vec<u8>>],
    widths: &[f32],
    right_aligned: &[bool],
    height: f32,
) {
    doc.page
        .fill_rect(MARGIN_X, doc.y, CONTENT_WIDTH, height, HEADER_FILL);
    let mut left = MARGIN_X;
    for ((column_lines, &width), &right) in lines.iter().zip(widths).zip(right_aligned) {
        // Headers sit on the row's bottom, like the numbers under them.
        let first_baseline = doc.y + height
            - 6.0
            - (column_lines.len() as f32 - 1.0) * HEADER_LINE
            - HEADER_SIZE * 0.25;
        for (i, line) in column_lines.iter().enumerate() {
            let baseline = first_baseline + i as f32 * HEADER_LINE;
            let (x, align) = if right {
                (left + width - CELL_PADDING, Align::Right)
            } else {
                (left + CELL_PADDING, Align::Left)
            };
            doc.page.text(
                x,
                baseline,
                align,
                Font::Bold,
                HEADER_SIZE,
                HEADER_TEXT,
                line,
            );
        }
        left += width;
    }
    doc.y += height;
}

fn cells(
    doc: &mut Flow,
    row: &[Vec<u8>],
    widths: &[f32],
    right_aligned: &[bool],
    font: Font,
    color: Rgb,
) {
    let mut left = MARGIN_X;
    let baseline = doc.y + 10.4;
    for ((text, &width), &right) in row.iter().zip(widths).zip(right_aligned) {
        let room = width - 2.0 * CELL_PADDING;
        let fitted = truncate(font, text, CELL_SIZE, room);
        let (x, align) = if right {
            (left + width - CELL_PADDING, Align::Right)
        } else {
            (left + CELL_PADDING, Align::Left)
        };
        doc.page
            .text(x, baseline, align, font, CELL_SIZE, color, &fitted);
        left += width;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mvidarr_core::analytics::report::{Column, ColumnKind};

    fn table(columns: Vec<Column>, rows: Vec<Vec<Cell>>) -> Table {
        Table {
            name: "t".into(),
            columns,
            rows,
            totals: None,
            chart: None,
        }
    }

    #[test]
    fn columns_fill_the_content_width() {
        let t = table(
            vec![
                Column::new("Day", ColumnKind::Date),
                Column::new("Plays", ColumnKind::Integer),
            ],
            vec![vec![Cell::from("2026-11-01"), Cell::Integer(5)]],
        );
        let widths = ShownTable::of(&t).column_widths();
        assert!((widths.iter().sum::<f32>() - CONTENT_WIDTH).abs() < 0.01);
    }

    #[test]
    fn long_text_gives_way_to_numbers() {
        let long = "a very long media title ".repeat(20);
        let t = table(
            vec![
                Column::new("Title", ColumnKind::Text),
                Column::new("Plays", ColumnKind::Integer),
            ],
            vec![vec![Cell::Text(long), Cell::Integer(123_456)]],
        );
        let widths = ShownTable::of(&t).column_widths();
        let plays_needed = Font::Regular.width(b"123,456", CELL_SIZE) + 2.0 * CELL_PADDING;
        assert!(widths[1] >= plays_needed, "numbers keep their width");
        assert!((widths.iter().sum::<f32>() - CONTENT_WIDTH).abs() < 0.01);
    }

    #[test]
    fn totals_are_labelled_where_the_first_cell_is_empty() {
        let mut t = table(
            vec![
                Column::new("Title", ColumnKind::Text),
                Column::new("Plays", ColumnKind::Integer),
            ],
            vec![vec![Cell::from("a"), Cell::Integer(1)]],
        );
        t.totals = Some(vec![Cell::Empty, Cell::Integer(1)]);
        let shown = ShownTable::of(&t);
        assert_eq!(shown.totals, Some(vec![b"Total".to_vec(), b"1".to_vec()]));
    }
}
