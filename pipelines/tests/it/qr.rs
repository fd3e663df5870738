//! The QR code of an encrypted credential with the holder's photo scans back to the same text
//! through an independent decoder (rqrr, a port of quirc), at the largest photo budget too.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ikd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ikd")).args(args).output().unwrap()
}

fn faces(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/fixtures/faces")
        .join(rel)
}

/// Every QR code rqrr finds and decodes in a PNG, as text.
///
/// A grid that fails rqrr's error correction is skipped, not a failure: now and then rqrr's
/// detector reports a second, phantom grid inside one large code (measured: 1 of 600 encrypted
/// credentials with photos, version 30, where the real grid decoded to the right text).
/// The caller still asserts that exactly one code decodes, to the credential's text.
fn scan(png: &Path) -> Vec<String> {
    let img = image::open(png).unwrap().to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| img.get_pixel(x as u32, y as u32)[0]);
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

#[test]
fn encrypted_credentials_with_photos_scan_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let out = ikd(&["keys", "generate", "--alg", "ed25519", "--out", &dir("keys")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ikd(&["keys", "generate", "--kind", "aes256", "--out", &dir("aes")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let aes = std::fs::read_dir(tmp.path().join("aes"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let identity = tmp.path().join("identity.json");
    std::fs::write(
        &identity,
        r#"{"id":"3171012501900007","full_name":"Siti Nurhaliza Rahmawati","date_of_birth":"1990-01-25","gender":"female","email":"siti.rahmawati@example.id"}"#,
    )
    .unwrap();
    let obama = faces("portraits/obama.jpg");
    for budget in ["1000", "1800"] {
        let png = tmp.path().join(format!("qr-{budget}.png"));
        let out = ikd(&[
            "credential",
            "issue",
            "--key",
            &dir("keys"),
            "--identity",
            identity.to_str().unwrap(),
            "--issuer",
            "https://ikd.example.id",
            "--encrypt-key",
            aes.to_str().unwrap(),
            "--photo",
            obama.to_str().unwrap(),
            "--photo-budget",
            budget,
            "--qr",
            png.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap().trim().to_string();
        // A photo of up to `budget` bytes makes the text at least 1.5 times that (Base45).
        assert!(text.len() > 1000, "{} chars", text.len());
        assert_eq!(scan(&png), vec![text.clone()], "budget {budget}");
        // What was scanned is the credential: it decrypts, verifies, and holds the photo.
        let jwks = tmp.path().join("jwks.json");
        let out = ikd(&[
            "keys",
            "publish",
            "--keys",
            &dir("keys"),
            "--out",
            jwks.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = ikd(&[
            "credential",
            "verify",
            &text,
            "--keyset",
            jwks.to_str().unwrap(),
            "--decrypt-key",
            aes.to_str().unwrap(),
            "--json",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(json["photo"]["bytes"].as_u64().unwrap() <= budget.parse().unwrap());
    }
}
