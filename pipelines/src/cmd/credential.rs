//! `ikd credential`: verify a Claim 169 QR credential, render one as a QR image, issue one from
//! an identity JSON file, and derive an activation code.
//!
//! Exit codes: 0 valid / done (and, with `verify --face`, the face matches), 3 invalid credential,
//! 4 valid but the face does not match, 5 valid but the face check could not decide, 2 usage
//! error (clap), 1 other errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use ikd_engine::credential::{
    verify_with_decryption, ActivationSecret, CredentialError, CredentialId, CredentialIssuer, EncryptionKey, Identity,
    IssuerKey, KeySet, StatusList, VerifyOptions,
};

use qrcode::bits::Bits;
use qrcode::{EcLevel, QrCode, Version};

/// Exit code for a credential that is not valid.
pub const EXIT_INVALID: u8 = 3;

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

/// One line of a revocation file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Revocation {
    id: String,
    revoked_at: u64,
    #[serde(default)]
    reason: String,
}

fn read_revocations(path: &Path) -> anyhow::Result<std::collections::BTreeSet<CredentialId>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    };
    let mut ids = std::collections::BTreeSet::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let r: Revocation = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not a revocation", path.display(), n + 1))?;
        let id =
            r.id.parse::<CredentialId>()
                .map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), n + 1))?;
        ids.insert(id);
    }
    Ok(ids)
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
                Some(path) => Some(FaceInput {
                    live: std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                    engine: engine.build()?,
                }),
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
            let (w, h, version) = render_qr(&text, &out, ec, module_px)?;
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
                id.photo = Some(holder_photo(path, photo_budget, &engine)?);
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
                render_qr(&issued.text, &png, EcArg::M, 6)?;
                eprintln!("wrote {}", png.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        CredentialCommand::Revoke { list, ids, reason } => {
            let parsed = ids
                .iter()
                .map(|i| i.parse::<CredentialId>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let known = read_revocations(&list)?;
            let now = unix_now();
            let mut lines = String::new();
            for id in parsed.iter().filter(|id| !known.contains(id)) {
                let r = Revocation {
                    id: id.to_string(),
                    revoked_at: now,
                    reason: reason.clone(),
                };
                lines.push_str(&serde_json::to_string(&r)?);
                lines.push('\n');
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&list)
                .with_context(|| format!("opening {}", list.display()))?;
            std::io::Write::write_all(&mut file, lines.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("appending to {}", list.display()))?;
            let added = lines.lines().count();
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
            let status = StatusList {
                issuer,
                issued_at: now,
                expires_at: now.saturating_add(valid_hours.saturating_mul(3600)),
                revoked: read_revocations(&list)?,
                kid: None,
            };
            let bytes = status.sign(&key)?;
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

/// The photo for `credential issue --photo`: the file as it is, or its portrait at a budget.
fn holder_photo(
    path: &Path,
    budget: Option<u64>,
    engine: &super::common::EngineArgs,
) -> anyhow::Result<ikd_engine::credential::Photo> {
    use ikd_engine::credential::{Photo, PhotoFormat};
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let photo = match budget {
        Some(budget) => {
            let portrait = engine
                .build()?
                .portrait(&bytes, ikd_engine::FacePolicy::Single, budget as usize)
                .with_context(|| format!("the portrait of {}", path.display()))?;
            Photo {
                format: PhotoFormat::Jpeg,
                bytes: portrait.jpeg,
            }
        }
        None => {
            let format = [
                PhotoFormat::Jpeg,
                PhotoFormat::Jpeg2000,
                PhotoFormat::Avif,
                PhotoFormat::Webp,
            ]
            .into_iter()
            .find(|f| f.matches(&bytes))
            .with_context(|| format!("{} is not a JPEG, JPEG 2000, AVIF or WebP file", path.display()))?;
            Photo { format, bytes }
        }
    };
    photo
        .validate()
        .with_context(|| format!("the photo {}", path.display()))?;
    Ok(photo)
}

/// Exit code: the credential is valid but its photo is not the person's.
pub const EXIT_FACE_NO_MATCH: u8 = 4;
/// Exit code: the credential is valid but the face check could not decide (no photo, live
/// photo refused): check the person another way.
pub const EXIT_FACE_UNDECIDED: u8 = 5;

/// What the offline face check says of a caveat every verifier must know.
pub const FACE_CHECK_CAVEAT: &str = "the reference is the credential's small photo, not the gallery template: \
     it misses more genuine holders than the registration check does (README, \"Offline face check\"); \
     a no_match or rejected result means: check the person another way, not: fraud";

/// The live photo and the engine for `verify --face`.
struct FaceInput {
    live: Vec<u8>,
    engine: ikd_engine::Engine,
}

/// The offline face check's outcome.
#[derive(Debug, serde::Serialize)]
struct FaceCheck {
    verdict: ikd_engine::Verdict,
    /// The credential photo it was compared with.
    photo_bytes: Option<usize>,
    photo_size: Option<(u32, u32)>,
    caveat: &'static str,
}

fn face_check(face: &FaceInput, photo: Option<&ikd_engine::credential::Photo>) -> anyhow::Result<FaceCheck> {
    let engine = &face.engine;
    let Some(photo) = photo else {
        return Ok(FaceCheck {
            verdict: engine.rejected(
                ikd_engine::Reason::NoPortrait,
                "the credential carries no photo (issued without --photo-budget)",
            ),
            photo_bytes: None,
            photo_size: None,
            caveat: FACE_CHECK_CAVEAT,
        });
    };
    let comparison = engine.compare_with_portrait(&face.live, &photo.bytes)?;
    Ok(FaceCheck {
        verdict: comparison.verdict,
        photo_bytes: Some(photo.bytes.len()),
        photo_size: comparison.id_photo.image.as_ref().map(|i| (i.width, i.height)),
        caveat: FACE_CHECK_CAVEAT,
    })
}

#[allow(clippy::too_many_arguments)]
fn verify_cmd(
    input: &str,
    keyset: &Path,
    decrypt_key: Option<&EncryptionKey>,
    status_list: Option<&Path>,
    json: bool,
    at: Option<u64>,
    opts: &VerifyOptions,
    face: Option<&FaceInput>,
) -> anyhow::Result<ExitCode> {
    let jwks = std::fs::read_to_string(keyset).with_context(|| format!("reading {}", keyset.display()))?;
    let keys = KeySet::from_jwks(&jwks).with_context(|| format!("loading {}", keyset.display()))?;
    let text = read_input(input)?;
    let now = at.unwrap_or_else(unix_now);
    let list_bytes = match status_list {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    // The credential's own refusal comes first; then the list's (expired, bad), then revoked.
    let verdict = verify_with_decryption(&text, &keys, decrypt_key, now, opts).and_then(|v| match &list_bytes {
        Some(bytes) => StatusList::verify(bytes, &keys, now)
            .map_err(|e| match e {
                // A list that does not verify is reported as the list's fault, not the credential's.
                CredentialError::StatusListExpired { .. } | CredentialError::BadStatusList(_) => e,
                other => CredentialError::BadStatusList(other.to_string()),
            })?
            .check(&v)
            .map(|()| v),
        None => Ok(v),
    });
    match verdict {
        Ok(v) => {
            let check = face.map(|f| face_check(f, v.identity.photo.as_ref())).transpose()?;
            let code = match check.as_ref().map(|c| c.verdict.decision) {
                None | Some(ikd_engine::Decision::Match) => ExitCode::SUCCESS,
                Some(ikd_engine::Decision::NoMatch) => ExitCode::from(EXIT_FACE_NO_MATCH),
                Some(ikd_engine::Decision::Rejected) => ExitCode::from(EXIT_FACE_UNDECIDED),
            };
            if json {
                let photo = v.identity.photo.as_ref().map(|p| {
                    serde_json::json!({
                        "format": p.format,
                        "bytes": p.bytes.len(),
                        "sha256": ikd_engine::credential::hex(ring::digest::digest(&ring::digest::SHA256, &p.bytes).as_ref()),
                    })
                });
                let mut out =
                    serde_json::json!({ "status": "valid", "checked_at": now, "credential": v, "photo": photo });
                if let Some(c) = &check {
                    out["face_check"] = serde_json::to_value(c)?;
                }
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                let id = &v.identity;
                println!("status: VALID");
                println!("kid: {} ({})", v.kid, v.alg);
                if let Some(id) = &v.id {
                    println!("credential id: {id}");
                }
                if let Some(e) = &v.encryption {
                    println!("encrypted: {} with key {} (IV {:?})", e.alg, e.kid, e.iv);
                }
                println!("issuer: {}", v.issuer.as_deref().unwrap_or("-"));
                let t = |x: Option<u64>| x.map_or_else(|| "-".to_string(), |x| x.to_string());
                println!("iat: {}  nbf: {}  exp: {}", t(v.iat), t(v.nbf), t(v.exp));
                println!("id (NIK): {}", id.id);
                println!("full name: {}", id.full_name);
                let opt = |name: &str, x: &Option<String>| {
                    if let Some(x) = x {
                        println!("{name}: {x}");
                    }
                };
                opt("date of birth", &id.date_of_birth);
                if let Some(g) = id.gender {
                    println!(
                        "gender: {}",
                        serde_json::to_value(g)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default()
                    );
                }
                opt("email", &id.email);
                opt("address", &id.address);
                opt("phone", &id.phone);
                opt("nationality", &id.nationality);
                if let Some(p) = &id.photo {
                    println!("photo: {:?}, {} bytes", p.format, p.bytes.len());
                }
                if let Some(c) = &check {
                    let v = &c.verdict;
                    let score = v.score.map_or("-".to_string(), |s| format!("{s:.3}"));
                    println!(
                        "face check: {} (score {score}, threshold {:.3} at {}){}",
                        v.decision.as_str().to_uppercase(),
                        v.threshold,
                        v.operating_point.as_str(),
                        match (&v.reason, &v.detail) {
                            (Some(r), Some(d)) => format!(": {r}: {d}"),
                            (Some(r), None) => format!(": {r}"),
                            _ => String::new(),
                        }
                    );
                    println!("caveat: {}", c.caveat);
                }
            }
            Ok(code)
        }
        Err(e) if e.is_invalid_credential() => {
            if json {
                let out = serde_json::json!({ "status": "invalid", "checked_at": now, "code": e.code(), "reason": e.to_string() });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("status: INVALID ({}): {e}", e.code());
            }
            Ok(ExitCode::from(EXIT_INVALID))
        }
        Err(e) => Err(e.into()),
    }
}

/// Render `text` as a QR PNG in alphanumeric mode. Returns (width, height, version).
fn render_qr(text: &str, out: &Path, ec: EcArg, module_px: u32) -> anyhow::Result<(u32, u32, i16)> {
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    if text.is_empty() || !text.bytes().all(|b| ALNUM.contains(&b)) {
        bail!("the text is not Base45 (QR alphanumeric characters only)");
    }
    let ec = match ec {
        EcArg::M => EcLevel::M,
        EcArg::Q => EcLevel::Q,
    };
    let bits = qr_bits(text, ec).context("the text is too long for a QR code")?;
    let code = QrCode::with_bits(bits, ec).context("building the QR code")?;
    let version = match code.version() {
        Version::Normal(v) | Version::Micro(v) => v,
    };
    let image = code
        .render::<image::Luma<u8>>()
        .quiet_zone(true) // 4 modules for normal QR codes
        .module_dimensions(module_px, module_px)
        .build();
    let (w, h) = image.dimensions();
    image
        .save_with_format(out, image::ImageFormat::Png)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok((w, h, version))
}

/// The smallest QR version that holds `text` as one alphanumeric segment at `ec`, with its bits.
fn qr_bits(text: &str, ec: EcLevel) -> Option<Bits> {
    (1..=40).find_map(|v| {
        let mut bits = Bits::new(Version::Normal(v));
        (bits.push_alphanumeric_data(text.as_bytes()).is_ok() && bits.push_terminator(ec).is_ok()).then_some(bits)
    })
}

/// The QR version a credential text needs at `ec` (`None`: too long for any QR code).
pub fn qr_version(text: &str, ec: EcLevel) -> Option<i16> {
    match qr_bits(text, ec)?.version() {
        Version::Normal(v) | Version::Micro(v) => Some(v),
    }
}
