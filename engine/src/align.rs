//! Alignment: a least-squares similarity transform (rotation, uniform scale, translation) from
//! the 5 detected landmarks to the embedder's template, then a bilinear warp into the chip.

use crate::detect::{Detection, Point};
use crate::error::FaceRejection;
use crate::intake::DecodedImage;
use crate::reason::Reason;
use image::RgbImage;
use serde::{Deserialize, Serialize};

/// The face geometry in which the engine judges sharpness and refines landmarks, whichever
/// embedders run: dlib's 150x150 template (the gates and the refinement crop were tuned in it).
pub(crate) const CANONICAL_TEMPLATE: [[f32; 2]; 5] = [
    [45.665, 44.616],
    [101.416, 44.485],
    [73.359, 77.171],
    [49.511, 99.806],
    [99.002, 99.750],
];
/// Side of the canonical chip, in pixels.
pub(crate) const CANONICAL_SIZE: u32 = 150;

/// `x' = a*x - b*y + tx`, `y' = b*x + a*y + ty`: maps image pixels to chip pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimilarityTransform {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl SimilarityTransform {
    /// Least-squares fit of `dst ≈ T(src)` (closed form; no reflection).
    pub fn estimate(src: &[Point; 5], dst: &[[f32; 2]; 5]) -> Option<SimilarityTransform> {
        let n = src.len() as f64;
        let (mut msx, mut msy, mut mdx, mut mdy) = (0f64, 0f64, 0f64, 0f64);
        for (s, d) in src.iter().zip(dst) {
            msx += f64::from(s.x);
            msy += f64::from(s.y);
            mdx += f64::from(d[0]);
            mdy += f64::from(d[1]);
        }
        let (msx, msy, mdx, mdy) = (msx / n, msy / n, mdx / n, mdy / n);
        let (mut num_a, mut num_b, mut den) = (0f64, 0f64, 0f64);
        for (s, d) in src.iter().zip(dst) {
            let (sx, sy) = (f64::from(s.x) - msx, f64::from(s.y) - msy);
            let (dx, dy) = (f64::from(d[0]) - mdx, f64::from(d[1]) - mdy);
            num_a += sx * dx + sy * dy;
            num_b += sx * dy - sy * dx;
            den += sx * sx + sy * sy;
        }
        if den <= 1e-9 || !den.is_finite() {
            return None;
        }
        let (a, b) = (num_a / den, num_b / den);
        let tx = mdx - (a * msx - b * msy);
        let ty = mdy - (b * msx + a * msy);
        let t = SimilarityTransform {
            a: a as f32,
            b: b as f32,
            tx: tx as f32,
            ty: ty as f32,
        };
        (t.a.is_finite() && t.b.is_finite() && t.tx.is_finite() && t.ty.is_finite() && t.scale() > 1e-6).then_some(t)
    }

    pub fn apply(&self, p: Point) -> Point {
        Point {
            x: self.a * p.x - self.b * p.y + self.tx,
            y: self.b * p.x + self.a * p.y + self.ty,
        }
    }

    /// The inverse map: chip pixels back to image pixels.
    pub fn invert(&self, p: Point) -> Point {
        let (ia, ib) = self.inverse_coefficients();
        let (du, dv) = (p.x - self.tx, p.y - self.ty);
        Point {
            x: ia * du + ib * dv,
            y: -ib * du + ia * dv,
        }
    }

    /// `(ia, ib)` of the inverse of the rotation-scale part: [[a, -b], [b, a]]^-1 is
    /// [[a, b], [-b, a]] / (a² + b²), i.e. [[ia, ib], [-ib, ia]].
    fn inverse_coefficients(&self) -> (f32, f32) {
        let det = self.a * self.a + self.b * self.b;
        (self.a / det, self.b / det)
    }

    /// Chip pixels per image pixel.
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    /// Rotation in degrees.
    pub fn rotation_degrees(&self) -> f32 {
        self.b.atan2(self.a).to_degrees()
    }
}

/// A face warped into the embedder's input geometry, with the transform that made it.
#[derive(Debug, Clone)]
pub struct AlignedFace {
    pub chip: RgbImage,
    pub transform: SimilarityTransform,
    /// Mean distance (chip pixels) between the warped landmarks and the template.
    pub landmark_residual: f32,
}

/// Aligns the face with the given landmarks into a `width` x `height` chip.
pub fn align(
    image: &RgbImage,
    landmarks: &[Point; 5],
    template: &[[f32; 2]; 5],
    width: u32,
    height: u32,
) -> Option<AlignedFace> {
    let transform = SimilarityTransform::estimate(landmarks, template)?;
    let residual = landmarks
        .iter()
        .zip(template)
        .map(|(p, t)| {
            let q = transform.apply(*p);
            ((q.x - t[0]).powi(2) + (q.y - t[1]).powi(2)).sqrt()
        })
        .sum::<f32>()
        / 5.0;
    Some(AlignedFace {
        chip: warp(image, &transform, width, height),
        transform,
        landmark_residual: residual,
    })
}

