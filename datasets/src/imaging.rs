//! Image helpers for the demo: KTP-el style ID photos, phone-style selfies, EXIF orientation.

use std::io::Cursor;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::{self, FilterType};
use image::{ImageEncoder, ImageReader, Rgb, RgbImage};

use crate::rng::DemoRng;
use crate::DatasetError;

/// KTP-el photo background for people born in odd years.
pub const KTP_RED: Rgb<u8> = Rgb([206, 32, 41]);
/// KTP-el photo background for people born in even years.
pub const KTP_BLUE: Rgb<u8> = Rgb([28, 92, 196]);

/// How a source photo is laid out, which decides how it is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Essex Faces94: 180x200 head and shoulders, centred, plain green backdrop.
    Essex,
    /// AT&T ORL: 92x112 grey, the face fills the frame.
    Orl,
    /// A larger photo, framed by cropping this box `(x0, y0, x1, y1)` (clamped to the image).
    Crop(u32, u32, u32, u32),
}

/// Decode a fixture (format sniffed from its bytes) into RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage, DatasetError> {
    let img = ImageReader::open(path)
        .map_err(|e| DatasetError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DatasetError::io(path, e))?
        .decode()
        .map_err(|e| DatasetError::Image {
            path: path.to_path_buf(),
            source: e,
        })?;
    Ok(img.to_rgb8())
}

fn crop_box(img: &RgbImage, b: (u32, u32, u32, u32)) -> RgbImage {
    let (w, h) = img.dimensions();
    let x0 = b.0.min(w.saturating_sub(1));
    let y0 = b.1.min(h.saturating_sub(1));
    let x1 = b.2.clamp(x0 + 1, w.max(x0 + 1));
    let y1 = b.3.clamp(y0 + 1, h.max(y0 + 1));
    imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image()
}

fn scaled(img: &RgbImage, scale: f64, filter: FilterType) -> RgbImage {
    let w = ((f64::from(img.width()) * scale).round() as u32).max(1);
    let h = ((f64::from(img.height()) * scale).round() as u32).max(1);
    imageops::resize(img, w, h, filter)
}

/// Replace the plain backdrop of an Essex photo (connected to the top corners) by `bg`.
/// Conservative: only a clearly green, uniform backdrop is replaced, and nothing is changed if
/// the fill would cover most of the picture.
fn replace_backdrop(img: &mut RgbImage, bg: Rgb<u8>) {
    let (w, h) = img.dimensions();
    if w < 4 || h < 4 {
        return;
    }
    // Seed colour: mean of the top row.
    let mut sum = [0u64; 3];
    for x in 0..w {
        let p = img.get_pixel(x, 0).0;
        for c in 0..3 {
            sum[c] += u64::from(p[c]);
        }
    }
    let seed = sum.map(|s| (s / u64::from(w)) as i32);
    let greenish = seed[1] > seed[0] + 15 && seed[1] > seed[2] + 15;
    if !greenish {
        return;
    }
    let is_bg = |p: &Rgb<u8>| {
        let d: i32 = (0..3).map(|c| (i32::from(p.0[c]) - seed[c]).abs()).sum();
        let (r, g, b) = (i32::from(p.0[0]), i32::from(p.0[1]), i32::from(p.0[2]));
        d <= 110 && g > r + 8 && g > b + 8
    };
    let mut mask = vec![false; (w * h) as usize];
    let mut stack: Vec<(u32, u32)> = Vec::new();
    for x in 0..w {
        stack.push((x, 0));
    }
    for y in 0..h / 2 {
        stack.push((0, y));
        stack.push((w - 1, y));
    }
    let mut filled = 0usize;
    while let Some((x, y)) = stack.pop() {
        let i = (y * w + x) as usize;
        if mask[i] || !is_bg(img.get_pixel(x, y)) {
            continue;
        }
        mask[i] = true;
        filled += 1;
        if x > 0 {
            stack.push((x - 1, y));
        }
        if x + 1 < w {
            stack.push((x + 1, y));
        }
        if y > 0 {
            stack.push((x, y - 1));
        }
        if y + 1 < h {
            stack.push((x, y + 1));
        }
    }
    if filled * 10 > mask.len() * 7 {
        return;
    }
    for (i, p) in img.pixels_mut().enumerate() {
        if mask[i] {
            *p = bg;
        }
    }
}

/// A KTP-el style ID photo of size `w`x`h`: frontal, face centred, plain `bg` background.
pub fn id_photo(src: &RgbImage, layout: Layout, bg: Rgb<u8>, w: u32, h: u32) -> RgbImage {
    let mut canvas = RgbImage::from_pixel(w, h, bg);
    match layout {
        Layout::Essex | Layout::Orl => {
            let (iw, ih) = (f64::from(src.width()), f64::from(src.height()));
            // Leave a band of background above the head and at the sides; shoulders at the
            // bottom edge, as on an ID photo.
            let (fw, fh) = if layout == Layout::Essex {
                (0.90, 0.75)
            } else {
                (0.92, 0.84)
            };
            let scale = (f64::from(w) * fw / iw).min(f64::from(h) * fh / ih);
            let mut face = scaled(src, scale, FilterType::Lanczos3);
            if layout == Layout::Essex {
                replace_backdrop(&mut face, bg);
            }
            let x = (i64::from(w) - i64::from(face.width())) / 2;
            let y = i64::from(h) - i64::from(face.height());
            imageops::overlay(&mut canvas, &face, x, y);
        }
        Layout::Crop(x0, y0, x1, y1) => {
            let crop = crop_box(src, (x0, y0, x1, y1));
            let scale = (f64::from(w) / f64::from(crop.width())).min(f64::from(h) / f64::from(crop.height()));
            let face = scaled(&crop, scale, FilterType::CatmullRom);
            let x = (i64::from(w) - i64::from(face.width())) / 2;
            let y = i64::from(h) - i64::from(face.height());
            imageops::overlay(&mut canvas, &face, x, y);
        }
    }
    canvas
}

