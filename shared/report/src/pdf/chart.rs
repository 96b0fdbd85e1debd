//! A table's chart drawn with `plotters` onto a PDF page: a line chart over its x column (dates
//! spaced as days, so gaps show), or horizontal bars per row (long names stay readable on the
//! left). The title, the legend and the bar names are laid out here with Helvetica's metrics;
//! plotters draws axes, grid and series through [`VectorBackend`].

use chrono::{Datelike, NaiveDate};
use mvidarr_core::analytics::report::{Cell, ChartKind, ColumnKind, Table};
use plotters::prelude::*;
use plotters_backend::BackendCoord;

use super::backend::{UNITS_PER_POINT, VectorBackend, page_point, units};
use super::font::{Font, encode, truncate};
use super::page::{Align, Page, Rgb};
use crate::RenderError;
use crate::chart_plan::ChartPlan;
use crate::display::{axis_text, cell_text, cell_value};

/// Series colours: distinguishable, print well, not neon.
const PALETTE: [Rgb; 8] = [
    Rgb(0x1F, 0x5F, 0xAF),
    Rgb(0xE0, 0x7B, 0x24),
    Rgb(0x2E, 0x9E, 0x6A),
    Rgb(0xC4, 0x3D, 0x3D),
    Rgb(0x7A, 0x5C, 0xB8),
    Rgb(0x8C, 0x6D, 0x46),
    Rgb(0xD4, 0x62, 0xA6),
    Rgb(0x6B, 0x74, 0x80),
];
const TITLE_COLOR: Rgb = Rgb(0x1B, 0x26, 0x33);
const LABEL_COLOR: Rgb = Rgb(0x4A, 0x55, 0x63);
const GRID_COLOR: RGBColor = RGBColor(0xDD, 0xE2, 0xE8);
const AXIS_COLOR: RGBColor = RGBColor(0x9A, 0xA4, 0xB0);

const TITLE_SIZE: f32 = 10.5;
const TITLE_HEIGHT: f32 = 18.0;
const LEGEND_SIZE: f32 = 8.0;
const LEGEND_ROW: f32 = 13.0;
const TICK_SIZE: f32 = 7.0;
const LINE_PLOT_HEIGHT: f32 = 190.0;
const X_AXIS_HEIGHT: f32 = 20.0;
/// More bars than this stop being readable on a page: the first ones are drawn, and the title
/// says so.
const MAX_BARS: usize = 25;

/// The height a chart needs at `width` points wide.
pub(crate) fn chart_height(table: &Table, plan: &ChartPlan<'_>, width: f32) -> f32 {
    let header = TITLE_HEIGHT + legend_rows(table, plan, width) as f32 * LEGEND_ROW + 6.0;
    match plan.kind {
        ChartKind::Line => header + LINE_PLOT_HEIGHT,
        ChartKind::Bar => {
            let bars = table.rows.len().min(MAX_BARS) as f32;
            header + bars * bar_band(plan.series.len()) + X_AXIS_HEIGHT + 8.0
        }
    }
}

/// Height of one row's band of bars: room for each series' bar and a gap.
fn bar_band(series: usize) -> f32 {
    (series as f32 * 8.0 + 7.0).max(15.0)
}

/// Draws `table`'s chart in the box at (`x`, `y`), `width` × `height` points.
pub(crate) fn draw_chart(
    page: &mut Page,
    (x, y): (f32, f32),
    (width, height): (f32, f32),
    table: &Table,
    plan: &ChartPlan<'_>,
) -> Result<(), RenderError> {
    let mut title = plan.title.to_owned();
    if plan.kind == ChartKind::Bar && table.rows.len() > MAX_BARS {
        title = format!("{title} (first {MAX_BARS} of {})", table.rows.len());
    }
    let title = truncate(Font::Bold, &encode(&title), TITLE_SIZE, width);
    page.text(
        x,
        y + TITLE_SIZE,
        Align::Left,
        Font::Bold,
        TITLE_SIZE,
        TITLE_COLOR,
        &title,
    );
    let legend_height = draw_legend(page, (x, y + TITLE_HEIGHT), width, table, plan);
    let plot_top = y + TITLE_HEIGHT + legend_height + 6.0;
    let plot = ((x, plot_top), (width, height - (plot_top - y)));
    let drawn = match plan.kind {
        ChartKind::Line => draw_lines(page, plot, table, plan),
        ChartKind::Bar => draw_bars(page, plot, table, plan),
    };
    drawn.map_err(|reason| RenderError::Chart {
        chart: plan.title.to_owned(),
        reason,
    })
}

