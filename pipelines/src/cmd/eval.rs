//! `ikd eval pairs PAIRS.csv`: accuracy, AUC, EER and FNMR at fixed FMRs on labelled pairs,
//! for each embedder alone and for each matcher (fused score, cascade); `--calibrate` writes
//! the impostor statistics, thresholds and cascade bounds it measured into a manifest.
//! `ikd eval portrait PAIRS.csv`: the offline face check against credential portraits, per
//! photo budget. The work is the `eval` module's.

use super::common::EngineArgs;
use crate::eval::{self, det, export, report, StudyOptions};
use anyhow::Context;
use ikd_engine::FacePolicy;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum EvalCommand {
    /// Accuracy on labelled pairs (CSV columns a,b,same; paths relative to the CSV).
    Pairs(PairsArgs),
    /// How the offline face check does when the reference is the small portrait a credential
    /// carries, at each photo byte budget (CSV columns a,b,same; b gives the portrait).
    Portrait(PortraitArgs),
}

#[derive(clap::Args)]
pub struct PairsArgs {
    pub pairs: PathBuf,
    /// Which face to take in each image: single (selfie rule), largest, center.
    #[arg(long, default_value = "single")]
    pub face_policy: FacePolicy,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Write a DET plot (FNMR against FMR, log scales; one curve per embedder plus the
    /// engine's fused score) as PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Write every pair's per-model cosines, fused score and decisions as CSV.
    #[arg(long, value_name = "FILE.csv")]
    pub scores_out: Option<PathBuf>,
    /// Write every image's outcome (reason) and measured quality as CSV (for tuning gates).
    #[arg(long, value_name = "FILE.csv")]
    pub images_out: Option<PathBuf>,
    /// Also score every pair of images of different people (identity = the image's folder):
    /// the operating points are read off that larger impostor set, the way the manifest's
    /// thresholds are calibrated (see README).
    #[arg(long)]
    pub cross_identity: bool,
    /// Rewrite this manifest with what the run measured: each embedder's impostor
    /// statistics and, for every matcher made of the engine's embedders, the thresholds and
    /// cascade bounds at each operating point (needs --cross-identity and the manifest's own
    /// flip and refinement settings).
    #[arg(long, value_name = "MANIFEST.toml", requires = "cross_identity")]
    pub calibrate: Option<PathBuf>,
    /// Safety margin (z-score units) the cascade's bounds keep from the calibration pairs.
    #[arg(long, default_value_t = 0.5)]
    pub cascade_margin: f32,
    /// Score every template as it reads back from a gallery stored in this encoding (f16,
    /// int8). Both sides of every pair are round-tripped, a conservative bound: in a run only
    /// the gallery side is.
    #[arg(long, value_enum, conflicts_with = "calibrate")]
    pub template_encoding: Option<crate::batch::encoding::EmbeddingEncoding>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(clap::Args)]
pub struct PortraitArgs {
    pub pairs: PathBuf,
    /// Photo byte budgets to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [800usize, 1000, 1200, 1500, 1800])]
    pub budgets: Vec<usize>,
    /// Which face to take in each image: single (selfie rule), largest, center.
    #[arg(long, default_value = "single")]
    pub face_policy: FacePolicy,
    /// Also count every ordered pair of images of different people (identity = the image's
    /// folder) as an impostor attempt.
    #[arg(long)]
    pub cross_identity: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(cmd: EvalCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EvalCommand::Pairs(args) => pairs(args),
        EvalCommand::Portrait(args) => portrait(args),
    }
}

fn pairs(args: PairsArgs) -> anyhow::Result<ExitCode> {
    let engine = args.engine.build()?;
    if args.calibrate.is_some() {
        eval::calibration::check_engine(&engine)?;
    }
    let mut ev = eval::evaluate_pairs(&engine, &args.pairs, args.face_policy)?;
    if let Some(enc) = args.template_encoding {
        ev.round_trip_templates(enc);
    }
    let cross = if args.cross_identity {
        Some(eval::cross_identity(&ev)?)
    } else {
        None
    };
    let opts = StudyOptions {
        calibrate: args.calibrate.is_some(),
        cascade_margin: args.cascade_margin,
    };
    let study = eval::study(&engine, &ev, cross.as_ref(), &opts)?;
    if let (Some(path), Some(calibration)) = (&args.calibrate, &study.calibration) {
        calibration.write_manifest(path)?;
        eprintln!("ikd eval: calibration written to {}", path.display());
    }
    if let Some(path) = &args.scores_out {
        export::write_scores(path, &engine, &ev)?;
    }
    if let Some(path) = &args.images_out {
        export::write_images(path, &ev)?;
    }
    if let Some(path) = &args.plot {
        det::plot_det(path, &engine, &ev, cross.as_ref(), &study.stats)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        let out = report::pairs_json(&engine, &ev, cross.as_ref(), &study);
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", report::pairs_text(&engine, &ev, cross.as_ref(), &study));
    }
    Ok(ExitCode::SUCCESS)
}

fn portrait(args: PortraitArgs) -> anyhow::Result<ExitCode> {
    let engine = args.engine.build()?;
    let study = eval::portrait_study(
        &engine,
        &args.pairs,
        &args.budgets,
        args.face_policy,
        args.cross_identity,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&study.to_json(&engine))?);
    } else {
        print!("{}", study.to_text(&engine));
    }
    Ok(ExitCode::SUCCESS)
}
