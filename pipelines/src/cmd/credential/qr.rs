//! `ikd credential qr`: renders a credential as a QR code PNG (`crate::credential::qr`).

use super::input::read_input;
use crate::credential::qr::render_qr;
use clap::ValueEnum;
use qrcode::EcLevel;
use std::path::PathBuf;
use std::process::ExitCode;

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

#[derive(Debug, clap::Args)]
pub struct QrArgs {
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
}

pub fn run(args: QrArgs) -> anyhow::Result<ExitCode> {
    let text = read_input(&args.input)?;
    let (w, h, version) = render_qr(&text, &args.out, args.ec.into(), args.module_px)?;
    println!(
        "wrote {} ({w}x{h} px, QR version {version}, {} chars)",
        args.out.display(),
        text.len()
    );
    Ok(ExitCode::SUCCESS)
}
