//! `ikd review`: the officers' review page and what follows an officer's decision.

use super::common::EngineArgs;
use crate::batch::UsageError;
use crate::review::store::{Provinces, Store};
use crate::review::{self, IssueConfig};
use anyhow::Context;
use clap::Subcommand;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Serve the review page for a finished run (binds to localhost unless told otherwise).
    Serve {
        /// The run's output directory (`ikd run --out`).
        #[arg(long, value_name = "DIR")]
        run: PathBuf,
        /// The gallery the run used (locates the KTP-el photos).
        #[arg(long, value_name = "DIR")]
        gallery: PathBuf,
        /// The review database (SQLite; created if missing, mode 0600).
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// The directory selfie paths are relative to (default: as the run resolved them).
        #[arg(long, value_name = "DIR")]
        selfie_dir: Option<PathBuf>,
        /// Send cookies without the `Secure` attribute (only for a browser that refuses
        /// them over plain HTTP on localhost; behind a TLS proxy never use it).
        #[arg(long)]
        insecure_cookies: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Add an officer (the password is read from stdin, one line) with the provinces they
    /// may see and decide.
    AddOfficer {
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// Officer id (letters, digits, . _ - @).
        #[arg(long)]
        officer: String,
        /// Comma-separated 2-digit province codes (e.g. `31,32`), or `*` for all (also rows
        /// without a valid NIK).
        #[arg(long)]
        provinces: String,
        /// Change an existing officer's password and provinces.
        #[arg(long)]
        replace: bool,
    },
    /// Write the run's recorded decisions to OUT/adjudications.parquet (and the photo-view log
    /// to OUT/photo_views.parquet).
    Export {
        #[arg(long, value_name = "DIR")]
        run: PathBuf,
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
    },
    /// Issue credentials and activation codes for approved rows, exactly once, into
    /// OUT/adjudicated/ and OUT/outbox/adjudicated/.
    Issue {
        #[arg(long, value_name = "DIR")]
        run: PathBuf,
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// The run's key directory.
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// The run's AES key, if it issued encrypted credentials.
        #[arg(long, value_name = "FILE")]
        encrypt_key: Option<PathBuf>,
        /// The gallery (needed when the run put the holder's portrait into credentials).
        #[arg(long, value_name = "DIR")]
        gallery: Option<PathBuf>,
        /// The run's requests file, if it moved since the run.
        #[arg(long, value_name = "FILE")]
        requests: Option<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
    },
}

pub fn run(cmd: ReviewCommand) -> anyhow::Result<ExitCode> {
    let result = match cmd {
        ReviewCommand::Serve {
            run,
            gallery,
            db,
            listen,
            selfie_dir,
            insecure_cookies,
            engine,
        } => serve(run, gallery, db, listen, selfie_dir, insecure_cookies, engine),
        ReviewCommand::AddOfficer {
            db,
            officer,
            provinces,
            replace,
        } => add_officer(db, officer, provinces, replace),
        ReviewCommand::Export { run, db } => {
            let (path, n) = review::export(&run, &db)?;
            println!("{n} decisions written to {}", path.display());
            Ok(())
        }
        ReviewCommand::Issue {
            run,
            db,
            keys,
            encrypt_key,
            gallery,
            requests,
            engine,
        } => {
            let engine = engine.build()?;
            let o = review::issue(
                &engine,
                &IssueConfig {
                    out: run,
                    db,
                    keys,
                    encrypt_key,
                    gallery,
                    requests,
                },
            )?;
            println!(
                "approved: {}, issued before: {}, issued now: {}, not issuable now: {}",
                o.approved,
                o.issued_before,
                o.issued_now,
                o.failed.len()
            );
            for (id, why) in &o.failed {
                println!("  {id}: {why}");
            }
            if let Some(p) = &o.part {
                println!("  written: {}", p.display());
            }
            for (id, decision) in &o.withdrawn_after_issue {
                eprintln!(
                    "ikd review issue: {id} was issued after an approval, but its latest decision is {decision}: \
                     revoke its credential (ikd credential revoke)"
                );
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(u) => {
                eprintln!("ikd review: {u}");
                Ok(ExitCode::from(2))
            }
            None => Err(e),
        },
    }
}

fn serve(
    run: PathBuf,
    gallery: PathBuf,
    db: PathBuf,
    listen: std::net::SocketAddr,
    selfie_dir: Option<PathBuf>,
    insecure_cookies: bool,
    engine: EngineArgs,
) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        eprintln!("ikd review serve: warning: listening on {listen}, not on localhost: put a TLS proxy in front");
    }
    let engine = engine.build()?;
    let models: Vec<(String, usize)> = engine.embedders().map(|e| (e.id.clone(), e.dims)).collect();
    let queue = review::queue::RunQueue::load(&run, &gallery, &models, selfie_dir.as_deref())?;
    let store = Store::open(&db)?;
    let app = review::web::App::new(store, queue, engine, !insecure_cookies);
    review::web::serve(app, listen)
}

fn add_officer(db: PathBuf, officer: String, provinces: String, replace: bool) -> anyhow::Result<()> {
    let provinces = Provinces::parse(&provinces).map_err(|e| UsageError(format!("--provinces: {e}")))?;
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']);
    let store = Store::open(&db)?;
    store
        .add_officer(&officer, password, &provinces, replace)
        .map_err(|e| UsageError(format!("{e}")))?;
    println!("officer {officer} may review provinces {}", provinces.to_db());
    Ok(())
}
