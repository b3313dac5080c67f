//! [`Table`]: a small Markdown table, and the number formats the report uses.

use crate::stats::Summary;

/// A Markdown table built row by row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table { headers: headers.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Appends a row (cells past the header count are dropped, missing ones are blank).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
        self
    }

    /// `true` when no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as Markdown, columns padded so it also reads well in a terminal.
    ///
    /// ```
    /// use eventchains_bench::report::Table;
    /// let mut t = Table::new(["a", "bb"]);
    /// t.row(["1", "2"]);
    /// assert_eq!(t.to_markdown(), "| a | bb |\n|--:|---:|\n| 1 |  2 |\n");
    /// ```
    pub fn to_markdown(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.headers[i].chars().count()])
                    .max()
                    .unwrap_or(1)
            })
            .collect();
        // A column is right-aligned when every cell reads as a figure.
        let numeric: Vec<bool> = (0..self.headers.len()).map(|i| self.rows.iter().all(|r| is_figure(&r[i]))).collect();
        let line = |cells: &[String]| {
            let mut out = String::from("|");
            for ((cell, w), right) in cells.iter().zip(&widths).zip(&numeric) {
                let pad = " ".repeat(w - cell.chars().count());
                if *right {
                    out.push_str(&format!(" {pad}{cell} |"));
                } else {
                    out.push_str(&format!(" {cell}{pad} |"));
                }
            }
            out.push('\n');
            out
        };
        let mut out = line(&self.headers);
        out.push('|');
        for (w, right) in widths.iter().zip(&numeric) {
            if *right {
                out.push_str(&format!("{}:|", "-".repeat(w + 1)));
            } else {
                out.push_str(&format!(":{}|", "-".repeat(w + 1)));
            }
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// `true` for an empty cell, `n/a`, or a cell that starts like a number (`12`, `-3%`, `1.2x`, `3–5`).
fn is_figure(cell: &str) -> bool {
    cell.is_empty() || cell == "n/a" || cell.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
}

/// A number with 3 significant digits (at least), or `n/a`.
pub fn num(x: Option<f64>) -> String {
    match x {
        None => "n/a".to_owned(),
        Some(x) if !x.is_finite() => "n/a".to_owned(),
        Some(x) => {
            let a = x.abs();
            if a >= 100.0 {
                format!("{x:.0}")
            } else if a >= 10.0 {
                format!("{x:.1}")
            } else if a >= 1.0 {
                format!("{x:.2}")
            } else {
                format!("{x:.3}")
            }
        }
    }
}

/// `p5–p95` of a summary, or `n/a`.
pub fn spread(s: Option<&Summary>) -> String {
    s.map_or_else(|| "n/a".to_owned(), |s| format!("{}–{}", num(Some(s.p5)), num(Some(s.p95))))
}

/// A ratio such as `1.23x`, or `n/a`.
pub fn ratio(x: Option<f64>) -> String {
    x.filter(|x| x.is_finite()).map_or_else(|| "n/a".to_owned(), |x| format!("{x:.2}x"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_and_pads_rows() {
        assert_eq!(num(Some(1234.5)), "1234");
        assert_eq!(num(Some(12.34)), "12.3");
        assert_eq!(num(Some(0.1234)), "0.123");
        assert_eq!(num(None), "n/a");
        assert_eq!(ratio(Some(1.234)), "1.23x");
        let mut t = Table::new(["name", "ns"]);
        t.row(["native", "12.5"]).row(["x"]);
        let md = t.to_markdown();
        assert!(md.starts_with("| name   |   ns |\n|:-------|-----:|\n| native | 12.5 |\n"), "{md}");
        assert!(md.ends_with("| x      |      |\n"), "{md}");
        assert!(!t.is_empty());
        let mut t = Table::new(["target", "verdict"]);
        t.row(["a", "met"]).row(["b", "1.5x"]);
        assert!(t.to_markdown().contains("|:-------|:--------|"), "{}", t.to_markdown());
    }
}
