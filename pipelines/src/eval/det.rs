//! The DET plot of an evaluation (`--plot`): FNMR against FMR on log scales.

use super::metrics::{CrossIdentity, PairScore};
use super::pairs::{fused, Evaluation};
use super::points::TARGETS;
use ikd_engine::{Engine, ScoreStats};
use rayon::prelude::*;
use std::path::Path;

/// DET curves: FNMR on the genuine pairs against FMR (on the cross-identity impostors when
/// scored, else the protocol's), one per embedder and one for the engine's fused score.
pub fn plot_det(
    path: &Path,
    engine: &Engine,
    ev: &Evaluation,
    cross: Option<&CrossIdentity>,
    stats: &[ScoreStats],
) -> anyhow::Result<()> {
    use plotters::prelude::*;
    crate::fonts::register();
    let order: Vec<usize> = (0..ev.models.len()).collect();
    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let curve = |pairs: &[PairScore], impostors: Option<Vec<f32>>| -> Vec<(f64, f64)> {
        let mut gen: Vec<f32> = pairs.iter().filter(|p| p.same).filter_map(|p| p.score).collect();
        gen.sort_by(f32::total_cmp);
        let n_gen = pairs.iter().filter(|p| p.same).count().max(1) as f64;
        let mut imp = impostors.unwrap_or_else(|| {
            pairs
                .iter()
                .filter(|p| !p.same)
                .filter_map(|p| p.score)
                .collect::<Vec<_>>()
        });
        imp.par_sort_unstable_by(f32::total_cmp);
        let n_imp = imp.len().max(1) as f64;
        let mut ts: Vec<f32> = gen.clone();
        ts.extend(imp.iter().rev().take(20_000).copied());
        ts.sort_by(f32::total_cmp);
        ts.dedup();
        ts.iter()
            .map(|&t| {
                let fm = imp.len() - imp.partition_point(|&s| s < t);
                let missed = gen.partition_point(|&s| s < t) as f64 + (n_gen - gen.len() as f64);
                (fm as f64 / n_imp, missed / n_gen)
            })
            .collect()
    };
    for k in 0..ev.models.len() {
        curves.push((
            ev.models[k].clone(),
            curve(&ev.model_pairs(k), cross.map(|c| c.model(k).collect())),
        ));
    }
    if ev.models.len() > 1 {
        let fused_cross = cross.map(|c| c.rows().map(|r| fused(r, &order, stats)).collect());
        curves.push((
            format!("fused: {}", engine.matcher_id()),
            curve(&ev.fused_pairs(&order, stats), fused_cross),
        ));
    }
    let floor = 1e-6f64;
    let root = BitMapBackend::new(path, (900, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let genuine = ev.genuine();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "DET: {genuine} genuine pairs, {} impostor pairs",
                cross.map_or(ev.pairs.len() - genuine, |c| c.pairs())
            ),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((floor..1.0).log_scale(), (1e-4..1.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("false match rate")
        .y_desc("false non-match rate")
        .label_style(("sans-serif", 14))
        .draw()?;
    let colours = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (name, points)) in curves.into_iter().enumerate() {
        let colour = colours[i % colours.len()];
        let points: Vec<(f64, f64)> = points.into_iter().map(|(a, b)| (a.max(floor), b.max(1e-4))).collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    for target in TARGETS {
        chart.draw_series(LineSeries::new(
            vec![(target, 1e-4), (target, 1.0)],
            BLACK.mix(0.25).stroke_width(1),
        ))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}
