//! The engine: built once from a configuration, immutable, `Send + Sync`, and safe to call
//! from many threads at once (each model keeps a pool of plan states, one per running thread).

use crate::align::{self, AlignedFace};
use crate::backend::{BackendConfig, InferenceBackend};
use crate::compare::{self, Decision, Matcher, ModelScore, Verdict};
use crate::detect::{Detection, Detector, Point};
use crate::embed::{Embedder, Embedding, ModelEmbedding};
use crate::error::Error;
use crate::intake::{self, DecodedImage, ImageLimits};
use crate::models::{self, LoadedModel, Manifest, ModelRole, OperatingPoint, ScoreStats};
use crate::portrait::{self, portrait_landmarks, Portrait, PORTRAIT_SIZES};
use crate::quality::{self, FacePolicy, QualityConfig, QualityReport};
use crate::reason::Reason;
use crate::refine;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The version written into every result row.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How to build an [`Engine`]. `EngineConfig::default()` uses the bundled models and the
/// manifest's default matcher at FMR 1e-4.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// The model manifest (`models/manifest.toml`); model files are relative to it.
    pub manifest: PathBuf,
    /// Detector model id; `None` takes the manifest's first detector.
    pub detector: Option<String>,
    /// Which `[[matcher]]` of the manifest decides: its embedders (in cascade order) and their
    /// calibrated thresholds. `None` takes the manifest's default.
    pub matcher: Option<String>,
    /// The calibrated security level whose threshold decides.
    pub operating_point: OperatingPoint,
    /// Overrides the operating point's threshold on the fused score (and turns the cascade
    /// off, since its bounds were calibrated for that threshold).
    pub threshold: Option<f32>,
    /// Decide after the cheaper embedders when their fused score lies far from the threshold
    /// (see README, "Cascade"); off, every embedder of the matcher runs on every selfie.
    pub cascade: bool,
    /// Overrides each embedder's `flip_augment` from the manifest (also embed the mirrored
    /// chip and average: one more run of that embedder).
    pub flip_augment: Option<bool>,
    /// Run the detector a second time on a crop in which the face has a fixed size and is
    /// upright, and align on those landmarks (one more detector run; see README).
    pub refine_landmarks: bool,
    /// Letterbox each photo into the smallest of the detector's fitted input sizes that holds
    /// it at the pinned input's scale (same pixels, less padding; see README "Performance").
    pub fit_detector_input: bool,
    pub limits: ImageLimits,
    pub quality: QualityConfig,
    /// The runtime that executes the models: tract (default) or ONNX Runtime.
    pub backend: BackendConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            manifest: default_models_dir().join("manifest.toml"),
            detector: None,
            matcher: None,
            operating_point: OperatingPoint::default(),
            threshold: None,
            cascade: true,
            flip_augment: None,
            refine_landmarks: true,
            fit_detector_input: true,
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

/// A stored reference: what the registration service keeps for a KTP-el photo. It holds one
/// embedding per embedder of the engine that made it, each tagged with its model id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceTemplate {
    pub embeddings: Vec<ModelEmbedding>,
    pub face: FaceReport,
    pub image: ImageInfo,
}

impl FaceTemplate {
    /// The embedding made by `model`, if the template has one.
    pub fn embedding(&self, model: &str) -> Option<&Embedding> {
        self.embeddings.iter().find(|e| e.model == model).map(|e| &e.embedding)
    }
}

/// What the engine's caller may want to know about one of its embedders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbedderInfo {
    pub id: String,
    /// Values per embedding.
    pub dims: usize,
    /// Chip size (width, height).
    pub input_size: (u32, u32),
    /// Whether each face is also embedded mirrored (one more model run).
    pub flip_augment: bool,
    /// Its impostor cosine distribution (z-score normalisation).
    pub impostor: ScoreStats,
}

/// Time spent in each stage of one image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    pub decode: Duration,
    /// Detection, and landmark refinement when it is on.
    pub detect: Duration,
    /// Every warp: the canonical chip and each embedder's.
    pub align: Duration,
    /// Every embedder run (a mirrored chip counts in its embedder's run).
    pub embed: Duration,
    /// How many embedders ran (fewer than the matcher has when the cascade stopped early).
    pub embedder_runs: u32,
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

