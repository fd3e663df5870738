//! `ikd eval pairs PAIRS.csv`: accuracy, AUC, EER and FNMR at fixed FMRs on labelled pairs,
//! for each embedder alone and for each matcher (fused score, cascade), with every distinct
//! image embedded once by every embedder, on all cores. `--calibrate` writes the impostor
//! statistics, thresholds and cascade bounds it measured into a manifest.

use super::common::EngineArgs;
use crate::metrics::{self, CrossIdentity, Metrics, PairScore};
use anyhow::Context;
use ikd_engine::{Embedding, Engine, FacePolicy, FaceReport, MatcherSpec, OperatingPoint, ScoreStats};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum EvalCommand {
    /// Accuracy on labelled pairs (CSV columns a,b,same; paths relative to the CSV).
    Pairs(PairsArgs),
    /// How the offline face check does when the reference is the small portrait a credential
    /// carries, at each photo byte budget (CSV columns a,b,same; b gives the portrait).
    Portrait(super::eval_portrait::PortraitArgs),
}

#[derive(clap::Args)]
pub struct PairsArgs {
    pub pairs: PathBuf,
    /// Which face to take in each image: single (selfie rule), largest, center.
    #[arg(long, default_value = "single")]
    pub face_policy: FacePolicy,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Write a DET plot (FNMR against FMR, log scales; one curve per embedder plus the
    /// engine's fused score) as PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Write every pair's per-model cosines, fused score and decisions as CSV.
    #[arg(long, value_name = "FILE.csv")]
    pub scores_out: Option<PathBuf>,
    /// Write every image's outcome (reason) and measured quality as CSV (for tuning gates).
    #[arg(long, value_name = "FILE.csv")]
    pub images_out: Option<PathBuf>,
    /// Also score every pair of images of different people (identity = the image's folder):
    /// the operating points are read off that larger impostor set, the way the manifest's
    /// thresholds are calibrated (see README).
    #[arg(long)]
    pub cross_identity: bool,
    /// Rewrite this manifest with what the run measured: each embedder's impostor
    /// statistics and, for every matcher made of the engine's embedders, the thresholds and
    /// cascade bounds at each operating point (needs --cross-identity and the manifest's own
    /// flip and refinement settings).
    #[arg(long, value_name = "MANIFEST.toml", requires = "cross_identity")]
    pub calibrate: Option<PathBuf>,
    /// Safety margin (z-score units) the cascade's bounds keep from the calibration pairs.
    #[arg(long, default_value_t = 0.5)]
    pub cascade_margin: f32,
    /// Score every template as it reads back from a gallery stored in this encoding (f16,
    /// int8). Both sides of every pair are round-tripped, a conservative bound: in a run only
    /// the gallery side is.
    #[arg(long, value_enum, conflicts_with = "calibrate")]
    pub template_encoding: Option<crate::batch::encoding::EmbeddingEncoding>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(cmd: EvalCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EvalCommand::Pairs(args) => pairs(args),
        EvalCommand::Portrait(args) => super::eval_portrait::run(args),
    }
}

/// Reads `a,b,same` rows.
pub fn read_pairs(path: &Path) -> anyhow::Result<Vec<(String, String, bool)>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{} row {}", path.display(), i + 2))?;
        let (a, b, same) = (row.get(0), row.get(1), row.get(2));
        match (a, b, same.map(str::trim)) {
            (Some(a), Some(b), Some("1")) => out.push((a.to_owned(), b.to_owned(), true)),
            (Some(a), Some(b), Some("0")) => out.push((a.to_owned(), b.to_owned(), false)),
            _ => anyhow::bail!("{} row {}: expected a,b,same with same 1 or 0", path.display(), i + 2),
        }
    }
    Ok(out)
}

