//! Image intake: bytes -> RGB pixels.
//!
//! The format is sniffed from the bytes (never the file name), size limits are checked from the
//! header before any pixel is decoded, EXIF orientation is applied, every colour model becomes
//! RGB8, and large photos are brought down to a working size early: a JPEG is decoded directly
//! at 1/2, 1/4 or 1/8 scale (DCT scaling) when that still leaves enough pixels, because a full
//! decode of a 12 MP phone photo costs as much as both models together. Those scaled decodes
//! go through libjpeg-turbo when the machine has it ([`turbojpeg`]), else `jpeg-decoder`.

use crate::error::ImageError;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};
use std::io::Cursor;

mod turbojpeg;
pub use turbojpeg::jpeg_decoder_name;

/// Limits applied to untrusted images, checked before decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: usize,
    /// Largest accepted image, in pixels (width x height).
    pub max_pixels: u64,
    /// Largest accepted width or height.
    pub max_side: u32,
    /// Images whose longest side exceeds this are downscaled to it before detection (a JPEG
    /// may come out of its DCT-scaled decode at down to 3/4 of it, and is kept at that size).
    pub working_max_side: u32,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_bytes: 25 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_side: 16_384,
            working_max_side: 1280,
        }
    }
}

/// A decoded image, upright, as RGB8 at working resolution.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    /// The working pixels (upright, at most `working_max_side` on the longest side).
    pub pixels: RgbImage,
    /// The format detected from the bytes, e.g. "jpeg".
    pub format: &'static str,
    /// Size of the upright image at its original resolution.
    pub width: u32,
    pub height: u32,
    /// `pixels.width() / width`: multiply original coordinates by this to get working ones.
    pub scale: f32,
    /// The EXIF orientation that was applied (1 = none).
    pub exif_orientation: u8,
}

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::WebP => "webp",
        ImageFormat::Bmp => "bmp",
        ImageFormat::Gif => "gif",
        ImageFormat::Pnm => "pnm",
        ImageFormat::Tiff => "tiff",
        ImageFormat::Avif => "avif",
        ImageFormat::Ico => "ico",
        ImageFormat::Hdr => "hdr",
        ImageFormat::OpenExr => "openexr",
        ImageFormat::Qoi => "qoi",
        ImageFormat::Tga => "tga",
        ImageFormat::Dds => "dds",
        ImageFormat::Farbfeld => "farbfeld",
        _ => "other",
    }
}

/// Decodes untrusted image bytes into an upright RGB8 image at working resolution.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<DecodedImage, ImageError> {
    decode_with(bytes, limits, JpegPath::TurboWhenPresent)
}

/// Which decoder a JPEG goes to; the pure-Rust one is forced only by tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JpegPath {
    TurboWhenPresent,
    #[cfg_attr(not(test), allow(dead_code))]
    PureRust,
}

fn decode_with(bytes: &[u8], limits: &ImageLimits, jpeg_path: JpegPath) -> Result<DecodedImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(ImageError::TooManyBytes {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|_| ImageError::UnsupportedFormat { detected: None })?;
    let name = format_name(format);
    if !matches!(
        format,
        ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::WebP
            | ImageFormat::Bmp
            | ImageFormat::Gif
            | ImageFormat::Pnm
    ) {
        return Err(ImageError::UnsupportedFormat { detected: Some(name) });
    }
    if format == ImageFormat::Jpeg && jpeg_is_truncated(bytes) {
        return Err(ImageError::Truncated { format: name });
    }

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    // Room for a 16-bit RGBA buffer of the largest accepted image, and no more.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(64 * 1024 * 1024));
    reader.limits(image_limits);
    let mut decoder = reader.into_decoder().map_err(|e| map_error(e, name, limits))?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w, h, limits)?;
    // A broken EXIF block is not worth refusing a photo for: treat it as upright.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);

    let longest = w.max(h);
    let dct_factor = dct_scale_factor(longest, limits.working_max_side);
    // libjpeg-turbo takes the DCT-scaled decodes of large photos, where the pure-Rust path is
    // slowest (jpeg-decoder's scalar IDCT). Images decoded at full size (KTP-el and ID photos,
    // LFW) keep the image crate's decoder, so gallery templates made before do not move.
    let turbo = match (format, jpeg_path) {
        (ImageFormat::Jpeg, JpegPath::TurboWhenPresent) if dct_factor > 1 => {
            turbojpeg::decode_rgb(bytes, w, h, dct_factor)
        }
        _ => None,
    };
    let mut img = if let Some(rgb) = turbo {
        DynamicImage::ImageRgb8(rgb)
    } else if format == ImageFormat::Jpeg && dct_factor > 1 {
        drop(decoder);
        decode_jpeg_scaled(bytes, w, h, dct_factor).map_err(|e| map_error(e, name, limits))?
    } else {
        DynamicImage::from_decoder(decoder).map_err(|e| map_error(e, name, limits))?
    };
    img.apply_orientation(orientation);
    let exif_orientation = orientation.to_exif();
    let (width, height) = match exif_orientation {
        5..=8 => (h, w),
        _ => (w, h),
    };

    let mut pixels = into_rgb8(img);
    let longest_now = pixels.width().max(pixels.height());
    if longest_now > limits.working_max_side {
        let k = limits.working_max_side as f32 / longest_now as f32;
        let nw = ((pixels.width() as f32 * k).round() as u32).max(1);
        let nh = ((pixels.height() as f32 * k).round() as u32).max(1);
        pixels = crate::resample::resize(&pixels, nw, nh);
    }
    let scale = pixels.width() as f32 / width.max(1) as f32;
    Ok(DecodedImage {
        pixels,
        format: name,
        width,
        height,
        scale,
        exif_orientation,
    })
}