impl ImageInfo {
    /// The facts of `decoded`, made of `bytes`.
    fn of(decoded: &DecodedImage, bytes: &[u8]) -> Self {
        ImageInfo {
            format: decoded.format.to_owned(),
            width: decoded.width,
            height: decoded.height,
            exif_orientation: decoded.exif_orientation,
            sha256: models::sha256_hex(bytes),
        }
    }
}

impl Analysis {
    /// Before any stage has run.
    fn not_run() -> Self {
        Analysis {
            image: None,
            faces: Vec::new(),
            face: None,
            result: Err(Error::Internal("analysis did not run".into())),
            timings: StageTimings::default(),
        }
    }
}

/// The face verification engine.
pub struct Engine {
    config: EngineConfig,
    detector: Detector,
    detector_id: String,
    /// In the matcher's (cascade) order.
    embedders: Vec<EmbedderSlot>,
    matcher: Matcher,
}

struct EmbedderSlot {
    info: EmbedderInfo,
    embedder: Embedder,
    template: [[f32; 2]; 5],
    /// Its chip is the canonical one, so the sharpness gate's chip can be reused.
    canonical: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("detector", &self.detector_id)
            .field("matcher", &self.matcher.id)
            .field("operating_point", &self.matcher.operating_point)
            .field("threshold", &self.matcher.threshold)
            .finish_non_exhaustive()
    }
}

/// A face found, gated and ready to embed: what every embedder of a request starts from.
struct Capture {
    decoded: DecodedImage,
    /// The landmarks the alignment uses (refined when refinement moved them).
    aligned_on: Detection,
    /// The sharpness gate's chip, kept for an embedder that takes the canonical geometry.
    canonical_chip: AlignedFace,
    face: FaceReport,
    image: ImageInfo,
}

impl Capture {
    fn template(&self, embeddings: Vec<ModelEmbedding>) -> FaceTemplate {
        FaceTemplate {
            embeddings,
            face: self.face.clone(),
            image: self.image.clone(),
        }
    }
}

