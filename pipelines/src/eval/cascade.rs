//! The cascade on labelled pairs: what it decides at given bounds compared with the full
//! fusion ([`cascade_report`]), and the bounds a calibration writes ([`calibrate_cascade`]).

use super::metrics::CrossIdentity;
use super::pairs::Evaluation;
use ikd_engine::ScoreStats;
use serde::Serialize;

/// What the cascade does at one threshold compared with the full fusion.
#[derive(Debug, Clone, Serialize)]
pub struct CascadeReport {
    pub accept: Vec<f32>,
    pub reject: Vec<f32>,
    /// Pairs (protocol, and cross-identity when scored) where the cascade and the full fusion
    /// decide alike, as a fraction.
    pub agreement: f64,
    pub disagreements: u64,
    pub pairs: u64,
    /// Cross-identity (or protocol) impostor pairs the cascade accepts and the fusion does not.
    pub false_matches_added: u64,
    pub fnmr: f64,
    /// Embedders run per pair, on average: genuine pairs, impostor pairs.
    pub mean_models_genuine: f64,
    pub mean_models_impostor: f64,
    /// How many pairs each step decided: genuine, impostor.
    pub decided_genuine: Vec<u64>,
    pub decided_impostor: Vec<u64>,
}

/// The cascade's decision on one pair's z-scores (in cascade order) and the steps it took.
pub fn cascade_decision(zs: &[f32], threshold: f32, accept: &[f32], reject: &[f32]) -> (bool, usize) {
    let mut sum = 0f32;
    for (k, z) in zs.iter().enumerate() {
        sum += z;
        let mean = sum / (k + 1) as f32;
        if k + 1 == zs.len() {
            return (mean >= threshold, k + 1);
        }
        if accept.get(k).is_some_and(|&a| mean >= a) {
            return (true, k + 1);
        }
        if reject.get(k).is_some_and(|&r| mean <= r) {
            return (false, k + 1);
        }
    }
    (false, 0)
}

/// A matcher's z-scores of one pair, in its cascade order.
pub(crate) fn pair_zs(cosines: &[f32], order: &[usize], stats: &[ScoreStats]) -> Vec<f32> {
    order.iter().map(|&k| stats[k].z(cosines[k])).collect()
}

/// The cascade of the matcher whose embedders are `order` (indices into the evaluation's
/// models) at `threshold` with the bounds `accept`/`reject`, on the protocol pairs and the
/// cross-identity impostors when given.
pub fn cascade_report(
    ev: &Evaluation,
    cross: Option<&CrossIdentity>,
    order: &[usize],
    stats: &[ScoreStats],
    threshold: f32,
    accept: &[f32],
    reject: &[f32],
) -> CascadeReport {
    let steps = order.len();
    let mut r = CascadeReport {
        accept: accept.to_vec(),
        reject: reject.to_vec(),
        agreement: 0.0,
        disagreements: 0,
        pairs: 0,
        false_matches_added: 0,
        fnmr: 0.0,
        mean_models_genuine: 0.0,
        mean_models_impostor: 0.0,
        decided_genuine: vec![0; steps],
        decided_impostor: vec![0; steps],
    };
    let (mut genuine, mut missed) = (0u64, 0u64);
    let tally = |r: &mut CascadeReport, same: bool, zs: &[f32]| {
        let full = zs.iter().sum::<f32>() / zs.len() as f32 >= threshold;
        let (early, k) = cascade_decision(zs, threshold, accept, reject);
        r.pairs += 1;
        if early != full {
            r.disagreements += 1;
            if early && !same {
                r.false_matches_added += 1;
            }
        }
        if same {
            r.decided_genuine[k - 1] += 1;
        } else {
            r.decided_impostor[k - 1] += 1;
        }
        early
    };
    for (p, c) in ev.pairs.iter().zip(&ev.cosines) {
        let same = &p.same;
        let accepted = match c {
            Some(c) => tally(&mut r, *same, &pair_zs(c, order, stats)),
            // A refused pair is a non-match for both; it costs no model run here.
            None => {
                r.pairs += 1;
                false
            }
        };
        if *same {
            genuine += 1;
            missed += u64::from(!accepted);
        }
    }
    if let Some(cross) = cross {
        for c in cross.rows() {
            tally(&mut r, false, &pair_zs(c, order, stats));
        }
    }
    let weighted = |d: &[u64]| d.iter().enumerate().map(|(k, n)| (k as u64 + 1) * n).sum::<u64>() as f64;
    r.mean_models_genuine = weighted(&r.decided_genuine) / r.decided_genuine.iter().sum::<u64>().max(1) as f64;
    r.mean_models_impostor = weighted(&r.decided_impostor) / r.decided_impostor.iter().sum::<u64>().max(1) as f64;
    r.agreement = 1.0 - r.disagreements as f64 / r.pairs.max(1) as f64;
    r.fnmr = missed as f64 / genuine.max(1) as f64;
    r
}