fn random_colour(rng: &mut DemoRng, lo: u32, hi: u32) -> [f64; 3] {
    [
        f64::from(rng.range(lo, hi)),
        f64::from(rng.range(lo, hi)),
        f64::from(rng.range(lo, hi)),
    ]
}

/// A non-uniform background: a diagonal two-colour gradient with soft low-frequency shading,
/// like a wall or room behind a phone selfie. `texture` adds a stronger wavy pattern.
pub fn gradient(rng: &mut DemoRng, w: u32, h: u32, texture: bool) -> RgbImage {
    let c0 = random_colour(rng, 70, 235);
    let c1 = random_colour(rng, 40, 220);
    let angle = rng.float(0.0, std::f64::consts::TAU);
    let (dx, dy) = (angle.cos(), angle.sin());
    let fx = rng.float(1.0, 3.0) * std::f64::consts::TAU / f64::from(w.max(1));
    let fy = rng.float(1.0, 3.0) * std::f64::consts::TAU / f64::from(h.max(1));
    let phase = rng.float(0.0, std::f64::consts::TAU);
    let amp = if texture { 45.0 } else { 10.0 };
    let (tfx, tfy) = (rng.float(0.02, 0.08), rng.float(0.02, 0.08));
    let diag = f64::from(w).hypot(f64::from(h)).max(1.0);
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    RgbImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (f64::from(x), f64::from(y));
        let t = (((xf - cx) * dx + (yf - cy) * dy) / diag + 0.5).clamp(0.0, 1.0);
        let mut shade = amp * (xf * fx + phase).sin() * (yf * fy).cos();
        if texture {
            shade += 25.0 * ((xf * tfx).sin() + (yf * tfy + xf * 0.01).sin());
        }
        let px = |c: usize| (c0[c] * (1.0 - t) + c1[c] * t + shade).clamp(0.0, 255.0) as u8;
        Rgb([px(0), px(1), px(2)])
    })
}

fn adjust_brightness(img: &mut RgbImage, factor: f64) {
    for p in img.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (f64::from(*c) * factor).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// A phone-style upright selfie of size `w`x`h` made from a source photo.
pub fn selfie(rng: &mut DemoRng, src: &RgbImage, layout: Layout, w: u32, h: u32) -> RgbImage {
    let brightness = rng.float(0.85, 1.15);
    match layout {
        Layout::Essex | Layout::Orl => {
            let mut canvas = gradient(rng, w, h, false);
            let frac = if layout == Layout::Essex {
                rng.float(0.62, 0.8)
            } else {
                rng.float(0.55, 0.72)
            };
            let scale = f64::from(w) * frac / f64::from(src.width().max(1));
            let mut face = scaled(src, scale, FilterType::Lanczos3);
            adjust_brightness(&mut face, brightness);
            let free_x = i64::from(w) - i64::from(face.width());
            let free_y = (i64::from(h) - i64::from(face.height())).max(0);
            let jitter = (free_x / 4).max(0) as u32;
            let x = free_x / 2 + i64::from(rng.range(0, 2 * jitter)) - i64::from(jitter);
            let y = free_y - i64::from(rng.range(0, (free_y / 3) as u32));
            imageops::overlay(&mut canvas, &face, x, y);
            canvas
        }
        Layout::Crop(x0, y0, x1, y1) => {
            let crop = crop_box(src, (x0, y0, x1, y1));
            let mut out = imageops::resize(&crop, w, h, FilterType::CatmullRom);
            adjust_brightness(&mut out, brightness);
            out
        }
    }
}

/// Pixels as stored for EXIF orientation `tag`, so that a viewer applying the tag shows
/// `upright` (6: stored rotated 90° counter-clockwise, 8: clockwise, 3: 180°).
pub fn store_for_orientation(upright: &RgbImage, tag: u16) -> RgbImage {
    match tag {
        6 => imageops::rotate270(upright),
        8 => imageops::rotate90(upright),
        3 => imageops::rotate180(upright),
        _ => upright.clone(),
    }
}

/// Baseline JPEG at `quality`.
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    let mut buf = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100));
    enc.encode_image(img)?;
    Ok(buf)
}

/// PNG (RGB).
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut cur = Cursor::new(Vec::new());
    PngEncoder::new(&mut cur).write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)?;
    Ok(cur.into_inner())
}

/// An APP1 Exif segment (marker included) holding a minimal little-endian TIFF header with
/// one IFD entry: 0x0112 Orientation (SHORT) = `orientation`.
pub fn exif_orientation_segment(orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"II");
    tiff.extend_from_slice(&42u16.to_le_bytes());
    tiff.extend_from_slice(&8u32.to_le_bytes()); // offset of IFD0
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes()); // count
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padded to 4 bytes
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    let len = (2 + 6 + tiff.len()) as u16;
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(&tiff);
    seg
}

/// Put an Exif APP1 segment right after SOI, as phone cameras do, dropping a JFIF APP0
/// segment if the encoder wrote one (JFIF and Exif both claim to be the first segment).
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + 40);
    if jpeg.len() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
        return jpeg.to_vec();
    }
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&exif_orientation_segment(orientation));
    let mut rest = &jpeg[2..];
    if rest.len() >= 4 && rest[0] == 0xFF && rest[1] == 0xE0 {
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if 2 + len <= rest.len() {
            rest = &rest[2 + len..];
        }
    }
    out.extend_from_slice(rest);
    out
}
