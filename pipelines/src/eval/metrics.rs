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
    // Rates from the sorted score lists by binary search: the same counts as `rates`, in
    // O(log n) per candidate instead of a pass over every pair (80k pairs x 80k candidates
    // on ORL took longer than embedding the images).
    let at_or_above = |sorted: &[f32], t: f32| sorted.len() - sorted.partition_point(|&s| s < t);
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    for &t in &candidates {
        let (g_hit, i_hit) = (at_or_above(&gen, t), at_or_above(&imp, t));
        let a = div(i_hit, impostor);
        let b = div(genuine - g_hit, genuine);
        let acc = div(g_hit + (imp.len() - i_hit), pairs.len());
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

/// The lowest threshold at which at most `floor(target * n)` of the `n` impostor scores
/// (sorted in descending order) reach it, with how many do: the same rule as the protocol's
/// operating points, the threshold just above the next impostor score.
pub fn threshold_at_fmr(impostors_desc: &[f32], target: f64) -> Option<(f32, u64)> {
    let allowed = (target * impostors_desc.len() as f64).floor() as usize;
    let at = *impostors_desc.get(allowed)?;
    let threshold = next_up(at);
    let false_matches = impostors_desc.partition_point(|&s| s >= threshold) as u64;
    Some((threshold, false_matches))
}

/// Rates on a protocol's pairs at one threshold: (FMR, FNMR, accuracy), rejected pairs
/// counted as errors.
pub fn protocol_rates(pairs: &[PairScore], threshold: f32) -> (f64, f64, f64) {
    rates(pairs, threshold)
}

/// Scores of every pair of accepted images of different people (identity = the image's
/// folder), for several models at once: `values[pair * models + k]` is model `k`'s score.
/// A protocol's few impostor pairs (1,600 in LFW View 1) cannot pin a threshold at FMR 1e-3:
/// that point is its second-highest impostor score. Every cross-identity pair (12 million on
/// View 1) can.
pub struct CrossIdentity {
    pub identities: usize,
    pub images: usize,
    pub models: usize,
    pub values: Vec<f32>,
}

impl CrossIdentity {
    /// `identity[i]` is image i's person; `embeddings[k][i]` its normalised embedding by model k.
    pub fn score(identity: &[&str], embeddings: &[Vec<&[f32]>]) -> CrossIdentity {
        use rayon::prelude::*;
        let models = embeddings.len();
        let n = identity.len();
        let values: Vec<f32> = (0..n)
            .into_par_iter()
            .flat_map_iter(|i| {
                (i + 1..n)
                    .filter(move |&j| identity[j] != identity[i])
                    .flat_map(move |j| (0..models).map(move |k| ikd_engine::dot(embeddings[k][i], embeddings[k][j])))
            })
            .collect();
        let mut people: Vec<&str> = identity.to_vec();
        people.sort_unstable();
        people.dedup();
        CrossIdentity {
            identities: people.len(),
            images: n,
            models,
            values,
        }
    }

    pub fn pairs(&self) -> usize {
        self.values.len() / self.models.max(1)
    }

    /// Model `k`'s scores, one per pair.
    pub fn model(&self, k: usize) -> impl Iterator<Item = f32> + '_ {
        self.values.iter().skip(k).step_by(self.models.max(1)).copied()
    }

    /// Every pair's scores, model by model.
    pub fn rows(&self) -> impl Iterator<Item = &[f32]> + '_ {
        self.values.chunks_exact(self.models.max(1))
    }

    /// Mean and standard deviation of model `k`'s scores.
    pub fn stats(&self, k: usize) -> (f64, f64) {
        let n = self.pairs().max(1) as f64;
        let (mut sum, mut sq) = (0f64, 0f64);
        for v in self.model(k) {
            sum += f64::from(v);
            sq += f64::from(v) * f64::from(v);
        }
        let mean = sum / n;
        (mean, (sq / n - mean * mean).max(0.0).sqrt())
    }
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

    /// The binary-search sweep for EER and best accuracy must agree with the pass over pairs.
    #[test]
    fn sweep_agrees_with_direct_rates() {
        let mut pairs = Vec::new();
        let mut x = 12345u32;
        for i in 0..600 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let s = (x >> 8) as f32 / (1u32 << 24) as f32;
            let same = i % 3 == 0;
            pairs.push(if i % 50 == 7 {
                PairScore { same, score: None }
            } else {
                p(same, if same { s * 0.6 + 0.4 } else { s * 0.7 })
            });
        }
        let m = compute(&pairs, 0.5, &[]);
        let (_, _, best) = rates(&pairs, m.best_threshold);
        assert_eq!(best, m.best_accuracy);
        let (a, b, _) = rates(&pairs, m.eer_threshold);
        assert!(((a + b) / 2.0 - m.eer).abs() < 1e-12);
        // No candidate threshold does better than the reported best.
        for t in pairs.iter().filter_map(|p| p.score) {
            assert!(rates(&pairs, t).2 <= m.best_accuracy);
        }
    }

    #[test]
    fn cross_identity_scores_every_pair_of_different_people() {
        // Three people, two images each, 1-d "embeddings" for two models: 12 pairs.
        let a: Vec<[f32; 1]> = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6].map(|v| [v]).to_vec();
        let b: Vec<[f32; 1]> = [1.0f32, 1.0, 1.0, 1.0, 1.0, 2.0].map(|v| [v]).to_vec();
        let embeddings = vec![
            a.iter().map(|v| v.as_slice()).collect::<Vec<_>>(),
            b.iter().map(|v| v.as_slice()).collect::<Vec<_>>(),
        ];
        let c = CrossIdentity::score(&["a", "a", "b", "b", "c", "c"], &embeddings);
        assert_eq!((c.identities, c.images, c.pairs()), (3, 6, 12));
        let mut first: Vec<f32> = c.model(0).collect();
        first.sort_by(|x, y| y.total_cmp(x));
        // Highest cross scores: 0.4*0.6=0.24 (b,c), 0.3*0.6=0.18 ... one false match allowed.
        let (t, false_matches) = threshold_at_fmr(&first, 0.1).unwrap();
        assert_eq!(false_matches, 1);
        assert!(t > 0.20 && t <= 0.24 + 1e-6, "{t}");
        assert_eq!(
            c.model(1).filter(|&v| v == 2.0).count(),
            4,
            "image 6 with each of b's and a's"
        );
        let (mean, _) = c.stats(1);
        assert!((mean - 16.0 / 12.0).abs() < 1e-9);
    }
}
