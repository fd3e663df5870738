//! Credentials as QR codes: a credential's Base45 text in one alphanumeric segment, the
//! smallest QR version that holds it, rendered as a PNG.

use anyhow::{bail, Context};
use qrcode::bits::Bits;
use qrcode::{EcLevel, QrCode, Version};
use std::path::Path;

/// Render `text` as a QR PNG in alphanumeric mode (quiet zone 4 modules, `module_px` pixels
/// per module). Returns (width, height, version).
pub fn render_qr(text: &str, out: &Path, ec: EcLevel, module_px: u32) -> anyhow::Result<(u32, u32, i16)> {
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    if text.is_empty() || !text.bytes().all(|b| ALNUM.contains(&b)) {
        bail!("the text is not Base45 (QR alphanumeric characters only)");
    }
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