/// Aligns on a detection's landmarks (original coordinates of a decoded image) into a `w` x `h`
/// chip; degenerate landmarks (all in one place) are a `pose` refusal.
pub(crate) fn align_detection(
    image: &DecodedImage,
    face: &Detection,
    template: &[[f32; 2]; 5],
    w: u32,
    h: u32,
) -> Result<AlignedFace, FaceRejection> {
    let working = face.scaled(image.scale);
    align(&image.pixels, &working.landmarks, template, w, h).ok_or_else(|| FaceRejection {
        reason: Reason::Pose,
        detail: "landmarks are degenerate (all in one place)".into(),
    })
}

/// `x.floor() as i64` without the libm call `floor` compiles to on baseline x86-64 (5 % of
/// a phone-photo run in `perf`); exact for every finite `x` in i64's range.
#[inline]
fn floor_i64(x: f32) -> i64 {
    let t = x as i64;
    if (t as f32) > x {
        t - 1
    } else {
        t
    }
}

/// Inverse-maps every chip pixel into the image and samples bilinearly; outside is black.
fn warp(image: &RgbImage, t: &SimilarityTransform, width: u32, height: u32) -> RgbImage {
    let (ia, ib) = t.inverse_coefficients();
    let (w, h) = (image.width() as i64, image.height() as i64);
    let src = image.as_raw();
    let mut out = RgbImage::new(width, height);
    let stride = (w * 3) as usize;
    for (v, row) in out.rows_mut().enumerate() {
        let dv = v as f32 - t.ty;
        for (u, px) in row.enumerate() {
            let du = u as f32 - t.tx;
            let x = ia * du + ib * dv;
            let y = -ib * du + ia * dv;
            let (x0, y0) = (floor_i64(x), floor_i64(y));
            let (fx, fy) = (x - x0 as f32, y - y0 as f32);
            if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
                // Inside: all four neighbours exist (the common case), no per-tap checks.
                let at = y0 as usize * stride + x0 as usize * 3;
                let (top, bottom) = (&src[at..at + 6], &src[at + stride..at + stride + 6]);
                let (w00, w01) = ((1.0 - fx) * (1.0 - fy), fx * (1.0 - fy));
                let (w10, w11) = ((1.0 - fx) * fy, fx * fy);
                for c in 0..3 {
                    let v = w00 * f32::from(top[c])
                        + w01 * f32::from(top[3 + c])
                        + w10 * f32::from(bottom[c])
                        + w11 * f32::from(bottom[3 + c]);
                    px[c] = to_u8(v);
                }
                continue;
            }
            let mut acc = [0f32; 3];
            for (dy, wy) in [(0i64, 1.0 - fy), (1, fy)] {
                let yy = y0 + dy;
                if yy < 0 || yy >= h || wy == 0.0 {
                    continue;
                }
                for (dx, wx) in [(0i64, 1.0 - fx), (1, fx)] {
                    let xx = x0 + dx;
                    if xx < 0 || xx >= w || wx == 0.0 {
                        continue;
                    }
                    let at = yy as usize * stride + xx as usize * 3;
                    let wgt = wx * wy;
                    for c in 0..3 {
                        acc[c] += wgt * f32::from(src[at + c]);
                    }
                }
            }
            for c in 0..3 {
                px[c] = to_u8(acc[c]);
            }
        }
    }
    out
}

/// Rounds a non-negative sample to u8 (`f32::round` is a libm call here, 5 % of a refinement).
#[inline]
fn to_u8(v: f32) -> u8 {
    (v + 0.5).clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_similarity() {
        let truth = SimilarityTransform {
            a: 0.8,
            b: 0.3,
            tx: 12.0,
            ty: -4.0,
        };
        let src = [(10.0, 20.0), (60.0, 22.0), (35.0, 50.0), (15.0, 70.0), (55.0, 72.0)].map(|(x, y)| Point { x, y });
        let dst = src.map(|p| {
            let q = truth.apply(p);
            [q.x, q.y]
        });
        let t = SimilarityTransform::estimate(&src, &dst).unwrap();
        assert!((t.a - 0.8).abs() < 1e-4 && (t.b - 0.3).abs() < 1e-4);
        assert!((t.tx - 12.0).abs() < 1e-3 && (t.ty + 4.0).abs() < 1e-3);
    }

    #[test]
    fn degenerate_landmarks_give_none() {
        let p = Point { x: 5.0, y: 5.0 };
        assert!(SimilarityTransform::estimate(&[p; 5], &[[1.0, 1.0]; 5]).is_none());
    }
}
