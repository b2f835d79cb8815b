//! The `--plot` picture: the fraction of nodes that know the update against time (the epidemic
//! curve) and, in the crash scenario, the fraction of nodes that declared the crash.

use plotters::prelude::*;

use crate::report::{Curves, Report};

/// Writes `curves` as an SVG to `path`.
pub fn write_svg(path: &std::path::Path, report: &Report, curves: &Curves) -> Result<(), String> {
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let x_max = curves
        .update
        .iter()
        .chain(&curves.detection)
        .map(|(x, _)| *x)
        .fold(1.0f64, f64::max)
        * 1.05;
    let title = format!(
        "telepathine: {} nodes, loss {}%, gossip {} ms, seed {}",
        report.nodes,
        report.loss * 100.0,
        report.gossip_interval_ms,
        report.seed
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..x_max, 0f64..1.02f64)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("seconds after the event")
        .y_desc("fraction of nodes")
        .draw()
        .map_err(|e| e.to_string())?;
    if !curves.update.is_empty() {
        chart
            .draw_series(LineSeries::new(curves.update.iter().copied(), &BLUE))
            .map_err(|e| e.to_string())?
            .label("know the update")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    }
    if !curves.detection.is_empty() {
        chart
            .draw_series(LineSeries::new(curves.detection.iter().copied(), &RED))
            .map_err(|e| e.to_string())?
            .label("declared the crash")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
