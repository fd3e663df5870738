//! Face policy and quality gates: from all detections to the one face to embed, or a reason.
//!
//! Every gate has a stable reason code and a configurable limit. The defaults were chosen on
//! the bundled ORL, Essex94 and portrait photos and on LFW View 1 so that good photos pass
//! (see the README's rejection-rate figures): a gate that refuses good photos only moves work
//! to the human-review queue.

use crate::detect::{landmark, Detection, Point};
use crate::error::FaceRejection;
use crate::reason::Reason;
use serde::{Deserialize, Serialize};

/// Which face to take when an image shows several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FacePolicy {
    /// Selfie rule: exactly one face; a second face of comparable size is `multiple_faces`.
    #[default]
    Single,
    /// The largest face; other faces are ignored (benchmark photos with bystanders).
    Largest,
    /// The face closest to the image centre; other faces are ignored.
    Center,
}

impl std::str::FromStr for FacePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "single" => Ok(FacePolicy::Single),
            "largest" => Ok(FacePolicy::Largest),
            "center" | "centre" => Ok(FacePolicy::Center),
            other => Err(format!("unknown face policy {other:?} (single, largest, center)")),
        }
    }
}

/// Limits of the quality gates. Defaults are documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityConfig {
    /// Detections below this score are not faces at all.
    pub detection_threshold: f32,
    /// The chosen face needs at least this detector score, else `low_confidence`.
    pub min_confidence: f32,
    /// Non-maximum suppression overlap.
    pub nms_iou: f32,
    /// Under `single`, another confident face at least this fraction of the main face's size
    /// (inter-eye distance) makes the image `multiple_faces`.
    pub multiple_faces_ratio: f32,
    /// Minimum face size in original image pixels, else `face_too_small`. The size is the
    /// larger of the inter-eye distance and the eye-to-mouth distance, so that a turned head
    /// (whose eyes come closer in the picture) is not taken for a small face.
    pub min_face_px: f32,
    /// Largest fraction of the face box that may lie outside the image, else `face_cut_off`.
    pub max_box_outside: f32,
    /// Smallest distance from any landmark to the image border, in inter-eye distances, else
    /// `face_cut_off` (a landmark outside the image has a negative margin).
    pub min_edge_margin: f32,
    /// Largest |yaw| proxy: horizontal offset of the nose from the face's midline, in
    /// inter-eye distances (0 = frontal), else `pose`.
    pub max_yaw: f32,
    /// Allowed range of the pitch proxy: where the nose tip sits between the eye line (0) and
    /// the mouth line (1), else `pose`.
    pub pitch_range: [f32; 2],
    /// Largest in-plane rotation in degrees, else `pose`.
    pub max_roll_degrees: f32,
    /// Minimum sharpness of the aligned face (variance of the Laplacian over the variance of
    /// the grey levels at half the canonical chip's resolution, contrast-independent), else
    /// `blurred`.
    pub min_sharpness: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            detection_threshold: 0.5,
            min_confidence: 0.7,
            nms_iou: 0.3,
            multiple_faces_ratio: 0.5,
            min_face_px: 16.0,
            max_box_outside: 0.25,
            min_edge_margin: 0.25,
            max_yaw: 1.6,
            pitch_range: [0.1, 0.95],
            max_roll_degrees: 45.0,
            min_sharpness: 0.02,
        }
    }
}

/// Measured quality of one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Inter-eye distance in original image pixels.
    pub inter_eye_px: f32,
    /// The larger of the inter-eye and the eye-to-mouth distance, in original image pixels:
    /// the face's size, robust to a turned head.
    pub face_px: f32,
    /// Fraction of the face box outside the image.
    pub box_outside: f32,
    /// Smallest landmark-to-border distance, in inter-eye distances.
    pub edge_margin: f32,
    pub yaw: f32,
    pub pitch: f32,
    pub roll_degrees: f32,
    /// Filled in after alignment.
    pub sharpness: Option<f32>,
}

