//! `ikd gallery build --photos GALLERY.csv --out DIR`: embed KTP-el photos into a
//! province-partitioned Parquet gallery (see docs/batch.md).

use super::common::EngineArgs;
use crate::batch::encoding::EmbeddingEncoding;
use crate::batch::gallery::{build, id_photo_config, GalleryBuildConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum GalleryCommand {
    /// Build or extend a gallery: new NIKs only, one new sorted run per province.
    Build(GalleryBuildArgs),
    /// Merge each partition's sorted runs into one (streaming; crash-safe).
    Compact(GalleryCompactArgs),
    /// Write a synthetic province (valid NIKs, templates sampled around a real gallery's) and
    /// a requests file for it: scale measurements without millions of photos.
    Synthesize(GallerySynthesizeArgs),
}

#[derive(clap::Args)]
pub struct GalleryCompactArgs {
    /// Gallery directory.
    pub gallery: PathBuf,
    /// Only this province (two digits).
    #[arg(long)]
    pub province: Option<u8>,
}

#[derive(clap::Args)]
pub struct GallerySynthesizeArgs {
    /// A real gallery whose templates the synthetic ones are sampled around.
    #[arg(long, value_name = "DIR")]
    pub like: PathBuf,
    /// Gallery directory to add the synthetic run to (e.g. a copy of `--like`).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Province code of the synthetic entries.
    #[arg(long, default_value_t = 31)]
    pub province: u8,
    #[arg(long)]
    pub entries: usize,
    #[arg(long, value_enum, default_value_t = EmbeddingEncoding::default())]
    pub encoding: EmbeddingEncoding,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write a requests CSV of this many rows for the synthetic province ...
    #[arg(long, value_name = "N", requires = "requests_out")]
    pub requests: Option<usize>,
    /// ... here. 90 % ask for a synthetic NIK that is present, 10 % for an absent one; the
    /// selfie path names no file, so each row costs its gallery lookup and no face work.
    #[arg(long, value_name = "FILE")]
    pub requests_out: Option<PathBuf>,
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
    /// How new embedding columns store templates (f16 and int8 measured in docs/batch.md).
    #[arg(long, value_enum, default_value_t = EmbeddingEncoding::default())]
    pub encoding: EmbeddingEncoding,
    /// Templates buffered before a run (one part file per province) is written.
    #[arg(long, default_value_t = 50_000)]
    pub flush_rows: usize,
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
            let engine = ikd_engine::Engine::new(id_photo_config(args.engine.engine_config()?, args.sharpness_gate))?;
            let mut cfg = GalleryBuildConfig::new(args.photos, args.out);
            cfg.chunk_size = args.chunk_size.max(1);
            cfg.flush_rows = args.flush_rows.max(1);
            cfg.encoding = args.encoding;
            cfg.verbose = true;
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(args.threads.unwrap_or(0))
                .build()?;
            let report = pool.install(|| build(&engine, &cfg))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        GalleryCommand::Compact(args) => {
            if !args.gallery.is_dir() {
                eprintln!("ikd: {} is not a gallery directory", args.gallery.display());
                return Ok(ExitCode::from(2));
            }
            let report = crate::batch::compact::compact(&args.gallery, args.province)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        GalleryCommand::Synthesize(args) => {
            let report = crate::batch::synthetic::synthesize(&crate::batch::synthetic::SynthesizeConfig {
                like: args.like,
                out: args.out,
                province: args.province,
                entries: args.entries,
                encoding: args.encoding,
                seed: args.seed,
                requests: args.requests.zip(args.requests_out),
            })?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