fn check_dimensions(w: u32, h: u32, limits: &ImageLimits) -> Result<(), ImageError> {
    if w == 0 || h == 0 {
        return Err(ImageError::Corrupt {
            format: "image",
            detail: format!("zero-sized image ({w}x{h})"),
        });
    }
    if w > limits.max_side || h > limits.max_side {
        return Err(ImageError::TooManyPixels {
            width: w,
            height: h,
            limit: format!("{} pixels per side", limits.max_side),
        });
    }
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            width: w,
            height: h,
            limit: format!("{} pixels", limits.max_pixels),
        });
    }
    Ok(())
}

/// The largest DCT downscale (1, 2, 4 or 8) that keeps the longest side at or above 3/4 of
/// `target`. Decoding straight to 960-1280 pixels instead of decoding larger and resizing halves
/// the intake of a 12 MP (4000 px) or 3 MP (2048 px) phone photo: the resize after a 1/2-scale
/// decode cost as much as the decode (README, "Performance"). A selfie's face (a quarter of the
/// shorter side or more) keeps over 180 pixels, above every embedder's chip.
fn dct_scale_factor(longest: u32, target: u32) -> u32 {
    let floor = target - target / 4;
    let mut factor = 1;
    while factor < 8 && longest / (factor * 2) >= floor {
        factor *= 2;
    }
    factor
}

fn decode_jpeg_scaled(bytes: &[u8], w: u32, h: u32, factor: u32) -> image::ImageResult<DynamicImage> {
    let corrupt = |e: jpeg_decoder::Error| {
        image::ImageError::Decoding(image::error::DecodingError::new(
            ImageFormat::Jpeg.into(),
            e.to_string(),
        ))
    };
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(corrupt)?;
    let req_w = u16::try_from(w.div_ceil(factor)).unwrap_or(u16::MAX);
    let req_h = u16::try_from(h.div_ceil(factor)).unwrap_or(u16::MAX);
    let (sw, sh) = decoder.scale(req_w, req_h).map_err(corrupt)?;
    let data = decoder.decode().map_err(corrupt)?;
    let format = decoder.info().map(|i| i.pixel_format);
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let wrong_len = || {
        image::ImageError::Decoding(image::error::DecodingError::new(
            ImageFormat::Jpeg.into(),
            "decoded data does not match the image size",
        ))
    };
    match format {
        Some(jpeg_decoder::PixelFormat::RGB24) => RgbImage::from_raw(sw, sh, data)
            .map(DynamicImage::ImageRgb8)
            .ok_or_else(wrong_len),
        Some(jpeg_decoder::PixelFormat::L8) => image::GrayImage::from_raw(sw, sh, data)
            .map(DynamicImage::ImageLuma8)
            .ok_or_else(wrong_len),
        // Rare colour models (CMYK, 16-bit) take the full-size path, which handles them.
        _ => {
            let reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Jpeg);
            reader.decode()
        }
    }
}

