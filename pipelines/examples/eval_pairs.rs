//! Evaluation and calibration from code, without the `ikd` command line: pairs -> scores ->
//! operating points -> calibration, step by step, on a labelled pairs file (default: the
//! bundled ORL pairs, 400 images, 79,800 pairs).
//!
//! ```sh
//! cargo run --release -p ikd-pipelines --example eval_pairs                # ORL
//! cargo run --release -p ikd-pipelines --example eval_pairs -- PAIRS.csv  # yours (a,b,same)
//! ```
//!
//! It prints each matcher's fused EER and FNMR at FMR 1e-4 with the manifest's thresholds,
//! then calibrates on the same pairs and writes the result into a copy of the manifest
//! (target/eval_pairs-manifest.toml), never into models/manifest.toml itself.

use ikd_engine::{Engine, EngineConfig, FacePolicy};
use ikd_pipelines::eval::{self, StudyOptions};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let pairs = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../datasets/fixtures/faces/orl/pairs.csv"
        ))
    });
    let engine = Engine::new(EngineConfig::default())?;

    // Pairs -> scores: every distinct image embedded once by every embedder.
    let ev = eval::evaluate_pairs(&engine, &pairs, FacePolicy::Single)?;
    println!(
        "{}: {} pairs ({} genuine), {} images ({} refused) in {:.1} s",
        pairs.display(),
        ev.pairs.len(),
        ev.genuine(),
        ev.images.len(),
        ev.rejected_images(),
        ev.elapsed.as_secs_f64()
    );
    // The impostor side: every pair of accepted images of different people (one folder each).
    let cross = eval::cross_identity(&ev)?;
    println!("cross-identity impostor pairs: {}", cross.pairs());

    // Scores -> operating points, with the manifest's thresholds.
    let deployed = eval::study(&engine, &ev, Some(&cross), &StudyOptions::default())?;
    for m in &deployed.matchers {
        let at_1e4 = m.points.iter().find(|p| p.name.as_str() == "fmr-1e-4");
        println!(
            "{:<16} EER {:.3} %, FNMR at FMR 1e-4 {}",
            m.id,
            m.fused.eer * 100.0,
            at_1e4.map_or("-".into(), |p| format!(
                "{:.2} % (threshold {:.3})",
                p.fnmr * 100.0,
                p.threshold
            ))
        );
    }

    // Operating points -> calibration: this evaluation's own thresholds and cascade bounds,
    // written into a copy of the manifest.
    let calibrated = eval::study(
        &engine,
        &ev,
        Some(&cross),
        &StudyOptions {
            calibrate: true,
            ..StudyOptions::default()
        },
    )?;
    let copy = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/eval_pairs-manifest.toml"
    ));
    std::fs::copy(&engine.config().manifest, &copy)?;
    if let Some(c) = &calibrated.calibration {
        c.write_manifest(&copy)?;
        println!(
            "calibration of {} matchers written to {}",
            c.matchers.len(),
            copy.display()
        );
    }
    Ok(())
}
