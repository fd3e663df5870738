//! Stage: aligned face → the holder's portrait, the small photo a QR credential carries so
//! that an offline verifier can compare the person in front of them with it.
//!
//! A portrait is the face warped on its 5 landmarks into a fixed 4:5 geometry (eyes level, the
//! eye distance 30 % of the width, 1.75 eye distances of forehead above the eyes), then
//! JPEG-compressed to a byte budget. Because the geometry is fixed, a verifier knows where the
//! landmarks of any portrait are without running the detector on a 64 px image
//! ([`portrait_landmarks`]), and each embedder's chip lies inside the portrait.

use image::imageops::FilterType;
use image::RgbImage;

use crate::detect::{BoundingBox, Detection, Point};
use crate::error::FaceRejection;
use crate::reason::Reason;

/// Portrait sizes, largest first: the encoder steps down when a budget cannot hold the larger
/// size at [`MIN_QUALITY`].
pub const PORTRAIT_SIZES: [(u32, u32); 3] = [(96, 120), (80, 100), (64, 80)];

/// Lowest JPEG quality accepted at a size before stepping down to the next smaller one.
pub const MIN_QUALITY: u8 = 30;

/// Lowest JPEG quality at the smallest size. Below it the picture is blocks, and decoders
/// start to disagree (zune-jpeg and jpeg-decoder differ by 5 levels per channel at quality 6,
/// by 0.03 at 11).
pub const FLOOR_QUALITY: u8 = 10;

/// Highest JPEG quality tried.
pub const MAX_QUALITY: u8 = 90;

/// The width, in eye distances, of the portrait (the height is 5/4 of it).
const WIDTH_IN_EYE_DISTANCES: f32 = 3.2;
/// Eye distances from the top edge to the eyes' midpoint.
const EYES_FROM_TOP: f32 = 1.75;

/// The landmark geometry (right eye, left eye, nose tip, right and left mouth corners) the
/// portrait is warped to, as offsets from the eyes' midpoint in eye distances. It is the
/// canonical (dlib) template's shape.
const SHAPE: [[f32; 2]; 5] = [
    [-0.5, 0.001_175],
    [0.5, -0.001_175],
    [-0.003_256, 0.585_11],
    [-0.431_01, 0.991_11],
    [0.456_70, 0.990_11],
];

/// Where the 5 landmarks of a `width` x `height` portrait are (pixels).
pub fn portrait_landmarks(width: u32, height: u32) -> [[f32; 2]; 5] {
    let _ = height; // the geometry is fixed by the width; the height follows the 4:5 ratio
    let eye_distance = width as f32 / WIDTH_IN_EYE_DISTANCES;
    let (cx, cy) = (width as f32 / 2.0, EYES_FROM_TOP * eye_distance);
    SHAPE.map(|[dx, dy]| [cx + dx * eye_distance, cy + dy * eye_distance])
}

/// The landmarks of a portrait as detector points.
pub(crate) fn portrait_points(width: u32, height: u32) -> [Point; 5] {
    portrait_landmarks(width, height).map(|[x, y]| Point { x, y })
}

/// Whether an image of this size can be a portrait: 4:5 (±1 px) and between 48 and 240 px wide.
pub fn is_portrait_size(width: u32, height: u32) -> bool {
    (48..=240).contains(&width) && (i64::from(height) - i64::from(width) * 5 / 4).abs() <= 1
}

/// A decoded image of this size as a portrait, or the `no_portrait` refusal.
pub(crate) fn check_portrait_size(width: u32, height: u32) -> Result<(), FaceRejection> {
    if is_portrait_size(width, height) {
        return Ok(());
    }
    Err(FaceRejection {
        reason: Reason::NoPortrait,
        detail: format!("the photo is {width}x{height}; a portrait is 4:5, 48 to 240 px wide"),
    })
}

/// The face of a `width` x `height` portrait as a detection: the whole image, its landmarks
/// where the portrait geometry puts them (the detector does not run on a portrait).
pub(crate) fn portrait_detection(width: u32, height: u32) -> Detection {
    Detection {
        bbox: BoundingBox {
            x: 0.0,
            y: 0.0,
            width: width as f32,
            height: height as f32,
        },
        score: 1.0,
        landmarks: portrait_points(width, height),
    }
}

