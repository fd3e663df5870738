//! Comparison: two embeddings -> a score; a score and a threshold -> a decision.

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

/// A decision with everything needed to trace it afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub decision: Decision,
    /// Cosine similarity (higher is more alike); `None` when rejected before comparing.
    pub score: Option<f32>,
    pub threshold: f32,
    pub reason: Option<Reason>,
    /// Human-readable detail for a rejection.
    pub detail: Option<String>,
    pub detector_model: String,
    pub embedder_model: String,
}
