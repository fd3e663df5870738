//! `ikd gallery build --photos GALLERY.csv --out DIR`: embed KTP-el photos into a
//! province-partitioned Parquet gallery (see docs/batch.md).

use super::common::EngineArgs;
use crate::batch::gallery::{build, GalleryBuildConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum GalleryCommand {
    /// Build or extend a gallery: new NIKs only, one new part file per province.
    Build(GalleryBuildArgs),
}

#[derive(clap::Args)]
pub struct GalleryBuildArgs {
    /// CSV or Parquet (by extension) with at least `nik,photo_path`; paths relative to it.
    #[arg(long, value_name = "FILE")]
    pub photos: PathBuf,
    /// Gallery directory (`province=PP/part-NNNNN.parquet`, `rejects/`).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Photos read and embedded (in parallel) at a time.
    #[arg(long, default_value_t = 512)]
    pub chunk_size: usize,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Apply the selfie sharpness gate to ID photos too. By default it is off for the gallery:
    /// the registry photo is the only reference a citizen has (often a small scan), so a soft
    /// photo is embedded anyway and its sharpness stored in the `sharpness` column.
    #[arg(long)]
    pub sharpness_gate: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Exit 0 when the build finished (rejects are listed, not failures), 2 for a missing input.
pub fn run(cmd: GalleryCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GalleryCommand::Build(args) => {
            if !args.photos.is_file() {
                eprintln!("ikd: cannot read {}", args.photos.display());
                return Ok(ExitCode::from(2));
            }
            let engine = gallery_engine(&args.engine, args.sharpness_gate)?;
            let mut cfg = GalleryBuildConfig::new(args.photos, args.out);
            cfg.chunk_size = args.chunk_size.max(1);
            cfg.verbose = true;
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(args.threads.unwrap_or(0))
                .build()?;
            let report = pool.install(|| build(&engine, &cfg))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The engine for ID photos: the configured one, without the sharpness gate unless asked.
pub fn gallery_engine(args: &EngineArgs, sharpness_gate: bool) -> anyhow::Result<ikd_engine::Engine> {
    let mut config = args.engine_config()?;
    if !sharpness_gate {
        config.quality.min_sharpness = 0.0;
    }
    Ok(ikd_engine::Engine::new(config)?)
}
