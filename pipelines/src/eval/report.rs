//! What `ikd eval pairs` shows: one JSON object ([`pairs_json`]) or a text table
//! ([`pairs_text`]) of an evaluation and its study.

use super::metrics::CrossIdentity;
use super::pairs::Evaluation;
use super::points::ScoreReport;
use super::study::{MatcherReport, Study};
use ikd_engine::Engine;
use serde_json::json;
use std::fmt::{self, Write};

/// The JSON object of `ikd eval pairs --json`.
pub fn pairs_json(engine: &Engine, ev: &Evaluation, cross: Option<&CrossIdentity>, study: &Study) -> serde_json::Value {
    let images_per_second = ev.images.len() as f64 / ev.elapsed.as_secs_f64().max(1e-9);
    let genuine = ev.genuine();
    let rejected_pairs = ev.rejected_pairs();
    json!({
        "pairs": ev.pairs.len(),
        "genuine": genuine,
        "impostor": ev.pairs.len() - genuine,
        "rejected_pairs": rejected_pairs,
        "rejection_rate": rejected_pairs as f64 / ev.pairs.len().max(1) as f64,
        "images": ev.images.len(),
        "rejected_images": ev.rejected_images(),
        "images_per_second": images_per_second,
        "face_policy": ev.face_policy,
        "detector_model": engine.detector_id(),
        "matcher": engine.matcher_id(),
        "operating_point": engine.operating_point(),
        "threshold": engine.threshold(),
        "backend": engine.backend(),
        "embedders": engine.embedders().collect::<Vec<_>>(),
        "cross_identity": cross.map(|c| json!({
            "pairs": c.pairs(), "images": c.images, "identities": c.identities,
            "impostor_stats": study.measured_stats,
        })),
        "models": study.models,
        "matchers": study.matchers,
    })
}

/// The text table of `ikd eval pairs`.
pub fn pairs_text(engine: &Engine, ev: &Evaluation, cross: Option<&CrossIdentity>, study: &Study) -> String {
    let mut out = String::new();
    write_pairs_text(&mut out, engine, ev, cross, study).expect("writing into a String");
    out
}

fn write_pairs_text(
    out: &mut String,
    engine: &Engine,
    ev: &Evaluation,
    cross: Option<&CrossIdentity>,
    study: &Study,
) -> fmt::Result {
    let images_per_second = ev.images.len() as f64 / ev.elapsed.as_secs_f64().max(1e-9);
    let genuine = ev.genuine();
    let rejected_pairs = ev.rejected_pairs();
    let rejected_images = ev.rejected_images();
    writeln!(
        out,
        "pairs            {} ({genuine} genuine, {} impostor)",
        ev.pairs.len(),
        ev.pairs.len() - genuine
    )?;
    writeln!(
        out,
        "images           {} ({rejected_images} refused), {images_per_second:.1} images/s",
        ev.images.len()
    )?;
    writeln!(
        out,
        "refused pairs    {rejected_pairs} ({:.2} %), counted as errors",
        100.0 * rejected_pairs as f64 / ev.pairs.len().max(1) as f64
    )?;
    if let Some(c) = cross {
        writeln!(
            out,
            "cross-identity   {} impostor pairs among {} accepted images of {} people",
            c.pairs(),
            c.images,
            c.identities
        )?;
    }
    writeln!(out)?;
    score_header(out, cross.is_some())?;
    for r in &study.models {
        score_row(out, r)?;
    }
    for m in &study.matchers {
        score_row(out, &m.fused)?;
    }
    for m in &study.matchers {
        points(out, m, m.id == engine.matcher_id())?;
    }
    if let Some(stats) = &study.measured_stats {
        writeln!(out, "\nimpostor cosine statistics (cross-identity):")?;
        for (id, s) in ev.models.iter().zip(stats) {
            writeln!(out, "  {id:<16} mean {:.5}  std {:.5}", s.mean, s.std)?;
        }
    }
    Ok(())
}

fn score_header(out: &mut String, cross: bool) -> fmt::Result {
    writeln!(
        out,
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
    )
}

fn score_row(out: &mut String, r: &ScoreReport) -> fmt::Result {
    let at = r
        .at_fmr
        .iter()
        .map(|p| format!("{:6.2} %{}", p.fnmr * 100.0, if p.underpowered { "*" } else { "" }))
        .collect::<Vec<_>>()
        .join(" ");
    writeln!(
        out,
        "{:<18} {:>7.2} % {:>8.5} {:>5.2} %   {at}",
        r.name,
        r.best_accuracy * 100.0,
        r.auc,
        r.eer * 100.0
    )
}

fn points(out: &mut String, m: &MatcherReport, is_engine: bool) -> fmt::Result {
    if m.points.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nmatcher {}{} ({})",
        m.id,
        if is_engine { " [this engine]" } else { "" },
        m.embedders.join(" -> ")
    )?;
    for p in &m.points {
        writeln!(
            out,
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
        )?;
        if let Some(c) = &p.cascade {
            let share = |d: &[u64]| {
                let total = d.iter().sum::<u64>().max(1) as f64;
                d.iter()
                    .map(|n| format!("{:.1} %", 100.0 * *n as f64 / total))
                    .collect::<Vec<_>>()
                    .join(" / ")
            };
            writeln!(
                out,
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
            )?;
        }
    }
    Ok(())
}
