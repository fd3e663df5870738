//! `ikd keys`: generate signing keys and publish the public key set (JWKS).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use ikd_engine::credential::{
    generate_key_files, rotate_key_files, Algorithm, EncryptionAlgorithm, EncryptionKey, KeySet,
};

/// What `ikd keys generate` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// A signing key pair (with `--alg`), made the active key.
    Signing,
    /// An AES-256-GCM key for encrypted credentials (`DIR/<kid>.aes.json`, 0600).
    Aes256,
    /// An AES-128-GCM key for encrypted credentials.
    Aes128,
}

/// Signature algorithm on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgArg {
    /// EdDSA with Ed25519 (default).
    Ed25519,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

impl From<AlgArg> for Algorithm {
    fn from(a: AlgArg) -> Self {
        match a {
            AlgArg::Ed25519 => Algorithm::EdDsa,
            AlgArg::Es256 => Algorithm::Es256,
        }
    }
}

/// `ikd keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a signing key pair in DIR and make it the active key. The private key is written
    /// as PKCS#8 with mode 0600; `activation.secret` is created too if absent. Older keys stay
    /// (rotation): publish them all, sign with the newest.
    Generate {
        /// Signing key pair, or an AES key for encrypted credentials.
        #[arg(long, value_enum, default_value = "signing")]
        kind: KindArg,
        /// Signature algorithm.
        #[arg(long, value_enum, default_value = "ed25519")]
        alg: AlgArg,
        /// Key directory (created with mode 0700 if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Rotate the signing key: a new key becomes active; the old one's public JWK stays (marked
    /// `signs_until` now, so old credentials still verify and it can sign nothing new) and its
    /// private key is deleted. Publish the JWKS again afterwards.
    Rotate {
        /// Key directory written by `ikd keys generate`.
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// Signature algorithm of the new key.
        #[arg(long, value_enum, default_value = "ed25519")]
        alg: AlgArg,
        /// Rotation time (Unix seconds) instead of now.
        #[arg(long, value_name = "UNIX_TIME")]
        at: Option<u64>,
    },
    /// Write every public key of a key directory as a JWKS file (RFC 7517), one entry per kid.
    Publish {
        /// Key directory written by `ikd keys generate`.
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// Output JWKS file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Run one `ikd keys` command.
pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Generate { kind, alg, out } => {
            let aes = match kind {
                KindArg::Signing => None,
                KindArg::Aes256 => Some(EncryptionAlgorithm::A256Gcm),
                KindArg::Aes128 => Some(EncryptionAlgorithm::A128Gcm),
            };
            if let Some(aes) = aes {
                let (key, path) = EncryptionKey::generate_file(aes, &out)
                    .with_context(|| format!("generating an AES key in {}", out.display()))?;
                println!("kid: {}", key.kid());
                println!("alg: {}", key.alg());
                println!("encryption key (0600): {}", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            let g = generate_key_files(alg.into(), &out)
                .with_context(|| format!("generating a key in {}", out.display()))?;
            println!("kid: {}", g.kid);
            println!("alg: {}", g.alg);
            println!("private key (0600): {}", g.private_key_path.display());
            println!("public key: {}", g.public_key_path.display());
            if let Some(secret) = &g.created_activation_secret {
                println!("activation secret (0600, new): {}", secret.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Rotate { keys, alg, at } => {
            let now = at.unwrap_or_else(crate::batch::unix_now);
            let r = rotate_key_files(alg.into(), &keys, now)
                .with_context(|| format!("rotating the signing key in {}", keys.display()))?;
            println!(
                "retired kid: {} (signs until {now}; private key deleted)",
                r.retired_kid
            );
            println!("active kid: {} ({})", r.new.kid, r.new.alg);
            println!("private key (0600): {}", r.new.private_key_path.display());
            println!(
                "publish the key set again: ikd keys publish --keys {} --out FILE",
                keys.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Publish { keys, out } => {
            let set =
                KeySet::from_key_dir(&keys).with_context(|| format!("reading public keys in {}", keys.display()))?;
            let mut json = set.to_jwks();
            json.push('\n');
            std::fs::write(&out, json).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} key(s) to {}", set.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
