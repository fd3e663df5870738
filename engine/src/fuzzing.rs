//! Entry points for coverage-guided fuzzing (`fuzz/`, cargo feature `fuzzing`) and for the
//! replay of the fuzz corpora in the tests. Each takes arbitrary bytes and must return, never
//! panic.

use crate::intake::{decode, ImageLimits};

/// Image intake as the engine runs it on a selfie (format sniffing, header limits, EXIF,
/// colour models, DCT-scaled JPEG decoding, downscaling), with limits small enough that the
/// fuzzer's memory stays bounded (the defaults allow 50 MP).
pub fn image_intake(data: &[u8]) {
    let limits = ImageLimits {
        max_bytes: 1 << 20,
        max_pixels: 4_000_000,
        max_side: 4096,
        working_max_side: 640,
    };
    let _ = decode(data, &limits);
}
