//! `ikd demo` without the command line: the demo data set (`ikd_datasets`), signing keys, the
//! gallery, a run with credentials, and every result row checked against the data set's
//! `requests/expected.csv` ([`run_demo`], [`check_expected`]).

use crate::batch::gallery::{build, id_photo_config, GalleryBuildConfig};
use crate::batch::run::{run as run_batch, ProgressMode, RunConfig, RunOutcome};
use anyhow::Context;
use arrow::array::{Array, StringArray, UInt64Array};
use ikd_datasets::{generate_demo, DemoConfig, DemoManifest};
use ikd_engine::credential::{generate_key_files, Algorithm, ACTIVE_KID_FILE};
use ikd_engine::{Engine, EngineConfig};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `ikd demo` does.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where to write everything (data set, keys, gallery, run).
    pub out: PathBuf,
    /// Seed of the demo data set (default: the data set's own).
    pub seed: Option<u64>,
    /// Rows per chunk of the run.
    pub chunk_size: usize,
    /// Worker threads (default: one per core).
    pub threads: Option<usize>,
    /// Generate keys and issue credentials.
    pub keys: bool,
    /// Scale test: run on this many request rows made by `ikd_datasets::expand_requests`
    /// (OUT/run-N/ instead of OUT/run/); the expected outcomes are not checked then.
    pub requests_rows: Option<usize>,
    /// Delete OUT/gallery-db and OUT/run first (otherwise a second demo resumes / reuses them).
    pub fresh: bool,
}

/// What a demo did.
#[derive(Debug)]
pub struct DemoOutcome {
    pub manifest: DemoManifest,
    pub run_dir: PathBuf,
    pub run: RunOutcome,
    /// Rows that agree with `expected.csv`, rows, and a line per mismatch (not checked with
    /// `requests_rows`).
    pub expected: Option<(usize, usize, Vec<String>)>,
}

/// Generates the demo data set and keys, builds the gallery (with `engine`'s configuration,
/// the ID-photo way: no sharpness gate) and runs the requests; progress goes to stderr.
pub fn run_demo(opts: &DemoOptions, engine: &EngineConfig) -> anyhow::Result<DemoOutcome> {
    let out = &opts.out;
    let mut config = DemoConfig::default();
    if let Some(seed) = opts.seed {
        config.seed = seed;
    }
    if opts.fresh {
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
    if opts.keys && !keys.join(ACTIVE_KID_FILE).is_file() {
        let k = generate_key_files(Algorithm::EdDsa, &keys).context("generating signing keys")?;
        eprintln!("ikd demo: generated Ed25519 key {} in {}", k.kid, keys.display());
    }
    let gallery_engine = Engine::new(id_photo_config(engine.clone(), false))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.unwrap_or(0))
        .build()?;
    let gallery = out.join("gallery-db");
    let mut gcfg = GalleryBuildConfig::new(manifest.gallery_csv.clone(), gallery.clone());
    gcfg.verbose = true;
    let report = pool.install(|| build(&gallery_engine, &gcfg))?;
    drop(gallery_engine);
    let engine = Engine::new(engine.clone())?;
    eprintln!(
        "ikd demo: gallery: {} added, {} already present, {} rejected ({:.1} s)",
        report.added, report.already_present, report.rejected, report.seconds
    );
    let (requests, run_dir) = match opts.requests_rows {
        Some(n) => {
            let csv = manifest.requests_csv.with_file_name(format!("requests-{n}.csv"));
            ikd_datasets::expand_requests(&manifest.requests_csv, n, &csv).context("expanding the requests")?;
            (csv, out.join(format!("run-{n}")))
        }
        None => (manifest.requests_csv.clone(), out.join("run")),
    };
    let mut rcfg = RunConfig::new(requests, gallery, run_dir.clone());
    rcfg.keys = opts.keys.then_some(keys);
    rcfg.chunk_size = opts.chunk_size.max(1);
    rcfg.threads = opts.threads;
    rcfg.progress = ProgressMode::Auto;
    let run = run_batch(&engine, &rcfg)?;
    let expected = match opts.requests_rows {
        Some(_) => None,
        None => Some(check_expected(&run_dir, &manifest.expected_csv)?),
    };
    Ok(DemoOutcome {
        manifest,
        run_dir,
        run,
        expected,
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
