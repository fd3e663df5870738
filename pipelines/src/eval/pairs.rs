//! Pairs -> scores: a labelled pairs file, every distinct image embedded once by every
//! embedder (on all cores), and each pair's cosine model by model ([`Evaluation`]); the
//! cross-identity impostors of its accepted images ([`cross_identity`]).

use super::metrics::{CrossIdentity, PairScore};
use anyhow::Context;
use ikd_engine::{Embedding, Engine, FacePolicy, FaceReport, ScoreStats};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One labelled pair of a pairs file: two image paths (relative to the file) and whether they
/// show the same person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub same: bool,
}

/// Reads `a,b,same` rows.
pub fn read_pairs(path: &Path) -> anyhow::Result<Vec<Pair>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{} row {}", path.display(), i + 2))?;
        let (a, b, same) = (row.get(0), row.get(1), row.get(2));
        match (a, b, same.map(str::trim)) {
            (Some(a), Some(b), Some(same @ ("1" | "0"))) => out.push(Pair {
                a: a.to_owned(),
                b: b.to_owned(),
                same: same == "1",
            }),
            _ => anyhow::bail!("{} row {}: expected a,b,same with same 1 or 0", path.display(), i + 2),
        }
    }
    Ok(out)
}

/// Everything `eval pairs` embedded and scored.
pub struct Evaluation {
    /// The pairs file evaluated and the face policy its images were read with.
    pub source: PathBuf,
    pub face_policy: FacePolicy,
    pub pairs: Vec<Pair>,
    /// The engine's embedders, in its order.
    pub models: Vec<String>,
    /// Distinct images, sorted, with one embedding per model or why the image was refused.
    pub images: Vec<String>,
    pub results: Vec<Result<Vec<Embedding>, String>>,
    pub faces: Vec<Option<FaceReport>>,
    /// Per pair, each model's cosine; `None` when either image was refused.
    pub cosines: Vec<Option<Vec<f32>>>,
    pub elapsed: std::time::Duration,
}

impl Evaluation {
    /// Replaces every embedding by what a gallery in `enc` gives back, and re-scores the pairs.
    pub fn round_trip_templates(&mut self, enc: crate::batch::encoding::EmbeddingEncoding) {
        for e in self.results.iter_mut().flatten() {
            for emb in e.iter_mut() {
                if let Some(q) = Embedding::from_raw(&enc.round_trip(emb.as_slice())) {
                    *emb = q;
                }
            }
        }
        self.cosines = pair_cosines(&self.pairs, &self.images, &self.results);
    }

    /// The protocol pairs scored by one model's cosine.
    pub fn model_pairs(&self, k: usize) -> Vec<PairScore> {
        self.pairs
            .iter()
            .zip(&self.cosines)
            .map(|(p, c)| PairScore {
                same: p.same,
                score: c.as_ref().map(|c| c[k]),
            })
            .collect()
    }

    /// The protocol pairs scored by the mean z-score of the models `subset`.
    pub fn fused_pairs(&self, subset: &[usize], stats: &[ScoreStats]) -> Vec<PairScore> {
        self.pairs
            .iter()
            .zip(&self.cosines)
            .map(|(p, c)| PairScore {
                same: p.same,
                score: c.as_ref().map(|c| fused(c, subset, stats)),
            })
            .collect()
    }

    /// How many pairs are genuine (same person).
    pub fn genuine(&self) -> usize {
        self.pairs.iter().filter(|p| p.same).count()
    }

    /// Pairs refused (either image refused): counted as errors.
    pub fn rejected_pairs(&self) -> usize {
        self.cosines.iter().filter(|c| c.is_none()).count()
    }

    /// Images refused.
    pub fn rejected_images(&self) -> usize {
        self.results.iter().filter(|r| r.is_err()).count()
    }
}

