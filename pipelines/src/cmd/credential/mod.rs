//! `ikd credential`: verify a Claim 169 QR credential, render one as a QR image, issue one from
//! an identity JSON file, revoke credentials and publish status lists, and derive an activation
//! code. One file per subcommand (its arguments and one call into `crate::credential` or
//! `ikd_credential`); the work is the library's.
//!
//! Exit codes: 0 valid / done (and, with `verify --face`, the face matches), 3 invalid credential,
//! 4 valid but the face does not match, 5 valid but the face check could not decide, 2 usage
//! error (clap), 1 other errors.

mod activation_code;
mod input;
mod issue;
mod qr;
mod revoke;
mod status_list;
mod verify;

pub use qr::EcArg;
pub use status_list::StatusListCommand;
pub use verify::{EXIT_FACE_NO_MATCH, EXIT_FACE_UNDECIDED, EXIT_INVALID};

use clap::Subcommand;
use std::process::ExitCode;

/// `ikd credential ...`
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Verify a credential (Base45 text, or a file holding it) against a public key set.
    /// Exit code 0 when valid, 3 when invalid (4 / 5 with `--face`: no match / undecided).
    Verify(verify::VerifyArgs),
    /// Render a credential as a QR code PNG (alphanumeric mode, quiet zone 4 modules).
    Qr(qr::QrArgs),
    /// Issue a credential for an identity JSON file (fields: id, full_name, date_of_birth
    /// YYYY-MM-DD, gender male|female|other, email, address, phone, nationality).
    Issue(issue::IssueArgs),
    /// Revoke credentials: append their ids (the results' `credential_id`) to a revocation
    /// file (JSON lines, append-only). Publish a new status list afterwards.
    Revoke(revoke::RevokeArgs),
    /// Signed status lists of revoked credentials, for verifiers to fetch.
    #[command(subcommand)]
    StatusList(StatusListCommand),
    /// Print the activation code for a request and the keyed hash to store in results.
    ActivationCode(activation_code::ActivationCodeArgs),
}

/// Run one `ikd credential` command.
pub fn run(cmd: CredentialCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CredentialCommand::Verify(args) => verify::run(args),
        CredentialCommand::Qr(args) => qr::run(args),
        CredentialCommand::Issue(args) => issue::run(args),
        CredentialCommand::Revoke(args) => revoke::run(args),
        CredentialCommand::StatusList(cmd) => status_list::run(cmd),
        CredentialCommand::ActivationCode(args) => activation_code::run(args),
    }
}