fn series_name(table: &Table, column: usize) -> Vec<u8> {
    encode(table.columns.get(column).map_or("", |c| c.name.as_str()))
}

/// Legend entries flow left to right and wrap: (x offset, row) of each.
fn legend_layout(table: &Table, plan: &ChartPlan<'_>, width: f32) -> Vec<(f32, usize)> {
    const SWATCH: f32 = 16.0;
    const GAP: f32 = 14.0;
    let mut positions = Vec::with_capacity(plan.series.len());
    let (mut offset, mut row) = (0.0f32, 0usize);
    for &column in &plan.series {
        let name = series_name(table, column);
        let entry = SWATCH + Font::Regular.width(&name, LEGEND_SIZE).min(width - SWATCH);
        if offset > 0.0 && offset + entry > width {
            offset = 0.0;
            row += 1;
        }
        positions.push((offset, row));
        offset += entry + GAP;
    }
    positions
}

fn legend_rows(table: &Table, plan: &ChartPlan<'_>, width: f32) -> usize {
    legend_layout(table, plan, width)
        .last()
        .map_or(0, |&(_, row)| row + 1)
}

/// Draws the legend; returns its height.
fn draw_legend(
    page: &mut Page,
    (x, y): (f32, f32),
    width: f32,
    table: &Table,
    plan: &ChartPlan<'_>,
) -> f32 {
    let layout = legend_layout(table, plan, width);
    for (i, (&column, &(offset, row))) in plan.series.iter().zip(&layout).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let left = x + offset;
        let middle = y + row as f32 * LEGEND_ROW + LEGEND_ROW / 2.0;
        match plan.kind {
            ChartKind::Line => page.line((left, middle), (left + 11.0, middle), 2.0, color),
            ChartKind::Bar => page.fill_rect(left, middle - 4.0, 8.0, 8.0, color),
        }
        let name = truncate(
            Font::Regular,
            &series_name(table, column),
            LEGEND_SIZE,
            width - 16.0,
        );
        let baseline = middle + LEGEND_SIZE * 0.35;
        page.text(
            left + 16.0,
            baseline,
            Align::Left,
            Font::Regular,
            LEGEND_SIZE,
            LABEL_COLOR,
            &name,
        );
    }
    legend_rows(table, plan, width) as f32 * LEGEND_ROW
}

/// How the x column maps to a position on a line chart's axis.
enum XAxis {
    /// Days since the common era: a missing day leaves a gap.
    Date,
    Numeric(ColumnKind),
    /// Row order, labelled with the cells' text.
    Category(Vec<String>),
}

impl XAxis {
    fn of(table: &Table, x: usize) -> Self {
        match table.columns.get(x).map(|c| c.kind) {
            Some(ColumnKind::Date) => XAxis::Date,
            Some(kind @ (ColumnKind::Integer | ColumnKind::Number | ColumnKind::Percent)) => {
                XAxis::Numeric(kind)
            }
            kind => XAxis::Category(
                table
                    .rows
                    .iter()
                    .map(|row| row.get(x).map_or_else(String::new, |c| cell_text(c, kind)))
                    .collect(),
            ),
        }
    }

    fn position(&self, row_index: usize, cell: Option<&Cell>) -> Option<f64> {
        match (self, cell) {
            (XAxis::Date, Some(Cell::Date(day))) => Some(f64::from(day.num_days_from_ce())),
            (XAxis::Date, _) => None,
            (XAxis::Numeric(_), Some(cell)) => cell_value(cell),
            (XAxis::Numeric(_), None) => None,
            (XAxis::Category(_), _) => Some(row_index as f64),
        }
    }

    fn label(&self, position: f64) -> String {
        let whole = position.round();
        match self {
            XAxis::Date if (position - whole).abs() < 1e-6 => i32::try_from(whole as i64)
                .ok()
                .and_then(NaiveDate::from_num_days_from_ce_opt)
                .map_or_else(String::new, |d| d.format("%-d %b").to_string()),
            XAxis::Numeric(kind) => axis_text(position, *kind),
            XAxis::Category(labels) if (position - whole).abs() < 1e-6 && whole >= 0.0 => {
                let label = labels.get(whole as usize).map_or("", String::as_str);
                let mut short: String = label.chars().take(14).collect();
                if short.len() < label.len() {
                    short.push('\u{2026}');
                }
                short
            }
            _ => String::new(),
        }
    }
}

