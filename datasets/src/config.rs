//! What a demo data set is made with: [`DemoConfig`] and where the bundled faces are.

use std::path::{Path, PathBuf};

/// The bundled face fixtures (`<crate>/fixtures/faces`), located at compile time.
pub fn default_fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("faces")
}

/// Settings of [`generate_demo`].
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Seed of every random choice; the same config gives byte-identical output.
    pub seed: u64,
    /// Genuine requests per identity, each from a different photo of the person when the
    /// person has enough photos (photos are reused, with another framing, when not).
    pub requests_per_identity: usize,
    /// Impostor requests (someone else's selfie for a gallery NIK), as a fraction of the
    /// genuine requests.
    pub impostor_rate: f64,
    /// Fraction of selfies stored rotated with an EXIF Orientation tag (6, 8 or 3).
    pub exif_rotation_rate: f64,
    /// Add the deliberately bad rows (corrupt files, no face, invalid NIK, ...).
    pub bad_rows: bool,
    /// Where the face fixtures are (defaults to [`default_fixtures_dir`]).
    pub fixtures_dir: PathBuf,
    /// ID photo size (3:4 portrait).
    pub gallery_size: (u32, u32),
    /// JPEG quality of ID photos.
    pub gallery_jpeg_quality: u8,
    /// Upright selfie size (3:4 portrait, phone-like).
    pub selfie_size: (u32, u32),
    /// JPEG quality of selfies.
    pub selfie_jpeg_quality: u8,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 20240817,
            requests_per_identity: 2,
            impostor_rate: 0.10,
            exif_rotation_rate: 0.20,
            bad_rows: true,
            fixtures_dir: default_fixtures_dir(),
            gallery_size: (300, 400),
            gallery_jpeg_quality: 80,
            selfie_size: (720, 960),
            selfie_jpeg_quality: 90,
        }
    }
}
