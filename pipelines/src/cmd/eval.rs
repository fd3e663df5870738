//! `ikd eval pairs PAIRS.csv`: accuracy, AUC, EER and FNMR at fixed FMRs on labelled pairs,
//! with every distinct image embedded once, on all cores.

use super::common::EngineArgs;
use crate::metrics::{self, Metrics, PairScore};
use anyhow::Context;
use ikd_engine::{Embedding, Engine, FacePolicy, FaceReport};
use rayon::prelude::*;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum EvalCommand {
    /// Accuracy on labelled pairs (CSV columns a,b,same; paths relative to the CSV).
    Pairs(PairsArgs),
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
    /// Write a DET plot (FNMR against FMR, log scales) as PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Write every pair's score and decision as CSV.
    #[arg(long, value_name = "FILE.csv")]
    pub scores_out: Option<PathBuf>,
    /// Write every image's outcome (reason) and measured quality as CSV (for tuning gates).
    #[arg(long, value_name = "FILE.csv")]
    pub images_out: Option<PathBuf>,
    /// Also score every pair of images of different people (identity = the image's folder)
    /// and report the thresholds at FMR 1e-3..1e-5 from that larger impostor set: the way
    /// the default threshold is calibrated (see README).
    #[arg(long)]
    pub cross_identity: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(cmd: EvalCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EvalCommand::Pairs(args) => pairs(args),
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

/// Everything `eval pairs` measured.
pub struct Evaluation {
    pub pairs: Vec<(String, String, bool)>,
    /// Distinct images, sorted, with their embedding or rejection and the chosen face.
    pub images: Vec<String>,
    pub results: Vec<Result<Embedding, String>>,
    pub faces: Vec<Option<FaceReport>>,
    pub scored: Vec<PairScore>,
    pub metrics: Metrics,
    pub elapsed: std::time::Duration,
}

/// Embeds every distinct image of a pairs file once (on all cores) and scores every pair.
pub fn evaluate_pairs(engine: &Engine, pairs_csv: &Path, policy: FacePolicy) -> anyhow::Result<Evaluation> {
    let list = read_pairs(pairs_csv)?;
    let base = pairs_csv.parent().unwrap_or(Path::new(".")).to_owned();
    let mut images: Vec<&str> = list.iter().flat_map(|(a, b, _)| [a.as_str(), b.as_str()]).collect();
    images.sort_unstable();
    images.dedup();

    let started = std::time::Instant::now();
    let analysed: Vec<(Result<Embedding, String>, Option<FaceReport>)> = images
        .par_iter()
        .map(|name| {
            let bytes = match std::fs::read(base.join(name)) {
                Ok(b) => b,
                Err(e) => return (Err(format!("file_not_found: {e}")), None),
            };
            let a = engine.analyze(&bytes, policy);
            let result = match a.result {
                Ok(t) => Ok(t.embedding),
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
    let by_name: HashMap<&str, &Result<Embedding, String>> = images.iter().copied().zip(&results).collect();
    let scored: Vec<PairScore> = list
        .iter()
        .map(|(a, b, same)| {
            let score = match (by_name.get(a.as_str()), by_name.get(b.as_str())) {
                (Some(Ok(x)), Some(Ok(y))) => engine.score(x, y),
                _ => None,
            };
            PairScore { same: *same, score }
        })
        .collect();
    let metrics = metrics::compute(&scored, engine.threshold(), &[1e-2, 1e-3, 1e-4]);
    let images = images.into_iter().map(str::to_owned).collect();
    Ok(Evaluation {
        pairs: list,
        images,
        results,
        faces,
        scored,
        metrics,
        elapsed,
    })
}

fn pairs(args: PairsArgs) -> anyhow::Result<ExitCode> {
    let engine = args.engine.build()?;
    let ev = evaluate_pairs(&engine, &args.pairs, args.face_policy)?;
    let Evaluation {
        pairs: list,
        images,
        results,
        faces,
        scored,
        metrics: m,
        elapsed,
    } = ev;
    let rejected_images = results.iter().filter(|r| r.is_err()).count();
    let cross = if args.cross_identity {
        let mut accepted = Vec::new();
        for (name, r) in images.iter().zip(&results) {
            let identity = Path::new(name)
                .parent()
                .and_then(|p| p.to_str())
                .filter(|p| !p.is_empty())
                .with_context(|| format!("--cross-identity needs one folder per person; {name} has none"))?;
            if let Ok(e) = r {
                accepted.push((identity, e.as_slice()));
            }
        }
        Some(metrics::cross_identity(&accepted, &scored, &[1e-3, 1e-4, 1e-5]))
    } else {
        None
    };

    if let Some(path) = &args.scores_out {
        let mut w = csv::Writer::from_path(path)?;
        w.write_record(["a", "b", "same", "score", "decision"])?;
        for ((a, b, same), p) in list.iter().zip(&scored) {
            let decision = match p.score {
                Some(s) if s >= engine.threshold() => "match",
                Some(_) => "no_match",
                None => "rejected",
            };
            let score = p.score.map(|s| format!("{s:.6}")).unwrap_or_default();
            w.write_record([a.as_str(), b.as_str(), if *same { "1" } else { "0" }, &score, decision])?;
        }
        w.flush()?;
    }
    if let Some(path) = &args.images_out {
        let mut w = csv::Writer::from_path(path)?;
        w.write_record([
            "image",
            "outcome",
            "score",
            "inter_eye_px",
            "box_outside",
            "edge_margin",
            "yaw",
            "pitch",
            "roll",
            "sharpness",
        ])?;
        for ((name, r), face) in images.iter().zip(&results).zip(&faces) {
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
                None => row.extend(std::iter::repeat_n(String::new(), 8)),
            }
            w.write_record(&row)?;
        }
        w.flush()?;
    }
    if let Some(path) = &args.plot {
        plot_det(path, &scored, &m).with_context(|| format!("writing {}", path.display()))?;
    }

    let images_per_second = images.len() as f64 / elapsed.as_secs_f64().max(1e-9);
    if args.json {
        let out = json!({
            "pairs": m.pairs,
            "accuracy": m.accuracy,
            "auc": m.auc,
            "eer": m.eer,
            "rejected": m.rejected,
            "threshold": m.threshold,
            "metrics": m,
            "images": images.len(),
            "rejected_images": rejected_images,
            "images_per_second": images_per_second,
            "face_policy": args.face_policy,
            "detector_model": engine.detector_id(),
            "embedder_model": engine.embedder_id(),
            "backend": engine.backend(),
            "cross_identity": cross,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&m, images.len(), rejected_images, images_per_second);
        if let Some(c) = &cross {
            print_cross_identity(c);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(m: &Metrics, images: usize, rejected_images: usize, ips: f64) {
    println!(
        "pairs            {} ({} genuine, {} impostor)",
        m.pairs, m.genuine, m.impostor
    );
    println!("images           {images} ({rejected_images} rejected), {ips:.1} images/s");
    println!(
        "rejected pairs   {} ({:.2} %), counted as errors",
        m.rejected,
        m.rejection_rate * 100.0
    );
    println!(
        "accuracy         {:.2} % at threshold {:.4} (FMR {:.4} %, FNMR {:.2} %)",
        m.accuracy * 100.0,
        m.threshold,
        m.fmr * 100.0,
        m.fnmr * 100.0
    );
    println!(
        "best accuracy    {:.2} % at threshold {:.4}",
        m.best_accuracy * 100.0,
        m.best_threshold
    );
    println!("AUC              {:.5}", m.auc);
    println!(
        "EER              {:.2} % at threshold {:.4}",
        m.eer * 100.0,
        m.eer_threshold
    );
    for op in &m.operating_points {
        println!(
            "FNMR @ FMR {:<7} {:.2} % at threshold {:.4} (FMR {:.5}){}",
            format!("{:.0e}", op.target_fmr),
            op.fnmr * 100.0,
            op.threshold,
            op.fmr,
            if op.underpowered {
                "  [fewer impostor pairs than 1/FMR]"
            } else {
                ""
            }
        );
    }
}

fn print_cross_identity(c: &metrics::CrossIdentity) {
    println!(
        "cross-identity   {} impostor pairs among {} accepted images of {} people",
        c.impostor_pairs, c.images, c.identities
    );
    for p in &c.points {
        println!(
            "  FMR {:<7} threshold {:.4} ({} false matches); on the pairs: accuracy {:.2} %, FMR {:.3} %, FNMR {:.2} %",
            format!("{:.0e}", p.target_fmr),
            p.threshold,
            p.false_matches,
            p.protocol_accuracy * 100.0,
            p.protocol_fmr * 100.0,
            p.protocol_fnmr * 100.0
        );
    }
}

fn plot_det(path: &Path, pairs: &[PairScore], m: &Metrics) -> anyhow::Result<()> {
    use plotters::prelude::*;
    super::fonts::register();
    let floor = 1e-5f64;
    let curve: Vec<(f64, f64)> = metrics::det_curve(pairs)
        .into_iter()
        .map(|(a, b)| (a.max(floor), b.max(floor)))
        .collect();
    let root = BitMapBackend::new(path, (800, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("DET: {} pairs, AUC {:.4}, EER {:.2} %", m.pairs, m.auc, m.eer * 100.0),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((floor..1.0).log_scale(), (floor..1.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("false match rate")
        .y_desc("false non-match rate")
        .label_style(("sans-serif", 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new(curve, BLUE.stroke_width(2)))?
        .label("ikd")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    let (fmr, fnmr) = (m.fmr.max(floor), m.fnmr.max(floor));
    chart
        .draw_series(std::iter::once(Circle::new((fmr, fnmr), 6, RED.filled())))?
        .label(format!("default threshold {:.3}", m.threshold))
        .legend(|(x, y)| Circle::new((x + 10, y), 5, RED.filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bar on the bundled ORL set (1,800 genuine, 78,000 impostor pairs), with
    /// rejected images counted as errors.
    #[test]
    fn orl_all_pairs_meets_the_accuracy_bar() {
        let engine = Engine::new(ikd_engine::EngineConfig::default()).unwrap();
        let csv = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../datasets/fixtures/faces/orl/pairs.csv"
        ));
        let ev = evaluate_pairs(&engine, csv, FacePolicy::Single).unwrap();
        let m = &ev.metrics;
        assert_eq!((m.genuine, m.impostor), (1800, 78000));
        assert!(m.eer <= 0.01, "EER {}", m.eer);
        let at_1e3 = m.operating_points.iter().find(|p| p.target_fmr == 1e-3).unwrap();
        assert!(1.0 - at_1e3.fnmr >= 0.98, "TAR at FAR 1e-3: {}", 1.0 - at_1e3.fnmr);
        assert!(m.rejection_rate < 0.01, "rejected {}", m.rejection_rate);
    }
}