impl Engine {
    /// Loads and checks the detector and every embedder of the matcher (SHA-256, input
    /// shapes, output layout) and resolves the operating point's threshold.
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        let manifest = Manifest::load(&config.manifest)?;
        let det_spec = manifest.select(config.detector.as_deref(), ModelRole::Detector)?;
        let matcher_spec = manifest.matcher(config.matcher.as_deref())?;
        let q = &config.quality;
        if !(0.0..=1.0).contains(&q.detection_threshold) || !(0.0..=1.0).contains(&q.nms_iou) {
            return Err(Error::Config("detection_threshold and nms_iou must lie in 0..1".into()));
        }
        let mut fitted = Vec::new();
        if config.fit_detector_input {
            for &[w, h] in &det_spec.fitted_inputs {
                fitted.push(LoadedModel::load_at(&manifest, det_spec, &config.backend, (w, h))?);
            }
        }
        let detector = Detector::new(LoadedModel::load(&manifest, det_spec, &config.backend)?, fitted)?;
        let mut embedders = Vec::with_capacity(matcher_spec.embedders.len());
        for id in &matcher_spec.embedders {
            let spec = manifest.select(Some(id), ModelRole::Embedder)?;
            let template = spec
                .template
                .ok_or_else(|| Error::Config(format!("embedder {id} lacks a template")))?;
            let embedder = Embedder::new(LoadedModel::load(&manifest, spec, &config.backend)?)?;
            let canonical = template == align::CANONICAL_TEMPLATE
                && (spec.input_width, spec.input_height) == (align::CANONICAL_SIZE, align::CANONICAL_SIZE);
            embedders.push(EmbedderSlot {
                info: EmbedderInfo {
                    id: spec.id.clone(),
                    dims: embedder.dims,
                    input_size: (spec.input_width, spec.input_height),
                    flip_augment: config.flip_augment.unwrap_or(spec.flip_augment),
                    // Without calibration a model's z-score is its cosine.
                    impostor: spec.impostor.unwrap_or(ScoreStats {
                        mean: 0.0,
                        std: 1.0,
                        pairs: 0,
                    }),
                },
                embedder,
                template,
                canonical,
            });
        }
        let point = matcher_spec
            .operating_point
            .iter()
            .find(|p| p.name == config.operating_point);
        let matcher = Matcher::new(
            matcher_spec.id.clone(),
            embedders.iter().map(|e| e.info.impostor).collect(),
            point,
            config.operating_point,
            config.threshold,
            config.cascade,
        )
        .map_err(Error::Config)?;
        Ok(Engine {
            detector_id: det_spec.id.clone(),
            detector,
            embedders,
            matcher,
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

    /// The matcher deciding (manifest id).
    pub fn matcher_id(&self) -> &str {
        &self.matcher.id
    }

    /// The embedders, in the matcher's (cascade) order.
    pub fn embedders(&self) -> impl ExactSizeIterator<Item = &EmbedderInfo> {
        self.embedders.iter().map(|e| &e.info)
    }

    /// The threshold on the fused score for `match`.
    pub fn threshold(&self) -> f32 {
        self.matcher.threshold
    }

    pub fn operating_point(&self) -> OperatingPoint {
        self.matcher.operating_point
    }

    /// Whether verification may stop before the last embedder (calibrated bounds, cascade on).
    pub fn cascades(&self) -> bool {
        self.matcher.cascades()
    }

    /// The detector's pinned input size (width, height).
    pub fn detector_input_size(&self) -> (usize, usize) {
        self.detector.input_size()
    }

    /// Every input size the detector runs at: the pinned one, then the fitted ones.
    pub fn detector_input_sizes(&self) -> Vec<(usize, usize)> {
        self.detector.input_sizes()
    }

    /// The detector input size a working image of `width` x `height` pixels runs at.
    pub fn detector_input_for(&self, width: u32, height: u32) -> (usize, usize) {
        self.detector.input_for_size(width, height)
    }

    // ---- Stages, one by one (for benches and tools) ----

    /// Image intake: bytes -> upright RGB8 at working resolution.
    pub fn decode(&self, bytes: &[u8]) -> Result<DecodedImage, Error> {
        Ok(intake::decode(bytes, &self.config.limits)?)
    }

    /// All faces in a decoded image, in original image coordinates, best score first.
    pub fn detect(&self, image: &DecodedImage) -> Result<Vec<Detection>, Error> {
        let q = &self.config.quality;
        Ok(self.detector.detect_decoded(image, q.detection_threshold, q.nms_iou)?)
    }

    /// Landmark refinement: the face's landmarks from a second detection on a crop where the
    /// face is upright and of a fixed size (original coordinates). When that second look finds
    /// no face near the first one, the detection comes back unchanged.
    pub fn refine(&self, image: &DecodedImage, face: &Detection) -> Result<Detection, Error> {
        let q = &self.config.quality;
        Ok(refine::refine_detection(
            &self.detector,
            image,
            face,
            q.detection_threshold,
            q.nms_iou,
        )?)
    }

    /// Warps a face (original coordinates) into the input chip of embedder `k` (an index into
    /// [`Engine::embedders`]).
    pub fn align(&self, image: &DecodedImage, face: &Detection, k: usize) -> Result<AlignedFace, Error> {
        let slot = self.slot(k)?;
        let (w, h) = slot.info.input_size;
        Ok(align::align_detection(image, face, &slot.template, w, h)?)
    }

    /// Embeds an aligned chip with embedder `k`.
    pub fn embed(&self, face: &AlignedFace, k: usize) -> Result<Embedding, Error> {
        let slot = self.slot(k)?;
        let raw = slot.embedder.embed(face, slot.info.flip_augment)?;
        Embedding::from_raw(&raw)
            .ok_or_else(|| Error::Internal(format!("{} produced a zero or non-finite embedding", slot.info.id)))
    }

    fn slot(&self, k: usize) -> Result<&EmbedderSlot, Error> {
        self.embedders
            .get(k)
            .ok_or_else(|| Error::Internal(format!("no embedder {k}: the engine has {}", self.embedders.len())))
    }

    // ---- The whole path ----

    /// Decodes, detects, applies the face policy and quality gates, aligns and embeds with
    /// every embedder. Never panics on any input; engine faults come back as `Err` inside
    /// `result`.
    pub fn analyze(&self, bytes: &[u8], policy: FacePolicy) -> Analysis {
        let (mut analysis, capture) = self.capture(bytes, policy);
        if let Ok(capture) = capture {
            analysis.result = (0..self.embedders.len())
                .map(|k| self.embed_step(&capture, k, &mut analysis.timings))
                .collect::<Result<Vec<_>, _>>()
                .map(|embeddings| capture.template(embeddings));
        }
        analysis
    }

    /// [`Engine::decode`], its time recorded in `analysis`.
    fn decode_timed(&self, bytes: &[u8], analysis: &mut Analysis) -> Result<DecodedImage, Error> {
        let started = Instant::now();
        let decoded = self.decode(bytes);
        analysis.timings.decode = started.elapsed();
        decoded
    }

    /// Everything up to the embedders: decode, detect, policy and gates, refinement, and the
    /// canonical chip for the sharpness gate. The analysis records what was seen; its `result`
    /// holds the error when there is no capture.
    fn capture(&self, bytes: &[u8], policy: FacePolicy) -> (Analysis, Result<Capture, ()>) {
        let mut analysis = Analysis::not_run();
        let decoded = self.decode_timed(bytes, &mut analysis);
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => {
                analysis.result = Err(e);
                return (analysis, Err(()));
            }
        };
        let info = ImageInfo::of(&decoded, bytes);
        analysis.image = Some(info.clone());
        match self.capture_decoded(decoded, info, policy, &mut analysis) {
            Ok(capture) => (analysis, Ok(capture)),
            Err(e) => {
                analysis.result = Err(e);
                (analysis, Err(()))
            }
        }
    }

    fn capture_decoded(
        &self,
        decoded: DecodedImage,
        image: ImageInfo,
        policy: FacePolicy,
        a: &mut Analysis,
    ) -> Result<Capture, Error> {
        let q = &self.config.quality;
        let started = Instant::now();
        let faces = self.detect(&decoded);
        a.timings.detect = started.elapsed();
        a.faces = faces?;
        let chosen = quality::select(&a.faces, decoded.width, decoded.height, policy, q)?;
        let detection = a.faces[chosen];
        let mut report = quality::measure(&detection, decoded.width, decoded.height);
        a.face = Some(FaceReport {
            detection,
            refined_landmarks: None,
            quality: report,
        });
        // The gates judge the first detection: on a face cut off at the border, the second
        // look (which sees black beyond the border) can place landmarks that no longer show it.
        quality::check_geometry(&detection, &report, decoded.width, decoded.height, q)?;

        let mut aligned_on = detection;
        let mut refined_landmarks = None;
        if self.config.refine_landmarks {
            let started = Instant::now();
            aligned_on = self.refine(&decoded, &detection)?;
            a.timings.detect += started.elapsed();
            refined_landmarks = (aligned_on.landmarks != detection.landmarks).then_some(aligned_on.landmarks);
        }

        // Sharpness is judged on the canonical chip, so the gate does not depend on which
        // embedders run.
        let started = Instant::now();
        let (side, template) = (align::CANONICAL_SIZE, &align::CANONICAL_TEMPLATE);
        let canonical_chip = align::align_detection(&decoded, &aligned_on, template, side, side)?;
        let sharpness = quality::sharpness(&canonical_chip.chip);
        a.timings.align += started.elapsed();
        report.sharpness = Some(sharpness);
        let face = FaceReport {
            detection,
            refined_landmarks,
            quality: report,
        };
        a.face = Some(face.clone());
        quality::check_sharpness(sharpness, q)?;
        Ok(Capture {
            decoded,
            aligned_on,
            canonical_chip,
            face,
            image,
        })
    }

    /// Aligns and embeds a capture with embedder `k`.
    fn embed_step(&self, capture: &Capture, k: usize, timings: &mut StageTimings) -> Result<ModelEmbedding, Error> {
        let slot = self.slot(k)?;
        let started = Instant::now();
        let owned;
        let aligned = if slot.canonical {
            &capture.canonical_chip
        } else {
            owned = self.align(&capture.decoded, &capture.aligned_on, k)?;
            &owned
        };
        timings.align += started.elapsed();
        let started = Instant::now();
        let embedding = self.embed(aligned, k);
        timings.embed += started.elapsed();
        timings.embedder_runs += 1;
        Ok(ModelEmbedding {
            model: slot.info.id.clone(),
            embedding: embedding?,
        })
    }

    /// A template for one image (e.g. a KTP-el photo) with every embedder, or why none can be
    /// made.
    pub fn template(&self, bytes: &[u8], policy: FacePolicy) -> Result<FaceTemplate, Error> {
        self.analyze(bytes, policy).result
    }

    /// A template with only the embedders named in `models` (ids of this engine's embedders),
    /// e.g. to extend a gallery made before an embedder was added without re-running the others.
    pub fn template_with(&self, bytes: &[u8], policy: FacePolicy, models: &[&str]) -> Result<FaceTemplate, Error> {
        let (mut analysis, capture) = self.capture(bytes, policy);
        let Ok(capture) = capture else {
            return analysis.result;
        };
        let mut embeddings = Vec::new();
        for k in 0..self.embedders.len() {
            if models.contains(&self.embedders[k].info.id.as_str()) {
                embeddings.push(self.embed_step(&capture, k, &mut analysis.timings)?);
            }
        }
        Ok(capture.template(embeddings))
    }

    /// The z-score of embedder `k`'s cosine.
    pub fn z_score(&self, k: usize, cosine: f32) -> f32 {
        self.matcher.z(k, cosine)
    }

    /// Scores two sets of embeddings model by model, in the matcher's order; `None` when
    /// either lacks one of the engine's embedders (or has it with another length).
    pub fn model_scores<'a>(&self, a: &'a [ModelEmbedding], b: &'a [ModelEmbedding]) -> Option<Vec<ModelScore>> {
        (0..self.embedders.len())
            .map(|k| {
                let id = &self.embedders[k].info.id;
                let find = |set: &'a [ModelEmbedding]| set.iter().find(|e| &e.model == id).map(|e| &e.embedding);
                let cosine = find(a)?.similarity(find(b)?)?;
                Some(self.model_score(k, cosine))
            })
            .collect()
    }