/// A portrait compressed to a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portrait {
    /// Baseline JPEG (starts with FF D8 FF).
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The JPEG quality the budget allowed.
    pub quality: u8,
}

/// Compresses a portrait (the largest size of [`PORTRAIT_SIZES`]) to at most `budget` bytes:
/// the largest size that fits at quality [`MIN_QUALITY`] or more, at the highest quality that
/// fits (binary search); at the smallest size, any quality down to [`FLOOR_QUALITY`]. `None` when not even
/// that fits.
pub fn encode_to_budget(portrait: &RgbImage, budget: usize) -> Option<Portrait> {
    for (i, &(w, h)) in PORTRAIT_SIZES.iter().enumerate() {
        let image = if (portrait.width(), portrait.height()) == (w, h) {
            portrait.clone()
        } else {
            image::imageops::resize(portrait, w, h, FilterType::CatmullRom)
        };
        let floor = if i + 1 == PORTRAIT_SIZES.len() {
            FLOOR_QUALITY
        } else {
            MIN_QUALITY
        };
        if let Some(found) = best_quality(&image, budget, floor) {
            return Some(found);
        }
    }
    None
}

/// The highest quality in `floor..=MAX_QUALITY` whose JPEG fits `budget` (sizes grow with
/// quality, nearly monotonically; the search re-checks the size it returns).
fn best_quality(image: &RgbImage, budget: usize, floor: u8) -> Option<Portrait> {
    let (mut lo, mut hi) = (floor, MAX_QUALITY);
    let mut best = None;
    while lo <= hi {
        let q = lo + (hi - lo) / 2;
        let jpeg = encode_jpeg(image, q)?;
        if jpeg.len() <= budget {
            best = Some(Portrait {
                jpeg,
                width: image.width(),
                height: image.height(),
                quality: q,
            });
            lo = q + 1;
        } else {
            if q == 0 {
                break;
            }
            hi = q - 1;
        }
    }
    best
}

/// Baseline JPEG with Huffman tables optimised for this image (at these sizes the standard
/// tables alone, ~420 B, would be a third of the budget) and no chroma subsampling: zune-jpeg
/// 0.5 (the `image` crate's decoder) garbles optimised-table 4:2:0 files that libjpeg-turbo and
/// jpeg-decoder read correctly, and a verifier's decoder must not matter.
fn encode_jpeg(image: &RgbImage, quality: u8) -> Option<Vec<u8>> {
    let (width, height) = (u16::try_from(image.width()).ok()?, u16::try_from(image.height()).ok()?);
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_optimized_huffman_tables(true);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
    encoder
        .encode(image.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landmarks_sit_where_the_geometry_says() {
        let p = portrait_landmarks(96, 120);
        // Eye distance 30 px, eyes level at 52.5 px from the top, centred.
        assert!((p[1][0] - p[0][0] - 30.0).abs() < 0.01);
        assert!((p[0][1] - 52.5).abs() < 0.1 && (p[1][1] - 52.5).abs() < 0.1);
        assert!(((p[0][0] + p[1][0]) / 2.0 - 48.0).abs() < 0.01);
        // Mouth below the nose, both inside the image.
        assert!(p[3][1] > p[2][1] && p[3][1] < 120.0);
    }

    #[test]
    fn portrait_sizes_are_recognised() {
        for (w, h) in PORTRAIT_SIZES {
            assert!(is_portrait_size(w, h));
        }
        assert!(!is_portrait_size(112, 112));
        assert!(!is_portrait_size(640, 800));
        assert!(!is_portrait_size(20, 25));
    }

    #[test]
    fn budgets_are_kept_and_smaller_budgets_give_smaller_photos() {
        // A textured test pattern: a budget must hold however detailed the picture is.
        let img = RgbImage::from_fn(96, 120, |x, y| {
            image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, ((x ^ y) * 3 % 256) as u8])
        });
        let mut previous = usize::MAX;
        for budget in [2000, 1600, 1200, 900] {
            let p = encode_to_budget(&img, budget).expect("fits");
            assert!(p.jpeg.len() <= budget, "{} > {budget}", p.jpeg.len());
            assert!(p.jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
            assert!(p.jpeg.len() <= previous);
            previous = p.jpeg.len();
        }
        assert!(encode_to_budget(&img, 100).is_none(), "no JPEG is 100 bytes");
    }
}
