//! `ikd`: the command line of ikd-engine. Glue only: parse flags, call one command, map errors to
//! exit codes. Every command lives in its own file under `cmd/`, its work in the library.
//!
//! Exit codes: 0 success (any face decision), 1 failure (I/O, engine fault), 2 usage error,
//! 3 an invalid credential (`credential verify`), 4 a batch run finished with failed chunks.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ikd_pipelines::cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ikd",
    version,
    about = "Face verification and credentials for Indonesia's digital ID (IKD)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compare a selfie with an ID photo.
    Compare(cmd::compare::CompareArgs),
    /// Detect, align and embed the face in one image.
    Embed(cmd::embed::EmbedArgs),
    /// Measure accuracy on labelled pairs.
    #[command(subcommand)]
    Eval(cmd::eval::EvalCommand),
    /// Build or extend the gallery of KTP-el templates.
    #[command(subcommand)]
    Gallery(cmd::gallery::GalleryCommand),
    /// Run a nightly verification job over a requests file.
    Run(cmd::run::RunArgs),
    /// Generate the bundled demo data set and run gallery build + run on it.
    Demo(cmd::demo::DemoArgs),
    /// End-to-end throughput with the time split by stage.
    Bench(cmd::bench::BenchArgs),
    /// Generate signing keys and publish the public key set (JWKS).
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Verify a Claim 169 QR credential or render one as a QR image.
    #[command(subcommand)]
    Credential(cmd::credential::CredentialCommand),
    /// The officers' review page, their decisions, and issuing after approval.
    #[command(subcommand)]
    Review(cmd::review::ReviewCommand),
    /// Write a finished run's report: one self-contained HTML page.
    Report(cmd::report::ReportArgs),
}

fn main() -> ExitCode {
    // Any command may hold keys or write citizens' data: nothing it creates is readable by
    // others whatever the caller's umask (keys and the outbox are 0600/0700 anyway), and the
    // process cannot dump core (a core file would hold its keys).
    ikd_engine::credential::secret::restrict_umask(0o027);
    if let Err(e) = ikd_engine::credential::secret::forbid_core_dumps() {
        eprintln!("ikd: warning: could not disable core dumps: {e}");
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compare(a) => cmd::compare::run(a),
        Command::Embed(a) => cmd::embed::run(a),
        Command::Eval(c) => cmd::eval::run(c),
        Command::Gallery(c) => cmd::gallery::run(c),
        Command::Run(a) => cmd::run::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Keys(c) => cmd::keys::run(c),
        Command::Credential(c) => cmd::credential::run(c),
        Command::Review(c) => cmd::review::run(c),
        Command::Report(a) => cmd::report::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("ikd: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
