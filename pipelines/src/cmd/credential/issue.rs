//! `ikd credential issue`: a credential for an identity JSON file, signed with the issuer key
//! (`ikd_credential::CredentialIssuer`), with the holder's photo (`crate::credential::photo`).

use crate::batch::unix_now;
use crate::cmd::common::EngineArgs;
use crate::credential::photo;
use crate::credential::qr::render_qr;
use anyhow::Context;
use ikd_engine::credential::{CredentialIssuer, EncryptionKey, Identity, IssuerKey};
use qrcode::EcLevel;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    /// Key directory (signs with its active key) or a PKCS#8 private key file.
    #[arg(long, value_name = "DIR_OR_FILE")]
    key: PathBuf,
    /// Identity JSON file.
    #[arg(long, value_name = "FILE")]
    identity: PathBuf,
    /// Issuer name (CWT iss).
    #[arg(long)]
    issuer: String,
    /// Validity in days.
    #[arg(long, default_value_t = 1825)]
    validity_days: u64,
    /// Issue time (Unix seconds) instead of now.
    #[arg(long, value_name = "UNIX_TIME")]
    at: Option<u64>,
    /// Also render the QR code to this PNG file.
    #[arg(long, value_name = "FILE.png")]
    qr: Option<PathBuf>,
    /// Encrypt with this AES key file (`ikd keys generate --kind aes256`).
    #[arg(long, value_name = "FILE")]
    encrypt_key: Option<PathBuf>,
    /// The holder's photo: a JPEG, JPEG 2000, AVIF or WebP file of at most 2,048 bytes,
    /// carried as it is; with `--photo-budget`, an ID photo the face engine makes the
    /// holder's portrait of (as `ikd run --photo-budget` does).
    #[arg(long, value_name = "FILE")]
    photo: Option<PathBuf>,
    /// Make the portrait of `--photo` at most this many bytes.
    #[arg(long, value_name = "BYTES", requires = "photo", value_parser = clap::value_parser!(u64).range(800..=1800))]
    photo_budget: Option<u64>,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(args: IssueArgs) -> anyhow::Result<ExitCode> {
    let key =
        IssuerKey::load(&args.key).with_context(|| format!("loading the signing key from {}", args.key.display()))?;
    let identity = &args.identity;
    let json = std::fs::read_to_string(identity).with_context(|| format!("reading {}", identity.display()))?;
    let mut id: Identity = serde_json::from_str(&json).with_context(|| format!("parsing {}", identity.display()))?;
    if let Some(path) = &args.photo {
        id.photo = Some(photo::holder_photo(path, args.photo_budget, || args.engine.build())?);
    }
    let validity = Duration::from_secs(args.validity_days.saturating_mul(86_400));
    let mut issuer = CredentialIssuer::new(key, args.issuer, validity);
    if let Some(file) = &args.encrypt_key {
        let key =
            EncryptionKey::load(file).with_context(|| format!("loading the encryption key from {}", file.display()))?;
        issuer = issuer.with_encryption(key);
    }
    let issued = issuer.issue(&id, args.at.unwrap_or_else(unix_now))?;
    println!("{}", issued.text);
    if let Some(png) = args.qr {
        render_qr(&issued.text, &png, EcLevel::M, 6)?;
        eprintln!("wrote {}", png.display());
    }
    Ok(ExitCode::SUCCESS)
}
