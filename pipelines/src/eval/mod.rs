//! Evaluation and calibration on labelled pairs, without the command line: what `ikd eval`
//! runs, usable from a test or an example (`cargo run --release -p ikd-pipelines --example
//! eval_pairs`).
//!
//! ```text
//! pairs.csv --read_pairs--> Vec<Pair> --evaluate_pairs--> Evaluation (each pair's cosine per model)
//!   --cross_identity--> CrossIdentity (every pair of accepted images of different people)
//!   --study--> Study: per model and per matcher a ScoreReport (accuracy, AUC, EER, FNMR at
//!              each FMR), per operating point a PointReport (threshold, rates, CascadeReport)
//!   --Study::calibration--> Calibration --write_manifest--> models/manifest.toml
//! ```
//!
//! ```no_run
//! use ikd_engine::{Engine, EngineConfig, FacePolicy};
//! use ikd_pipelines::eval::{cross_identity, evaluate_pairs, study, StudyOptions};
//!
//! let engine = Engine::new(EngineConfig::default())?;
//! let ev = evaluate_pairs(&engine, "datasets/fixtures/faces/orl/pairs.csv".as_ref(), FacePolicy::Single)?;
//! let cross = cross_identity(&ev)?;
//! let s = study(&engine, &ev, Some(&cross), &StudyOptions { calibrate: true, ..StudyOptions::default() })?;
//! for m in &s.matchers {
//!     println!("{}: EER {:.3} %", m.id, m.fused.eer * 100.0);
//! }
//! s.calibration.expect("calibrated").write_manifest("my-manifest.toml".as_ref())?;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! The parts, one job each:
//! * [`metrics`]: error rates over scored pairs (accuracy, AUC, EER, DET, thresholds at an FMR)
//!   and the cross-identity impostor scores;
//! * [`pairs`]: pairs -> scores ([`Evaluation`]);
//! * [`points`]: one score's report at the target FMRs;
//! * [`cascade`]: what the cascade decides at given bounds, and the bounds a calibration sets;
//! * [`study`](mod@study): operating points of every matcher, calibrated or the manifest's;
//! * [`calibration`]: a study's measurements written into a manifest;
//! * [`report`]: the JSON object and text table of `ikd eval pairs`;
//! * [`export`]: per-pair and per-image CSV; [`det`]: the DET plot;
//! * [`portrait`]: the offline face check against credential portraits, per photo budget.

pub mod calibration;
pub mod cascade;
pub mod det;
pub mod export;
pub mod metrics;
pub mod pairs;
pub mod points;
pub mod portrait;
pub mod report;
pub mod study;

pub use calibration::Calibration;
pub use metrics::{CrossIdentity, PairScore};
pub use pairs::{cross_identity, evaluate_pairs, read_pairs, Evaluation, Pair};
pub use points::{ScoreReport, TARGETS};
pub use portrait::{portrait_study, PortraitStudy};
pub use study::{study, MatcherReport, PointReport, Study, StudyOptions};
