//! `ikd demo [--out DIR]`: generate the demo data set, signing keys, the gallery, run the
//! nightly job with credentials, print the summary and check every row against
//! `requests/expected.csv` (the `demo` module's work).

use super::common::EngineArgs;
use crate::demo::{run_demo, DemoOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to write everything (data set, keys, gallery, run).
    #[arg(long, default_value = "demo-out", value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of the demo data set.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Rows per chunk of the run.
    #[arg(long, default_value_t = 64)]
    pub chunk_size: usize,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Do not generate keys / issue credentials.
    #[arg(long)]
    pub no_keys: bool,
    /// Scale test: run on N request rows made by `ikd_datasets::expand_requests` (valid demo
    /// rows repeated with new ids) instead of the demo requests; OUT/run-N/ instead of OUT/run/.
    #[arg(long, value_name = "N")]
    pub requests_rows: Option<usize>,
    /// Delete OUT/gallery-db and OUT/run first (otherwise a second demo resumes / reuses them).
    #[arg(long)]
    pub fresh: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let opts = DemoOptions {
        out: args.out.clone(),
        seed: args.seed,
        chunk_size: args.chunk_size,
        threads: args.threads,
        keys: !args.no_keys,
        requests_rows: args.requests_rows,
        fresh: args.fresh,
    };
    let demo = run_demo(&opts, &args.engine.engine_config()?)?;
    super::run::print_short(&demo.run.summary, &demo.run.summary_path);
    crate::report::after_run(&demo.run_dir, false);
    let code = if demo.run.failed_chunks.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(4)
    };
    let Some((agree, total, mismatches)) = &demo.expected else {
        return Ok(code);
    };
    println!("  expected outcomes (requests/expected.csv): {agree}/{total} rows agree");
    for m in mismatches.iter().take(20) {
        println!("    {m}");
    }
    let out = &args.out;
    println!("  results: {}/results (Parquet; e.g. duckdb -c \"select decision, reason, count(*) from '{}/results/*/*.parquet' group by all\")", out.join("run").display(), out.join("run").display());
    let db = out.join("review.db");
    println!(
        "  the review queue in a browser (docs/review.md): ikd review add-officer --db {db} --officer demo --provinces '*' < password.txt\n    \
         then ikd review serve --run {run} --gallery {gallery} --db {db}",
        db = db.display(),
        run = out.join("run").display(),
        gallery = out.join("gallery-db").display(),
    );
    Ok(code)
}