/// Everything `eval pairs` embedded and scored.
pub struct Evaluation {
    pub pairs: Vec<(String, String, bool)>,
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
            .map(|((_, _, same), c)| PairScore {
                same: *same,
                score: c.as_ref().map(|c| c[k]),
            })
            .collect()
    }

    /// The protocol pairs scored by the mean z-score of the models `subset`.
    pub fn fused_pairs(&self, subset: &[usize], stats: &[ScoreStats]) -> Vec<PairScore> {
        self.pairs
            .iter()
            .zip(&self.cosines)
            .map(|((_, _, same), c)| PairScore {
                same: *same,
                score: c.as_ref().map(|c| fused(c, subset, stats)),
            })
            .collect()
    }
}

/// Mean z-score of the models `subset` (`stats` indexed like `cosines`).
fn fused(cosines: &[f32], subset: &[usize], stats: &[ScoreStats]) -> f32 {
    subset.iter().map(|&k| stats[k].z(cosines[k])).sum::<f32>() / subset.len() as f32
}

/// Embeds every distinct image of a pairs file once with every embedder (on all cores) and
/// scores every pair model by model.
/// Per pair, each model's cosine; `None` when either image was refused.
fn pair_cosines(
    pairs: &[(String, String, bool)],
    images: &[String],
    results: &[Result<Vec<Embedding>, String>],
) -> Vec<Option<Vec<f32>>> {
    let by_name: HashMap<&str, &Result<Vec<Embedding>, String>> =
        images.iter().map(String::as_str).zip(results).collect();
    pairs
        .iter()
        .map(|(a, b, _)| match (by_name.get(a.as_str()), by_name.get(b.as_str())) {
            (Some(Ok(x)), Some(Ok(y))) => x.iter().zip(y).map(|(p, q)| p.similarity(q)).collect(),
            _ => None,
        })
        .collect()
}

pub fn evaluate_pairs(engine: &Engine, pairs_csv: &Path, policy: FacePolicy) -> anyhow::Result<Evaluation> {
    let list = read_pairs(pairs_csv)?;
    let base = pairs_csv.parent().unwrap_or(Path::new(".")).to_owned();
    let mut images: Vec<String> = list.iter().flat_map(|(a, b, _)| [a.clone(), b.clone()]).collect();
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
        pairs: list,
        models,
        images,
        results,
        faces,
        cosines,
        elapsed,
    })
}

