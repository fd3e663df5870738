//! Comparison: embeddings of one model -> a cosine; cosines of several models -> one fused
//! score; a fused score and a calibrated threshold -> a decision, possibly before every model
//! has run (the cascade).
//!
//! Fusion: each model's cosine becomes a z-score, `z = (cos - mean) / std` with the mean and
//! standard deviation of that model's cosines over impostor pairs, and the fused score is the
//! mean of the z-scores. Scores of different models are only weakly correlated on impostor
//! pairs, so the mean separates better than any single model (README, "Calibration").
//!
//! Cascade: the models run in the matcher's order, cheapest first. After step k the mean of
//! the z-scores so far is compared with two calibrated bounds: at or above `accept[k-1]` the
//! request is a match, at or below `reject[k-1]` it is not, and only in between does the next
//! model run. The bounds were chosen on LFW View 1 so that the early decisions agree with the
//! full fusion and add no false match there.

use crate::embed::ModelEmbedding;
use crate::models::{OperatingPoint, OperatingPointSpec, ScoreStats};
use crate::reason::Reason;
use serde::{Deserialize, Serialize};

/// The outcome of a 1:1 verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Match,
    NoMatch,
    /// Not decided automatically: see the verdict's reason; goes to human review.
    Rejected,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Match => "match",
            Decision::NoMatch => "no_match",
            Decision::Rejected => "rejected",
        }
    }

    /// `match` when the score reaches the threshold.
    pub fn from_score(score: f32, threshold: f32) -> Decision {
        if score >= threshold {
            Decision::Match
        } else {
            Decision::NoMatch
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One model's view of a pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelScore {
    pub model: String,
    /// Cosine similarity of the two L2-normalised embeddings.
    pub cosine: f32,
    /// The cosine in impostor standard deviations above the impostor mean.
    pub z: f32,
}

/// A decision with everything needed to trace it afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub decision: Decision,
    /// The fused score (mean z-score of the models that ran; higher is more alike); `None`
    /// when rejected before comparing.
    pub score: Option<f32>,
    pub threshold: f32,
    pub operating_point: OperatingPoint,
    pub reason: Option<Reason>,
    /// Human-readable detail for a rejection.
    pub detail: Option<String>,
    pub detector_model: String,
    /// The matcher (manifest id) that decided.
    pub matcher: String,
    /// Every model that ran, in cascade order: fewer than the matcher has when the cascade
    /// decided early.
    pub model_scores: Vec<ModelScore>,
}

impl Verdict {
    /// How many embedders ran on the selfie before the decision.
    pub fn embedders_used(&self) -> usize {
        self.model_scores.len()
    }
}

/// A matcher ready to decide: per-model z-normalisation, threshold and cascade bounds.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub id: String,
    pub operating_point: OperatingPoint,
    pub threshold: f32,
    pub stats: Vec<ScoreStats>,
    /// Per step 1..n-1 (empty when the cascade is off or uncalibrated).
    accept: Vec<f32>,
    reject: Vec<f32>,
}

impl Matcher {
    pub fn new(
        id: String,
        stats: Vec<ScoreStats>,
        point: Option<&OperatingPointSpec>,
        operating_point: OperatingPoint,
        threshold_override: Option<f32>,
        cascade: bool,
    ) -> Result<Matcher, String> {
        let threshold = match (threshold_override, point) {
            (Some(t), _) => t,
            (None, Some(p)) => p.threshold,
            (None, None) => {
                return Err(format!(
                    "matcher {id} has no calibrated {operating_point} threshold in the manifest: calibrate it \
                     with `ikd eval pairs --cross-identity --calibrate` or give a threshold"
                ))
            }
        };
        if !threshold.is_finite() {
            return Err("threshold must be a finite number".into());
        }
        // A threshold override moves the decision away from the calibrated bounds: the cascade
        // stays off then, so early decisions can never contradict the threshold in force.
        let (accept, reject) = match point {
            Some(p) if cascade && threshold_override.is_none() => (p.accept.clone(), p.reject.clone()),
            _ => (Vec::new(), Vec::new()),
        };
        Ok(Matcher {
            id,
            operating_point,
            threshold,
            stats,
            accept,
            reject,
        })
    }

    pub fn len(&self) -> usize {
        self.stats.len()
    }

    /// Whether the cascade may stop before the last model.
    pub fn cascades(&self) -> bool {
        !self.accept.is_empty()
    }

    /// The fused score of the z-scores so far.
    pub fn fused(zs: &[f32]) -> f32 {
        zs.iter().sum::<f32>() / zs.len().max(1) as f32
    }

