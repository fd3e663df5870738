//! `ikd credential verify`: reads the key set, the credential, the status list and the live
//! photo, verifies (`crate::credential::verify`), prints the outcome and chooses the exit code.

use super::input::read_input;
use crate::batch::unix_now;
use crate::cmd::common::EngineArgs;
use crate::credential::verify;
use anyhow::Context;
use ikd_engine::credential::{EncryptionKey, KeySet, VerifyOptions};
use ikd_engine::Decision;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code for a credential that is not valid.
pub const EXIT_INVALID: u8 = 3;
/// Exit code: the credential is valid but its photo is not the person's.
pub const EXIT_FACE_NO_MATCH: u8 = 4;
/// Exit code: the credential is valid but the face check could not decide (no photo, live
/// photo refused): check the person another way.
pub const EXIT_FACE_UNDECIDED: u8 = 5;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The QR text, or a file containing it.
    #[arg(value_name = "QR_TEXT_OR_FILE")]
    input: String,
    /// Public key set (JWKS) of trusted issuers.
    #[arg(long, value_name = "JWKS")]
    keyset: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Check validity at this Unix time instead of now.
    #[arg(long, value_name = "UNIX_TIME")]
    at: Option<u64>,
    /// Allowed clock skew for nbf/exp, seconds.
    #[arg(long, default_value_t = 300)]
    skew: u64,
    /// AES key file to read encrypted credentials (without it they are refused).
    #[arg(long, value_name = "FILE")]
    decrypt_key: Option<PathBuf>,
    /// Accept an IV not derived from the credential (other encoders' random IVs).
    #[arg(long, requires = "decrypt_key")]
    accept_foreign_iv: bool,
    /// Status list (`ikd credential status-list publish`): refuse revoked credentials,
    /// and refuse to decide on an expired list.
    #[arg(long, value_name = "FILE")]
    status_list: Option<PathBuf>,
    /// Live photo of the person showing the credential: compare it 1:1 with the
    /// credential's photo with the face engine (exit 0 match, 4 no match, 5 undecided).
    #[arg(long, value_name = "LIVE.jpg")]
    face: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let decrypt_key = match &args.decrypt_key {
        Some(file) => Some(
            EncryptionKey::load(file).with_context(|| format!("loading the decryption key from {}", file.display()))?,
        ),
        None => None,
    };
    let opts = VerifyOptions {
        clock_skew_secs: args.skew,
        accept_foreign_iv: args.accept_foreign_iv,
        ..VerifyOptions::default()
    };
    let face = match &args.face {
        Some(path) => Some((
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            args.engine.build()?,
        )),
        None => None,
    };
    let keyset = &args.keyset;
    let jwks = std::fs::read_to_string(keyset).with_context(|| format!("reading {}", keyset.display()))?;
    let keys = KeySet::from_jwks(&jwks).with_context(|| format!("loading {}", keyset.display()))?;
    let text = read_input(&args.input)?;
    let now = args.at.unwrap_or_else(unix_now);
    let list_bytes = match &args.status_list {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    match verify::verify_credential(&text, &keys, decrypt_key.as_ref(), list_bytes.as_deref(), now, &opts) {
        Ok(v) => {
            let check = face
                .as_ref()
                .map(|(live, engine)| verify::face_check(engine, live, v.identity.photo.as_ref()))
                .transpose()?;
            let code = match check.as_ref().map(|c| c.verdict.decision) {
                None | Some(Decision::Match) => ExitCode::SUCCESS,
                Some(Decision::NoMatch) => ExitCode::from(EXIT_FACE_NO_MATCH),
                Some(Decision::Rejected) => ExitCode::from(EXIT_FACE_UNDECIDED),
            };
            if args.json {
                let out = verify::valid_json(&v, now, check.as_ref())?;
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", verify::valid_text(&v, check.as_ref()));
            }
            Ok(code)
        }
        Err(e) if e.is_invalid_credential() => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&verify::invalid_json(&e, now))?);
            } else {
                print!("{}", verify::invalid_text(&e));
            }
            Ok(ExitCode::from(EXIT_INVALID))
        }
        Err(e) => Err(e.into()),
    }
}
