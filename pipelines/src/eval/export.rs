//! An evaluation's rows as CSV: every pair's cosines, fused score and the engine's decision
//! (`--scores-out`), and every image's outcome and measured quality (`--images-out`, for
//! tuning the gates).

use super::pairs::Evaluation;
use ikd_engine::Engine;
use std::path::Path;

/// Every pair: a, b, same, each model's cosine, the fused score, what the engine decides
/// with its cascade and after how many embedders.
pub fn write_scores(path: &Path, engine: &Engine, ev: &Evaluation) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    let mut header = vec!["a".to_owned(), "b".into(), "same".into()];
    header.extend(ev.models.iter().map(|m| format!("cosine_{m}")));
    header.extend(["fused".into(), "decision".into(), "embedders_used".into()]);
    w.write_record(&header)?;
    let n = ev.models.len();
    for (p, c) in ev.pairs.iter().zip(&ev.cosines) {
        let mut row = vec![p.a.clone(), p.b.clone(), if p.same { "1" } else { "0" }.to_owned()];
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

/// Every image: its outcome (`ok` or the refusal) and the chosen face's quality figures.
pub fn write_images(path: &Path, ev: &Evaluation) -> anyhow::Result<()> {
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
