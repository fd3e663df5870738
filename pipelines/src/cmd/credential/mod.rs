//! `ikd credential`: verify a Claim 169 QR credential, render one as a QR image, issue one from
//! an identity JSON file, and derive an activation code.
//!
//! Exit codes: 0 valid / done (and, with `verify --face`, the face matches), 3 invalid credential,
//! 4 valid but the face does not match, 5 valid but the face check could not decide, 2 usage
//! error (clap), 1 other errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::batch::unix_now;
use crate::credential::qr::render_qr;
use crate::credential::{photo, revocation, verify};
use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use ikd_engine::credential::{
    ActivationSecret, CredentialId, CredentialIssuer, EncryptionKey, Identity, IssuerKey, KeySet, VerifyOptions,
};
use qrcode::EcLevel;

/// Exit code for a credential that is not valid.
pub const EXIT_INVALID: u8 = 3;
/// Exit code: the credential is valid but its photo is not the person's.
pub const EXIT_FACE_NO_MATCH: u8 = 4;
/// Exit code: the credential is valid but the face check could not decide (no photo, live
/// photo refused): check the person another way.
pub const EXIT_FACE_UNDECIDED: u8 = 5;

/// Largest credential file read from disk.
const MAX_INPUT_FILE: u64 = 64 * 1024;

/// QR error-correction level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EcArg {
    /// ~15 % recovery (default): smallest code for the data.
    M,
    /// ~25 % recovery: for codes printed on cards that get scratched.
    Q,
}

impl From<EcArg> for EcLevel {
    fn from(ec: EcArg) -> Self {
        match ec {
            EcArg::M => EcLevel::M,
            EcArg::Q => EcLevel::Q,
        }
    }
}

/// `ikd credential ...`
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Verify a credential (Base45 text, or a file holding it) against a public key set.
    /// Exit code 0 when valid, 3 when invalid (4 / 5 with `--face`: no match / undecided).
    Verify {
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
        engine: super::common::EngineArgs,
    },
    /// Render a credential as a QR code PNG (alphanumeric mode, quiet zone 4 modules).
    Qr {
        /// The QR text, or a file containing it.
        #[arg(value_name = "QR_TEXT")]
        input: String,
        /// Output PNG file.
        #[arg(long, value_name = "FILE.png")]
        out: PathBuf,
        /// Error-correction level.
        #[arg(long, value_enum, default_value = "m")]
        ec: EcArg,
        /// Pixels per module.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=64))]
        module_px: u32,
    },
    /// Issue a credential for an identity JSON file (fields: id, full_name, date_of_birth
    /// YYYY-MM-DD, gender male|female|other, email, address, phone, nationality).
    Issue {
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
        engine: super::common::EngineArgs,
    },
    /// Revoke credentials: append their ids (the results' `credential_id`) to a revocation
    /// file (JSON lines, append-only). Publish a new status list afterwards.
    Revoke {
        /// Revocation file (created if missing).
        #[arg(long, value_name = "FILE")]
        list: PathBuf,
        /// Credential id (32 hex digits); repeat for several.
        #[arg(long = "id", value_name = "HEX", required = true)]
        ids: Vec<String>,
        /// Why (lost phone, wrong match, ...), kept in the file.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Signed status lists of revoked credentials, for verifiers to fetch.
    #[command(subcommand)]
    StatusList(StatusListCommand),
    /// Print the activation code for a request and the keyed hash to store in results.
    ActivationCode {
        /// Key directory holding activation.secret, or the secret file.
        #[arg(long, value_name = "DIR_OR_FILE")]
        keys: PathBuf,
        /// Registration request id.
        #[arg(long)]
        request_id: String,
        /// NIK of the person.
        #[arg(long)]
        nik: String,
    },
}

