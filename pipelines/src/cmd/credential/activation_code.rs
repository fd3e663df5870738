//! `ikd credential activation-code`: a request's activation code and the keyed hash results
//! store (`ikd_credential::ActivationSecret`).

use anyhow::Context;
use ikd_engine::credential::ActivationSecret;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ActivationCodeArgs {
    /// Key directory holding activation.secret, or the secret file.
    #[arg(long, value_name = "DIR_OR_FILE")]
    keys: PathBuf,
    /// Registration request id.
    #[arg(long)]
    request_id: String,
    /// NIK of the person.
    #[arg(long)]
    nik: String,
}

pub fn run(args: ActivationCodeArgs) -> anyhow::Result<ExitCode> {
    let secret = ActivationSecret::load(&args.keys)
        .with_context(|| format!("loading the activation secret from {}", args.keys.display()))?;
    let code = secret.code(&args.request_id, &args.nik);
    println!("code: {}", code.as_str());
    println!(
        "stored_hash: {}",
        secret.stored_hash(&args.request_id, &args.nik, &code)
    );
    Ok(ExitCode::SUCCESS)
}
