//! `ikd credential status-list publish`: signs a revocation file's ids as a status list
//! (`crate::credential::revocation`).

use crate::batch::unix_now;
use crate::credential::revocation;
use anyhow::Context;
use clap::Subcommand;
use ikd_engine::credential::IssuerKey;
use std::path::PathBuf;
use std::process::ExitCode;

/// `ikd credential status-list ...`
#[derive(Debug, Subcommand)]
pub enum StatusListCommand {
    /// Sign the revocation file's ids as a status list with the active key of DIR.
    Publish(PublishArgs),
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Key directory (signs with its active key).
    #[arg(long, value_name = "DIR")]
    keys: PathBuf,
    /// Revocation file written by `ikd credential revoke`.
    #[arg(long, value_name = "FILE")]
    list: PathBuf,
    /// Issuer name (the credentials' iss).
    #[arg(long, default_value = "https://ikd.example.id")]
    issuer: String,
    /// Hours until verifiers must fetch a newer list.
    #[arg(long, default_value_t = 48)]
    valid_hours: u64,
    /// Issue time (Unix seconds) instead of now.
    #[arg(long, value_name = "UNIX_TIME")]
    at: Option<u64>,
    /// Output file (binary: zlib-compressed COSE_Sign1), or an s3:// URL (the object is
    /// replaced whole: verifiers never see half a list).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(cmd: StatusListCommand) -> anyhow::Result<ExitCode> {
    let StatusListCommand::Publish(args) = cmd;
    let key =
        IssuerKey::load(&args.keys).with_context(|| format!("loading the signing key from {}", args.keys.display()))?;
    let now = args.at.unwrap_or_else(unix_now);
    let (status, bytes) = revocation::publish_status_list(&key, &args.list, args.issuer, now, args.valid_hours)?;
    if crate::batch::storage::is_remote(&args.out) {
        // Where verifiers fetch it: one put that replaces the previous list whole.
        crate::batch::storage::Location::from_path(&args.out)?.put_overwrite(bytes.clone().into())?;
    } else {
        std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    }
    println!(
        "wrote {} ({} revoked, {} bytes, valid until {}, kid {})",
        args.out.display(),
        status.revoked.len(),
        bytes.len(),
        status.expires_at,
        key.kid()
    );
    Ok(ExitCode::SUCCESS)
}
