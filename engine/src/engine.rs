//! The engine: built once from a configuration, immutable, `Send + Sync`, and safe to call
//! from many threads at once (each model keeps a pool of plan states, one per running thread).

use crate::align::{self, AlignedFace};
use crate::backend::{BackendConfig, InferenceBackend};
use crate::compare::{Decision, Verdict};
use crate::detect::{Detection, Detector, Point};
use crate::embed::{Embedder, Embedding};
use crate::error::{Error, FaceRejection};
use crate::intake::{self, DecodedImage, ImageLimits};
use crate::models::{self, LoadedModel, Manifest, ModelRole};
use crate::quality::{self, FacePolicy, QualityConfig, QualityReport};
use crate::reason::Reason;
use crate::refine;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The version written into every result row.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How to build an [`Engine`]. `EngineConfig::default()` uses the bundled models.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// The model manifest (`models/manifest.toml`); model files are relative to it.
    pub manifest: PathBuf,
    /// Detector model id; `None` takes the manifest's first detector.
    pub detector: Option<String>,
    /// Embedder model id; `None` takes the manifest's first embedder.
    pub embedder: Option<String>,
    /// Overrides the embedder's calibrated threshold.
    pub threshold: Option<f32>,
    /// Also embed the mirrored chip and average (a second embedder run). On by default: on
    /// LFW View 1 it cuts FNMR at FMR 1e-3 from 9.2 % to 6.1 % (see README).
    pub flip_augment: bool,
    /// Run the detector a second time on a crop in which the face has a fixed size and is
    /// upright, and align on those landmarks (one more detector run). On by default: on LFW
    /// View 1 it cuts FNMR at FMR 1e-3 from 7.1 % to 5.7 % (see README).
    pub refine_landmarks: bool,
    pub limits: ImageLimits,
    pub quality: QualityConfig,
    /// The runtime that executes both models: tract (default) or ONNX Runtime.
    pub backend: BackendConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            manifest: default_models_dir().join("manifest.toml"),
            detector: None,
            embedder: None,
            threshold: None,
            flip_augment: true,
            refine_landmarks: true,
            limits: ImageLimits::default(),
            quality: QualityConfig::default(),
            backend: BackendConfig::default(),
        }
    }
}

/// `$IKD_MODELS_DIR`, else the repository's `models/` (when it exists), else `./models`.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("IKD_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    let bundled = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"));
    if bundled.join("manifest.toml").is_file() {
        return bundled;
    }
    PathBuf::from("models")
}

/// Facts about a decoded image, for reports and the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub exif_orientation: u8,
    /// SHA-256 of the image bytes as received.
    pub sha256: String,
}

/// The chosen face with its measured quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceReport {
    /// In original (upright) image coordinates; the quality gates judge this detection.
    pub detection: Detection,
    /// The landmarks the alignment used when landmark refinement moved them (original
    /// coordinates); `None` when refinement is off or its second look found no face.
    #[serde(default)]
    pub refined_landmarks: Option<[Point; 5]>,
    pub quality: QualityReport,
}

/// A stored reference: what the registration service keeps for a KTP-el photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceTemplate {
    pub embedding: Embedding,
    pub embedder_model: String,
    pub face: FaceReport,
    pub image: ImageInfo,
}

/// Time spent in each stage of one image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    pub decode: Duration,
    pub detect: Duration,
    pub align: Duration,
    pub embed: Duration,
}

impl StageTimings {
    pub fn total(&self) -> Duration {
        self.decode + self.detect + self.align + self.embed
    }
}

/// Everything the engine saw in one image, whether or not it was accepted.
#[derive(Debug)]
pub struct Analysis {
    /// `None` when the bytes did not decode.
    pub image: Option<ImageInfo>,
    /// Every detected face (original coordinates), best score first.
    pub faces: Vec<Detection>,
    /// The face chosen by the policy, with quality, if one was chosen.
    pub face: Option<FaceReport>,
    /// The template, or why there is none.
    pub result: Result<FaceTemplate, Error>,
    pub timings: StageTimings,
}

