//! The model manifest, SHA-256 checks, and loading a verified model into a backend.
//!
//! A model is loaded once per engine: its input shape is pinned from the manifest before
//! optimisation (symbolic dims run ~12x slower in tract), so a shape mismatch fails here, at
//! load time, with the file name and hash in the error. How a model runs (tract or ONNX
//! Runtime, with a pool of per-thread run states) is `backend.rs`'s business.

use crate::backend::{BackendConfig, InferenceBackend, Output, Runner};
use crate::error::ModelError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelRole {
    Detector,
    Embedder,
}

impl ModelRole {
    fn as_str(self) -> &'static str {
        match self {
            ModelRole::Detector => "detector",
            ModelRole::Embedder => "embedder",
        }
    }
}

/// Channel order the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColourOrder {
    Rgb,
    Bgr,
}

/// One entry of `models/manifest.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: String,
    pub role: ModelRole,
    pub file: PathBuf,
    pub sha256: String,
    /// Where `file` came from when it is a prepared (rewritten) copy of a published model.
    #[serde(default)]
    pub prepared_from: Option<SourceFile>,
    pub input_width: u32,
    pub input_height: u32,
    /// Detectors only: further input sizes `[width, height]` the model is also built at. A
    /// photo is letterboxed into the smallest one that holds it at the scale the pinned input
    /// would give, so a 4:3 photo runs at 320x256 instead of 320x320 with the same pixels.
    #[serde(default)]
    pub fitted_inputs: Vec<[u32; 2]>,
    pub colour_order: ColourOrder,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Embedder only: landmark positions in the input chip.
    #[serde(default)]
    pub template: Option<[[f32; 2]; 5]>,
    /// Embedder only: also embed the mirrored chip and average, unless the engine
    /// configuration overrides it (kept where it was measured to pay, see README).
    #[serde(default)]
    pub flip_augment: bool,
    /// Embedder only: the distribution of its cosine scores over impostor pairs, which turns a
    /// cosine into a z-score for fusion.
    #[serde(default)]
    pub impostor: Option<ScoreStats>,
}

/// The published file a prepared model was made from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub file: PathBuf,
    pub sha256: String,
    /// The command that made the prepared file from it.
    pub command: String,
}

/// Mean and standard deviation of one embedder's cosine over impostor pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreStats {
    pub mean: f32,
    pub std: f32,
    /// How many impostor pairs they were measured on.
    pub pairs: u64,
}

impl ScoreStats {
    /// The z-score of a cosine: how many impostor standard deviations above the impostor mean.
    pub fn z(&self, cosine: f32) -> f32 {
        (cosine - self.mean) / self.std
    }
}

/// A named security level: the false-match rate the threshold was calibrated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub enum OperatingPoint {
    #[serde(rename = "fmr-1e-3")]
    Fmr1e3,
    /// The default: the level FIDO's biometric certification asks of a verifier.
    #[default]
    #[serde(rename = "fmr-1e-4")]
    Fmr1e4,
    #[serde(rename = "fmr-1e-5")]
    Fmr1e5,
}

impl OperatingPoint {
    pub const ALL: [OperatingPoint; 3] = [OperatingPoint::Fmr1e3, OperatingPoint::Fmr1e4, OperatingPoint::Fmr1e5];

    pub fn as_str(self) -> &'static str {
        match self {
            OperatingPoint::Fmr1e3 => "fmr-1e-3",
            OperatingPoint::Fmr1e4 => "fmr-1e-4",
            OperatingPoint::Fmr1e5 => "fmr-1e-5",
        }
    }

    /// The false-match rate it stands for.
    pub fn target_fmr(self) -> f64 {
        match self {
            OperatingPoint::Fmr1e3 => 1e-3,
            OperatingPoint::Fmr1e4 => 1e-4,
            OperatingPoint::Fmr1e5 => 1e-5,
        }
    }
}

impl std::fmt::Display for OperatingPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OperatingPoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OperatingPoint::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown operating point {s:?} (fmr-1e-3, fmr-1e-4, fmr-1e-5)"))
    }
}

/// One `[[matcher]]` of the manifest: which embedders decide, in which order (the cascade
/// runs them in this order, cheapest first), and the calibrated thresholds on their fused score.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatcherSpec {
    pub id: String,
    pub embedders: Vec<String>,
    /// The manifest's default matcher (exactly one has it).
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub operating_point: Vec<OperatingPointSpec>,
}

