//! `ikd bench`: end-to-end throughput (selfie -> verdict against a stored template) with 1
//! thread and with all threads, and where the time goes, stage by stage (the `throughput`
//! module's measurement).

use super::common::EngineArgs;
use crate::throughput;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Folder of selfies (searched recursively for .jpg/.png/.pgm); default: the bundled photos.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Requests to verify per measurement (images are repeated).
    #[arg(long, default_value_t = 400)]
    pub requests: usize,
    /// Thread counts to measure, e.g. 1,2 (default: 1 and all cores).
    #[arg(long, value_delimiter = ',')]
    pub threads: Vec<usize>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let dir = args.images.clone().unwrap_or_else(throughput::bundled_images_dir);
    let engine = args.engine.build()?;
    let report = throughput::measure(&engine, &dir, args.requests, &args.threads)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", throughput::text(&engine, &report));
    }
    Ok(ExitCode::SUCCESS)
}
