//! Embedding: an aligned chip -> an L2-normalised descriptor.

use crate::align::AlignedFace;
use crate::error::ModelError;
use crate::models::{ColourOrder, LoadedModel};
use serde::{Deserialize, Serialize};

/// A face descriptor, L2-normalised on construction so that comparing is a dot product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<f32>", into = "Vec<f32>")]
pub struct Embedding(Box<[f32]>);

impl Embedding {
    /// Normalises `values`; `None` when they are empty, not finite, or all zero.
    pub fn from_raw(values: &[f32]) -> Option<Embedding> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        (norm > 1e-12).then(|| Embedding(values.iter().map(|v| v / norm).collect()))
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Cosine similarity in -1..1 (higher is more alike); `None` if the lengths differ, i.e.
    /// the two come from different models.
    pub fn similarity(&self, other: &Embedding) -> Option<f32> {
        (self.len() == other.len()).then(|| dot(&self.0, &other.0))
    }
}

/// An embedding tagged with the model that made it: embeddings of different models are
/// never compared with each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEmbedding {
    pub model: String,
    pub embedding: Embedding,
}

impl TryFrom<Vec<f32>> for Embedding {
    type Error = String;
    fn try_from(v: Vec<f32>) -> Result<Self, String> {
        Embedding::from_raw(&v).ok_or_else(|| "embedding is empty, zero or not finite".to_owned())
    }
}

impl From<Embedding> for Vec<f32> {
    fn from(e: Embedding) -> Vec<f32> {
        e.0.into_vec()
    }
}

/// Dot product of two equal-length slices.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four accumulators let the compiler vectorise without reassociation flags.
    let mut acc = [0f32; 4];
    let chunks = a.len() / 4;
    for i in 0..chunks {
        for k in 0..4 {
            acc[k] += a[4 * i + k] * b[4 * i + k];
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for i in chunks * 4..a.len().min(b.len()) {
        sum += a[i] * b[i];
    }
    sum
}

/// The embedding model with its normalisation.
pub(crate) struct Embedder {
    model: LoadedModel,
    pub dims: usize,
}

impl Embedder {
    pub fn new(model: LoadedModel) -> Result<Embedder, ModelError> {
        let dims = model.output_lens().first().copied().unwrap_or(0);
        if dims == 0 || dims > 4096 {
            return Err(ModelError::Load {
                id: model.spec.id.clone(),
                path: model.spec.file.clone(),
                sha256: model.spec.sha256.clone(),
                detail: format!("expected one embedding output, got {dims} values"),
            });
        }
        Ok(Embedder { model, dims })
    }

    /// Raw (not normalised) descriptor of an aligned chip; with `flip`, the mean of the chip's
    /// and its mirror image's descriptors.
    pub fn embed(&self, face: &AlignedFace, flip: bool) -> Result<Vec<f32>, ModelError> {
        let mut out = self.run_chip(face, false)?;
        if flip {
            let mirrored = self.run_chip(face, true)?;
            for (o, m) in out.iter_mut().zip(mirrored) {
                *o = (*o + m) / 2.0;
            }
        }
        Ok(out)
    }

    fn run_chip(&self, face: &AlignedFace, mirror: bool) -> Result<Vec<f32>, ModelError> {
        let spec = &self.model.spec;
        let (w, h) = (spec.input_width as usize, spec.input_height as usize);
        let fail = |detail: String| ModelError::Inference {
            id: spec.id.clone(),
            detail,
        };
        if face.chip.width() as usize != w || face.chip.height() as usize != h {
            return Err(fail(format!(
                "chip is {}x{}, the model takes {w}x{h}",
                face.chip.width(),
                face.chip.height()
            )));
        }
        let order = match spec.colour_order {
            ColourOrder::Rgb => [0, 1, 2],
            ColourOrder::Bgr => [2, 1, 0],
        };
        let plane = w * h;
        let mut data = vec![0f32; 3 * plane];
        for (y, row) in face.chip.rows().enumerate() {
            for (x, px) in row.enumerate() {
                let at = y * w + if mirror { w - 1 - x } else { x };
                for (c, &from) in order.iter().enumerate() {
                    data[c * plane + at] = (f32::from(px[from]) - spec.mean[c]) / spec.std[c];
                }
            }
        }
        let out = self.model.run(&data)?;
        let values = out.into_iter().next().ok_or_else(|| fail("no output".into()))?.values;
        if values.len() != self.dims {
            return Err(fail(format!("got {} values, expected {}", values.len(), self.dims)));
        }
        Ok(values)
    }
}