/// `ikd credential status-list ...`
#[derive(Debug, Subcommand)]
pub enum StatusListCommand {
    /// Sign the revocation file's ids as a status list with the active key of DIR.
    Publish {
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
        /// Output file (binary: zlib-compressed COSE_Sign1).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Run one `ikd credential` command.
pub fn run(cmd: CredentialCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CredentialCommand::Verify {
            input,
            keyset,
            json,
            at,
            skew,
            decrypt_key,
            accept_foreign_iv,
            status_list,
            face,
            engine,
        } => {
            let key = match &decrypt_key {
                Some(file) => Some(
                    EncryptionKey::load(file)
                        .with_context(|| format!("loading the decryption key from {}", file.display()))?,
                ),
                None => None,
            };
            let opts = VerifyOptions {
                clock_skew_secs: skew,
                accept_foreign_iv,
                ..VerifyOptions::default()
            };
            let face = match &face {
                Some(path) => Some((
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                    engine.build()?,
                )),
                None => None,
            };
            verify_cmd(
                &input,
                &keyset,
                key.as_ref(),
                status_list.as_deref(),
                json,
                at,
                &opts,
                face.as_ref(),
            )
        }
        CredentialCommand::Qr {
            input,
            out,
            ec,
            module_px,
        } => {
            let text = read_input(&input)?;
            let (w, h, version) = render_qr(&text, &out, ec.into(), module_px)?;
            println!(
                "wrote {} ({w}x{h} px, QR version {version}, {} chars)",
                out.display(),
                text.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        CredentialCommand::Issue {
            key,
            identity,
            issuer,
            validity_days,
            at,
            qr,
            encrypt_key,
            photo,
            photo_budget,
            engine,
        } => {
            let key =
                IssuerKey::load(&key).with_context(|| format!("loading the signing key from {}", key.display()))?;
            let json = std::fs::read_to_string(&identity).with_context(|| format!("reading {}", identity.display()))?;
            let mut id: Identity =
                serde_json::from_str(&json).with_context(|| format!("parsing {}", identity.display()))?;
            if let Some(path) = &photo {
                id.photo = Some(photo::holder_photo(path, photo_budget, || engine.build())?);
            }
            let validity = Duration::from_secs(validity_days.saturating_mul(86_400));
            let mut issuer = CredentialIssuer::new(key, issuer, validity);
            if let Some(file) = &encrypt_key {
                let key = EncryptionKey::load(file)
                    .with_context(|| format!("loading the encryption key from {}", file.display()))?;
                issuer = issuer.with_encryption(key);
            }
            let issued = issuer.issue(&id, at.unwrap_or_else(unix_now))?;
            println!("{}", issued.text);
            if let Some(png) = qr {
                render_qr(&issued.text, &png, EcLevel::M, 6)?;
                eprintln!("wrote {}", png.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        CredentialCommand::Revoke { list, ids, reason } => {
            let parsed = ids
                .iter()
                .map(|i| i.parse::<CredentialId>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let added = revocation::revoke(&list, &parsed, &reason, unix_now())?;
            println!(
                "revoked {added} credential(s) ({} already revoked); publish: ikd credential status-list publish",
                parsed.len() - added
            );
            Ok(ExitCode::SUCCESS)
        }
        CredentialCommand::StatusList(StatusListCommand::Publish {
            keys,
            list,
            issuer,
            valid_hours,
            at,
            out,
        }) => {
            let key =
                IssuerKey::load(&keys).with_context(|| format!("loading the signing key from {}", keys.display()))?;
            let now = at.unwrap_or_else(unix_now);
            let (status, bytes) = revocation::publish_status_list(&key, &list, issuer, now, valid_hours)?;
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "wrote {} ({} revoked, {} bytes, valid until {}, kid {})",
                out.display(),
                status.revoked.len(),
                bytes.len(),
                status.expires_at,
                key.kid()
            );
            Ok(ExitCode::SUCCESS)
        }
        CredentialCommand::ActivationCode { keys, request_id, nik } => {
            let secret = ActivationSecret::load(&keys)
                .with_context(|| format!("loading the activation secret from {}", keys.display()))?;
            let code = secret.code(&request_id, &nik);
            println!("code: {}", code.as_str());
            println!("stored_hash: {}", secret.stored_hash(&request_id, &nik, &code));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The argument itself, or the content of the file it names (line breaks at the end removed;
/// spaces are kept because space is a Base45 character).
fn read_input(arg: &str) -> anyhow::Result<String> {
    let path = Path::new(arg);
    if !path.is_file() {
        return Ok(arg.to_string());
    }
    let meta = std::fs::metadata(path).with_context(|| format!("reading {arg}"))?;
    if meta.len() > MAX_INPUT_FILE {
        bail!(
            "{arg} is {} bytes; a credential is at most {MAX_INPUT_FILE}",
            meta.len()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {arg}"))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// `verify`: reads the key set, the credential and the status list, verifies, and with
/// `face` (the live photo and the engine) checks the face; prints the outcome.
#[allow(clippy::too_many_arguments)]
fn verify_cmd(
    input: &str,
    keyset: &Path,
    decrypt_key: Option<&EncryptionKey>,
    status_list: Option<&Path>,
    json: bool,
    at: Option<u64>,
    opts: &VerifyOptions,
    face: Option<&(Vec<u8>, ikd_engine::Engine)>,
) -> anyhow::Result<ExitCode> {
    let jwks = std::fs::read_to_string(keyset).with_context(|| format!("reading {}", keyset.display()))?;
    let keys = KeySet::from_jwks(&jwks).with_context(|| format!("loading {}", keyset.display()))?;
    let text = read_input(input)?;
    let now = at.unwrap_or_else(unix_now);
    let list_bytes = match status_list {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    match verify::verify_credential(&text, &keys, decrypt_key, list_bytes.as_deref(), now, opts) {
        Ok(v) => {
            let check = face
                .map(|(live, engine)| verify::face_check(engine, live, v.identity.photo.as_ref()))
                .transpose()?;
            let code = match check.as_ref().map(|c| c.verdict.decision) {
                None | Some(ikd_engine::Decision::Match) => ExitCode::SUCCESS,
                Some(ikd_engine::Decision::NoMatch) => ExitCode::from(EXIT_FACE_NO_MATCH),
                Some(ikd_engine::Decision::Rejected) => ExitCode::from(EXIT_FACE_UNDECIDED),
            };
            if json {
                let out = verify::valid_json(&v, now, check.as_ref())?;
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", verify::valid_text(&v, check.as_ref()));
            }
            Ok(code)
        }
        Err(e) if e.is_invalid_credential() => {
            if json {
                println!("{}", serde_json::to_string_pretty(&verify::invalid_json(&e, now))?);
            } else {
                print!("{}", verify::invalid_text(&e));
            }
            Ok(ExitCode::from(EXIT_INVALID))
        }
        Err(e) => Err(e.into()),
    }
}
