//! A minimal offline verifier: what a bank or clinic would link.
//!
//! ```text
//! cargo run --release -p ikd-credential --example verify -- JWKS.json QR.txt
//! ```
//!
//! Prints the verified identity as JSON, or why the credential is refused (exit code 1).

use ikd_credential::{verify, KeySet, VerifyOptions};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [jwks, qr] = args.as_slice() else {
        eprintln!("usage: verify JWKS.json QR.txt");
        return ExitCode::from(2);
    };
    let result = (|| -> Result<String, String> {
        let jwks = std::fs::read_to_string(jwks).map_err(|e| format!("{jwks}: {e}"))?;
        let text = std::fs::read_to_string(qr).map_err(|e| format!("{qr}: {e}"))?;
        let keys = KeySet::from_jwks(&jwks).map_err(|e| e.to_string())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let verified = verify(text.trim(), &keys, now, &VerifyOptions::default()).map_err(|e| e.to_string())?;
        serde_json::to_string_pretty(&verified.identity).map_err(|e| e.to_string())
    })();
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("refused: {e}");
            ExitCode::from(1)
        }
    }
}