    fn model_score(&self, k: usize, cosine: f32) -> ModelScore {
        self.matcher.score(k, &self.embedders[k].info.id, cosine)
    }

    /// What the cascade decides after the first `zs.len()` embedders' z-scores: `None` when
    /// the next embedder must run (never once all have run).
    pub fn cascade_decision(&self, zs: &[f32]) -> Option<Decision> {
        self.matcher.decide(zs)
    }

    /// Turns the scores of the embedders that ran into a verdict with this engine's threshold
    /// and ids. With fewer scores than embedders the cascade's bounds decide; where they do
    /// not, the verdict is `rejected` (a caller that stops early must ask
    /// [`Engine::cascade_decision`] first).
    pub fn decide(&self, model_scores: Vec<ModelScore>) -> Verdict {
        self.matcher.verdict(model_scores, &self.detector_id)
    }

    /// A `rejected` verdict with a reason.
    pub fn rejected(&self, reason: Reason, detail: impl Into<String>) -> Verdict {
        self.matcher.rejected(reason, detail.into(), &self.detector_id)
    }

    /// Why `reference` cannot be compared with this engine's embedders, if it cannot.
    fn reference_mismatch(&self, reference: &[ModelEmbedding]) -> Option<String> {
        compare::reference_mismatch(
            self.embedders
                .iter()
                .map(|slot| (slot.info.id.as_str(), slot.info.dims)),
            reference,
        )
    }

