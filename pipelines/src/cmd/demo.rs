//! `ikd demo [--out DIR]`: generate the demo data set (ikd-datasets), generate signing keys,
//! build the gallery, run the nightly job with credentials, print the summary and check every
//! row against `requests/expected.csv`.

use super::common::EngineArgs;
use crate::batch::gallery::{build, GalleryBuildConfig};
use crate::batch::run::{run as run_batch, ProgressMode, RunConfig};
use anyhow::Context;
use arrow::array::{Array, StringArray, UInt64Array};
use ikd_datasets::{generate_demo, DemoConfig};
use ikd_engine::credential::{generate_key_files, Algorithm, ACTIVE_KID_FILE};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    let out = &args.out;
    let mut config = DemoConfig::default();
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if args.fresh {
        for d in ["gallery-db", "run"] {
            let p = out.join(d);
            if p.exists() {
                std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    eprintln!("ikd demo: generating the demo data set into {}", out.display());
    let manifest = generate_demo(&config, out).context("generating the demo data set")?;
    eprintln!(
        "ikd demo: {} gallery identities, {} request rows",
        manifest.gallery_count, manifest.request_count
    );
    let keys = out.join("keys");
    if !args.no_keys && !keys.join(ACTIVE_KID_FILE).is_file() {
        let k = generate_key_files(Algorithm::EdDsa, &keys).context("generating signing keys")?;
        eprintln!("ikd demo: generated Ed25519 key {} in {}", k.kid, keys.display());
    }
    let gallery_engine = super::gallery::gallery_engine(&args.engine, false)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()?;
    let gallery = out.join("gallery-db");
    let mut gcfg = GalleryBuildConfig::new(manifest.gallery_csv.clone(), gallery.clone());
    gcfg.verbose = true;
    let report = pool.install(|| build(&gallery_engine, &gcfg))?;
    drop(gallery_engine);
    let engine = args.engine.build()?;
    eprintln!(
        "ikd demo: gallery: {} added, {} already present, {} rejected ({:.1} s)",
        report.added, report.already_present, report.rejected, report.seconds
    );
    let (requests, run_dir) = match args.requests_rows {
        Some(n) => {
            let csv = manifest.requests_csv.with_file_name(format!("requests-{n}.csv"));
            ikd_datasets::expand_requests(&manifest.requests_csv, n, &csv).context("expanding the requests")?;
            (csv, out.join(format!("run-{n}")))
        }
        None => (manifest.requests_csv.clone(), out.join("run")),
    };
    let mut rcfg = RunConfig::new(requests, gallery, run_dir.clone());
    rcfg.keys = (!args.no_keys).then_some(keys);
    rcfg.chunk_size = args.chunk_size.max(1);
    rcfg.threads = args.threads;
    rcfg.progress = ProgressMode::Auto;
    let outcome = run_batch(&engine, &rcfg)?;
    super::run::print_short(&outcome.summary, &outcome.summary_path);
    super::run_report::after_run(&rcfg.out, false);

    if args.requests_rows.is_some() {
        return Ok(if outcome.failed_chunks.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(4)
        });
    }
    let (agree, total, mismatches) = check_expected(&run_dir, &manifest.expected_csv)?;
    println!("  expected outcomes (requests/expected.csv): {agree}/{total} rows agree");
    for m in mismatches.iter().take(20) {
        println!("    {m}");
    }
    println!("  results: {}/results (Parquet; e.g. duckdb -c \"select decision, reason, count(*) from '{}/results/*/*.parquet' group by all\")", out.join("run").display(), out.join("run").display());
    let db = out.join("review.db");
    println!(
        "  the review queue in a browser (docs/review.md): ikd review add-officer --db {db} --officer demo --provinces '*' < password.txt\n    \
         then ikd review serve --run {run} --gallery {gallery} --db {db}",
        db = db.display(),
        run = out.join("run").display(),
        gallery = out.join("gallery-db").display(),
    );
    Ok(if outcome.failed_chunks.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(4)
    })
}

/// The outcome code of each result row by input row: the decision, or the reason if rejected.
pub fn outcomes_by_row(run_dir: &Path) -> anyhow::Result<BTreeMap<u64, (String, String)>> {
    let mut out = BTreeMap::new();
    for shard in std::fs::read_dir(run_dir.join("results"))? {
        for file in crate::batch::part_files(&shard?.path())? {
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)?.build()?;
            for batch in reader {
                let batch = batch?;
                let s = |n: &str| {
                    batch
                        .column_by_name(n)
                        .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
                };
                let (Some(id), Some(decision), Some(reason)) = (s("request_id"), s("decision"), s("reason")) else {
                    anyhow::bail!("{}: unexpected schema", file.display());
                };
                let rows = batch
                    .column_by_name("input_row")
                    .and_then(|c| c.as_any().downcast_ref::<UInt64Array>().cloned())
                    .context("no input_row")?;
                for i in 0..batch.num_rows() {
                    let code = if decision.value(i) == "rejected" && reason.is_valid(i) {
                        reason.value(i).to_string()
                    } else {
                        decision.value(i).to_string()
                    };
                    out.insert(rows.value(i), (id.value(i).to_string(), code));
                }
            }
        }
    }
    Ok(out)
}

/// Compares results with `expected.csv` (row i of it describes input row i). An unreadable file
/// expected as `corrupt_image` may be reported as any intake reason (`truncated_image` for a
/// cut JPEG, `unsupported_format` for random bytes).
pub fn check_expected(run_dir: &Path, expected_csv: &Path) -> anyhow::Result<(usize, usize, Vec<String>)> {
    let got = outcomes_by_row(run_dir)?;
    let mut reader = csv::Reader::from_path(expected_csv)?;
    let (mut agree, mut total, mut mismatches) = (0, 0, Vec::new());
    for (i, rec) in reader.records().enumerate() {
        let rec = rec?;
        let (id, expected) = (rec.get(0).unwrap_or(""), rec.get(1).unwrap_or(""));
        total += 1;
        match got.get(&(i as u64 + 1)) {
            Some((gid, code)) if gid == id && same_outcome(expected, code) => agree += 1,
            Some((_, code)) => mismatches.push(format!("row {} {id}: expected {expected}, got {code}", i + 1)),
            None => mismatches.push(format!("row {} {id}: expected {expected}, no result row", i + 1)),
        }
    }
    Ok((agree, total, mismatches))
}

fn same_outcome(expected: &str, got: &str) -> bool {
    expected == got
        || (expected == "corrupt_image"
            && matches!(
                got,
                "truncated_image" | "unsupported_format" | "empty_image" | "corrupt_image"
            ))
}
