//! # ikd-engine
//!
//! Face verification and credentials for Indonesia's digital ID (IKD). A citizen's selfie is
//! compared 1:1 with the photo of their electronic ID card (KTP-el):
//!
//! ```text
//! &[u8] --intake--> DecodedImage --detect--> Vec<Detection> --quality--> Detection (one face)
//!       --refine--> Detection --align--> AlignedFace (one per embedder) --embed--> Embedding
//!       --compare--> ModelScore (cosine, z) --fuse / cascade--> Verdict
//! ```
//!
//! Several embedders decide together (a *matcher* of the model manifest): each one's cosine is
//! z-normalised with its impostor statistics and the mean is compared with a threshold
//! calibrated at a named false-match rate ([`OperatingPoint`], FMR 1e-4 by default). The
//! embedders run cheapest first and stop as soon as the fused score is clearly on one side
//! (the cascade). Every refusal carries a stable [`Reason`] code; every verdict carries the
//! model ids, each model's score, the operating point and the threshold it was decided with.
//!
//! ```no_run
//! use ikd_engine::{Engine, EngineConfig, FacePolicy, Decision};
//!
//! let engine = Engine::new(EngineConfig::default())?;            // loads and checks the models
//! let id_photo = std::fs::read("ktp.jpg").expect("read");
//! let reference = engine.template(&id_photo, FacePolicy::Single)?; // one embedding per embedder: store this
//! let selfie = std::fs::read("selfie.jpg").expect("read");
//! let verdict = engine.verify(&selfie, &reference)?;
//! match verdict.decision {
//!     Decision::Match => println!("match, fused score {:?} >= {}", verdict.score, verdict.threshold),
//!     Decision::NoMatch => println!("different person"),
//!     Decision::Rejected => println!("human review: {:?}", verdict.reason),
//! }
//! for s in &verdict.model_scores {
//!     println!("{}: cosine {:.3}", s.model, s.cosine); // fewer than all when the cascade stopped early
//! }
//! # Ok::<(), ikd_engine::Error>(())
//! ```
#![forbid(unsafe_code)]

mod align;
mod backend;
mod compare;
mod detect;
mod embed;
mod engine;
mod error;
mod intake;
mod models;
pub mod portrait;
mod quality;
mod reason;
mod refine;
mod resample;

/// The credential side (Claim 169 QR codes, keys, activation codes), its own crate so that
/// verifiers link it without the face engine.
pub use ikd_credential as credential;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod nik;

pub use align::{AlignedFace, SimilarityTransform};
pub use backend::{BackendConfig, InferenceBackend};
pub use compare::{Decision, ModelScore, Verdict};
pub use credential::{
    CredentialError, CredentialIssuer, Identity, IssuedCredential, IssuerKey, KeySet, VerifiedCredential,
};
pub use detect::{landmark, BoundingBox, Detection, Point};
pub use embed::{dot, Embedding, ModelEmbedding};
pub use engine::{
    default_models_dir, Analysis, Comparison, EmbedderInfo, Engine, EngineConfig, FaceReport, FaceTemplate, ImageInfo,
    StageTimings, ENGINE_VERSION,
};
pub use error::{Error, FaceRejection, ImageError, ModelError};
pub use intake::{jpeg_decoder_name, DecodedImage, ImageLimits};
pub use models::{
    hex, sha256_hex, ColourOrder, Manifest, MatcherSpec, ModelRole, ModelSpec, OperatingPoint, OperatingPointSpec,
    ScoreStats, SourceFile,
};
pub use nik::{Nik, NikError};
pub use quality::{FacePolicy, QualityConfig, QualityReport};
pub use reason::Reason;