    /// Verifies a selfie against stored embeddings (one per embedder of this engine, tagged by
    /// model). The embedders run in cascade order and stop as soon as the decision is clear.
    /// Input problems and a reference without this engine's models become a `rejected`
    /// verdict with a reason; `Err` means the engine itself failed.
    pub fn verify_embeddings(&self, selfie: &[u8], reference: &[ModelEmbedding]) -> Result<(Verdict, Analysis), Error> {
        if let Some(detail) = self.reference_mismatch(reference) {
            let analysis = Analysis {
                image: None,
                faces: Vec::new(),
                face: None,
                result: Err(Error::Internal(
                    "not analysed: the reference does not fit the engine".into(),
                )),
                timings: StageTimings::default(),
            };
            return Ok((self.rejected(Reason::GalleryModelMismatch, detail), analysis));
        }
        let (mut analysis, capture) = self.capture(selfie, FacePolicy::Single);
        let Ok(capture) = capture else {
            let e = std::mem::replace(&mut analysis.result, Err(Error::Internal("moved".into())))
                .err()
                .unwrap_or_else(|| Error::Internal("capture failed without an error".into()));
            let verdict = match e.reason() {
                Some(reason) => self.rejected(reason, e.to_string()),
                None => return Err(e),
            };
            analysis.result = Err(e);
            return Ok((verdict, analysis));
        };
        let mut embeddings = Vec::new();
        let mut scores = Vec::new();
        for k in 0..self.embedders.len() {
            let mine = self.embed_step(&capture, k, &mut analysis.timings)?;
            let theirs = reference
                .iter()
                .find(|e| e.model == mine.model)
                .ok_or_else(|| Error::Internal("reference checked above".into()))?;
            let cosine = mine
                .embedding
                .similarity(&theirs.embedding)
                .ok_or_else(|| Error::Internal("reference lengths checked above".into()))?;
            scores.push(self.model_score(k, cosine));
            embeddings.push(mine);
            let zs: Vec<f32> = scores.iter().map(|s| s.z).collect();
            if self.matcher.decide(&zs).is_some() {
                break;
            }
        }
        analysis.result = Ok(capture.template(embeddings));
        Ok((self.decide(scores), analysis))
    }