/// The cross-identity impostor pairs of an evaluation's accepted images, model by model.
fn cross_identity(ev: &Evaluation) -> anyhow::Result<CrossIdentity> {
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

const TARGETS: [f64; 3] = [1e-3, 1e-4, 1e-5];

fn score_report(name: &str, pairs: &[PairScore], cross_desc: Option<&[f32]>) -> ScoreReport {
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

fn sorted_desc(mut v: Vec<f32>) -> Vec<f32> {
    v.par_sort_unstable_by(|a, b| b.total_cmp(a));
    v
}

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
fn cascade_decision(zs: &[f32], threshold: f32, accept: &[f32], reject: &[f32]) -> (bool, usize) {
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
fn pair_zs(cosines: &[f32], order: &[usize], stats: &[ScoreStats]) -> Vec<f32> {
    order.iter().map(|&k| stats[k].z(cosines[k])).collect()
}

fn cascade_report(
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
    for ((_, _, same), c) in ev.pairs.iter().zip(&ev.cosines) {
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
fn calibrate_cascade(
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
        .filter_map(|((_, _, same), c)| c.as_ref().map(|c| (*same, pair_zs(c, order, stats))))
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
fn round_up(v: f32) -> f32 {
    (v * 1000.0).ceil() / 1000.0
}

fn round_down(v: f32) -> f32 {
    (v * 1000.0).floor() / 1000.0
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

fn pairs(args: PairsArgs) -> anyhow::Result<ExitCode> {
    let engine = args.engine.build()?;
    if args.calibrate.is_some() {
        let c = engine.config();
        anyhow::ensure!(
            c.flip_augment.is_none() && c.refine_landmarks,
            "--calibrate measures the manifest's own settings: drop --flip-augment / --no-flip-augment \
             and --no-refine-landmarks"
        );
    }
    let mut ev = evaluate_pairs(&engine, &args.pairs, args.face_policy)?;
    if let Some(enc) = args.template_encoding {
        ev.round_trip_templates(enc);
    }
    let rejected_images = ev.results.iter().filter(|r| r.is_err()).count();
    let cross = if args.cross_identity {
        Some(cross_identity(&ev)?)
    } else {
        None
    };
    let n_models = ev.models.len();
    let manifest_stats: Vec<ScoreStats> = engine.embedders().map(|e| e.impostor).collect();
    // Impostor statistics: measured on the cross-identity pairs when scored.
    let measured_stats: Option<Vec<ScoreStats>> = cross.as_ref().map(|c| {
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
    let calibrating = args.calibrate.is_some();
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
            let desc = cross.as_ref().map(|c| sorted_desc(c.model(k).collect()));
            score_report(&ev.models[k], &ev.model_pairs(k), desc.as_deref())
        })
        .collect();

    let mut reports = Vec::new();
    let mut calibrated: Vec<(String, Vec<ikd_engine::OperatingPointSpec>)> = Vec::new();
    for (spec, order) in evaluable(&engine, &ev)? {
        let fused_desc_with = |stats: &[ScoreStats]| {
            cross
                .as_ref()
                .map(|c| sorted_desc(c.rows().map(|r| fused(r, &order, stats)).collect()))
        };
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
                    &ev,
                    cross.as_ref().expect("--calibrate requires --cross-identity"),
                    &order,
                    &stats,
                    t,
                    args.cascade_margin,
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
                .then(|| cascade_report(&ev, cross.as_ref(), &order, &stats, threshold, &accept, &reject));
            if calibrating {
                specs.push(ikd_engine::OperatingPointSpec {
                    name,
                    threshold,
                    accept: accept.clone(),
                    reject: reject.clone(),
                    calibrated_on: calibration_note(&ev, cross.as_ref(), &engine, &args),
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

    if let Some(path) = &args.calibrate {
        let stats = measured_stats.as_ref().expect("--calibrate requires --cross-identity");
        write_calibration(path, &ev.models, stats, &calibrated)?;
        eprintln!("ikd eval: calibration written to {}", path.display());
    }
    if let Some(path) = &args.scores_out {
        write_scores(path, &engine, &ev)?;
    }
    if let Some(path) = &args.images_out {
        write_images(path, &ev)?;
    }
    if let Some(path) = &args.plot {
        plot_det(path, &engine, &ev, cross.as_ref(), &stats).with_context(|| format!("writing {}", path.display()))?;
    }

    let images_per_second = ev.images.len() as f64 / ev.elapsed.as_secs_f64().max(1e-9);
    let genuine = ev.pairs.iter().filter(|p| p.2).count();
    let rejected_pairs = ev.cosines.iter().filter(|c| c.is_none()).count();
    if args.json {
        let out = json!({
            "pairs": ev.pairs.len(),
            "genuine": genuine,
            "impostor": ev.pairs.len() - genuine,
            "rejected_pairs": rejected_pairs,
            "rejection_rate": rejected_pairs as f64 / ev.pairs.len().max(1) as f64,
            "images": ev.images.len(),
            "rejected_images": rejected_images,
            "images_per_second": images_per_second,
            "face_policy": args.face_policy,
            "detector_model": engine.detector_id(),
            "matcher": engine.matcher_id(),
            "operating_point": engine.operating_point(),
            "threshold": engine.threshold(),
            "backend": engine.backend(),
            "embedders": engine.embedders().collect::<Vec<_>>(),
            "cross_identity": cross.as_ref().map(|c| json!({
                "pairs": c.pairs(), "images": c.images, "identities": c.identities,
                "impostor_stats": measured_stats,
            })),
            "models": per_model,
            "matchers": reports,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "pairs            {} ({genuine} genuine, {} impostor)",
            ev.pairs.len(),
            ev.pairs.len() - genuine
        );
        println!(
            "images           {} ({rejected_images} refused), {images_per_second:.1} images/s",
            ev.images.len()
        );
        println!(
            "refused pairs    {rejected_pairs} ({:.2} %), counted as errors",
            100.0 * rejected_pairs as f64 / ev.pairs.len().max(1) as f64
        );
        if let Some(c) = &cross {
            println!(
                "cross-identity   {} impostor pairs among {} accepted images of {} people",
                c.pairs(),
                c.images,
                c.identities
            );
        }
        println!();
        print_score_header(cross.is_some());
        for r in &per_model {
            print_score_row(r);
        }
        for m in &reports {
            print_score_row(&m.fused);
        }
        for m in &reports {
            print_points(m, m.id == engine.matcher_id());
        }
        if let Some(stats) = &measured_stats {
            println!("\nimpostor cosine statistics (cross-identity):");
            for (id, s) in ev.models.iter().zip(stats) {
                println!("  {id:<16} mean {:.5}  std {:.5}", s.mean, s.std);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn calibration_note(ev: &Evaluation, cross: Option<&CrossIdentity>, engine: &Engine, args: &PairsArgs) -> String {
    let name = args
        .pairs
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let genuine = ev.pairs.iter().filter(|p| p.2).count();
    format!(
        "{name}: {} cross-identity impostor pairs of {} images, {genuine} genuine pairs; face policy {}, \
         backend {}, engine {}; `ikd eval pairs --cross-identity --calibrate`, cascade margin {}",
        cross.map_or(0, |c| c.pairs()),
        cross.map_or(0, |c| c.images),
        serde_json::to_value(args.face_policy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        engine.backend(),
        ikd_engine::ENGINE_VERSION,
        args.cascade_margin
    )
}

/// Rewrites `path` (a manifest) in place, keeping its comments and layout: every measured
/// embedder's `impostor` table and the operating points of the calibrated matchers.
fn write_calibration(
    path: &Path,
    models: &[String],
    stats: &[ScoreStats],
    matchers: &[(String, Vec<ikd_engine::OperatingPointSpec>)],
) -> anyhow::Result<()> {
    use toml_edit::{value, Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table};
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut doc: DocumentMut = text.parse().with_context(|| format!("parsing {}", path.display()))?;
    let round = |v: f32, digits: i32| {
        let k = 10f64.powi(digits);
        (f64::from(v) * k).round() / k
    };
    if let Some(list) = doc.get_mut("model").and_then(Item::as_array_of_tables_mut) {
        for t in list.iter_mut() {
            let id = t.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            if let Some(k) = models.iter().position(|m| *m == id) {
                let mut s = InlineTable::new();
                s.insert("mean", round(stats[k].mean, 6).into());
                s.insert("std", round(stats[k].std, 6).into());
                s.insert("pairs", (stats[k].pairs as i64).into());
                t.insert("impostor", value(s));
            }
        }
    }
    if let Some(list) = doc.get_mut("matcher").and_then(Item::as_array_of_tables_mut) {
        for t in list.iter_mut() {
            let id = t.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let Some((_, points)) = matchers.iter().find(|(m, _)| *m == id) else {
                continue;
            };
            let mut out = ArrayOfTables::new();
            for p in points {
                let mut pt = Table::new();
                pt.insert("name", value(p.name.as_str()));
                pt.insert("threshold", value(round(p.threshold, 3)));
                if !p.accept.is_empty() {
                    let floats = |v: &[f32]| v.iter().map(|x| round(*x, 3)).collect::<Array>();
                    pt.insert("accept", value(floats(&p.accept)));
                    pt.insert("reject", value(floats(&p.reject)));
                }
                pt.insert("calibrated_on", value(p.calibrated_on.as_str()));
                out.push(pt);
            }
            t.insert("operating_point", Item::ArrayOfTables(out));
        }
    }
    // The result must load as a manifest.
    ikd_engine::Manifest::parse(&doc.to_string(), path)?;
    crate::batch::write_atomic(path, doc.to_string().as_bytes(), None)?;
    Ok(())
}

fn print_score_header(cross: bool) {
    println!(
        "{:<18} {:>9} {:>8} {:>7}   FNMR at FMR 1e-3 / 1e-4 / 1e-5{}",
        "score",
        "best acc",
        "AUC",
        "EER",
        if cross {
            " (cross-identity thresholds)"
        } else {
            " (protocol impostors)"
        }
    );
}

fn print_score_row(r: &ScoreReport) {
    let at = r
        .at_fmr
        .iter()
        .map(|p| format!("{:6.2} %{}", p.fnmr * 100.0, if p.underpowered { "*" } else { "" }))
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "{:<18} {:>7.2} % {:>8.5} {:>5.2} %   {at}",
        r.name,
        r.best_accuracy * 100.0,
        r.auc,
        r.eer * 100.0
    );
}

fn print_points(m: &MatcherReport, is_engine: bool) {
    if m.points.is_empty() {
        return;
    }
    println!(
        "\nmatcher {}{} ({})",
        m.id,
        if is_engine { " [this engine]" } else { "" },
        m.embedders.join(" -> ")
    );
    for p in &m.points {
        println!(
            "  {} threshold {:.3} ({}): accuracy {:.2} %, FMR {:.4} %{}, FNMR {:.2} %",
            p.name,
            p.threshold,
            p.source,
            p.accuracy * 100.0,
            p.fmr * 100.0,
            p.cross_fmr
                .map(|f| format!(" (cross-identity {:.5} %)", f * 100.0))
                .unwrap_or_default(),
            p.fnmr * 100.0
        );
        if let Some(c) = &p.cascade {
            let share = |d: &[u64]| {
                let total = d.iter().sum::<u64>().max(1) as f64;
                d.iter()
                    .map(|n| format!("{:.1} %", 100.0 * *n as f64 / total))
                    .collect::<Vec<_>>()
                    .join(" / ")
            };
            println!(
                "    cascade accept {:?} reject {:?}: agrees on {:.4} % of {} pairs ({} differ, {} false matches \
                 added), FNMR {:.2} %; models per pair genuine {:.2}, impostor {:.2}; decided per step genuine {}, \
                 impostor {}",
                c.accept,
                c.reject,
                c.agreement * 100.0,
                c.pairs,
                c.disagreements,
                c.false_matches_added,
                c.fnmr * 100.0,
                c.mean_models_genuine,
                c.mean_models_impostor,
                share(&c.decided_genuine),
                share(&c.decided_impostor)
            );
        }
    }
}

fn write_scores(path: &Path, engine: &Engine, ev: &Evaluation) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    let mut header = vec!["a".to_owned(), "b".into(), "same".into()];
    header.extend(ev.models.iter().map(|m| format!("cosine_{m}")));
    header.extend(["fused".into(), "decision".into(), "embedders_used".into()]);
    w.write_record(&header)?;
    let n = ev.models.len();
    for ((a, b, same), c) in ev.pairs.iter().zip(&ev.cosines) {
        let mut row = vec![a.clone(), b.clone(), if *same { "1" } else { "0" }.to_owned()];
        match c {
            Some(c) => {
                row.extend(c.iter().map(|v| format!("{v:.6}")));
                let zs: Vec<f32> = c.iter().enumerate().map(|(k, &v)| engine.z_score(k, v)).collect();
                let fused = zs.iter().sum::<f32>() / n as f32;
                // What the engine decides with its cascade, and after how many embedders.
                let (decision, used) = (1..=n)
                    .find_map(|k| engine.cascade_decision(&zs[..k]).map(|d| (d.as_str(), k)))
                    .unwrap_or(("rejected", n));
                row.extend([format!("{fused:.4}"), decision.to_owned(), used.to_string()]);
            }
            None => {
                row.extend(std::iter::repeat_n(String::new(), n + 1));
                row.extend(["rejected".to_owned(), "0".into()]);
            }
        }
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

fn write_images(path: &Path, ev: &Evaluation) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "image",
        "outcome",
        "score",
        "inter_eye_px",
        "face_px",
        "box_outside",
        "edge_margin",
        "yaw",
        "pitch",
        "roll",
        "sharpness",
    ])?;
    for ((name, r), face) in ev.images.iter().zip(&ev.results).zip(&ev.faces) {
        let outcome = match r {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.clone(),
        };
        let mut row = vec![name.to_string(), outcome];
        match face {
            Some(f) => {
                let q = &f.quality;
                row.extend(
                    [
                        f.detection.score,
                        q.inter_eye_px,
                        q.face_px,
                        q.box_outside,
                        q.edge_margin,
                        q.yaw,
                        q.pitch,
                        q.roll_degrees,
                    ]
                    .map(|v| format!("{v:.4}")),
                );
                row.push(q.sharpness.map(|s| format!("{s:.4}")).unwrap_or_default());
            }
            None => row.extend(std::iter::repeat_n(String::new(), 9)),
        }
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

/// DET curves: FNMR on the genuine pairs against FMR (on the cross-identity impostors when
/// scored, else the protocol's), one per embedder and one for the engine's fused score.
fn plot_det(
    path: &Path,
    engine: &Engine,
    ev: &Evaluation,
    cross: Option<&CrossIdentity>,
    stats: &[ScoreStats],
) -> anyhow::Result<()> {
    use plotters::prelude::*;
    super::fonts::register();
    let order: Vec<usize> = (0..ev.models.len()).collect();
    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let curve = |pairs: &[PairScore], impostors: Option<Vec<f32>>| -> Vec<(f64, f64)> {
        let mut gen: Vec<f32> = pairs.iter().filter(|p| p.same).filter_map(|p| p.score).collect();
        gen.sort_by(f32::total_cmp);
        let n_gen = pairs.iter().filter(|p| p.same).count().max(1) as f64;
        let mut imp = impostors.unwrap_or_else(|| {
            pairs
                .iter()
                .filter(|p| !p.same)
                .filter_map(|p| p.score)
                .collect::<Vec<_>>()
        });
        imp.par_sort_unstable_by(f32::total_cmp);
        let n_imp = imp.len().max(1) as f64;
        let mut ts: Vec<f32> = gen.clone();
        ts.extend(imp.iter().rev().take(20_000).copied());
        ts.sort_by(f32::total_cmp);
        ts.dedup();
        ts.iter()
            .map(|&t| {
                let fm = imp.len() - imp.partition_point(|&s| s < t);
                let missed = gen.partition_point(|&s| s < t) as f64 + (n_gen - gen.len() as f64);
                (fm as f64 / n_imp, missed / n_gen)
            })
            .collect()
    };
    for k in 0..ev.models.len() {
        curves.push((
            ev.models[k].clone(),
            curve(&ev.model_pairs(k), cross.map(|c| c.model(k).collect())),
        ));
    }
    if ev.models.len() > 1 {
        let fused_cross = cross.map(|c| c.rows().map(|r| fused(r, &order, stats)).collect());
        curves.push((
            format!("fused: {}", engine.matcher_id()),
            curve(&ev.fused_pairs(&order, stats), fused_cross),
        ));
    }
    let floor = 1e-6f64;
    let root = BitMapBackend::new(path, (900, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let genuine = ev.pairs.iter().filter(|p| p.2).count();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "DET: {genuine} genuine pairs, {} impostor pairs",
                cross.map_or(ev.pairs.len() - genuine, |c| c.pairs())
            ),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((floor..1.0).log_scale(), (1e-4..1.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("false match rate")
        .y_desc("false non-match rate")
        .label_style(("sans-serif", 14))
        .draw()?;
    let colours = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (name, points)) in curves.into_iter().enumerate() {
        let colour = colours[i % colours.len()];
        let points: Vec<(f64, f64)> = points.into_iter().map(|(a, b)| (a.max(floor), b.max(1e-4))).collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    for target in TARGETS {
        chart.draw_series(LineSeries::new(
            vec![(target, 1e-4), (target, 1.0)],
            BLACK.mix(0.25).stroke_width(1),
        ))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The metrics of one score over the pairs at a threshold (kept for callers that want the
/// classic single-threshold view).
pub fn metrics_at(pairs: &[PairScore], threshold: f32) -> Metrics {
    metrics::compute(pairs, threshold, &TARGETS)
}

#[cfg(test)]
mod tests {
    use super::*;

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
