//! `ikd keys`: generate signing keys and publish the public key set (JWKS).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use ikd_engine::credential::{generate_key_files, Algorithm, KeySet};

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
        /// Signature algorithm.
        #[arg(long, value_enum, default_value = "ed25519")]
        alg: AlgArg,
        /// Key directory (created with mode 0700 if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
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
        KeysCommand::Generate { alg, out } => {
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