    /// Verifies a selfie against a stored template.
    pub fn verify(&self, selfie: &[u8], reference: &FaceTemplate) -> Result<Verdict, Error> {
        Ok(self.verify_embeddings(selfie, &reference.embeddings)?.0)
    }

    /// Compares a selfie (selfie rule) with an ID photo, both analysed here. The cascade runs
    /// each embedder on both images and stops as soon as the decision is clear. `Err` only for
    /// engine faults.
    pub fn compare(&self, selfie: &[u8], id_photo: &[u8]) -> Result<Comparison, Error> {
        let (selfie, id) = rayon::join(
            || self.capture(selfie, FacePolicy::Single),
            || self.capture(id_photo, FacePolicy::Single),
        );
        self.compare_captures(selfie, id, "id photo")
    }

    // ---- The holder's portrait (the photo inside a credential) ----

    /// The holder's portrait of an ID photo at the largest of [`PORTRAIT_SIZES`]: the chosen
    /// face (policy and quality gates as for a template) warped into the portrait geometry,
    /// not yet compressed.
    pub fn portrait_image(&self, id_photo: &[u8], policy: FacePolicy) -> Result<RgbImage, Error> {
        let (analysis, capture) = self.capture(id_photo, policy);
        let Ok(capture) = capture else {
            return Err(analysis
                .result
                .err()
                .unwrap_or_else(|| Error::Internal("capture failed without an error".into())));
        };
        let (w, h) = PORTRAIT_SIZES[0];
        Ok(align::align_detection(&capture.decoded, &capture.aligned_on, &portrait_landmarks(w, h), w, h)?.chip)
    }

    /// The holder's portrait of an ID photo as a JPEG of at most `budget` bytes
    /// ([`portrait::encode_to_budget`]). A budget too small for any portrait is a
    /// configuration error.
    pub fn portrait(&self, id_photo: &[u8], policy: FacePolicy, budget: usize) -> Result<Portrait, Error> {
        let image = self.portrait_image(id_photo, policy)?;
        portrait::encode_to_budget(&image, budget)
            .ok_or_else(|| Error::Config(format!("no portrait JPEG fits in {budget} bytes")))
    }

    /// A template of a portrait (e.g. the photo a credential carries), with every embedder.
    /// The landmarks come from the portrait geometry, not the detector; an image without that
    /// geometry is refused as `no_portrait`.
    pub fn portrait_template(&self, portrait: &[u8]) -> Result<FaceTemplate, Error> {
        let (mut analysis, capture) = self.portrait_capture(portrait);
        let Ok(capture) = capture else {
            return analysis.result;
        };
        let embeddings = (0..self.embedders.len())
            .map(|k| self.embed_step(&capture, k, &mut analysis.timings))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(capture.template(embeddings))
    }

    /// Compares a live photo (selfie rule and quality gates) with a portrait, e.g. a verifier
    /// checking the person in front of them against the photo in their credential. A portrait
    /// of a few hundred bytes holds less of the face than a gallery template does: the
    /// verdict uses the engine's operating point, whose measured error rates on portraits are
    /// in the README.
    pub fn compare_with_portrait(&self, live: &[u8], portrait: &[u8]) -> Result<Comparison, Error> {
        let (live, portrait) = rayon::join(
            || self.capture(live, FacePolicy::Single),
            || self.portrait_capture(portrait),
        );
        self.compare_captures(live, portrait, "credential photo")
    }

