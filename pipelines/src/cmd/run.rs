//! `ikd run`: the nightly verification job over a requests file (see docs/batch.md).

use super::common::EngineArgs;
use crate::batch::run::{run as run_batch, ProgressMode, RunConfig};
use crate::batch::shard::Shard;
use crate::batch::UsageError;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Requests (CSV or Parquet): request_id,nik,selfie_path[,full_name,date_of_birth,gender,email].
    #[arg(long, value_name = "FILE")]
    pub requests: PathBuf,
    /// Gallery directory written by `ikd gallery build`.
    #[arg(long, value_name = "DIR")]
    pub gallery: PathBuf,
    /// Output directory (results/, review/, outbox/, run.json, summary.json).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Key directory (`ikd keys generate`): issue a credential and an activation code per match.
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
    /// AES key file (`ikd keys generate --kind aes256`): issue encrypted credentials
    /// (COSE_Encrypt0 around the signed one). Verifiers then need this key.
    #[arg(long, value_name = "FILE", requires = "keys")]
    pub encrypt_key: Option<PathBuf>,
    /// Put the holder's portrait into each credential: the face of the gallery entry's
    /// KTP-el photo, aligned, JPEG at most this many bytes (800 to 1,800: a typical encrypted
    /// credential is then QR version 28 to 39 at EC level M; one that would not fit version 40
    /// is not issued and goes to review). Off by default.
    #[arg(long, value_name = "BYTES", requires = "keys", value_parser = clap::value_parser!(u64).range(800..=1800))]
    pub photo_budget: Option<u64>,
    /// Directory every selfie_path must lie in (relative paths are relative to it; absolute
    /// ones and symlinks must stay inside). Default: the requests file's directory.
    #[arg(long, value_name = "DIR")]
    pub selfie_dir: Option<PathBuf>,
    /// Input rows per chunk (the unit of parallelism, commit and resume).
    #[arg(long, default_value_t = 512)]
    pub chunk_size: usize,
    /// Run shard I of N (0-based), e.g. `--shard 2/8`.
    #[arg(long, value_name = "I/N", conflicts_with = "shards")]
    pub shard: Option<String>,
    /// Number of shards; the index comes from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID.
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// CWT issuer of credentials.
    #[arg(long, default_value = "https://ikd.example.id")]
    pub issuer: String,
    /// Credential validity in days.
    #[arg(long, default_value_t = 5 * 365)]
    pub validity_days: u64,
    /// `no_match` rows whose fused score lies within this distance below the threshold go to
    /// review (fused-score units: impostor standard deviations).
    #[arg(long, default_value_t = 1.0)]
    pub review_margin: f32,
    /// Issue time (Unix seconds) of the credentials; default: when the run first started.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub issued_at: Option<u64>,
    /// Log lines instead of a progress bar even on a terminal.
    #[arg(long)]
    pub no_progress_bar: bool,
    /// Print the summary JSON to stdout at the end.
    #[arg(long)]
    pub print_summary: bool,
    /// Memory for the gallery's page-index cache, in MiB (lookups read only the pages that
    /// can hold the chunk's NIKs; the cache keeps recently used row groups' page indexes).
    #[arg(long, default_value_t = 64)]
    pub gallery_cache_mb: usize,
    /// The outbox of a run whose --out is on object storage: an s3:// prefix of its own (never
    /// below --out), whose bucket policy lets only the job write and only the mailer read (see
    /// the README, "Object storage"). Required with --keys when --out is s3://.
    #[arg(long, value_name = "S3_PREFIX")]
    pub outbox: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl RunArgs {
    pub fn config(&self) -> Result<RunConfig, UsageError> {
        let shard = match (&self.shard, self.shards) {
            (Some(s), _) => Shard::parse(s)?,
            (None, Some(n)) => Shard::from_env(n, |k| std::env::var(k).ok())?,
            (None, None) => Shard::default(),
        };
        if self.chunk_size == 0 {
            return Err(UsageError("--chunk-size must be at least 1".into()));
        }
        if self.threads == Some(0) {
            return Err(UsageError("--threads must be at least 1".into()));
        }
        if !self.review_margin.is_finite() || self.review_margin < 0.0 {
            return Err(UsageError("--review-margin must be a non-negative number".into()));
        }
        let mut cfg = RunConfig::new(self.requests.clone(), self.gallery.clone(), self.out.clone());
        cfg.keys = self.keys.clone();
        cfg.encrypt_key = self.encrypt_key.clone();
        cfg.photo_budget = self.photo_budget.map(|b| b as usize);
        cfg.selfie_dir.clone_from(&self.selfie_dir);
        cfg.chunk_size = self.chunk_size;
        cfg.shard = shard;
        cfg.threads = self.threads;
        cfg.issuer = self.issuer.clone();
        cfg.validity_days = self.validity_days;
        cfg.review_margin = self.review_margin;
        cfg.issued_at = self.issued_at;
        cfg.gallery_cache_bytes = self.gallery_cache_mb << 20;
        cfg.outbox.clone_from(&self.outbox);
        cfg.progress = if self.no_progress_bar {
            ProgressMode::Lines
        } else {
            ProgressMode::Auto
        };
        Ok(cfg)
    }
}

/// Exit codes: 0 all rows committed (any decisions), 1 failure (I/O, engine, keys),
/// 2 usage error (bad flags, missing input, resume with other arguments), 4 some chunks hit an
/// engine fault and were not committed (rerun the same command to retry them).
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let cfg = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ikd run: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let engine = args.engine.build()?;
    match run_batch(&engine, &cfg) {
        Ok(outcome) => {
            if args.print_summary {
                println!("{}", serde_json::to_string_pretty(&outcome.summary)?);
            } else {
                print_short(&outcome.summary, &outcome.summary_path);
            }
            crate::report::after_run(&cfg.out, args.print_summary);
            Ok(if outcome.failed_chunks.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(4)
            })
        }
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(u) => {
                eprintln!("ikd run: {u}");
                Ok(ExitCode::from(2))
            }
            None => Err(e),
        },
    }
}

/// A few lines from the summary (no NIKs).
pub fn print_short(s: &serde_json::Value, path: &std::path::Path) {
    println!(
        "run {}: {} rows ({} expected)",
        s["run_id"].as_str().unwrap_or("?"),
        s["rows"],
        s["rows_expected"]
    );
    println!("  decisions: {}", s["decisions"]);
    println!("  reasons:   {}", s["reasons"]);
    println!(
        "  review rows: {}, credentials issued: {}",
        s["review_rows"], s["credentials_issued"]
    );
    let t = &s["this_invocation"];
    println!(
        "  this invocation: {} rows in {:.1} s ({:.1} rows/s), peak RSS {:.0} MiB",
        t["rows_processed"],
        t["processing_seconds"].as_f64().unwrap_or(0.0),
        t["throughput_rows_per_second"].as_f64().unwrap_or(0.0),
        t["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1048576.0
    );
    println!("  summary: {}", path.display());
}