/// Mean z-score of the models `subset` (`stats` indexed like `cosines`).
pub(crate) fn fused(cosines: &[f32], subset: &[usize], stats: &[ScoreStats]) -> f32 {
    subset.iter().map(|&k| stats[k].z(cosines[k])).sum::<f32>() / subset.len() as f32
}

/// Per pair, each model's cosine; `None` when either image was refused.
fn pair_cosines(
    pairs: &[Pair],
    images: &[String],
    results: &[Result<Vec<Embedding>, String>],
) -> Vec<Option<Vec<f32>>> {
    let by_name: HashMap<&str, &Result<Vec<Embedding>, String>> =
        images.iter().map(String::as_str).zip(results).collect();
    pairs
        .iter()
        .map(|p| match (by_name.get(p.a.as_str()), by_name.get(p.b.as_str())) {
            (Some(Ok(x)), Some(Ok(y))) => x.iter().zip(y).map(|(p, q)| p.similarity(q)).collect(),
            _ => None,
        })
        .collect()
}

/// Embeds every distinct image of a pairs file once with every embedder (on all cores) and
/// scores every pair model by model. An engine fault on any image is an error; a refused
/// image is recorded with its reason.
pub fn evaluate_pairs(engine: &Engine, pairs_csv: &Path, policy: FacePolicy) -> anyhow::Result<Evaluation> {
    let list = read_pairs(pairs_csv)?;
    let base = pairs_csv.parent().unwrap_or(Path::new(".")).to_owned();
    let mut images: Vec<String> = list.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    images.sort_unstable();
    images.dedup();
    let models: Vec<String> = engine.embedders().map(|e| e.id.clone()).collect();

    let started = std::time::Instant::now();
    type Analysed = (Result<Vec<Embedding>, String>, Option<FaceReport>);
    let analysed: Vec<Analysed> = images
        .par_iter()
        .map(|name| {
            let bytes = match std::fs::read(base.join(name)) {
                Ok(b) => b,
                Err(e) => return (Err(format!("file_not_found: {e}")), None),
            };
            let a = engine.analyze(&bytes, policy);
            let result = match a.result {
                Ok(t) => Ok(t.embeddings.into_iter().map(|e| e.embedding).collect()),
                // A face rejection's text already starts with its reason code.
                Err(ikd_engine::Error::Face(rejection)) => Err(rejection.to_string()),
                Err(e) => match e.reason() {
                    Some(r) => Err(format!("{r}: {e}")),
                    None => Err(format!("engine failure: {e}")),
                },
            };
            (result, a.face)
        })
        .collect();
    let elapsed = started.elapsed();
    let (results, faces): (Vec<_>, Vec<_>) = analysed.into_iter().unzip();
    if let Some(failure) = results
        .iter()
        .find_map(|r| r.as_ref().err().filter(|e| e.starts_with("engine failure")))
    {
        anyhow::bail!("{failure}");
    }
    let cosines = pair_cosines(&list, &images, &results);
    Ok(Evaluation {
        source: pairs_csv.to_owned(),
        face_policy: policy,
        pairs: list,
        models,
        images,
        results,
        faces,
        cosines,
        elapsed,
    })
}

/// The cross-identity impostor pairs of an evaluation's accepted images, model by model
/// (identity = the image's folder).
pub fn cross_identity(ev: &Evaluation) -> anyhow::Result<CrossIdentity> {
    let mut identity = Vec::new();
    let mut embeddings: Vec<Vec<&[f32]>> = vec![Vec::new(); ev.models.len()];
    for (name, r) in ev.images.iter().zip(&ev.results) {
        let person = Path::new(name)
            .parent()
            .and_then(|p| p.to_str())
            .filter(|p| !p.is_empty())
            .with_context(|| format!("--cross-identity needs one folder per person; {name} has none"))?;
        if let Ok(e) = r {
            identity.push(person);
            for (k, emb) in e.iter().enumerate() {
                embeddings[k].push(emb.as_slice());
            }
        }
    }
    Ok(CrossIdentity::score(&identity, &embeddings))
}
