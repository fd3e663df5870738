//! End-to-end throughput (`ikd bench`): selfie -> verdict against a stored template, with 1
//! thread and with all threads, and where the time goes, stage by stage. It measures this
//! machine: run it on an idle one.

use anyhow::Context;
use ikd_engine::{Engine, FacePolicy, StageTimings};
use rayon::prelude::*;
use serde_json::json;
use std::fmt::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The bundled photos `ikd bench` measures by default.
pub fn bundled_images_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../datasets/fixtures/faces/essex94"
    ))
}

fn collect_images(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_images(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jpg" | "jpeg" | "png" | "pgm")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// Verifies `requests` selfies (the images under `dir`, searched recursively for
/// .jpg/.png/.pgm, repeated) each against another photo of the same person, once per thread
/// count of `threads` (default: 1 and all cores). The report, as JSON: per thread count the
/// requests/s, the mean time per stage and where the cascade decided.
pub fn measure(engine: &Engine, dir: &Path, requests: usize, threads: &[usize]) -> anyhow::Result<serde_json::Value> {
    let mut paths = Vec::new();
    collect_images(dir, &mut paths).with_context(|| format!("reading {}", dir.display()))?;
    paths.sort();
    anyhow::ensure!(!paths.is_empty(), "no images under {}", dir.display());
    let photos: Vec<Vec<u8>> = paths.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    // Every request is verified against the template of another photo of the same person, as
    // a run does against the gallery: the selfie path is the genuine case, which is what most
    // requests are (and where the cascade's share is reported from).
    let templates: Vec<Option<ikd_engine::FaceTemplate>> = photos
        .par_iter()
        .map(|p| engine.template(p, FacePolicy::Single).ok())
        .collect();
    let references: Vec<&ikd_engine::FaceTemplate> = (0..photos.len())
        .map(|i| {
            let person = paths[i].parent();
            let mate = (0..paths.len())
                .filter(|&j| j != i && paths[j].parent() == person)
                .find_map(|j| templates[j].as_ref());
            mate.or(templates[i].as_ref())
                .or_else(|| templates.iter().flatten().next())
        })
        .collect::<Option<_>>()
        .context("no bundled image yields a face")?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = if threads.is_empty() {
        vec![1, cores]
    } else {
        threads.to_vec()
    };

    // Warm up every pooled plan state.
    photos.par_iter().zip(&references).take(cores * 2).for_each(|(p, r)| {
        let _ = engine.verify_embeddings(p, &r.embeddings);
    });

    let mut rows = Vec::new();
    for &t in &threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
        let started = Instant::now();
        let outcomes: Vec<(StageTimings, usize, ikd_engine::Decision)> = pool.install(|| {
            (0..requests)
                .into_par_iter()
                .map(|i| {
                    let k = i % photos.len();
                    engine
                        .verify_embeddings(&photos[k], &references[k].embeddings)
                        .map(|(v, a)| (a.timings, v.embedders_used(), v.decision))
                })
                .collect::<Result<_, _>>()
        })?;
        let timings: Vec<StageTimings> = outcomes.iter().map(|o| o.0).collect();
        let mut decided_at = vec![0u64; engine.embedders().len() + 1];
        let last = decided_at.len() - 1;
        for o in &outcomes {
            decided_at[o.1.min(last)] += 1;
        }
        let matches = outcomes.iter().filter(|o| o.2 == ikd_engine::Decision::Match).count();
        let wall = started.elapsed();
        let sum = |f: fn(&StageTimings) -> Duration| {
            timings.iter().map(f).sum::<Duration>().as_secs_f64() * 1e3 / timings.len() as f64
        };
        let rps = requests as f64 / wall.as_secs_f64();
        rows.push(json!({
            "threads": t,
            "requests": requests,
            "wall_s": wall.as_secs_f64(),
            "requests_per_s": rps,
            "requests_per_s_per_thread": rps / t as f64,
            "mean_ms": {
                "decode": sum(|s| s.decode),
                "detect": sum(|s| s.detect),
                "align": sum(|s| s.align),
                "embed": sum(|s| s.embed),
                "total": sum(|s| s.total()),
            },
            "mean_embedder_runs": timings.iter().map(|t| f64::from(t.embedder_runs)).sum::<f64>() / timings.len().max(1) as f64,
            "decided_after_embedders": decided_at,
            "matches": matches,
        }));
    }
    Ok(json!({
        "images": paths.len(),
        "source": dir.display().to_string(),
        "matcher": engine.matcher_id(),
        "embedders": engine.embedders().collect::<Vec<_>>(),
        "cascade": engine.cascades(),
        "refine_landmarks": engine.config().refine_landmarks,
        "detector_input": engine.detector_input_size(),
        "runs": rows,
    }))
}

/// The text table of a [`measure`] report.
pub fn text(engine: &Engine, report: &serde_json::Value) -> String {
    let mut out = String::new();
    write_text(&mut out, engine, report).expect("writing into a String");
    out
}

fn write_text(out: &mut String, engine: &Engine, report: &serde_json::Value) -> fmt::Result {
    writeln!(
        out,
        "{} distinct images from {}, matcher {} ({}), cascade {}",
        report["images"],
        report["source"].as_str().unwrap_or(""),
        engine.matcher_id(),
        engine
            .embedders()
            .map(|e| format!("{}{}", e.id, if e.flip_augment { " +flip" } else { "" }))
            .collect::<Vec<_>>()
            .join(", "),
        if engine.cascades() { "on" } else { "off" }
    )?;
    writeln!(
            out,
            "threads  requests/s  per thread   decode  detect  align  embed  (mean ms per request)  embedders/request  decided after 1/2/3"
        )?;
    for r in report["runs"].as_array().into_iter().flatten() {
        let m = &r["mean_ms"];
        writeln!(
            out,
            "{:>7}  {:>10.1}  {:>10.1}   {:>6.2}  {:>6.2}  {:>5.2}  {:>5.2}                        {:>5.2}  {}",
            r["threads"],
            r["requests_per_s"].as_f64().unwrap_or(0.0),
            r["requests_per_s_per_thread"].as_f64().unwrap_or(0.0),
            m["decode"].as_f64().unwrap_or(0.0),
            m["detect"].as_f64().unwrap_or(0.0),
            m["align"].as_f64().unwrap_or(0.0),
            m["embed"].as_f64().unwrap_or(0.0),
            r["mean_embedder_runs"].as_f64().unwrap_or(0.0),
            r["decided_after_embedders"]
                .as_array()
                .map(|a| a.iter().skip(1).map(|v| v.to_string()).collect::<Vec<_>>().join("/"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}