    /// After `zs.len()` models: the decision when it can be taken now, `None` when the next
    /// model must run. With every model scored this is always `Some`.
    pub fn decide(&self, zs: &[f32]) -> Option<Decision> {
        let score = Matcher::fused(zs);
        if zs.len() >= self.len() {
            return Some(Decision::from_score(score, self.threshold));
        }
        let step = zs.len().checked_sub(1)?;
        match (self.accept.get(step), self.reject.get(step)) {
            (Some(&a), _) if score >= a => Some(Decision::Match),
            (_, Some(&r)) if score <= r => Some(Decision::NoMatch),
            _ => None,
        }
    }

    /// The z-score of model `k`'s cosine.
    pub fn z(&self, k: usize, cosine: f32) -> f32 {
        self.stats.get(k).map_or(cosine, |s| s.z(cosine))
    }

    /// Model `k`'s (id `model`) view of a pair with this cosine.
    pub fn score(&self, k: usize, model: &str, cosine: f32) -> ModelScore {
        ModelScore {
            model: model.to_owned(),
            cosine,
            z: self.z(k, cosine),
        }
    }

    /// The verdict on the scores of the models that ran, with this matcher's threshold and id.
    /// With fewer scores than models the cascade's bounds decide; where they do not, the
    /// verdict is `rejected`.
    pub fn verdict(&self, model_scores: Vec<ModelScore>, detector_model: &str) -> Verdict {
        let zs: Vec<f32> = model_scores.iter().map(|s| s.z).collect();
        let decision = self.decide(&zs);
        Verdict {
            decision: decision.unwrap_or(Decision::Rejected),
            score: Some(Matcher::fused(&zs)),
            threshold: self.threshold,
            operating_point: self.operating_point,
            reason: None,
            detail: decision
                .is_none()
                .then(|| format!("only {} of {} embedders scored", zs.len(), self.len())),
            detector_model: detector_model.to_owned(),
            matcher: self.id.clone(),
            model_scores,
        }
    }

    /// A `rejected` verdict with a reason, before any comparison.
    pub fn rejected(&self, reason: Reason, detail: String, detector_model: &str) -> Verdict {
        Verdict {
            decision: Decision::Rejected,
            score: None,
            threshold: self.threshold,
            operating_point: self.operating_point,
            reason: Some(reason),
            detail: Some(detail),
            detector_model: detector_model.to_owned(),
            matcher: self.id.clone(),
            model_scores: Vec::new(),
        }
    }
}

/// Why a stored reference cannot be compared with embedders `(id, dims)`, if it cannot: it
/// lacks one of them, or holds one with another length.
pub(crate) fn reference_mismatch<'a>(
    embedders: impl IntoIterator<Item = (&'a str, usize)>,
    reference: &[ModelEmbedding],
) -> Option<String> {
    embedders
        .into_iter()
        .find_map(|(id, dims)| match reference.iter().find(|e| e.model == id) {
            None => Some(format!(
                "the reference has no {id} embedding (it holds {}); extend the gallery with `ikd gallery build`",
                reference
                    .iter()
                    .map(|e| e.model.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(e) if e.embedding.len() != dims => Some(format!(
                "the reference's {id} embedding has {} values, the model makes {dims}",
                e.embedding.len(),
            )),
            Some(_) => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(accept: Vec<f32>, reject: Vec<f32>) -> Matcher {
        let stats = ScoreStats {
            mean: 0.0,
            std: 1.0,
            pairs: 1,
        };
        Matcher {
            id: "a+b".into(),
            operating_point: OperatingPoint::Fmr1e4,
            threshold: 4.0,
            stats: vec![stats; 2],
            accept,
            reject,
        }
    }

    #[test]
    fn the_cascade_decides_early_only_outside_its_band() {
        let m = matcher(vec![7.0], vec![2.0]);
        assert_eq!(m.decide(&[7.5]), Some(Decision::Match));
        assert_eq!(m.decide(&[1.0]), Some(Decision::NoMatch));
        assert_eq!(m.decide(&[4.5]), None, "inside the band the next model runs");
        assert_eq!(
            m.decide(&[4.5, 3.0]),
            Some(Decision::NoMatch),
            "the mean 3.75 is below 4"
        );
        assert_eq!(m.decide(&[4.5, 3.6]), Some(Decision::Match));
    }

    #[test]
    fn without_bands_every_model_runs() {
        let m = matcher(vec![], vec![]);
        assert!(!m.cascades());
        assert_eq!(m.decide(&[100.0]), None);
        assert_eq!(m.decide(&[5.0, 3.5]), Some(Decision::Match));
        assert_eq!(m.decide(&[5.0, 2.5]), Some(Decision::NoMatch));
    }
}
