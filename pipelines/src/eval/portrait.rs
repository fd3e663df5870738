//! The offline face check against portraits (`ikd eval portrait PAIRS.csv`): how much weaker it
//! is when the reference side is the small portrait a credential carries instead of the
//! gallery template, at each photo byte budget ([`portrait_study`]).
//!
//! For every pair (a, b) of the file, a is the live photo (selfie rule and quality gates, as a
//! verifier's camera) and b's reference is its portrait at each byte budget: warped from b,
//! JPEG-compressed to the budget, decoded again, embedded on the portrait geometry. The
//! decision is the engine's own (its operating point and cascade), exactly what
//! `ikd credential verify --face` decides. Rejected pairs count as errors. The impostor side is
//! the protocol's different-person pairs and, with `--cross-identity`, every ordered pair of
//! images of different people (live i against portrait j).

use super::pairs::{read_pairs, Pair};
use crate::credential::qr::qr_version;
use anyhow::Context;
use ikd_engine::credential::{
    Algorithm, CredentialIssuer, EncryptionAlgorithm, EncryptionKey, Gender, Identity, IssuerKey, Photo, PhotoFormat,
};
use ikd_engine::portrait::{encode_to_budget, Portrait};
use ikd_engine::{Decision, Engine, FacePolicy, ModelEmbedding};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The reference side of one budget ("gallery" is the full-resolution template).
#[derive(Debug, Serialize)]
pub struct BudgetReport {
    /// Bytes; `None` for the gallery template (the baseline).
    pub budget: Option<usize>,
    pub portraits: usize,
    pub mean_bytes: f64,
    pub max_bytes: usize,
    pub mean_quality: f64,
    /// How many portraits came out at each size ("96x120", ...).
    pub sizes: BTreeMap<String, usize>,
    pub genuine_pairs: usize,
    /// Genuine pairs not decided `match` (refused ones included), over all genuine pairs.
    pub fnmr: f64,
    pub genuine_rejected: usize,
    pub impostor_pairs: usize,
    pub fmr: f64,
    pub cross_identity_pairs: Option<u64>,
    pub cross_identity_false_matches: Option<u64>,
    pub cross_identity_fmr: Option<f64>,
    /// A credential of a typical identity carrying the largest portrait of this budget,
    /// signed (Ed25519) and encrypted (A256GCM): Base45 characters and QR version (EC level M).
    pub qr_signed: Option<QrSize>,
    pub qr_encrypted: Option<QrSize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QrSize {
    pub chars: usize,
    pub version: Option<i16>,
}

/// One image: its live-side template and its reference at the baseline and each budget.
struct Image {
    live: Result<Vec<ModelEmbedding>, String>,
    /// Index 0: gallery template (= live template, full resolution); then one per budget.
    references: Vec<Option<(Vec<ModelEmbedding>, Option<Portrait>)>>,
}

/// A portrait study: each budget's figures over the pairs of one file.
#[derive(Debug)]
pub struct PortraitStudy {
    pub pairs: PathBuf,
    /// Distinct images, and how many of them the live side refused.
    pub images: usize,
    pub refused: usize,
    pub elapsed: Duration,
    /// The gallery template first (the baseline), then one per budget.
    pub budgets: Vec<BudgetReport>,
}

/// Measures the offline face check on the pairs of `pairs_csv` with each of `budgets` (bytes)
/// as the portrait's budget; with `cross_identity`, every ordered pair of images of different
/// people (identity = the image's folder) is an impostor attempt too.
pub fn portrait_study(
    engine: &Engine,
    pairs_csv: &Path,
    budgets: &[usize],
    policy: FacePolicy,
    cross_identity: bool,
) -> anyhow::Result<PortraitStudy> {
    anyhow::ensure!(!budgets.is_empty(), "--budgets: give at least one");
    let pairs = read_pairs(pairs_csv)?;
    let base = pairs_csv.parent().unwrap_or(Path::new(".")).to_owned();
    let mut names: Vec<String> = pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    names.sort_unstable();
    names.dedup();
    let started = std::time::Instant::now();
    let images: Vec<Image> = names
        .par_iter()
        .map(|name| analyse(engine, &base.join(name), policy, budgets))
        .collect::<anyhow::Result<_>>()?;
    let elapsed = started.elapsed();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let identity: Vec<&str> = names
        .iter()
        .map(|n| Path::new(n).parent().and_then(|p| p.to_str()).unwrap_or(""))
        .collect();
    if cross_identity {
        anyhow::ensure!(
            identity.iter().all(|p| !p.is_empty()),
            "--cross-identity needs one folder per person"
        );
    }

    let mut reports = Vec::new();
    for slot in 0..=budgets.len() {
        let budget = slot.checked_sub(1).map(|i| budgets[i]);
        let portraits: Vec<&Portrait> = images
            .iter()
            .filter_map(|im| im.references[slot].as_ref()?.1.as_ref())
            .collect();
        let decide = |a: usize, b: usize| -> Option<Decision> {
            let live = images[a].live.as_ref().ok()?;
            let (reference, _) = images[b].references[slot].as_ref()?;
            Some(cascade(engine, live, reference))
        };
        let (mut genuine, mut genuine_errors, mut genuine_rejected, mut impostor, mut false_matches) = (0, 0, 0, 0, 0);
        for Pair { a, b, same } in &pairs {
            let d = decide(index[a.as_str()], index[b.as_str()]);
            if *same {
                genuine += 1;
                if d != Some(Decision::Match) {
                    genuine_errors += 1;
                }
                if matches!(d, None | Some(Decision::Rejected)) {
                    genuine_rejected += 1;
                }
            } else {
                impostor += 1;
                if d == Some(Decision::Match) {
                    false_matches += 1;
                }
            }
        }
        let cross = cross_identity.then(|| {
            let n = images.len();
            (0..n)
                .into_par_iter()
                .map(|i| {
                    let (mut tried, mut matched) = (0u64, 0u64);
                    for j in (0..n).filter(|&j| identity[j] != identity[i]) {
                        if let Some(d) = decide(i, j) {
                            tried += 1;
                            matched += u64::from(d == Decision::Match);
                        }
                    }
                    (tried, matched)
                })
                .reduce(|| (0, 0), |x, y| (x.0 + y.0, x.1 + y.1))
        });
        let largest = portraits.iter().max_by_key(|p| p.jpeg.len());
        let (qr_signed, qr_encrypted) = match largest {
            Some(p) => (Some(qr_size(p, false)?), Some(qr_size(p, true)?)),
            None if budget.is_none() => (Some(qr_size_without_photo(false)?), Some(qr_size_without_photo(true)?)),
            None => (None, None),
        };
        let mut sizes = BTreeMap::new();
        for p in &portraits {
            *sizes.entry(format!("{}x{}", p.width, p.height)).or_insert(0) += 1;
        }
        let mean =
            |f: &dyn Fn(&Portrait) -> f64| portraits.iter().map(|p| f(p)).sum::<f64>() / portraits.len().max(1) as f64;
        reports.push(BudgetReport {
            budget,
            portraits: portraits.len(),
            mean_bytes: mean(&|p| p.jpeg.len() as f64),
            max_bytes: portraits.iter().map(|p| p.jpeg.len()).max().unwrap_or(0),
            mean_quality: mean(&|p| f64::from(p.quality)),
            sizes,
            genuine_pairs: genuine,
            fnmr: genuine_errors as f64 / genuine.max(1) as f64,
            genuine_rejected,
            impostor_pairs: impostor,
            fmr: false_matches as f64 / impostor.max(1) as f64,
            cross_identity_pairs: cross.map(|c| c.0),
            cross_identity_false_matches: cross.map(|c| c.1),
            cross_identity_fmr: cross.map(|c| c.1 as f64 / c.0.max(1) as f64),
            qr_signed,
            qr_encrypted,
        });
    }

    let refused = images.iter().filter(|i| i.live.is_err()).count();
    Ok(PortraitStudy {
        pairs: pairs_csv.to_owned(),
        images: images.len(),
        refused,
        elapsed,
        budgets: reports,
    })
}

impl PortraitStudy {
    /// The JSON object of `ikd eval portrait --json`.
    pub fn to_json(&self, engine: &Engine) -> serde_json::Value {
        serde_json::json!({
            "pairs": self.pairs,
            "images": self.images,
            "images_refused": self.refused,
            "matcher": engine.matcher_id(),
            "operating_point": engine.operating_point().as_str(),
            "threshold": engine.threshold(),
            "seconds": self.elapsed.as_secs_f64(),
            "budgets": self.budgets,
        })
    }