    /// The capture of a portrait: decoded, its landmarks placed by the portrait geometry. No
    /// quality gate: the portrait's issuer applied them to the photo it was made from.
    fn portrait_capture(&self, bytes: &[u8]) -> (Analysis, Result<Capture, ()>) {
        let mut analysis = Analysis::not_run();
        let decoded = self.decode_timed(bytes, &mut analysis);
        let decoded = match decoded.and_then(|d| {
            portrait::check_portrait_size(d.width, d.height)?;
            Ok(d)
        }) {
            Ok(d) => d,
            Err(e) => {
                analysis.result = Err(e);
                return (analysis, Err(()));
            }
        };
        let image = ImageInfo::of(&decoded, bytes);
        analysis.image = Some(image.clone());
        let (w, h) = (decoded.width, decoded.height);
        let detection = portrait::portrait_detection(w, h);
        let started = Instant::now();
        let canonical_chip = match align::align_detection(
            &decoded,
            &detection,
            &align::CANONICAL_TEMPLATE,
            align::CANONICAL_SIZE,
            align::CANONICAL_SIZE,
        ) {
            Ok(c) => c,
            Err(e) => {
                analysis.result = Err(e.into());
                return (analysis, Err(()));
            }
        };
        analysis.timings.align += started.elapsed();
        let mut quality = quality::measure(&detection, w, h);
        quality.sharpness = Some(quality::sharpness(&canonical_chip.chip));
        let face = FaceReport {
            detection,
            refined_landmarks: None,
            quality,
        };
        analysis.faces = vec![detection];
        analysis.face = Some(face.clone());
        (
            analysis,
            Ok(Capture {
                decoded,
                aligned_on: detection,
                canonical_chip,
                face,
                image,
            }),
        )
    }

    /// Compares two captures embedder by embedder in cascade order (each embedder on both
    /// images at once), stopping as soon as the decision is clear. `other` names the second
    /// image in a refusal's detail.
    fn compare_captures(
        &self,
        (mut selfie_a, selfie_c): (Analysis, Result<Capture, ()>),
        (mut id_a, id_c): (Analysis, Result<Capture, ()>),
        other: &str,
    ) -> Result<Comparison, Error> {
        let (selfie_c, id_c) = match (selfie_c, id_c) {
            (Ok(s), Ok(i)) => (s, i),
            (s, _) => {
                // Which image failed first decides the reason: the selfie's, if it failed.
                let (failed, which) = if s.is_err() {
                    (&selfie_a, "selfie")
                } else {
                    (&id_a, other)
                };
                let verdict = match &failed.result {
                    Err(e) => match e.reason() {
                        Some(reason) => self.rejected(reason, format!("{which}: {e}")),
                        None => return Err(Error::Internal(e.to_string())),
                    },
                    Ok(_) => return Err(Error::Internal("a failed capture left no error".into())),
                };
                return Ok(Comparison {
                    verdict,
                    selfie: selfie_a,
                    id_photo: id_a,
                });
            }
        };
        let (mut selfie_e, mut id_e, mut scores) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..self.embedders.len() {
            let (mut ts, mut ti) = (selfie_a.timings, id_a.timings);
            let (a, b) = rayon::join(
                || self.embed_step(&selfie_c, k, &mut ts),
                || self.embed_step(&id_c, k, &mut ti),
            );
            (selfie_a.timings, id_a.timings) = (ts, ti);
            let (a, b) = (a?, b?);
            let cosine = a
                .embedding
                .similarity(&b.embedding)
                .ok_or_else(|| Error::Internal("two embeddings of one model differ in length".into()))?;
            scores.push(self.model_score(k, cosine));
            selfie_e.push(a);
            id_e.push(b);
            let zs: Vec<f32> = scores.iter().map(|s| s.z).collect();
            if self.matcher.decide(&zs).is_some() {
                break;
            }
        }
        selfie_a.result = Ok(selfie_c.template(selfie_e));
        id_a.result = Ok(id_c.template(id_e));
        Ok(Comparison {
            verdict: self.decide(scores),
            selfie: selfie_a,
            id_photo: id_a,
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
