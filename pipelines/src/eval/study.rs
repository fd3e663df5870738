//! Operating points per matcher: every matcher of the manifest that the engine's embedders can
//! evaluate, its fused score's report and, at each operating point, the threshold (the
//! manifest's, or this evaluation's own when calibrating), the error rates there and what its
//! cascade does. [`study`] is what `ikd eval pairs` shows and `--calibrate` writes.

use super::calibration::{calibration_note, check_engine, Calibration};
use super::cascade::{calibrate_cascade, cascade_report, round_up, CascadeReport};
use super::metrics::{self, CrossIdentity};
use super::pairs::{fused, Evaluation};
use super::points::{score_report, ScoreReport};
use ikd_engine::{Engine, MatcherSpec, OperatingPoint, ScoreStats};
use rayon::prelude::*;
use serde::Serialize;

/// How [`study`] reads the operating points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudyOptions {
    /// Measure this evaluation's own thresholds and cascade bounds (needs the cross-identity
    /// impostors and the manifest's own flip and refinement settings) instead of reading the
    /// manifest's.
    pub calibrate: bool,
    /// Safety margin (z-score units) the cascade's bounds keep from the calibration pairs.
    pub cascade_margin: f32,
}

impl Default for StudyOptions {
    fn default() -> Self {
        StudyOptions {
            calibrate: false,
            cascade_margin: 0.5,
        }
    }
}

/// Everything [`study`] measured.
#[derive(Debug, Clone)]
pub struct Study {
    /// Impostor statistics measured on the cross-identity pairs, when scored.
    pub measured_stats: Option<Vec<ScoreStats>>,
    /// The statistics the operating points fuse with: the measured ones when calibrating,
    /// else the manifest's.
    pub stats: Vec<ScoreStats>,
    /// Each embedder alone.
    pub models: Vec<ScoreReport>,
    /// Each matcher the engine's embedders can evaluate, in the manifest's order.
    pub matchers: Vec<MatcherReport>,
    /// What a calibration measured (with [`StudyOptions::calibrate`]): write it into a
    /// manifest with [`Calibration::write_manifest`].
    pub calibration: Option<Calibration>,
}

/// Sorted descending (the order thresholds are read off in).
fn sorted_desc(mut v: Vec<f32>) -> Vec<f32> {
    v.par_sort_unstable_by(|a, b| b.total_cmp(a));
    v
}

/// One matcher at one operating point.
#[derive(Debug, Clone, Serialize)]
pub struct PointReport {
    pub name: OperatingPoint,
    pub threshold: f32,
    /// "manifest" or "calibrated" (this run).
    pub source: &'static str,
    /// The cross-identity FMR at the threshold, when scored.
    pub cross_fmr: Option<f64>,
    pub fmr: f64,
    pub fnmr: f64,
    pub accuracy: f64,
    pub cascade: Option<CascadeReport>,
}

/// One matcher: its fused score over the pairs and its operating points.
#[derive(Debug, Clone, Serialize)]
pub struct MatcherReport {
    pub id: String,
    pub embedders: Vec<String>,
    pub fused: ScoreReport,
    pub points: Vec<PointReport>,
}

/// The matchers of the manifest that the engine's embedders can evaluate (all of them when
/// it runs every embedder), with the indices of their embedders in the engine's order.
fn evaluable(engine: &Engine, ev: &Evaluation) -> anyhow::Result<Vec<(MatcherSpec, Vec<usize>)>> {
    let manifest = ikd_engine::Manifest::load(&engine.config().manifest)?;
    let mut out = Vec::new();
    for m in manifest.matchers {
        let order: Option<Vec<usize>> = m
            .embedders
            .iter()
            .map(|id| ev.models.iter().position(|x| x == id))
            .collect();
        if let Some(order) = order {
            out.push((m, order));
        }
    }
    Ok(out)
}

