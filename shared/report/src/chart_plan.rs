//! Which of a table's columns its chart can actually plot. A chart names columns by index; an
//! index past the table, or a series column that holds no numbers, is dropped rather than failing
//! the whole report, and a chart left with nothing to draw is not drawn in any format.

use mvidarr_core::analytics::report::{Chart, ChartKind, ColumnKind, Table};

use crate::display::is_numeric;

/// A chart reduced to the columns that exist and plot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChartPlan<'a> {
    pub title: &'a str,
    pub kind: ChartKind,
    pub x: usize,
    pub series: Vec<usize>,
}

impl<'a> ChartPlan<'a> {
    /// The plan for `table`'s chart, if it has one with rows and at least one numeric series.
    pub fn of(table: &'a Table) -> Option<Self> {
        let chart: &Chart = table.chart.as_ref()?;
        if table.rows.is_empty() || chart.x >= table.columns.len() {
            return None;
        }
        let mut series = Vec::with_capacity(chart.series.len());
        for &index in &chart.series {
            let Some(column) = table.columns.get(index) else {
                continue;
            };
            if is_numeric(column.kind) && index != chart.x && !series.contains(&index) {
                series.push(index);
            }
        }
        if series.is_empty() {
            return None;
        }
        Some(Self {
            title: &chart.title,
            kind: chart.kind,
            x: chart.x,
            series,
        })
    }

    /// How the value axis reads: the first series' kind (series of one chart share a unit).
    pub fn value_kind(&self, table: &Table) -> ColumnKind {
        self.series
            .first()
            .and_then(|&i| table.columns.get(i))
            .map_or(ColumnKind::Number, |c| c.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mvidarr_core::analytics::report::{Cell, Column};

    fn table(chart: Chart) -> Table {
        Table {
            name: "t".into(),
            columns: vec![
                Column::new("Day", ColumnKind::Date),
                Column::new("Plays", ColumnKind::Integer),
                Column::new("Title", ColumnKind::Text),
            ],
            rows: vec![vec![Cell::Empty, Cell::Integer(1), Cell::from("a")]],
            totals: None,
            chart: Some(chart),
        }
    }

    fn chart(x: usize, series: Vec<usize>) -> Chart {
        Chart {
            title: "c".into(),
            kind: ChartKind::Line,
            x,
            series,
        }
    }

    #[test]
    fn keeps_existing_numeric_series_once() {
        let t = table(chart(0, vec![1, 1, 2, 9]));
        let plan = ChartPlan::of(&t).expect("plottable");
        assert_eq!(plan.series, vec![1]);
        assert_eq!(plan.value_kind(&t), ColumnKind::Integer);
    }

    #[test]
    fn nothing_to_plot_is_no_chart() {
        assert_eq!(ChartPlan::of(&table(chart(0, vec![2]))), None);
        assert_eq!(ChartPlan::of(&table(chart(7, vec![1]))), None);
        let mut empty = table(chart(0, vec![1]));
        empty.rows.clear();
        assert_eq!(ChartPlan::of(&empty), None);
    }
}
