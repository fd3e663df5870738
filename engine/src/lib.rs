//! # ikd-engine
//!
//! Face verification and credentials for Indonesia's digital ID (IKD). A citizen's selfie is
//! compared 1:1 with the photo of their electronic ID card (KTP-el):
//!
//! ```text
//! &[u8] --intake--> DecodedImage --detect--> Vec<Detection> --quality--> Detection (one face)
//!       --align--> AlignedFace --embed--> Embedding --compare--> Verdict
//! ```
//!
//! Every refusal carries a stable [`Reason`] code; every verdict carries the model ids and the
//! threshold it was decided with.
//!
//! ```no_run
//! use ikd_engine::{Engine, EngineConfig, FacePolicy, Decision};
//!
//! let engine = Engine::new(EngineConfig::default())?;           // loads and checks both models
//! let id_photo = std::fs::read("ktp.jpg").expect("read");
//! let reference = engine.template(&id_photo, FacePolicy::Single)?; // store this
//! let selfie = std::fs::read("selfie.jpg").expect("read");
//! let verdict = engine.verify(&selfie, &reference)?;
//! match verdict.decision {
//!     Decision::Match => println!("match, score {:?}", verdict.score),
//!     Decision::NoMatch => println!("different person"),
//!     Decision::Rejected => println!("human review: {:?}", verdict.reason),
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
mod quality;
mod reason;
mod refine;
mod resample;

pub mod credential;
pub mod nik;

pub use align::{AlignedFace, SimilarityTransform};
pub use backend::{BackendConfig, InferenceBackend};
pub use compare::{Decision, Verdict};
pub use credential::{
    CredentialError, CredentialIssuer, Identity, IssuedCredential, IssuerKey, KeySet, VerifiedCredential,
};
pub use detect::{landmark, BoundingBox, Detection, Point};
pub use embed::{dot, Embedding};
pub use engine::{
    default_models_dir, Analysis, Comparison, Engine, EngineConfig, FaceReport, FaceTemplate, ImageInfo, StageTimings,
    ENGINE_VERSION,
};
pub use error::{Error, FaceRejection, ImageError, ModelError};
pub use intake::{DecodedImage, ImageLimits};
pub use models::{hex, sha256_hex, ColourOrder, Manifest, ModelRole, ModelSpec};
pub use nik::{Nik, NikError};
pub use quality::{FacePolicy, QualityConfig, QualityReport};
pub use reason::Reason;
