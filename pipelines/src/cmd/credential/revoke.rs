//! `ikd credential revoke`: appends credential ids to a revocation file
//! (`crate::credential::revocation`).

use crate::batch::unix_now;
use crate::credential::revocation;
use ikd_engine::credential::CredentialId;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// Revocation file (created if missing).
    #[arg(long, value_name = "FILE")]
    list: PathBuf,
    /// Credential id (32 hex digits); repeat for several.
    #[arg(long = "id", value_name = "HEX", required = true)]
    ids: Vec<String>,
    /// Why (lost phone, wrong match, ...), kept in the file.
    #[arg(long, default_value = "")]
    reason: String,
}

pub fn run(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let parsed = args
        .ids
        .iter()
        .map(|i| i.parse::<CredentialId>().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let added = revocation::revoke(&args.list, &parsed, &args.reason, unix_now())?;
    println!(
        "revoked {added} credential(s) ({} already revoked); publish: ikd credential status-list publish",
        parsed.len() - added
    );
    Ok(ExitCode::SUCCESS)
}