/// A calibrated threshold on a matcher's fused score, with the cascade's early-decision bands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatingPointSpec {
    pub name: OperatingPoint,
    /// `match` when the fused score (mean of the per-model z-scores) reaches it.
    pub threshold: f32,
    /// Cascade, after step k (k = 1 .. n-1): decide `match` at once when the mean z-score of
    /// the models run so far reaches `accept[k-1]`, `no_match` when it is at most `reject[k-1]`.
    #[serde(default)]
    pub accept: Vec<f32>,
    #[serde(default)]
    pub reject: Vec<f32>,
    /// How it was calibrated (data, pairs, command).
    pub calibrated_on: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    model: Vec<ModelSpec>,
    #[serde(default)]
    matcher: Vec<MatcherSpec>,
}

/// The parsed manifest and the directory its files are relative to.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    pub models: Vec<ModelSpec>,
    pub matchers: Vec<MatcherSpec>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Manifest {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        Manifest::parse(&text, path)
    }

    /// Parses manifest text; `path` is used for errors and to resolve model files.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ModelError> {
        let bad = |detail: String| ModelError::Manifest {
            path: path.to_owned(),
            detail,
        };
        let file: ManifestFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        for m in &file.model {
            if m.input_width == 0 || m.input_height == 0 || m.input_width > 4096 || m.input_height > 4096 {
                return Err(bad(format!(
                    "model {}: input size {}x{} out of range",
                    m.id, m.input_width, m.input_height
                )));
            }
            if m.std.iter().any(|s| !s.is_finite() || *s == 0.0) {
                return Err(bad(format!("model {}: std must be finite and non-zero", m.id)));
            }
            if m.role == ModelRole::Detector && (m.input_width % 32 != 0 || m.input_height % 32 != 0) {
                return Err(bad(format!("detector {}: input size must be a multiple of 32", m.id)));
            }
            for &[w, h] in &m.fitted_inputs {
                if m.role != ModelRole::Detector {
                    return Err(bad(format!("model {}: only a detector has fitted inputs", m.id)));
                }
                if w == 0 || h == 0 || w % 32 != 0 || h % 32 != 0 || w > m.input_width || h > m.input_height {
                    return Err(bad(format!(
                        "detector {}: fitted input {w}x{h} must be a non-zero multiple of 32 within the pinned {}x{}",
                        m.id, m.input_width, m.input_height
                    )));
                }
            }
            if m.role == ModelRole::Embedder && m.template.is_none() {
                return Err(bad(format!("embedder {}: needs a `template`", m.id)));
            }
            if let Some(s) = m.impostor {
                if !(s.mean.is_finite() && s.std.is_finite() && s.std > 0.0) {
                    return Err(bad(format!("embedder {}: impostor std must be positive", m.id)));
                }
            }
            if file.model.iter().filter(|o| o.id == m.id).count() > 1 {
                return Err(bad(format!("model id {} appears twice", m.id)));
            }
        }
        for k in &file.matcher {
            if k.embedders.is_empty() {
                return Err(bad(format!("matcher {}: no embedders", k.id)));
            }
            for e in &k.embedders {
                match file.model.iter().find(|m| &m.id == e) {
                    Some(m) if m.role == ModelRole::Embedder => {}
                    Some(_) => return Err(bad(format!("matcher {}: {e} is not an embedder", k.id))),
                    None => return Err(bad(format!("matcher {}: no model {e}", k.id))),
                }
            }
            for p in &k.operating_point {
                let steps = k.embedders.len() - 1;
                if !p.threshold.is_finite()
                    || !(p.accept.is_empty() || p.accept.len() == steps)
                    || p.accept.len() != p.reject.len()
                    || p.accept
                        .iter()
                        .zip(&p.reject)
                        .any(|(a, r)| r.partial_cmp(a).is_none_or(|o| o.is_gt()))
                {
                    return Err(bad(format!(
                        "matcher {} {}: needs a finite threshold and, for the cascade, {steps} accept and reject \
                         bounds with reject <= accept",
                        k.id, p.name
                    )));
                }
            }
        }
        if file.matcher.iter().filter(|k| k.default).count() > 1 {
            return Err(bad("more than one matcher has `default = true`".into()));
        }
        Ok(Manifest {
            path: path.to_owned(),
            models: file.model,
            matchers: file.matcher,
        })
    }

    /// Finds a model by id (or the first of a role when `id` is `None`) and checks its role.
    pub fn select(&self, id: Option<&str>, role: ModelRole) -> Result<&ModelSpec, ModelError> {
        let found = match id {
            Some(id) => self
                .models
                .iter()
                .find(|m| m.id == id)
                .ok_or_else(|| ModelError::UnknownModel {
                    id: id.to_owned(),
                    manifest: self.path.clone(),
                })?,
            None => self
                .models
                .iter()
                .find(|m| m.role == role)
                .ok_or_else(|| ModelError::UnknownModel {
                    id: format!("<any {}>", role.as_str()),
                    manifest: self.path.clone(),
                })?,
        };
        if found.role != role {
            return Err(ModelError::WrongRole {
                id: found.id.clone(),
                expected: role.as_str(),
                actual: found.role.as_str().to_owned(),
            });
        }
        Ok(found)
    }

    /// The matcher with this id, or the manifest's default one.
    pub fn matcher(&self, id: Option<&str>) -> Result<&MatcherSpec, ModelError> {
        let found = match id {
            Some(id) => self.matchers.iter().find(|m| m.id == id),
            None => self.matchers.iter().find(|m| m.default).or(self.matchers.first()),
        };
        found.ok_or_else(|| ModelError::UnknownModel {
            id: format!("matcher {}", id.unwrap_or("<default>")),
            manifest: self.path.clone(),
        })
    }

    pub fn file_path(&self, spec: &ModelSpec) -> PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        dir.join(&spec.file)
    }
}

