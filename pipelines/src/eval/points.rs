//! Scores -> operating points: one score over the pairs (a model's cosine or a matcher's
//! fused score) measured as accuracy, AUC, EER and the FNMR at each target FMR, with the
//! threshold read off the cross-identity impostors when they were scored.

use super::metrics::{self, Metrics, PairScore};
use serde::Serialize;

/// One score (a model's cosine or a matcher's fused score) measured on the pairs.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub name: String,
    pub best_accuracy: f64,
    pub best_threshold: f32,
    pub auc: f64,
    pub eer: f64,
    pub rejected_pairs: usize,
    /// FNMR on the genuine pairs at each FMR target, with the threshold that gives it.
    pub at_fmr: Vec<FmrPoint>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct FmrPoint {
    pub target_fmr: f64,
    pub threshold: f32,
    /// The FMR measured where the threshold was read off (cross-identity pairs when given).
    pub fmr: f64,
    pub fnmr: f64,
    /// Read off the protocol's impostor pairs, fewer than 1/target of them.
    pub underpowered: bool,
}

/// The false-match rates every report is read at.
pub const TARGETS: [f64; 3] = [1e-3, 1e-4, 1e-5];

/// The report of one score: `pairs` scored by it; `cross_desc`, its cross-identity impostor
/// scores sorted descending (the thresholds are read off them when given).
pub fn score_report(name: &str, pairs: &[PairScore], cross_desc: Option<&[f32]>) -> ScoreReport {
    let m = metrics::compute(pairs, 0.0, &TARGETS);
    let at_fmr = match cross_desc {
        Some(desc) => TARGETS
            .iter()
            .filter_map(|&target| {
                let (threshold, fm) = metrics::threshold_at_fmr(desc, target)?;
                let (_, fnmr, _) = metrics::protocol_rates(pairs, threshold);
                Some(FmrPoint {
                    target_fmr: target,
                    threshold,
                    fmr: fm as f64 / desc.len().max(1) as f64,
                    fnmr,
                    underpowered: false,
                })
            })
            .collect(),
        None => m
            .operating_points
            .iter()
            .map(|p| FmrPoint {
                target_fmr: p.target_fmr,
                threshold: p.threshold,
                fmr: p.fmr,
                fnmr: p.fnmr,
                underpowered: p.underpowered,
            })
            .collect(),
    };
    ScoreReport {
        name: name.to_owned(),
        best_accuracy: m.best_accuracy,
        best_threshold: m.best_threshold,
        auc: m.auc,
        eer: m.eer,
        rejected_pairs: m.rejected,
        at_fmr,
    }
}

/// The metrics of one score over the pairs at a threshold (kept for callers that want the
/// classic single-threshold view).
pub fn metrics_at(pairs: &[PairScore], threshold: f32) -> Metrics {
    metrics::compute(pairs, threshold, &TARGETS)
}