/// A value range with room above the highest value, always including zero (charts of counts
/// that do not start at zero exaggerate).
fn value_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut low, mut high) = (0.0f64, 0.0f64);
    for v in values {
        low = low.min(v);
        high = high.max(v);
    }
    if high <= low {
        high = low + 1.0;
    }
    let pad = (high - low) * 0.08;
    (if low < 0.0 { low - pad } else { low }, high + pad)
}

fn tick_style() -> TextStyle<'static> {
    ("sans-serif", f64::from(TICK_SIZE * UNITS_PER_POINT))
        .into_font()
        .color(&RGBColor(LABEL_COLOR.0, LABEL_COLOR.1, LABEL_COLOR.2))
}

fn plotters_color(color: Rgb) -> RGBColor {
    RGBColor(color.0, color.1, color.2)
}

/// The widest of some tick labels, in points, plus room for the tick marks.
fn label_area(labels: impl Iterator<Item = String>) -> f32 {
    labels
        .map(|l| Font::Regular.width(&encode(&l), TICK_SIZE))
        .fold(0.0, f32::max)
        + 10.0
}

fn draw_lines(
    page: &mut Page,
    ((x, y), (width, height)): ((f32, f32), (f32, f32)),
    table: &Table,
    plan: &ChartPlan<'_>,
) -> Result<(), String> {
    let axis = XAxis::of(table, plan.x);
    let value_kind = plan.value_kind(table);
    // Each series as runs of consecutive points; an empty cell breaks the line.
    let mut rows: Vec<(f64, &Vec<Cell>)> = table
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| axis.position(i, row.get(plan.x)).map(|p| (p, row)))
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let series_runs: Vec<Vec<Vec<(f64, f64)>>> = plan
        .series
        .iter()
        .map(|&column| {
            let mut runs = vec![Vec::new()];
            for (position, row) in &rows {
                match row.get(column).and_then(cell_value) {
                    Some(value) => runs
                        .last_mut()
                        .map_or((), |run| run.push((*position, value))),
                    None => runs.push(Vec::new()),
                }
            }
            runs.retain(|run: &Vec<(f64, f64)>| !run.is_empty());
            runs
        })
        .collect();
    let values = series_runs.iter().flatten().flatten().map(|&(_, v)| v);
    let (low, high) = value_range(values);
    let (mut first, mut last) = (
        rows.first().map_or(0.0, |r| r.0),
        rows.last().map_or(1.0, |r| r.0),
    );
    if last <= first {
        first -= 1.0;
        last += 1.0;
    }
    let y_label_width = label_area(
        [low, high, (low + high) / 2.0]
            .into_iter()
            .map(|v| axis_text(v, value_kind)),
    );
    let point_count: usize = series_runs.iter().flatten().map(Vec::len).sum();
    let show_markers = point_count <= 24 * plan.series.len().max(1);

    let backend = VectorBackend::new(page, (x, y), width, height);
    let root = backend.into_drawing_area();
    let mut chart = ChartBuilder::on(&root)
        .margin_right(units(14.0))
        .margin_top(units(4.0))
        .x_label_area_size(units(X_AXIS_HEIGHT))
        .y_label_area_size(units(y_label_width))
        .build_cartesian_2d(first..last, low..high)
        .map_err(|e| e.to_string())?;
    let x_label = |v: &f64| axis.label(*v);
    let y_label = |v: &f64| axis_text(*v, value_kind);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(ShapeStyle::from(GRID_COLOR).stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(ShapeStyle::from(AXIS_COLOR).stroke_width(2))
        .set_all_tick_mark_size(units(3.0))
        .label_style(tick_style())
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, runs) in series_runs.iter().enumerate() {
        let color = plotters_color(PALETTE[i % PALETTE.len()]);
        let line = ShapeStyle::from(color).stroke_width(units(1.6));
        for run in runs {
            chart
                .draw_series(LineSeries::new(run.iter().copied(), line))
                .map_err(|e| e.to_string())?;
            if show_markers || run.len() == 1 {
                chart
                    .draw_series(
                        run.iter()
                            .map(|&p| Circle::new(p, units(1.8), color.filled())),
                    )
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

fn draw_bars(
    page: &mut Page,
    ((x, y), (width, height)): ((f32, f32), (f32, f32)),
    table: &Table,
    plan: &ChartPlan<'_>,
) -> Result<(), String> {
    let rows = &table.rows[..table.rows.len().min(MAX_BARS)];
    let value_kind = plan.value_kind(table);
    let x_kind = table.columns.get(plan.x).map(|c| c.kind);
    let names: Vec<Vec<u8>> = rows
        .iter()
        .map(|row| {
            encode(
                &row.get(plan.x)
                    .map_or_else(String::new, |c| cell_text(c, x_kind)),
            )
        })
        .collect();
    // Names take what they need, up to a third of the width; longer ones are cut.
    let name_width = names
        .iter()
        .map(|n| Font::Regular.width(n, TICK_SIZE + 0.5))
        .fold(0.0, f32::max)
        .min(width / 3.0);
    let single = plan.series.len() == 1;
    let value_labels: Vec<Vec<Option<f64>>> = rows
        .iter()
        .map(|row| {
            plan.series
                .iter()
                .map(|&c| row.get(c).and_then(cell_value))
                .collect()
        })
        .collect();
    let (low, high) = value_range(value_labels.iter().flatten().flatten().copied());
    // Room right of the longest bar for its value label.
    let value_label_width = if single {
        label_area([high].into_iter().map(|v| axis_text(v, value_kind)))
    } else {
        0.0
    };
    let bars = rows.len() as f64;
    let band_share = 0.72;
    let slot = band_share / plan.series.len() as f64;

    let backend = VectorBackend::new(page, (x, y), width, height);
    let root = backend.into_drawing_area();
    let mut chart = ChartBuilder::on(&root)
        .margin_right(units(14.0 + value_label_width))
        .x_label_area_size(units(X_AXIS_HEIGHT))
        .y_label_area_size(units(name_width + 8.0))
        .build_cartesian_2d(low..high, 0.0..bars)
        .map_err(|e| e.to_string())?;
    let x_label = |v: &f64| axis_text(*v, value_kind);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .bold_line_style(ShapeStyle::from(GRID_COLOR).stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(ShapeStyle::from(AXIS_COLOR).stroke_width(2))
        .set_all_tick_mark_size(units(3.0))
        .label_style(tick_style())
        .x_labels(6)
        .y_labels(0)
        .x_label_formatter(&x_label)
        .draw()
        .map_err(|e| e.to_string())?;
    let mut name_positions: Vec<BackendCoord> = Vec::with_capacity(rows.len());
    let mut value_positions: Vec<(BackendCoord, f64)> = Vec::new();
    for (k, values) in value_labels.iter().enumerate() {
        // The first row is the top band.
        let band_top = bars - k as f64;
        name_positions.push(chart.backend_coord(&(low, band_top - 0.5)));
        for (j, value) in values.iter().enumerate() {
            let Some(value) = *value else { continue };
            let top = band_top - (1.0 - band_share) / 2.0 - j as f64 * slot;
            let bottom = top - slot * 0.9;
            let color = plotters_color(PALETTE[j % PALETTE.len()]);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0f64.max(low), bottom), (value, top)],
                    color.filled(),
                )))
                .map_err(|e| e.to_string())?;
            if single {
                value_positions.push((
                    chart.backend_coord(&(value.max(0.0), (top + bottom) / 2.0)),
                    value,
                ));
            }
        }
    }
    root.present().map_err(|e| e.to_string())?;
    drop(chart);
    drop(root);

    let origin = (x, y);
    let size = TICK_SIZE + 0.5;
    for (name, coord) in names.iter().zip(name_positions) {
        let (left_of_axis, middle) = page_point(origin, coord);
        let name = truncate(Font::Regular, name, size, name_width);
        page.text(
            left_of_axis - 6.0,
            middle + size * 0.35,
            Align::Right,
            Font::Regular,
            size,
            LABEL_COLOR,
            &name,
        );
    }
    for (coord, value) in value_positions {
        let (end, middle) = page_point(origin, coord);
        let label = encode(&axis_text(value, value_kind));
        page.text(
            end + 3.0,
            middle + TICK_SIZE * 0.35,
            Align::Left,
            Font::Regular,
            TICK_SIZE,
            LABEL_COLOR,
            &label,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ranges_start_at_zero_and_leave_headroom() {
        assert_eq!(value_range([10.0, 50.0].into_iter()), (0.0, 54.0));
        let (low, high) = value_range([-10.0, 10.0].into_iter());
        assert!(low < -10.0 && high > 10.0);
        assert_eq!(value_range(std::iter::empty()), (0.0, 1.08));
    }

    #[test]
    fn date_axis_labels_whole_days_only() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 5).expect("valid date");
        let position = f64::from(day.num_days_from_ce());
        assert_eq!(XAxis::Date.label(position), "5 Nov");
        assert_eq!(XAxis::Date.label(position + 0.5), "");
    }

    #[test]
    fn category_labels_are_short() {
        let axis = XAxis::Category(vec!["A rather long category name".into()]);
        assert_eq!(axis.label(0.0), "A rather long \u{2026}");
        assert_eq!(axis.label(3.0), "");
    }
}