/// Lower-case hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    hex(digest.as_ref())
}

/// Lower-case hex (shared with the credential crate, so hashes are spelled one way).
pub use ikd_credential::hex;

/// A loaded model: verified bytes turned into a runner of the configured backend.
pub struct LoadedModel {
    pub spec: ModelSpec,
    pub backend: InferenceBackend,
    runner: Box<dyn Runner>,
    /// The number of values in each output, from the dry run at load time.
    output_lens: Vec<usize>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("id", &self.spec.id)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// Reads the file, checks its SHA-256 against the manifest, and builds it in the backend
    /// with the input shape pinned from the manifest.
    pub(crate) fn load(
        manifest: &Manifest,
        spec: &ModelSpec,
        backend: &BackendConfig,
    ) -> Result<LoadedModel, ModelError> {
        LoadedModel::load_at(manifest, spec, backend, (spec.input_width, spec.input_height))
    }

    /// [`LoadedModel::load`] with the input pinned at `(width, height)` instead of the
    /// manifest's size (a detector's fitted inputs).
    pub(crate) fn load_at(
        manifest: &Manifest,
        spec: &ModelSpec,
        backend: &BackendConfig,
        (width, height): (u32, u32),
    ) -> Result<LoadedModel, ModelError> {
        let spec = &ModelSpec {
            input_width: width,
            input_height: height,
            ..spec.clone()
        };
        let path = manifest.file_path(spec);
        let bytes = std::fs::read(&path).map_err(|e| ModelError::FileMissing {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(spec.sha256.trim()) {
            return Err(ModelError::HashMismatch {
                path,
                expected: spec.sha256.clone(),
                actual,
            });
        }
        let shape = [1usize, 3, spec.input_height as usize, spec.input_width as usize];
        let runner = crate::backend::load(backend, &bytes, shape)
            .map_err(|f| f.into_model_error(backend.kind, &spec.id, path.clone(), actual.clone()))?;
        // One dry run proves the declared shape works end to end, here rather than on the
        // first citizen's request; its output sizes let the stages check the layout.
        let zeros = vec![0f32; shape.iter().product()];
        let load_err = |detail: String| ModelError::Load {
            id: spec.id.clone(),
            path: path.clone(),
            sha256: actual.clone(),
            detail,
        };
        let outputs = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(&zeros))) {
            Ok(Ok(outputs)) => outputs,
            Ok(Err(e)) => return Err(load_err(e)),
            Err(_) => return Err(load_err("inference on a zero input panicked".into())),
        };
        Ok(LoadedModel {
            spec: spec.clone(),
            backend: backend.kind,
            runner,
            output_lens: outputs.iter().map(|o| o.values.len()).collect(),
        })
    }

    /// The number of values in each output, in graph order.
    pub(crate) fn output_lens(&self) -> &[usize] {
        &self.output_lens
    }

    /// The number of values in one input (`3 * H * W`).
    pub(crate) fn input_len(&self) -> usize {
        3 * self.spec.input_width as usize * self.spec.input_height as usize
    }

    /// Runs the model on one NCHW input of the pinned shape; outputs in graph order.
    pub(crate) fn run(&self, input: &[f32]) -> Result<Vec<Output>, ModelError> {
        if input.len() != self.input_len() {
            return Err(ModelError::Inference {
                id: self.spec.id.clone(),
                detail: format!("input has {} values, the model takes {}", input.len(), self.input_len()),
            });
        }
        self.runner.run(input).map_err(|detail| ModelError::Inference {
            id: self.spec.id.clone(),
            detail,
        })
    }
}
