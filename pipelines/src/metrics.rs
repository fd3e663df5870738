//! Verification accuracy metrics over labelled pairs.
//!
//! Scores are similarities (higher = more alike). A pair the engine rejected has no score: it
//! counts as an error in `accuracy`, as a false non-match in FNMR when genuine, and as a
//! correct non-match (never a false match) when it is an impostor pair.

use serde::Serialize;

/// One evaluated pair.
#[derive(Debug, Clone, Copy)]
pub struct PairScore {
    pub same: bool,
    /// `None` when the engine rejected either image.
    pub score: Option<f32>,
}

/// FNMR at a target FMR, with the threshold that gives it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OperatingPoint {
    pub target_fmr: f64,
    pub threshold: f32,
    pub fmr: f64,
    pub fnmr: f64,
    /// Fewer impostor pairs than 1/target: the point is an extrapolation, read with care.
    pub underpowered: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub pairs: usize,
    pub genuine: usize,
    pub impostor: usize,
    pub rejected: usize,
    pub rejection_rate: f64,
    pub threshold: f32,
    /// At `threshold`, rejected pairs counted as errors.
    pub accuracy: f64,
    pub fmr: f64,
    pub fnmr: f64,
    /// Over scored pairs only.
    pub auc: f64,
    pub eer: f64,
    pub eer_threshold: f32,
    pub best_accuracy: f64,
    pub best_threshold: f32,
    pub operating_points: Vec<OperatingPoint>,
}

/// Rates at a threshold: (false-match rate, false non-match rate, accuracy).
fn rates(pairs: &[PairScore], t: f32) -> (f64, f64, f64) {
    let (mut fm, mut fnm, mut g, mut i, mut correct) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for p in pairs {
        let matched = p.score.is_some_and(|s| s >= t);
        if p.same {
            g += 1;
            if matched {
                correct += 1;
            } else {
                fnm += 1;
            }
        } else {
            i += 1;
            if matched {
                fm += 1;
            } else if p.score.is_some() {
                correct += 1;
            }
        }
    }
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    (div(fm, i), div(fnm, g), div(correct, pairs.len()))
}

pub fn compute(pairs: &[PairScore], threshold: f32, targets: &[f64]) -> Metrics {
    let genuine = pairs.iter().filter(|p| p.same).count();
    let impostor = pairs.len() - genuine;
    let rejected = pairs.iter().filter(|p| p.score.is_none()).count();
    let (fmr, fnmr, accuracy) = rates(pairs, threshold);

    let mut gen: Vec<f32> = pairs.iter().filter(|p| p.same).filter_map(|p| p.score).collect();
    let mut imp: Vec<f32> = pairs.iter().filter(|p| !p.same).filter_map(|p| p.score).collect();
    gen.sort_by(f32::total_cmp);
    imp.sort_by(f32::total_cmp);

    // AUC = P(genuine score > impostor score), ties count half (Mann-Whitney).
    let mut auc_num = 0f64;
    let mut j = 0usize;
    let mut k = 0usize;
    for &g in &gen {
        while j < imp.len() && imp[j] < g {
            j += 1;
        }
        k = k.max(j);
        while k < imp.len() && imp[k] <= g {
            k += 1;
        }
        auc_num += j as f64 + (k - j) as f64 / 2.0;
    }
    let auc = if gen.is_empty() || imp.is_empty() {
        f64::NAN
    } else {
        auc_num / (gen.len() as f64 * imp.len() as f64)
    };

    // Candidate thresholds: every observed score (a decision only changes there).
    let mut candidates: Vec<f32> = gen.iter().chain(&imp).copied().collect();
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    let (mut eer, mut eer_threshold, mut best_gap) = (f64::NAN, threshold, f64::INFINITY);
    let (mut best_accuracy, mut best_threshold) = (0f64, threshold);
    for &t in &candidates {
        let (a, b, acc) = rates(pairs, t);
        if (a - b).abs() < best_gap {
            best_gap = (a - b).abs();
            eer = (a + b) / 2.0;
            eer_threshold = t;
        }
        if acc > best_accuracy {
            best_accuracy = acc;
            best_threshold = t;
        }
    }

    let operating_points = targets
        .iter()
        .map(|&target| {
            // Lowest threshold whose FMR stays at or below the target: allowed false matches
            // = floor(target * impostors); the threshold sits just above the next impostor.
            let allowed = (target * impostor as f64).floor() as usize;
            let t = if imp.len() > allowed {
                let at = imp[imp.len() - 1 - allowed];
                next_up(at)
            } else {
                imp.first().copied().unwrap_or(threshold)
            };
            let (a, b, _) = rates(pairs, t);
            OperatingPoint {
                target_fmr: target,
                threshold: t,
                fmr: a,
                fnmr: b,
                underpowered: (impostor as f64) * target < 1.0,
            }
        })
        .collect();

    Metrics {
        pairs: pairs.len(),
        genuine,
        impostor,
        rejected,
        rejection_rate: if pairs.is_empty() {
            0.0
        } else {
            rejected as f64 / pairs.len() as f64
        },
        threshold,
        accuracy,
        fmr,
        fnmr,
        auc,
        eer,
        eer_threshold,
        best_accuracy,
        best_threshold,
        operating_points,
    }
}

/// The smallest f32 above `x` (so `score >= t` excludes `x` itself).
fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    let bits = x.to_bits();
    let next = if x == 0.0 {
        1
    } else if x > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

/// Points of the DET curve (FMR, FNMR) over all thresholds, for plotting.
pub fn det_curve(pairs: &[PairScore]) -> Vec<(f64, f64)> {
    let mut scores: Vec<f32> = pairs.iter().filter_map(|p| p.score).collect();
    scores.sort_by(f32::total_cmp);
    scores.dedup();
    let step = (scores.len() / 400).max(1);
    scores
        .iter()
        .step_by(step)
        .map(|&t| {
            let (a, b, _) = rates(pairs, t);
            (a, b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(same: bool, s: f32) -> PairScore {
        PairScore { same, score: Some(s) }
    }

    #[test]
    fn perfect_separation() {
        let pairs = [p(true, 0.9), p(true, 0.8), p(false, 0.1), p(false, 0.2)];
        let m = compute(&pairs, 0.5, &[0.5]);
        assert_eq!(m.accuracy, 1.0);
        assert_eq!(m.auc, 1.0);
        assert_eq!(m.eer, 0.0);
    }

    #[test]
    fn rejected_pairs_are_errors() {
        let pairs = [
            p(true, 0.9),
            PairScore {
                same: true,
                score: None,
            },
            p(false, 0.1),
            PairScore {
                same: false,
                score: None,
            },
        ];
        let m = compute(&pairs, 0.5, &[]);
        assert_eq!(m.rejected, 2);
        assert_eq!(m.accuracy, 0.5);
        assert_eq!(m.fnmr, 0.5);
        assert_eq!(m.fmr, 0.0);
    }

    #[test]
    fn operating_point_respects_target() {
        let mut pairs: Vec<PairScore> = (0..1000).map(|i| p(false, i as f32 / 1000.0)).collect();
        pairs.extend((0..100).map(|i| p(true, 1.5 + i as f32 / 1000.0)));
        let m = compute(&pairs, 0.5, &[1e-2]);
        let op = m.operating_points[0];
        assert!(op.fmr <= 1e-2, "{op:?}");
        assert!(op.fmr >= 9e-3, "{op:?}");
        assert_eq!(op.fnmr, 0.0);
    }
}
