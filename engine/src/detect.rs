//! Face detection with YuNet: letterbox into the pinned input, run, decode the 12 outputs
//! (strides 8, 16, 32) and apply NMS, as described in `models/MODELS.md`.

use crate::error::ModelError;
use crate::intake::DecodedImage;
use crate::models::{ColourOrder, LoadedModel};
use image::RgbImage;
use serde::{Deserialize, Serialize};

/// A point in image pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// An axis-aligned box: top-left corner and size, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl BoundingBox {
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    pub fn centre(&self) -> Point {
        Point {
            x: self.x + self.width / 2.0,
            y: self.y + self.height / 2.0,
        }
    }

    fn iou(&self, other: &BoundingBox) -> f32 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.width).min(other.x + other.width);
        let y1 = (self.y + self.height).min(other.y + other.height);
        let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// Index of each landmark in [`Detection::landmarks`] ("right" as seen in the image).
pub mod landmark {
    pub const RIGHT_EYE: usize = 0;
    pub const LEFT_EYE: usize = 1;
    pub const NOSE: usize = 2;
    pub const RIGHT_MOUTH: usize = 3;
    pub const LEFT_MOUTH: usize = 4;
}

/// One detected face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub bbox: BoundingBox,
    /// Detector confidence in 0..1.
    pub score: f32,
    /// Right eye, left eye, nose tip, right and left mouth corners (see [`landmark`]).
    pub landmarks: [Point; 5],
}

impl Detection {
    /// Distance between the eye centres, in pixels: the face's size as the embedder sees it.
    pub fn inter_eye_distance(&self) -> f32 {
        let (r, l) = (self.landmarks[landmark::RIGHT_EYE], self.landmarks[landmark::LEFT_EYE]);
        ((l.x - r.x).powi(2) + (l.y - r.y).powi(2)).sqrt()
    }

    /// The same detection with every coordinate multiplied by `k`.
    pub fn scaled(&self, k: f32) -> Detection {
        let p = |p: Point| Point { x: p.x * k, y: p.y * k };
        Detection {
            bbox: BoundingBox {
                x: self.bbox.x * k,
                y: self.bbox.y * k,
                width: self.bbox.width * k,
                height: self.bbox.height * k,
            },
            score: self.score,
            landmarks: self.landmarks.map(p),
        }
    }
}

const STRIDES: [usize; 3] = [8, 16, 32];

/// YuNet built at its pinned input size and at each fitted input size of the manifest.
pub(crate) struct Detector {
    /// The pinned input first, then the fitted ones; each is one plan of the same model.
    inputs: Vec<DetectorInput>,
}

struct DetectorInput {
    model: LoadedModel,
    width: usize,
    height: usize,
}

impl Detector {
    /// Wraps a loaded YuNet model (and the same model built at each fitted size) and checks that
    /// every plan's outputs have the expected layout.
    pub fn new(pinned: LoadedModel, fitted: Vec<LoadedModel>) -> Result<Detector, ModelError> {
        let inputs: Vec<DetectorInput> = std::iter::once(pinned)
            .chain(fitted)
            .map(|model| DetectorInput {
                width: model.spec.input_width as usize,
                height: model.spec.input_height as usize,
                model,
            })
            .collect();
        for input in &inputs {
            input.check_layout(input.model.output_lens())?;
        }
        Ok(Detector { inputs })
    }

    /// The pinned input size (width, height).
    pub fn input_size(&self) -> (usize, usize) {
        (self.inputs[0].width, self.inputs[0].height)
    }

    /// Every input size the detector is built at, the pinned one first.
    pub fn input_sizes(&self) -> Vec<(usize, usize)> {
        self.inputs.iter().map(|i| (i.width, i.height)).collect()
    }

    /// The smallest input that holds an image of `width` x `height` at the pinned input's
    /// letterbox scale (the same resized pixels, less padding), and that resized size. Falls
    /// back to the pinned input.
    fn input_for(&self, width: u32, height: u32) -> (&DetectorInput, (u32, u32)) {
        let pinned = &self.inputs[0];
        let (nw, nh) = pinned.letterbox_size(width, height);
        let input = self
            .inputs
            .iter()
            .filter(|i| i.width >= nw as usize && i.height >= nh as usize)
            .min_by_key(|i| i.width * i.height)
            .unwrap_or(pinned);
        (input, (nw, nh))
    }

    /// The input size (width, height) an image of `width` x `height` runs at.
    pub fn input_for_size(&self, width: u32, height: u32) -> (usize, usize) {
        let (input, _) = self.input_for(width, height);
        (input.width, input.height)
    }

    /// Detects faces; coordinates are in `image` pixels. Faces below `score_threshold` are dropped.
    pub fn detect(&self, image: &RgbImage, score_threshold: f32, nms_iou: f32) -> Result<Vec<Detection>, ModelError> {
        if image.width() == 0 || image.height() == 0 {
            return Ok(Vec::new());
        }
        let (input, resized) = self.input_for(image.width(), image.height());
        input.detect(image, resized, score_threshold, nms_iou)
    }

    /// All faces in a decoded image, in original image coordinates, best score first.
    pub(crate) fn detect_decoded(
        &self,
        image: &DecodedImage,
        score_threshold: f32,
        nms_iou: f32,
    ) -> Result<Vec<Detection>, ModelError> {
        let faces = self.detect(&image.pixels, score_threshold, nms_iou)?;
        let back = 1.0 / image.scale.max(1e-6);
        Ok(faces.iter().map(|d| d.scaled(back)).collect())
    }
}