/// Geometry-only quality of a detection in an image of the given size.
pub fn measure(det: &Detection, width: u32, height: u32) -> QualityReport {
    let l = &det.landmarks;
    let (re, le, nose) = (l[landmark::RIGHT_EYE], l[landmark::LEFT_EYE], l[landmark::NOSE]);
    let mouth = midpoint(l[landmark::RIGHT_MOUTH], l[landmark::LEFT_MOUTH]);
    let eyes = midpoint(re, le);
    let d = det.inter_eye_distance().max(1e-3);
    let (ux, uy) = ((le.x - re.x) / d, (le.y - re.y) / d);
    // Midline point at the nose's height: halfway between the eye and mouth midpoints.
    let mid = midpoint(eyes, mouth);
    let yaw = ((nose.x - mid.x) * ux + (nose.y - mid.y) * uy) / d;
    // Along the perpendicular (pointing down the face).
    let (vx, vy) = (-uy, ux);
    let mouth_depth = (mouth.x - eyes.x) * vx + (mouth.y - eyes.y) * vy;
    let nose_depth = (nose.x - eyes.x) * vx + (nose.y - eyes.y) * vy;
    let pitch = if mouth_depth.abs() > 1e-3 {
        nose_depth / mouth_depth
    } else {
        f32::NAN
    };
    let b = &det.bbox;
    let inside_w = (b.x + b.width).min(width as f32) - b.x.max(0.0);
    let inside_h = (b.y + b.height).min(height as f32) - b.y.max(0.0);
    let inside = inside_w.max(0.0) * inside_h.max(0.0);
    let box_outside = if b.area() > 0.0 { 1.0 - inside / b.area() } else { 1.0 };
    let edge_margin = l
        .iter()
        .map(|p| p.x.min(p.y).min(width as f32 - p.x).min(height as f32 - p.y))
        .fold(f32::INFINITY, f32::min)
        / d;
    let eye_mouth = ((mouth.x - eyes.x).powi(2) + (mouth.y - eyes.y).powi(2)).sqrt();
    QualityReport {
        inter_eye_px: det.inter_eye_distance(),
        face_px: det.inter_eye_distance().max(eye_mouth),
        box_outside,
        edge_margin,
        yaw,
        pitch,
        roll_degrees: uy.atan2(ux).to_degrees(),
        sharpness: None,
    }
}

fn midpoint(a: Point, b: Point) -> Point {
    Point {
        x: (a.x + b.x) / 2.0,
        y: (a.y + b.y) / 2.0,
    }
}

fn reject(reason: Reason, detail: String) -> FaceRejection {
    FaceRejection { reason, detail }
}

/// Picks the face to embed according to `policy`; `faces` are in original image coordinates,
/// sorted by detector score.
pub fn select(
    faces: &[Detection],
    width: u32,
    height: u32,
    policy: FacePolicy,
    cfg: &QualityConfig,
) -> Result<usize, FaceRejection> {
    if faces.is_empty() {
        return Err(reject(Reason::NoFace, "no face found in the image".into()));
    }
    let confident: Vec<usize> = (0..faces.len())
        .filter(|&i| faces[i].score >= cfg.min_confidence)
        .collect();
    if confident.is_empty() {
        let best = faces.iter().map(|f| f.score).fold(0.0, f32::max);
        return Err(reject(
            Reason::LowConfidence,
            format!("best face score {best:.2} is below {:.2}", cfg.min_confidence),
        ));
    }
    let size = |i: usize| faces[i].inter_eye_distance();
    let largest = confident
        .iter()
        .copied()
        .max_by(|&a, &b| size(a).total_cmp(&size(b)))
        .unwrap_or(confident[0]);
    match policy {
        FacePolicy::Largest => Ok(largest),
        FacePolicy::Center => {
            let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
            let dist = |i: usize| {
                let c = faces[i].bbox.centre();
                (c.x - cx).powi(2) + (c.y - cy).powi(2)
            };
            Ok(confident
                .iter()
                .copied()
                .min_by(|&a, &b| dist(a).total_cmp(&dist(b)))
                .unwrap_or(largest))
        }
        FacePolicy::Single => {
            let rivals = confident
                .iter()
                .filter(|&&i| i != largest && size(i) >= cfg.multiple_faces_ratio * size(largest))
                .count();
            if rivals > 0 {
                Err(reject(
                    Reason::MultipleFaces,
                    format!(
                        "{} faces of comparable size (at least {:.0}% of the largest)",
                        rivals + 1,
                        cfg.multiple_faces_ratio * 100.0
                    ),
                ))
            } else {
                Ok(largest)
            }
        }
    }
}