/// The cascade's bounds for one threshold: after each step but the last, the lowest mean
/// z-score that only pairs the full fusion accepts reach (so an early `match` never adds a
/// false match on the calibration pairs), and the highest below which no genuine pair the
/// fusion accepts falls (so an early `no_match` misses no accepted citizen); both kept
/// `margin` away from those pairs.
pub fn calibrate_cascade(
    ev: &Evaluation,
    cross: &CrossIdentity,
    order: &[usize],
    stats: &[ScoreStats],
    threshold: f32,
    margin: f32,
) -> (Vec<f32>, Vec<f32>) {
    // (same, z-scores in cascade order) of every scored pair.
    let mut pairs: Vec<(bool, Vec<f32>)> = ev
        .pairs
        .iter()
        .zip(&ev.cosines)
        .filter_map(|(p, c)| c.as_ref().map(|c| (p.same, pair_zs(c, order, stats))))
        .collect();
    pairs.extend(cross.rows().map(|c| (false, pair_zs(c, order, stats))));
    let (mut accept, mut reject) = (Vec::new(), Vec::new());
    for step in 0..order.len().saturating_sub(1) {
        let partial = |zs: &[f32]| zs[..=step].iter().sum::<f32>() / (step + 1) as f32;
        let full = |zs: &[f32]| zs.iter().sum::<f32>() / zs.len() as f32 >= threshold;
        let highest_refused = pairs
            .iter()
            .filter(|(_, zs)| !full(zs))
            .map(|(_, zs)| partial(zs))
            .fold(f32::NEG_INFINITY, f32::max);
        let lowest_accepted_genuine = pairs
            .iter()
            .filter(|(same, zs)| *same && full(zs))
            .map(|(_, zs)| partial(zs))
            .fold(f32::INFINITY, f32::min);
        let a = (highest_refused + margin).max(threshold);
        let r = (lowest_accepted_genuine - margin).min(threshold).min(a);
        accept.push(round_up(a));
        reject.push(round_down(r));
        let (a, r) = (*accept.last().unwrap_or(&a), *reject.last().unwrap_or(&r));
        pairs.retain(|(_, zs)| {
            let p = partial(zs);
            p < a && p > r
        });
    }
    (accept, reject)
}

/// Bounds are written with 3 decimals, rounded outwards (never tighter than measured).
pub(crate) fn round_up(v: f32) -> f32 {
    (v * 1000.0).ceil() / 1000.0
}

pub(crate) fn round_down(v: f32) -> f32 {
    (v * 1000.0).floor() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::pairs::evaluate_pairs;
    use crate::eval::points::metrics_at;
    use ikd_engine::{Engine, FacePolicy};
    use std::path::Path;

    #[test]
    fn the_cascade_stops_outside_its_bounds() {
        assert_eq!(cascade_decision(&[8.0, 0.0], 4.0, &[7.0], &[2.0]), (true, 1));
        assert_eq!(cascade_decision(&[1.0, 9.0], 4.0, &[7.0], &[2.0]), (false, 1));
        assert_eq!(cascade_decision(&[5.0, 2.0], 4.0, &[7.0], &[2.0]), (false, 2));
        assert_eq!(cascade_decision(&[5.0, 3.0], 4.0, &[7.0], &[2.0]), (true, 2));
        assert_eq!(cascade_decision(&[5.0], 4.0, &[], &[]), (true, 1));
    }

    /// The bars on the bundled ORL set (1,800 genuine, 78,000 impostor pairs, held out from
    /// the calibration), with rejected images counted as errors: the default matcher's fused
    /// score (no worse than the dlib-only engine's EER 0.45 % and FNMR 3.06 % at FMR 1e-4), and
    /// the cascade deciding like the full fusion.
    #[test]
    fn orl_all_pairs_meets_the_accuracy_bar_and_the_cascade_agrees() {
        let engine = Engine::new(ikd_engine::EngineConfig::default()).unwrap();
        let csv = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../datasets/fixtures/faces/orl/pairs.csv"
        ));
        let ev = evaluate_pairs(&engine, csv, FacePolicy::Single).unwrap();
        let order: Vec<usize> = (0..ev.models.len()).collect();
        let stats: Vec<ScoreStats> = engine.embedders().map(|e| e.impostor).collect();
        let m = metrics_at(&ev.fused_pairs(&order, &stats), engine.threshold());
        assert_eq!((m.genuine, m.impostor), (1800, 78000));
        assert!(m.eer <= 0.0045, "EER {}", m.eer);
        let at_1e4 = m.operating_points.iter().find(|p| p.target_fmr == 1e-4).unwrap();
        assert!(at_1e4.fnmr <= 0.0306, "FNMR at FMR 1e-4: {}", at_1e4.fnmr);
        assert!(m.rejection_rate < 0.01, "rejected {}", m.rejection_rate);

        let manifest = ikd_engine::Manifest::load(&engine.config().manifest).unwrap();
        let point = manifest
            .matcher(None)
            .unwrap()
            .operating_point
            .iter()
            .find(|p| p.name == engine.operating_point())
            .cloned()
            .unwrap();
        let c = cascade_report(&ev, None, &order, &stats, point.threshold, &point.accept, &point.reject);
        assert!(
            c.agreement >= 0.999,
            "cascade agrees on {:.5} of ORL pairs",
            c.agreement
        );
        assert_eq!(c.false_matches_added, 0);
        assert!(
            c.mean_models_impostor < 1.2,
            "impostor pairs mostly decided by one model: {c:?}"
        );
    }
}