impl DetectorInput {
    fn check_layout(&self, outputs: &[usize]) -> Result<(), ModelError> {
        let spec = &self.model.spec;
        let bad = |detail: String| ModelError::Load {
            id: spec.id.clone(),
            path: spec.file.clone(),
            sha256: spec.sha256.clone(),
            detail,
        };
        if outputs.len() != 12 {
            return Err(bad(format!(
                "expected the 12 YuNet outputs, the model has {}",
                outputs.len()
            )));
        }
        for (i, stride) in STRIDES.iter().enumerate() {
            let cells = (self.width / stride) * (self.height / stride);
            for (group, width) in [(0, 1), (1, 1), (2, 4), (3, 10)] {
                let len = outputs[group * 3 + i];
                if len != cells * width {
                    return Err(bad(format!(
                        "output {} has {} values, expected {} for stride {} at {}x{}: not a YuNet model?",
                        group * 3 + i,
                        len,
                        cells * width,
                        stride,
                        self.width,
                        self.height
                    )));
                }
            }
        }
        Ok(())
    }

    /// The letterboxed image's size at this input: the largest that fits, aspect kept.
    fn letterbox_size(&self, width: u32, height: u32) -> (u32, u32) {
        let (w, h) = (width.max(1), height.max(1));
        let k = (self.width as f32 / w as f32).min(self.height as f32 / h as f32);
        let nw = ((w as f32 * k).round() as u32).clamp(1, self.width as u32);
        let nh = ((h as f32 * k).round() as u32).clamp(1, self.height as u32);
        (nw, nh)
    }

    /// Detection with `image` resized to `resized` (which fits this input), anchored top-left.
    fn detect(
        &self,
        image: &RgbImage,
        resized: (u32, u32),
        score_threshold: f32,
        nms_iou: f32,
    ) -> Result<Vec<Detection>, ModelError> {
        // The 1.2 MB input buffer is reused per thread: a fresh zeroed one per call showed up as
        // kernel page clearing in profiles.
        thread_local! {
            static INPUT: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let (outputs, k) = INPUT.with(|buf| {
            let mut buf = buf.borrow_mut();
            let k = self.letterbox(image, resized, &mut buf);
            self.model.run(&buf).map(|o| (o, k))
        })?;
        let mut candidates = Vec::new();
        for (i, &stride) in STRIDES.iter().enumerate() {
            // The layout (12 outputs of the right lengths) was checked at load time.
            let view = |group: usize| outputs[group * 3 + i].values.as_slice();
            let (cls, obj, bbox, kps) = (view(0), view(1), view(2), view(3));
            let cols = self.width / stride;
            let s = stride as f32;
            for (cell, (&c, &o)) in cls.iter().zip(obj).enumerate() {
                let score = (c.clamp(0.0, 1.0) * o.clamp(0.0, 1.0)).sqrt();
                if score < score_threshold {
                    continue;
                }
                let col = (cell % cols) as f32;
                let row = (cell / cols) as f32;
                let b = &bbox[cell * 4..cell * 4 + 4];
                let (cx, cy) = ((col + b[0]) * s, (row + b[1]) * s);
                let (w, h) = (b[2].exp() * s, b[3].exp() * s);
                let kp = &kps[cell * 10..cell * 10 + 10];
                let landmarks = std::array::from_fn(|j| Point {
                    x: (col + kp[2 * j]) * s,
                    y: (row + kp[2 * j + 1]) * s,
                });
                let det = Detection {
                    bbox: BoundingBox {
                        x: cx - w / 2.0,
                        y: cy - h / 2.0,
                        width: w,
                        height: h,
                    },
                    score,
                    landmarks,
                };
                if det.bbox.width.is_finite() && det.bbox.height.is_finite() {
                    candidates.push(det);
                }
            }
        }
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Detection> = Vec::new();
        for c in candidates {
            if kept.iter().all(|k| k.bbox.iou(&c.bbox) <= nms_iou) {
                kept.push(c);
            }
        }
        Ok(kept.into_iter().map(|d| d.scaled(1.0 / k)).collect())
    }

    /// Resizes `image` to `(nw, nh)`, anchors it top-left in this input, pads with zeros, and
    /// lays it out as NCHW in the model's colour order. Returns the scale.
    fn letterbox(&self, image: &RgbImage, (nw, nh): (u32, u32), data: &mut Vec<f32>) -> f32 {
        let w = image.width().max(1);
        let spec = &self.model.spec;
        let order = match spec.colour_order {
            ColourOrder::Bgr => [2, 1, 0],
            ColourOrder::Rgb => [0, 1, 2],
        };
        let plane = self.width * self.height;
        data.clear();
        data.resize(3 * plane, 0.0);
        let (p0, rest) = data.split_at_mut(plane);
        let (p1, p2) = rest.split_at_mut(plane);
        let mut planes = [p0, p1, p2];
        let scale = spec.std.map(|s| 1.0 / s);
        let width = self.width;
        crate::resample::resample_into(image, nw as usize, nh as usize, |x, y, px| {
            let at = y * width + x;
            for (c, plane) in planes.iter_mut().enumerate() {
                plane[at] = (px[order[c]] - spec.mean[c]) * scale[c];
            }
        });
        // Coordinates are found in resized pixels: map back with the actual per-axis scale.
        nw as f32 / w as f32
    }
}