/// The operating points of every evaluable matcher on `ev` (and on the cross-identity
/// impostors `cross`, when scored).
pub fn study(
    engine: &Engine,
    ev: &Evaluation,
    cross: Option<&CrossIdentity>,
    opts: &StudyOptions,
) -> anyhow::Result<Study> {
    let calibrating = opts.calibrate;
    if calibrating {
        check_engine(engine)?;
        anyhow::ensure!(cross.is_some(), "calibrating needs the cross-identity impostor pairs");
    }
    let n_models = ev.models.len();
    let manifest_stats: Vec<ScoreStats> = engine.embedders().map(|e| e.impostor).collect();
    // Impostor statistics: measured on the cross-identity pairs when scored.
    let measured_stats: Option<Vec<ScoreStats>> = cross.map(|c| {
        (0..n_models)
            .map(|k| {
                let (mean, std) = c.stats(k);
                ScoreStats {
                    mean: mean as f32,
                    std: std as f32,
                    pairs: c.pairs() as u64,
                }
            })
            .collect()
    });
    // The study table fuses with the statistics measured on these pairs when it can (as a
    // calibration on them would); the operating points are the manifest's as deployed, or
    // this run's own when calibrating.
    let study_stats = measured_stats.clone().unwrap_or_else(|| manifest_stats.clone());
    let stats = match (&measured_stats, calibrating) {
        (Some(m), true) => m.clone(),
        _ => manifest_stats.clone(),
    };

    let per_model: Vec<ScoreReport> = (0..n_models)
        .map(|k| {
            let desc = cross.map(|c| sorted_desc(c.model(k).collect()));
            score_report(&ev.models[k], &ev.model_pairs(k), desc.as_deref())
        })
        .collect();

    let mut reports = Vec::new();
    let mut calibrated: Vec<(String, Vec<ikd_engine::OperatingPointSpec>)> = Vec::new();
    for (spec, order) in evaluable(engine, ev)? {
        let fused_desc_with =
            |stats: &[ScoreStats]| cross.map(|c| sorted_desc(c.rows().map(|r| fused(r, &order, stats)).collect()));
        let study_desc = fused_desc_with(&study_stats);
        let fused = score_report(&spec.id, &ev.fused_pairs(&order, &study_stats), study_desc.as_deref());
        let fused_pairs = ev.fused_pairs(&order, &stats);
        let fused_desc = if stats == study_stats {
            study_desc
        } else {
            fused_desc_with(&stats)
        };
        let mut points = Vec::new();
        let mut specs = Vec::new();
        for name in OperatingPoint::ALL {
            let manifest_point = spec.operating_point.iter().find(|p| p.name == name);
            let (threshold, accept, reject, source) = if calibrating {
                let Some((t, _)) = fused_desc
                    .as_deref()
                    .and_then(|d| metrics::threshold_at_fmr(d, name.target_fmr()))
                else {
                    continue;
                };
                let t = round_up(t);
                let (a, r) = calibrate_cascade(
                    ev,
                    cross.expect("calibrating requires the cross-identity pairs"),
                    &order,
                    &stats,
                    t,
                    opts.cascade_margin,
                );
                (t, a, r, "calibrated")
            } else {
                let is_engine = spec.id == engine.matcher_id();
                match (is_engine && engine.operating_point() == name, manifest_point) {
                    (true, _) if engine.config().threshold.is_some() => {
                        (engine.threshold(), vec![], vec![], "override")
                    }
                    (_, Some(p)) => (p.threshold, p.accept.clone(), p.reject.clone(), "manifest"),
                    (_, None) => continue,
                }
            };
            let (fmr, fnmr, accuracy) = metrics::protocol_rates(&fused_pairs, threshold);
            let cross_fmr = fused_desc
                .as_ref()
                .map(|d| d.partition_point(|&s| s >= threshold) as f64 / d.len().max(1) as f64);
            let cascade = (order.len() > 1 && !accept.is_empty())
                .then(|| cascade_report(ev, cross, &order, &stats, threshold, &accept, &reject));
            if calibrating {
                specs.push(ikd_engine::OperatingPointSpec {
                    name,
                    threshold,
                    accept: accept.clone(),
                    reject: reject.clone(),
                    calibrated_on: calibration_note(ev, cross, engine, opts.cascade_margin),
                });
            }
            points.push(PointReport {
                name,
                threshold,
                source,
                cross_fmr,
                fmr,
                fnmr,
                accuracy,
                cascade,
            });
        }
        if calibrating {
            calibrated.push((spec.id.clone(), specs));
        }
        reports.push(MatcherReport {
            id: spec.id.clone(),
            embedders: spec.embedders.clone(),
            fused,
            points,
        });
    }
    let calibration = match (&measured_stats, calibrating) {
        (Some(impostor), true) => Some(Calibration {
            models: ev.models.clone(),
            impostor: impostor.clone(),
            matchers: calibrated,
        }),
        _ => None,
    };
    Ok(Study {
        measured_stats,
        stats,
        models: per_model,
        matchers: reports,
        calibration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::pairs::{cross_identity, evaluate_pairs};
    use ikd_engine::{EngineConfig, FacePolicy, Manifest};
    use std::fmt::Write;
    use std::path::Path;

    /// The typed API from a test: pairs -> scores -> operating points -> calibration, on every
    /// pair of the first four ORL subjects' photos (40 images, 180 genuine pairs).
    #[test]
    fn pairs_to_calibration_without_the_command_line() {
        let orl = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/fixtures/faces/orl"));
        let images: Vec<String> = (1..=4)
            .flat_map(|s| (1..=10).map(move |n| orl.join(format!("s{s}/{n}.pgm")).display().to_string()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("pairs.csv");
        let mut text = String::from("a,b,same\n");
        for (i, a) in images.iter().enumerate() {
            for b in &images[i + 1..] {
                let same = Path::new(a).parent() == Path::new(b).parent();
                writeln!(text, "{a},{b},{}", u8::from(same)).unwrap();
            }
        }
        std::fs::write(&csv, text).unwrap();

        let engine = Engine::new(EngineConfig::default()).unwrap();
        let ev = evaluate_pairs(&engine, &csv, FacePolicy::Single).unwrap();
        assert_eq!((ev.pairs.len(), ev.genuine(), ev.images.len()), (780, 180, 40));
        let cross = cross_identity(&ev).unwrap();

        let deployed = study(&engine, &ev, Some(&cross), &StudyOptions::default()).unwrap();
        assert_eq!(deployed.models.len(), ev.models.len());
        let default = deployed.matchers.iter().find(|m| m.id == engine.matcher_id()).unwrap();
        assert_eq!(default.points.len(), OperatingPoint::ALL.len());
        assert!(default.points.iter().all(|p| p.source == "manifest"));
        assert!(deployed.calibration.is_none());

        let err = study(
            &engine,
            &ev,
            None,
            &StudyOptions {
                calibrate: true,
                ..StudyOptions::default()
            },
        );
        assert!(err.is_err(), "calibrating without impostor pairs");
        let calibrated = study(
            &engine,
            &ev,
            Some(&cross),
            &StudyOptions {
                calibrate: true,
                ..StudyOptions::default()
            },
        )
        .unwrap();
        let c = calibrated.calibration.as_ref().unwrap();
        assert_eq!(c.models, ev.models);
        assert!(c.impostor.iter().all(|s| s.pairs == cross.pairs() as u64));
        let copy = dir.path().join("manifest.toml");
        std::fs::copy(&engine.config().manifest, &copy).unwrap();
        c.write_manifest(&copy).unwrap();
        let written = Manifest::load(&copy).unwrap();
        let spec = written
            .select(Some(&ev.models[0]), ikd_engine::ModelRole::Embedder)
            .unwrap();
        let stats = spec.impostor.unwrap();
        assert!((stats.mean - c.impostor[0].mean).abs() < 1e-5 && stats.pairs == c.impostor[0].pairs);
    }
}