/// Grey, grey+alpha, RGBA, 16-bit and float images all become RGB8; alpha is composited on
/// white, as a transparent background would be shown.
fn into_rgb8(img: DynamicImage) -> RgbImage {
    match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        // Grey is common (scanned ID photos, ORL); the generic conversion goes through a
        // colour-space-aware float path that cost more than decoding the PNG.
        DynamicImage::ImageLuma8(grey) => {
            let (w, h) = grey.dimensions();
            let raw: Vec<u8> = grey.as_raw().iter().flat_map(|&v| [v, v, v]).collect();
            RgbImage::from_raw(w, h, raw).unwrap_or_else(|| RgbImage::new(w, h))
        }
        other if other.color().has_alpha() => {
            let rgba = other.into_rgba8();
            let mut out = RgbImage::new(rgba.width(), rgba.height());
            for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
                let a = u32::from(src[3]);
                for c in 0..3 {
                    dst[c] = ((u32::from(src[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
                }
            }
            out
        }
        other => other.into_rgb8(),
    }
}

/// A baseline or progressive JPEG whose last scan has no End-Of-Image marker after it was cut
/// short. Entropy-coded data never contains 0xFF 0xD9, so the search cannot be fooled by it.
fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        None => true,
        Some(sos) => !bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9]),
    }
}

fn map_error(err: image::ImageError, format: &'static str, limits: &ImageLimits) -> ImageError {
    use image::ImageError as E;
    match err {
        E::Limits(_) => ImageError::TooManyPixels {
            width: 0,
            height: 0,
            limit: format!("{} pixels, {} per side", limits.max_pixels, limits.max_side),
        },
        E::Unsupported(u) => ImageError::UnsupportedFormat {
            detected: Some(match u.format_hint() {
                image::error::ImageFormatHint::Exact(f) => format_name(f),
                _ => format,
            }),
        },
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => ImageError::Truncated { format },
        E::Decoding(d) => {
            let detail = d.to_string();
            if detail.to_ascii_lowercase().contains("eof") || detail.contains("end of") {
                ImageError::Truncated { format }
            } else {
                ImageError::Corrupt { format, detail }
            }
        }
        other => ImageError::Corrupt {
            format,
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_factor_keeps_working_size() {
        // 12 MP -> 1000 px, 3 MP -> 1024, 8 MP (3264) -> 1632 (then resized to 1280).
        assert_eq!(dct_scale_factor(4000, 1280), 4);
        assert_eq!(dct_scale_factor(2048, 1280), 2);
        assert_eq!(dct_scale_factor(3264, 1280), 2);
        assert_eq!(dct_scale_factor(6000, 1280), 4);
        assert_eq!(dct_scale_factor(1900, 1280), 1);
        assert_eq!(dct_scale_factor(1000, 1280), 1);
        assert_eq!(dct_scale_factor(100_000, 1280), 8);
    }

    /// A phone-size photo (the bundled portrait at 4x, 12 MP-class after DCT scaling to the
    /// working size) comes out of both JPEG paths the same: size, scale, orientation, and
    /// pixels within the two inverse DCTs' rounding. On a machine without libjpeg-turbo both
    /// runs take the pure-Rust path.
    #[test]
    fn turbo_and_pure_rust_jpeg_paths_agree() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../datasets/fixtures/faces/portraits/obama.jpg"
        );
        let small = image::open(path).unwrap().into_rgb8();
        let big = image::imageops::resize(
            &small,
            small.width() * 4,
            small.height() * 4,
            image::imageops::FilterType::Triangle,
        );
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&big)
            .unwrap();
        let limits = ImageLimits {
            working_max_side: 400,
            ..ImageLimits::default()
        };
        for bytes in [std::fs::read(path).unwrap(), jpeg] {
            let fast = decode_with(&bytes, &limits, JpegPath::TurboWhenPresent).unwrap();
            let rust = decode_with(&bytes, &limits, JpegPath::PureRust).unwrap();
            assert_eq!(fast.pixels.dimensions(), rust.pixels.dimensions());
            assert_eq!(
                (fast.width, fast.height, fast.scale),
                (rust.width, rust.height, rust.scale)
            );
            assert_eq!(fast.exif_orientation, rust.exif_orientation);
            let diffs: Vec<u32> = fast
                .pixels
                .as_raw()
                .iter()
                .zip(rust.pixels.as_raw())
                .map(|(&a, &b)| u32::from(a.abs_diff(b)))
                .collect();
            let mean = f64::from(diffs.iter().sum::<u32>()) / diffs.len() as f64;
            assert!(mean < 1.5, "mean pixel difference {mean:.3}");
        }
    }

    #[test]
    fn garbage_is_unsupported_not_a_panic() {
        let limits = ImageLimits::default();
        assert!(matches!(
            decode(b"hello world", &limits),
            Err(ImageError::UnsupportedFormat { .. })
        ));
        assert!(matches!(decode(&[], &limits), Err(ImageError::Empty)));
        assert!(matches!(
            decode(&[0xFF, 0xD8, 0xFF], &limits),
            Err(ImageError::Truncated { .. })
        ));
    }
}
