//! JPEG decoding through libjpeg-turbo (the `ikd-turbojpeg` crate, which loads Debian's
//! `libturbojpeg.so.0` at run time) when the machine has it.
//!
//! Anything this path declines (no library, CMYK, a warning about corrupt data, a header that
//! disagrees with the one already parsed) returns `None`: the pure-Rust path then decodes the
//! image or names its error, so reason codes do not depend on which library the machine has.

use ikd_turbojpeg::TurboJpeg;
use image::RgbImage;

/// Which JPEG decoder this process uses: `"libjpeg-turbo"` or `"jpeg-decoder"`
/// (`IKD_JPEG_DECODER=rust` forces the second).
pub fn jpeg_decoder_name() -> &'static str {
    if TurboJpeg::get().is_some() {
        "libjpeg-turbo"
    } else {
        "jpeg-decoder"
    }
}

/// Decodes `bytes` (a JPEG whose header said `width` x `height`) at 1/`factor` scale
/// (`factor` 1, 2, 4 or 8) into RGB8, or `None` when the pure-Rust path should decide.
pub(crate) fn decode_rgb(bytes: &[u8], width: u32, height: u32, factor: u32) -> Option<RgbImage> {
    decode_rgb_with(TurboJpeg::get()?, bytes, width, height, factor)
}

fn decode_rgb_with(api: &TurboJpeg, bytes: &[u8], width: u32, height: u32, factor: u32) -> Option<RgbImage> {
    let header = api.header(bytes).ok()?;
    if (header.width, header.height) != (width, height) {
        return None;
    }
    let pixels = api.decode_rgb(bytes, factor).ok()?;
    RgbImage::from_raw(pixels.width, pixels.height, pixels.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portrait(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../datasets/fixtures/faces/portraits")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `None` only where the library is absent; CI installs it and sets
    /// `IKD_REQUIRE_TURBOJPEG=1`, so there these tests cannot pass by skipping.
    fn library() -> Option<&'static TurboJpeg> {
        let library = TurboJpeg::get();
        if library.is_none() {
            assert!(
                std::env::var_os("IKD_REQUIRE_TURBOJPEG").is_none(),
                "IKD_REQUIRE_TURBOJPEG is set but libturbojpeg did not load"
            );
            eprintln!("libturbojpeg is not on this machine: only the pure-Rust decoder is tested");
        }
        library
    }

    fn rust_decode(bytes: &[u8], factor: u32) -> RgbImage {
        let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(bytes));
        decoder.read_info().unwrap();
        let info = decoder.info().unwrap();
        let (w, h) = (u32::from(info.width), u32::from(info.height));
        let (sw, sh) = decoder
            .scale(w.div_ceil(factor) as u16, h.div_ceil(factor) as u16)
            .unwrap();
        let data = decoder.decode().unwrap();
        assert_eq!(decoder.info().unwrap().pixel_format, jpeg_decoder::PixelFormat::RGB24);
        RgbImage::from_raw(u32::from(sw), u32::from(sh), data).unwrap()
    }

    /// On a machine with the library (CI installs it), both decoders give the same picture at
    /// every DCT scale: same size, and pixels within the two IDCTs' rounding.
    #[test]
    fn turbo_and_rust_decoders_agree_on_a_real_photo() {
        let Some(api) = library() else { return };
        let bytes = portrait("obama.jpg");
        let reference = rust_decode(&bytes, 1);
        let (w, h) = reference.dimensions();
        for factor in [1, 2, 4, 8] {
            let rust = rust_decode(&bytes, factor);
            let turbo = decode_rgb_with(api, &bytes, w, h, factor).expect("turbo decodes the photo");
            assert_eq!(turbo.dimensions(), rust.dimensions(), "factor {factor}");
            let diffs: Vec<u32> = turbo
                .as_raw()
                .iter()
                .zip(rust.as_raw())
                .map(|(&a, &b)| u32::from(a.abs_diff(b)))
                .collect();
            // The scaled IDCTs and chroma upsampling differ by a few levels, more at a few
            // sharp edges: bound the mean and the share of large differences, not the maximum.
            let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
            let large = diffs.iter().filter(|&&d| d > 16).count() as f64 / diffs.len() as f64;
            assert!(
                mean < 1.5 && large < 0.002,
                "factor {factor}: mean {mean:.3}, share > 16: {large:.5}"
            );
        }
    }

    /// Damaged data is never decoded by this path: the pure-Rust decoder names the error.
    #[test]
    fn damaged_jpegs_go_to_the_rust_path() {
        let Some(api) = library() else { return };
        let bytes = portrait("obama.jpg");
        let reference = rust_decode(&bytes, 1);
        let (w, h) = reference.dimensions();
        let cut = &bytes[..bytes.len() / 2];
        assert!(decode_rgb_with(api, cut, w, h, 1).is_none());
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        for b in &mut flipped[middle..middle + 64] {
            *b = 0xFF;
        }
        assert!(decode_rgb_with(api, &flipped, w, h, 2).is_none());
        assert!(
            decode_rgb_with(api, &bytes, w + 1, h, 1).is_none(),
            "a header that disagrees"
        );
        assert!(decode_rgb_with(api, b"not a jpeg", w, h, 1).is_none());
    }
}