/// Geometry gates on the chosen face: cut off, too small, pose.
pub fn check_geometry(
    det: &Detection,
    q: &QualityReport,
    width: u32,
    height: u32,
    cfg: &QualityConfig,
) -> Result<(), FaceRejection> {
    let outside = det
        .landmarks
        .iter()
        .filter(|p| p.x < 0.0 || p.y < 0.0 || p.x >= width as f32 || p.y >= height as f32)
        .count();
    if outside > 0 {
        return Err(reject(
            Reason::FaceCutOff,
            format!("{outside} of 5 landmarks lie outside the image"),
        ));
    }
    if q.edge_margin < cfg.min_edge_margin {
        return Err(reject(
            Reason::FaceCutOff,
            format!(
                "a landmark is {:.2} inter-eye distances from the border (at least {:.2} needed)",
                q.edge_margin, cfg.min_edge_margin
            ),
        ));
    }
    if q.box_outside > cfg.max_box_outside {
        return Err(reject(
            Reason::FaceCutOff,
            format!(
                "{:.0}% of the face box lies outside the image (limit {:.0}%)",
                q.box_outside * 100.0,
                cfg.max_box_outside * 100.0
            ),
        ));
    }
    if q.face_px < cfg.min_face_px {
        return Err(reject(
            Reason::FaceTooSmall,
            format!(
                "face {:.1} px (eyes {:.1} px apart), at least {:.0} px needed",
                q.face_px, q.inter_eye_px, cfg.min_face_px
            ),
        ));
    }
    if q.yaw.abs() > cfg.max_yaw {
        return Err(reject(
            Reason::Pose,
            format!("head turned sideways (yaw {:.2}, limit {:.2})", q.yaw, cfg.max_yaw),
        ));
    }
    if !(cfg.pitch_range[0]..=cfg.pitch_range[1]).contains(&q.pitch) {
        return Err(reject(
            Reason::Pose,
            format!(
                "head tilted up or down (pitch {:.2}, allowed {:.2}..{:.2})",
                q.pitch, cfg.pitch_range[0], cfg.pitch_range[1]
            ),
        ));
    }
    if q.roll_degrees.abs() > cfg.max_roll_degrees {
        return Err(reject(
            Reason::Pose,
            format!(
                "head rotated {:.0}° in the image plane (limit {:.0}°)",
                q.roll_degrees, cfg.max_roll_degrees
            ),
        ));
    }
    Ok(())
}

/// The sharpness gate: a face whose canonical chip measured below `min_sharpness` is `blurred`.
pub(crate) fn check_sharpness(sharpness: f32, cfg: &QualityConfig) -> Result<(), FaceRejection> {
    if sharpness < cfg.min_sharpness {
        return Err(reject(
            Reason::Blurred,
            format!("sharpness {sharpness:.3} is below {:.3}", cfg.min_sharpness),
        ));
    }
    Ok(())
}

/// Contrast-independent sharpness of an aligned chip: Var(Laplacian) / Var(grey) over the
/// central region (eyes, nose, mouth, so background and hair do not count), measured at half
/// the chip's resolution (2x2 averages). At full resolution pixel noise and the 8-bit banding
/// of a very smooth image count as detail, which made the measure rise again for the most
/// blurred faces; at half resolution it falls monotonically with blur (README, "Quality gates").
pub fn sharpness(chip: &image::RgbImage) -> f32 {
    let (w, h) = (chip.width() as usize, chip.height() as usize);
    if w < 16 || h < 16 {
        return 0.0;
    }
    let grey: Vec<f32> = chip
        .pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    let (x0, x1, y0, y1) = (w / 5, w - w / 5, h / 5, h - h / 10);
    let (hw, hh) = ((x1 - x0) / 2, (y1 - y0) / 2);
    let half: Vec<f32> = (0..hh)
        .flat_map(|y| (0..hw).map(move |x| (x, y)))
        .map(|(x, y)| {
            let (sx, sy) = (x0 + 2 * x, y0 + 2 * y);
            (grey[sy * w + sx] + grey[sy * w + sx + 1] + grey[(sy + 1) * w + sx] + grey[(sy + 1) * w + sx + 1]) / 4.0
        })
        .collect();
    let (mut n, mut sum, mut sum2, mut lsum, mut lsum2) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for y in 1..hh.saturating_sub(1) {
        for x in 1..hw.saturating_sub(1) {
            let c = half[y * hw + x];
            let lap =
                half[(y - 1) * hw + x] + half[(y + 1) * hw + x] + half[y * hw + x - 1] + half[y * hw + x + 1] - 4.0 * c;
            n += 1.0;
            sum += f64::from(c);
            sum2 += f64::from(c * c);
            lsum += f64::from(lap);
            lsum2 += f64::from(lap * lap);
        }
    }
    if n < 2.0 {
        return 0.0;
    }
    let var = sum2 / n - (sum / n).powi(2);
    let lvar = lsum2 / n - (lsum / n).powi(2);
    if var < 1e-6 {
        return 0.0;
    }
    (lvar / var) as f32
}