    /// The text table of `ikd eval portrait`.
    pub fn to_text(&self, engine: &Engine) -> String {
        let mut out = String::new();
        self.write_text(&mut out, engine).expect("writing into a String");
        out
    }

    fn write_text(&self, out: &mut String, engine: &Engine) -> fmt::Result {
        writeln!(
            out,
            "{}: {} images ({} refused), matcher {} at {} (threshold {:.3}), {:.0} s",
            self.pairs.display(),
            self.images,
            self.refused,
            engine.matcher_id(),
            engine.operating_point().as_str(),
            engine.threshold(),
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            out,
            "{:>9} {:>9} {:>8} {:>6} {:>8} {:>8} {:>14} {:>12} {:>12}",
            "reference", "mean B", "max B", "q", "FNMR", "FMR", "cross FMR", "QR signed", "QR encrypted"
        )?;
        for r in &self.budgets {
            let qr = |q: &Option<QrSize>| {
                q.as_ref()
                    .map_or("-".to_string(), |q| format!("{}c v{}", q.chars, q.version.unwrap_or(0)))
            };
            writeln!(
                out,
                "{:>9} {:>9.0} {:>8} {:>6.1} {:>7.2}% {:>7.3}% {:>14} {:>12} {:>12}",
                r.budget.map_or("gallery".to_string(), |b| format!("{b} B")),
                r.mean_bytes,
                r.max_bytes,
                r.mean_quality,
                100.0 * r.fnmr,
                100.0 * r.fmr,
                match (r.cross_identity_false_matches, r.cross_identity_pairs) {
                    (Some(m), Some(n)) => format!("{m}/{n}"),
                    _ => "-".into(),
                },
                qr(&r.qr_signed),
                qr(&r.qr_encrypted),
            )?;
        }
        Ok(())
    }
}

/// The engine's decision for a live template against a reference, embedder by embedder in
/// cascade order: what `Engine::compare_with_portrait` decides.
fn cascade(engine: &Engine, live: &[ModelEmbedding], reference: &[ModelEmbedding]) -> Decision {
    let Some(scores) = engine.model_scores(live, reference) else {
        return Decision::Rejected;
    };
    let zs: Vec<f32> = scores.iter().map(|s| s.z).collect();
    (1..=zs.len())
        .find_map(|n| engine.cascade_decision(&zs[..n]))
        .unwrap_or(Decision::Rejected)
}

fn analyse(engine: &Engine, path: &Path, policy: FacePolicy, budgets: &[usize]) -> anyhow::Result<Image> {
    let refused = |e: String| Image {
        live: Err(e),
        references: (0..=budgets.len()).map(|_| None).collect(),
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Ok(refused(format!("file_not_found: {e}"))),
    };
    let live = match engine.template(&bytes, policy) {
        Ok(t) => t.embeddings,
        Err(e) if e.reason().is_some() => return Ok(refused(e.to_string())),
        Err(e) => return Err(e).with_context(|| format!("embedding {}", path.display())),
    };
    let portrait = engine
        .portrait_image(&bytes, policy)
        .with_context(|| format!("portrait of {}", path.display()))?;
    let mut references = vec![Some((live.clone(), None))];
    for &budget in budgets {
        let reference = match encode_to_budget(&portrait, budget) {
            Some(p) => {
                let t = engine
                    .portrait_template(&p.jpeg)
                    .with_context(|| format!("portrait of {} at {budget} B", path.display()))?;
                Some((t.embeddings, Some(p)))
            }
            None => None,
        };
        references.push(reference);
    }
    Ok(Image {
        live: Ok(live),
        references,
    })
}

/// A credential a typical citizen would get (name, date of birth, gender, e-mail), for sizing.
fn sample_identity(photo: Option<&Portrait>) -> Identity {
    Identity {
        id: "3171012501900007".into(),
        full_name: "Siti Nurhaliza Rahmawati".into(),
        date_of_birth: Some("1990-01-25".into()),
        gender: Some(Gender::Female),
        email: Some("siti.rahmawati@example.id".into()),
        photo: photo.map(|p| Photo {
            format: PhotoFormat::Jpeg,
            bytes: p.jpeg.clone(),
        }),
        ..Default::default()
    }
}

fn qr_of(identity: &Identity, encrypted: bool) -> anyhow::Result<QrSize> {
    let key = IssuerKey::generate(Algorithm::EdDsa)?;
    let mut issuer = CredentialIssuer::new(
        key,
        "https://ikd.example.id".into(),
        std::time::Duration::from_secs(5 * 365 * 86_400),
    );
    if encrypted {
        issuer = issuer.with_encryption(EncryptionKey::generate(EncryptionAlgorithm::A256Gcm)?.0);
    }
    let text = issuer.issue(identity, 1_780_000_000)?.text;
    Ok(QrSize {
        chars: text.len(),
        version: qr_version(&text, qrcode::EcLevel::M),
    })
}

fn qr_size(p: &Portrait, encrypted: bool) -> anyhow::Result<QrSize> {
    qr_of(&sample_identity(Some(p)), encrypted)
}

fn qr_size_without_photo(encrypted: bool) -> anyhow::Result<QrSize> {
    qr_of(&sample_identity(None), encrypted)
}
