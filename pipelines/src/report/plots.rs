//! The report's plots, drawn with plotters as SVG text: fused scores per decision with the
//! threshold, rows committed over the run, the median time per stage.

use super::figures::{median, RunFigures, STAGES};
use std::collections::BTreeMap;

/// An SVG document drawn by `draw` (plotters' SVG backend writes into the string).
fn svg(draw: impl FnOnce(&mut String) -> anyhow::Result<()>) -> anyhow::Result<String> {
    crate::fonts::register();
    let mut s = String::new();
    draw(&mut s)?;
    Ok(s)
}

/// Fused scores per decision (histograms) and the threshold.
pub fn histogram_svg(f: &RunFigures) -> anyhow::Result<String> {
    use plotters::prelude::*;
    let all: Vec<f32> = f.scores.values().flatten().copied().collect();
    if all.is_empty() {
        return Ok(String::new());
    }
    let threshold = f.threshold.unwrap_or(0.0);
    let lo = all.iter().copied().fold(threshold, f32::min).floor() - 1.0;
    let hi = all.iter().copied().fold(threshold, f32::max).ceil() + 1.0;
    let bins = 40usize;
    let width = (hi - lo) / bins as f32;
    let mut counts: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (d, v) in &f.scores {
        let c = counts.entry(d.as_str()).or_insert_with(|| vec![0; bins]);
        for &x in v {
            let b = (((x - lo) / width) as usize).min(bins - 1);
            c[b] += 1;
        }
    }
    let ymax = counts.values().flatten().copied().max().unwrap_or(1).max(1);
    svg(|s| {
        {
            let root = SVGBackend::with_string(s, (860, 360)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption("Fused score per decision (the line: threshold)", ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(50)
                .build_cartesian_2d(lo..hi, 0u64..(ymax + ymax / 10 + 1))?;
            chart
                .configure_mesh()
                .x_desc("fused score (impostor SDs)")
                .y_desc("rows")
                .label_style(("sans-serif", 13))
                .draw()?;
            let colour = |d: &str| match d {
                "match" => GREEN.mix(0.6),
                "no_match" => RED.mix(0.6),
                _ => BLUE.mix(0.6),
            };
            for (d, c) in &counts {
                let col = colour(d);
                chart
                    .draw_series(c.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| {
                        let x0 = lo + i as f32 * width;
                        Rectangle::new([(x0, 0), (x0 + width * 0.9, n)], col.filled())
                    }))?
                    .label(format!("{d} ({})", c.iter().sum::<u64>()))
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
            }
            chart.draw_series(LineSeries::new(
                vec![(threshold, 0), (threshold, ymax + ymax / 10 + 1)],
                BLACK.stroke_width(2),
            ))?;
            chart
                .configure_series_labels()
                // Matches pile up on the right: the legend goes where the impostors are few.
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()?;
            root.present()?;
        }
        Ok(())
    })
}

/// Rows committed over the run, one point per chunk.
pub fn throughput_svg(f: &RunFigures) -> anyhow::Result<String> {
    use plotters::prelude::*;
    if f.progress.is_empty() {
        return Ok(String::new());
    }
    let tmax = f.progress.iter().map(|p| p.0).fold(1.0f64, f64::max) * 1.05;
    let rmax = f.progress.last().map(|p| p.1).unwrap_or(1).max(1);
    svg(|s| {
        {
            let root = SVGBackend::with_string(s, (860, 320)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption("Rows committed over the run (one point per chunk)", ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..tmax, 0u64..rmax + rmax / 20 + 1)?;
            chart
                .configure_mesh()
                .x_desc("seconds since the run first started")
                .y_desc("rows")
                .label_style(("sans-serif", 13))
                .draw()?;
            let mut pts = vec![(0.0, 0)];
            pts.extend(f.progress.iter().copied());
            chart.draw_series(LineSeries::new(pts.clone(), BLUE.stroke_width(2)))?;
            chart.draw_series(pts.iter().skip(1).map(|&(x, y)| Circle::new((x, y), 3, BLUE.filled())))?;
            root.present()?;
        }
        Ok(())
    })
}

/// The median time per stage, per row.
pub fn stage_svg(f: &RunFigures) -> anyhow::Result<String> {
    use plotters::prelude::*;
    let medians: Vec<f64> = f.stage_ms.iter().map(|v| median(v)).collect();
    let ymax = medians.iter().copied().fold(1.0f64, f64::max) * 1.2;
    svg(|s| {
        {
            let root = SVGBackend::with_string(s, (560, 300)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption("Median time per stage, per row (ms)", ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(50)
                // A segmented range 0..n has n + 1 segments: one per stage here.
                .build_cartesian_2d((0..STAGES.len() - 1).into_segmented(), 0f64..ymax)?;
            chart
                .configure_mesh()
                .x_label_formatter(&|x| match x {
                    SegmentValue::CenterOf(i) => STAGES.get(*i).copied().unwrap_or("").to_string(),
                    _ => String::new(),
                })
                .y_desc("ms")
                .label_style(("sans-serif", 13))
                .draw()?;
            chart.draw_series(medians.iter().enumerate().map(|(i, &m)| {
                Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), m)],
                    BLUE.mix(0.6).filled(),
                )
            }))?;
            root.present()?;
        }
        Ok(())
    })
}
