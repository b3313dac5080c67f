//! The SVG chart: amortized cost per execution versus the number of
//! executions, for the Rust and the Lua chain, with the break-even marked.

use std::path::Path;

use plotters::prelude::*;

use super::Report;
use super::derive::{lua_model, rust_model};
use crate::error::BenchError;
use crate::stats::CostModel;

const MAX_EXECUTIONS: f64 = 100_000.0;

fn curve(model: &CostModel) -> Vec<(f64, f64)> {
    (0..=100)
        .map(|i| {
            let n = MAX_EXECUTIONS.powf(f64::from(i) / 100.0).round().max(1.0);
            (n, model.amortized_ns(n as u64) / 1e3)
        })
        .collect()
}

fn chart_error(e: impl std::fmt::Display) -> BenchError {
    BenchError::Chart(e.to_string())
}

/// Draws the amortized-cost chart of `report` into the SVG file `path`.
pub fn write_chart(report: &Report, path: &Path) -> Result<(), BenchError> {
    let r = &report.results;
    let lua = lua_model(r).map(|m| ("Lua chain (eventchains-lua)", curve(&m), RGBColor(200, 60, 30)));
    let rust = rust_model(r).map(|m| ("Rust chain (hard-coded)", curve(&m), RGBColor(30, 90, 200)));
    let series: Vec<_> = [rust, lua].into_iter().flatten().collect();
    let ys = series.iter().flat_map(|(_, c, _)| c.iter().map(|p| p.1));
    let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = if lo.is_finite() && hi > 0.0 { (lo / 2.0, hi * 2.0) } else { (0.01, 1000.0) };

    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_error)?;
    let title = if lua_model(r).is_some() {
        "Amortized cost per execution (setup + first + (n-1) x steady) / n".to_owned()
    } else {
        "Amortized cost per execution (Lua chain not measured in this run)".to_owned()
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(20)
        .margin_right(40)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((1.0..MAX_EXECUTIONS).log_scale(), (lo..hi).log_scale())
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .x_desc("executions of one built chain")
        .y_desc("µs per execution")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| if *y >= 1.0 { format!("{y:.0}") } else { format!("{y}") })
        .draw()
        .map_err(chart_error)?;
    for (label, points, color) in &series {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
            .map_err(chart_error)?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    if let (Some(be), Some(model)) = (r.get("break_even_executions"), lua_model(r))
        && (1.0..=MAX_EXECUTIONS).contains(&be)
    {
        let y = model.amortized_ns(be.round().max(1.0) as u64) / 1e3;
        let mark = RGBColor(40, 140, 40);
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(be, lo), (be, hi)], mark.stroke_width(1))))
            .map_err(chart_error)?
            .label(format!("break-even: {be:.0} executions (setup = executions' total time)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], mark.stroke_width(1)));
        chart.draw_series(std::iter::once(Circle::new((be, y), 5, mark.filled()))).map_err(chart_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(chart_error)?;
    root.present().map_err(chart_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::HarnessConfig;
    use crate::report::Meta;
    use crate::results::Results;
    use crate::stats::Summary;

    #[test]
    fn draws_both_curves_and_the_break_even() {
        let mut r = Results::default();
        r.summary("per_execution.native_ns", Summary::of(&[110.0]).expect("s"));
        r.summary("per_execution.lua_ns", Summary::of(&[400.0]).expect("s"));
        for (k, v) in [
            ("setup.vm_new_us", 40.0),
            ("setup.parse_us", 20.0),
            ("setup.build_us", 10.0),
            ("setup.first_execution_us", 3.0),
            ("setup.rust_build_us", 0.06),
            ("setup.rust_first_execution_us", 0.12),
        ] {
            r.value(k, v);
        }
        let report = Report::new(Meta::detect(HarnessConfig::TINY, true, None), r);
        let path = std::env::temp_dir().join(format!("eventchains-bench-chart-{}.svg", std::process::id()));
        write_chart(&report, &path).expect("draws");
        let svg = std::fs::read_to_string(&path).expect("reads");
        assert!(svg.contains("Lua chain (eventchains-lua)") && svg.contains("Rust chain (hard-coded)"));
        assert!(svg.contains("break-even: 175 executions"), "break-even label missing");
        if std::env::var_os("KEEP_CHART").is_none() {
            let _ = std::fs::remove_file(&path);
        }
    }
}
