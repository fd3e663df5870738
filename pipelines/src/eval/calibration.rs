//! Calibration: what a study measured (each embedder's impostor statistics, each matcher's
//! thresholds and cascade bounds at every operating point) written into a model manifest, in
//! place, keeping its comments and layout.

use super::metrics::CrossIdentity;
use super::pairs::Evaluation;
use anyhow::Context;
use ikd_engine::{Engine, OperatingPointSpec, ScoreStats};
use std::path::Path;

/// What a calibration measured, ready to be written into a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The embedders measured, in the engine's order.
    pub models: Vec<String>,
    /// Their impostor cosine statistics (cross-identity pairs), indexed like `models`.
    pub impostor: Vec<ScoreStats>,
    /// Per calibrated matcher (manifest id), its operating points.
    pub matchers: Vec<(String, Vec<OperatingPointSpec>)>,
}

impl Calibration {
    /// Rewrites the manifest at `path` with this calibration (see [`write_calibration`]).
    pub fn write_manifest(&self, path: &Path) -> anyhow::Result<()> {
        write_calibration(path, &self.models, &self.impostor, &self.matchers)
    }
}

/// A calibration measures the manifest's own settings: an engine built with other flip or
/// refinement settings than the manifest's cannot calibrate it.
pub fn check_engine(engine: &Engine) -> anyhow::Result<()> {
    let c = engine.config();
    anyhow::ensure!(
        c.flip_augment.is_none() && c.refine_landmarks,
        "--calibrate measures the manifest's own settings: drop --flip-augment / --no-flip-augment \
         and --no-refine-landmarks"
    );
    Ok(())
}

/// The `calibrated_on` note of every operating point a calibration writes.
pub(crate) fn calibration_note(
    ev: &Evaluation,
    cross: Option<&CrossIdentity>,
    engine: &Engine,
    cascade_margin: f32,
) -> String {
    let name = ev
        .source
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let genuine = ev.genuine();
    format!(
        "{name}: {} cross-identity impostor pairs of {} images, {genuine} genuine pairs; face policy {}, \
         backend {}, engine {}; `ikd eval pairs --cross-identity --calibrate`, cascade margin {}",
        cross.map_or(0, |c| c.pairs()),
        cross.map_or(0, |c| c.images),
        serde_json::to_value(ev.face_policy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        engine.backend(),
        ikd_engine::ENGINE_VERSION,
        cascade_margin
    )
}

/// Rewrites `path` (a manifest) in place, keeping its comments and layout: every measured
/// embedder's `impostor` table and the operating points of the calibrated matchers.
pub fn write_calibration(
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