/// The face verification engine.
pub struct Engine {
    config: EngineConfig,
    detector: Detector,
    embedder: Embedder,
    detector_id: String,
    embedder_id: String,
    template: [[f32; 2]; 5],
    threshold: f32,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("detector", &self.detector_id)
            .field("embedder", &self.embedder_id)
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Loads and checks both models (SHA-256, input shapes, output layout).
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        let manifest = Manifest::load(&config.manifest)?;
        let det_spec = manifest.select(config.detector.as_deref(), ModelRole::Detector)?;
        let emb_spec = manifest.select(config.embedder.as_deref(), ModelRole::Embedder)?;
        let (template, default_threshold) = match (emb_spec.template, emb_spec.threshold) {
            (Some(t), Some(th)) => (t, th),
            _ => {
                return Err(Error::Config(format!(
                    "embedder {} lacks template or threshold",
                    emb_spec.id
                )))
            }
        };
        let threshold = config.threshold.unwrap_or(default_threshold);
        if !threshold.is_finite() {
            return Err(Error::Config("threshold must be a finite number".into()));
        }
        let q = &config.quality;
        if !(0.0..=1.0).contains(&q.detection_threshold) || !(0.0..=1.0).contains(&q.nms_iou) {
            return Err(Error::Config("detection_threshold and nms_iou must lie in 0..1".into()));
        }
        let detector = Detector::new(LoadedModel::load(&manifest, det_spec, &config.backend)?)?;
        let embedder = Embedder::new(LoadedModel::load(&manifest, emb_spec, &config.backend)?)?;
        Ok(Engine {
            detector_id: det_spec.id.clone(),
            embedder_id: emb_spec.id.clone(),
            template,
            threshold,
            detector,
            embedder,
            config,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The runtime executing the models.
    pub fn backend(&self) -> InferenceBackend {
        self.config.backend.kind
    }

    pub fn detector_id(&self) -> &str {
        &self.detector_id
    }

    pub fn embedder_id(&self) -> &str {
        &self.embedder_id
    }

    /// The cosine-similarity threshold for `match`.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Number of values in an embedding of this engine's model.
    pub fn embedding_dims(&self) -> usize {
        self.embedder.dims
    }

    /// The detector's pinned input size (width, height).
    pub fn detector_input_size(&self) -> (usize, usize) {
        self.detector.input_size()
    }

    // ---- Stages, one by one (for benches and tools) ----

    /// Image intake: bytes -> upright RGB8 at working resolution.
    pub fn decode(&self, bytes: &[u8]) -> Result<DecodedImage, Error> {
        Ok(intake::decode(bytes, &self.config.limits)?)
    }

    /// All faces in a decoded image, in original image coordinates, best score first.
    pub fn detect(&self, image: &DecodedImage) -> Result<Vec<Detection>, Error> {
        let q = &self.config.quality;
        let faces = self.detector.detect(&image.pixels, q.detection_threshold, q.nms_iou)?;
        let back = 1.0 / image.scale.max(1e-6);
        Ok(faces.iter().map(|d| d.scaled(back)).collect())
    }

    /// Landmark refinement: the face's landmarks from a second detection on a crop where the
    /// face is upright and of a fixed size (original coordinates). When that second look finds
    /// no face near the first one, the detection comes back unchanged.
    pub fn refine(&self, image: &DecodedImage, face: &Detection) -> Result<Detection, Error> {
        let q = &self.config.quality;
        let working = face.scaled(image.scale);
        let spec = self.embedder.spec();
        let refined = refine::refine_landmarks(
            &self.detector,
            &image.pixels,
            &working,
            &self.template,
            (spec.input_width, spec.input_height),
            q.detection_threshold,
            q.nms_iou,
        )?;
        let back = 1.0 / image.scale.max(1e-6);
        Ok(match refined {
            Some(landmarks) => Detection {
                landmarks: landmarks.map(|p| Point {
                    x: p.x * back,
                    y: p.y * back,
                }),
                ..*face
            },
            None => *face,
        })
    }

    /// Warps a face (original coordinates) into the embedder's input chip.
    pub fn align(&self, image: &DecodedImage, face: &Detection) -> Result<AlignedFace, Error> {
        let working = face.scaled(image.scale);
        let spec = self.embedder.spec();
        align::align(
            &image.pixels,
            &working.landmarks,
            &self.template,
            spec.input_width,
            spec.input_height,
        )
        .ok_or_else(|| {
            Error::Face(FaceRejection {
                reason: Reason::Pose,
                detail: "landmarks are degenerate (all in one place)".into(),
            })
        })
    }

    /// Embeds an aligned face.
    pub fn embed(&self, face: &AlignedFace) -> Result<Embedding, Error> {
        let raw = self.embedder.embed(face, self.config.flip_augment)?;
        Embedding::from_raw(&raw)
            .ok_or_else(|| Error::Internal(format!("{} produced a zero or non-finite embedding", self.embedder_id)))
    }

    // ---- The whole path ----

    /// Decodes, detects, applies the face policy and quality gates, aligns and embeds.
    /// Never panics on any input; engine faults come back as `Err` inside `result`.
    pub fn analyze(&self, bytes: &[u8], policy: FacePolicy) -> Analysis {
        let mut timings = StageTimings::default();
        let mut analysis = Analysis {
            image: None,
            faces: Vec::new(),
            face: None,
            result: Err(Error::Internal("analysis did not run".into())),
            timings,
        };
        let started = Instant::now();
        let decoded = self.decode(bytes);
        timings.decode = started.elapsed();
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => {
                analysis.result = Err(e);
                analysis.timings = timings;
                return analysis;
            }
        };
        let info = ImageInfo {
            format: decoded.format.to_owned(),
            width: decoded.width,
            height: decoded.height,
            exif_orientation: decoded.exif_orientation,
            sha256: models::sha256_hex(bytes),
        };
        analysis.image = Some(info.clone());
        analysis.result = self.analyze_decoded(
            &decoded,
            policy,
            info,
            &mut analysis.faces,
            &mut analysis.face,
            &mut timings,
        );
        analysis.timings = timings;
        analysis
    }

    fn analyze_decoded(
        &self,
        decoded: &DecodedImage,
        policy: FacePolicy,
        info: ImageInfo,
        faces_out: &mut Vec<Detection>,
        face_out: &mut Option<FaceReport>,
        timings: &mut StageTimings,
    ) -> Result<FaceTemplate, Error> {
        let q = &self.config.quality;
        let started = Instant::now();
        let faces = self.detect(decoded);
        timings.detect = started.elapsed();
        *faces_out = faces?;
        let faces = &*faces_out;
        let chosen = quality::select(faces, decoded.width, decoded.height, policy, q)?;
        let detection = faces[chosen];
        let mut report = quality::measure(&detection, decoded.width, decoded.height);
        let mut refined_landmarks = None;
        let face_report = |quality, refined_landmarks| FaceReport {
            detection,
            refined_landmarks,
            quality,
        };
        *face_out = Some(face_report(report, None));
        // The gates judge the first detection: on a face cut off at the border, the second
        // look (which sees black beyond the border) can place landmarks that no longer show it.
        quality::check_geometry(&detection, &report, decoded.width, decoded.height, q)?;

        let mut aligned_on = detection;
        if self.config.refine_landmarks {
            let started = Instant::now();
            aligned_on = self.refine(decoded, &detection)?;
            timings.detect += started.elapsed();
            refined_landmarks = (aligned_on.landmarks != detection.landmarks).then_some(aligned_on.landmarks);
        }

        let started = Instant::now();
        let aligned = self.align(decoded, &aligned_on)?;
        let sharpness = quality::sharpness(&aligned.chip);
        timings.align = started.elapsed();
        report.sharpness = Some(sharpness);
        *face_out = Some(face_report(report, refined_landmarks));
        if sharpness < q.min_sharpness {
            return Err(Error::Face(FaceRejection {
                reason: Reason::Blurred,
                detail: format!("sharpness {sharpness:.3} is below {:.3}", q.min_sharpness),
            }));
        }

        let started = Instant::now();
        let embedding = self.embed(&aligned);
        timings.embed = started.elapsed();
        Ok(FaceTemplate {
            embedding: embedding?,
            embedder_model: self.embedder_id.clone(),
            face: face_report(report, refined_landmarks),
            image: info,
        })
    }

    /// A template for one image (e.g. a KTP-el photo), or why none can be made.
    pub fn template(&self, bytes: &[u8], policy: FacePolicy) -> Result<FaceTemplate, Error> {
        self.analyze(bytes, policy).result
    }

    /// Compares two embeddings of this engine's model: cosine similarity, higher is more alike.
    pub fn score(&self, a: &Embedding, b: &Embedding) -> Option<f32> {
        a.similarity(b)
    }

    /// Turns a score into a verdict with this engine's threshold and model ids.
    pub fn decide(&self, score: f32) -> Verdict {
        Verdict {
            decision: Decision::from_score(score, self.threshold),
            score: Some(score),
            threshold: self.threshold,
            reason: None,
            detail: None,
            detector_model: self.detector_id.clone(),
            embedder_model: self.embedder_id.clone(),
        }
    }

    /// A `rejected` verdict with a reason.
    pub fn rejected(&self, reason: Reason, detail: impl Into<String>) -> Verdict {
        Verdict {
            decision: Decision::Rejected,
            score: None,
            threshold: self.threshold,
            reason: Some(reason),
            detail: Some(detail.into()),
            detector_model: self.detector_id.clone(),
            embedder_model: self.embedder_id.clone(),
        }
    }

    /// Verifies a selfie against a stored reference embedding. Input problems become a
    /// `rejected` verdict with a reason; `Err` means the engine itself failed.
    pub fn verify_embedding(&self, selfie: &[u8], reference: &Embedding) -> Result<(Verdict, Analysis), Error> {
        let mut analysis = self.analyze(selfie, FacePolicy::Single);
        let result = std::mem::replace(&mut analysis.result, Err(Error::Internal("moved".into())));
        let verdict = match result {
            Ok(template) => {
                let score = self.score(&template.embedding, reference);
                analysis.result = Ok(template);
                match score {
                    Some(s) => self.decide(s),
                    None => self.rejected(
                        Reason::GalleryModelMismatch,
                        "reference embedding comes from another model",
                    ),
                }
            }
            Err(e) => {
                let verdict = match e.reason() {
                    Some(reason) => self.rejected(reason, e.to_string()),
                    None => return Err(e),
                };
                analysis.result = Err(e);
                verdict
            }
        };
        Ok((verdict, analysis))
    }

    /// Verifies a selfie against a stored template (checks it was made by the same model).
    pub fn verify(&self, selfie: &[u8], reference: &FaceTemplate) -> Result<Verdict, Error> {
        if reference.embedder_model != self.embedder_id {
            return Ok(self.rejected(
                Reason::GalleryModelMismatch,
                format!(
                    "reference made by {}, engine runs {}",
                    reference.embedder_model, self.embedder_id
                ),
            ));
        }
        Ok(self.verify_embedding(selfie, &reference.embedding)?.0)
    }

    /// Compares a selfie (selfie rule) with an ID photo. `Err` only for engine faults.
    pub fn compare(&self, selfie: &[u8], id_photo: &[u8]) -> Result<Comparison, Error> {
        let (selfie_a, id_a) = rayon::join(
            || self.analyze(selfie, FacePolicy::Single),
            || self.analyze(id_photo, FacePolicy::Single),
        );
        self.compare_analyses(selfie_a, id_a)
    }

    /// Builds the comparison of two analyses (which image failed first decides the reason).
    pub fn compare_analyses(&self, selfie: Analysis, id_photo: Analysis) -> Result<Comparison, Error> {
        let verdict = match (&selfie.result, &id_photo.result) {
            (Ok(a), Ok(b)) => match self.score(&a.embedding, &b.embedding) {
                Some(s) => self.decide(s),
                None => return Err(Error::Internal("two embeddings of one engine differ in length".into())),
            },
            (Err(e), _) | (Ok(_), Err(e)) => match e.reason() {
                Some(reason) => {
                    let which = if selfie.result.is_err() { "selfie" } else { "id photo" };
                    self.rejected(reason, format!("{which}: {e}"))
                }
                None => return Err(Error::Internal(e.to_string())),
            },
        };
        Ok(Comparison {
            verdict,
            selfie,
            id_photo,
        })
    }
}

/// A selfie compared with an ID photo, with what was seen in each.
#[derive(Debug)]
pub struct Comparison {
    pub verdict: Verdict,
    pub selfie: Analysis,
    pub id_photo: Analysis,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn engine_is_send_and_sync() {
        assert_send_sync::<Engine>();
    }
}
