//! `ikd report OUT`: one self-contained HTML page about a finished run (plots inlined as SVG):
//! counts per decision and reason, score histograms per decision with the threshold, the time
//! per stage, throughput over the run, the cascade's share decided per step, and the review
//! queue. `ikd run` writes it to OUT/report.html at the end.

use crate::batch::run::RunState;
use crate::batch::{part_files, UsageError};
use anyhow::Context;
use arrow::array::{Array, Float32Array, StringArray, UInt8Array};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// The run's output directory.
    pub run: PathBuf,
    /// Where to write the page (default: OUT/report.html).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let path = args.out.clone().unwrap_or_else(|| args.run.join("report.html"));
    match write_report(&args.run, &path) {
        Ok(()) => {
            println!("report: {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(u) => {
                eprintln!("ikd report: {u}");
                Ok(ExitCode::from(2))
            }
            None => Err(e),
        },
    }
}

/// What the page shows, gathered from the committed result parts.
#[derive(Default)]
pub struct RunFigures {
    pub rows: u64,
    pub decisions: BTreeMap<String, u64>,
    pub reasons: BTreeMap<String, u64>,
    /// Fused scores per decision.
    pub scores: BTreeMap<String, Vec<f32>>,
    pub threshold: Option<f32>,
    /// Milliseconds per stage (decode, detect, align, embed), one value per row that ran it.
    pub stage_ms: [Vec<f32>; 4],
    /// Rows by embedders run (index 0: refused before any).
    pub embedders_used: Vec<u64>,
    /// (seconds since the run started, rows committed by then), one point per chunk.
    pub progress: Vec<(f64, u64)>,
    pub review_rows: u64,
    pub review_reasons: BTreeMap<String, u64>,
}

const STAGES: [&str; 4] = ["decode", "detect", "align", "embed"];

/// Reads the figures of the run in `out`.
pub fn figures(out: &Path) -> anyhow::Result<RunFigures> {
    let state = RunState::read(out).map_err(|e| UsageError(format!("{e:#}")))?;
    let mut f = RunFigures::default();
    let mut commits: Vec<(std::time::SystemTime, u64)> = Vec::new();
    let results = out.join("results");
    for shard in sorted_dirs(&results)? {
        for part in part_files(&shard)? {
            let n = read_part(&part, &mut f)?;
            commits.push((std::fs::metadata(&part)?.modified()?, n));
        }
    }
    commits.sort();
    let start = std::time::UNIX_EPOCH + std::time::Duration::from_secs(state.created_at);
    let mut total = 0;
    for (t, n) in commits {
        total += n;
        let secs = t.duration_since(start).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        f.progress.push((secs, total));
    }
    for shard in sorted_dirs(&out.join("review"))? {
        for part in part_files(&shard)? {
            for r in crate::batch::results::read_review(&part)? {
                f.review_rows += 1;
                *f.review_reasons.entry(r.review_reason).or_default() += 1;
            }
        }
    }
    Ok(f)
}

fn sorted_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_dir()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("shard="))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    v.sort();
    Ok(v)
}

/// Adds one result part's rows (only the columns the page needs are read).
fn read_part(part: &Path, f: &mut RunFigures) -> anyhow::Result<u64> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(part)?)
        .with_context(|| format!("reading {}", part.display()))?;
    let wanted = [
        "decision",
        "reason",
        "score",
        "threshold",
        "embedders_used",
        "decode_ms",
        "detect_ms",
        "align_ms",
        "embed_ms",
    ];
    let idx: Vec<usize> = wanted
        .iter()
        .filter_map(|c| builder.schema().index_of(c).ok())
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), idx);
    let mut n = 0;
    for batch in builder.with_projection(mask).build()? {
        let b = batch?;
        n += b.num_rows() as u64;
        let s = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
        };
        let fl = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<Float32Array>().cloned())
        };
        let (Some(decision), reason, score) = (s("decision"), s("reason"), fl("score")) else {
            anyhow::bail!("{} has no decision column", part.display());
        };
        if let Some(t) = fl("threshold") {
            if !t.is_empty() && t.is_valid(0) {
                f.threshold = Some(t.value(0));
            }
        }
        for i in 0..b.num_rows() {
            let d = decision.value(i).to_string();
            *f.decisions.entry(d.clone()).or_default() += 1;
            if let Some(r) = reason.as_ref().filter(|r| r.is_valid(i)) {
                *f.reasons.entry(r.value(i).to_string()).or_default() += 1;
            }
            if let Some(sc) = score.as_ref().filter(|s| s.is_valid(i)) {
                f.scores.entry(d).or_default().push(sc.value(i));
            }
        }
        for (k, stage) in STAGES.iter().enumerate() {
            if let Some(a) = fl(&format!("{stage}_ms")) {
                f.stage_ms[k].extend(a.iter().flatten());
            }
        }
        if let Some(u) = b
            .column_by_name("embedders_used")
            .and_then(|c| c.as_any().downcast_ref::<UInt8Array>())
        {
            for v in u.iter().flatten() {
                let v = usize::from(v);
                if f.embedders_used.len() <= v {
                    f.embedders_used.resize(v + 1, 0);
                }
                f.embedders_used[v] += 1;
            }
        }
    }
    f.rows += n;
    Ok(n)
}

/// An SVG document drawn by `draw` (plotters' SVG backend writes into the string).
fn svg(draw: impl FnOnce(&mut String) -> anyhow::Result<()>) -> anyhow::Result<String> {
    super::fonts::register();
    let mut s = String::new();
    draw(&mut s)?;
    Ok(s)
}

fn histogram_svg(f: &RunFigures) -> anyhow::Result<String> {
    use plotters::prelude::*;
    let all: Vec<f32> = f.scores.values().flatten().copied().collect();
    if all.is_empty() {
        return Ok(String::new());
    }
    let threshold = f.threshold.unwrap_or(0.0);
    let lo = all.iter().copied().fold(threshold, f32::min).floor() - 1.0;
    let hi = all.iter().copied().fold(threshold, f32::max).ceil() + 1.0;
    let bins = 40usize;
    let width = (hi - lo) / bins as f32;
    let mut counts: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (d, v) in &f.scores {
        let c = counts.entry(d.as_str()).or_insert_with(|| vec![0; bins]);
        for &x in v {
            let b = (((x - lo) / width) as usize).min(bins - 1);
            c[b] += 1;
        }
    }
    let ymax = counts.values().flatten().copied().max().unwrap_or(1).max(1);
    svg(|s| {
        {
            let root = SVGBackend::with_string(s, (860, 360)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption("Fused score per decision (the line: threshold)", ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(50)
                .build_cartesian_2d(lo..hi, 0u64..(ymax + ymax / 10 + 1))?;
            chart
                .configure_mesh()
                .x_desc("fused score (impostor SDs)")
                .y_desc("rows")
                .label_style(("sans-serif", 13))
                .draw()?;
            let colour = |d: &str| match d {
                "match" => GREEN.mix(0.6),
                "no_match" => RED.mix(0.6),
                _ => BLUE.mix(0.6),
            };
            for (d, c) in &counts {
                let col = colour(d);
                chart
                    .draw_series(c.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| {
                        let x0 = lo + i as f32 * width;
                        Rectangle::new([(x0, 0), (x0 + width * 0.9, n)], col.filled())
                    }))?
                    .label(format!("{d} ({})", c.iter().sum::<u64>()))
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
            }
            chart.draw_series(LineSeries::new(
                vec![(threshold, 0), (threshold, ymax + ymax / 10 + 1)],
                BLACK.stroke_width(2),
            ))?;
            chart
                .configure_series_labels()
                // Matches pile up on the right: the legend goes where the impostors are few.
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()?;
            root.present()?;
        }
        Ok(())
    })
}

fn throughput_svg(f: &RunFigures) -> anyhow::Result<String> {
    use plotters::prelude::*;
    if f.progress.is_empty() {
        return Ok(String::new());
    }
    let tmax = f.progress.iter().map(|p| p.0).fold(1.0f64, f64::max) * 1.05;
    let rmax = f.progress.last().map(|p| p.1).unwrap_or(1).max(1);
    svg(|s| {
        {
            let root = SVGBackend::with_string(s, (860, 320)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption("Rows committed over the run (one point per chunk)", ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..tmax, 0u64..rmax + rmax / 20 + 1)?;
            chart
                .configure_mesh()
                .x_desc("seconds since the run first started")
                .y_desc("rows")
                .label_style(("sans-serif", 13))
                .draw()?;
            let mut pts = vec![(0.0, 0)];
            pts.extend(f.progress.iter().copied());
            chart.draw_series(LineSeries::new(pts.clone(), BLUE.stroke_width(2)))?;
            chart.draw_series(pts.iter().skip(1).map(|&(x, y)| Circle::new((x, y), 3, BLUE.filled())))?;
            root.present()?;
        }
        Ok(())
    })
}

fn stage_svg(f: &RunFigures) -> anyhow::Result<String> {
    use plotters::prelude::*;
    let medians: Vec<f64> = f.stage_ms.iter().map(|v| median(v)).collect();
    let ymax = medians.iter().copied().fold(1.0f64, f64::max) * 1.2;
    svg(|s| {
        {
            let root = SVGBackend::with_string(s, (560, 300)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption("Median time per stage, per row (ms)", ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(50)
                // A segmented range 0..n has n + 1 segments: one per stage here.
                .build_cartesian_2d((0..STAGES.len() - 1).into_segmented(), 0f64..ymax)?;
            chart
                .configure_mesh()
                .x_label_formatter(&|x| match x {
                    SegmentValue::CenterOf(i) => STAGES.get(*i).copied().unwrap_or("").to_string(),
                    _ => String::new(),
                })
                .y_desc("ms")
                .label_style(("sans-serif", 13))
                .draw()?;
            chart.draw_series(medians.iter().enumerate().map(|(i, &m)| {
                Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), m)],
                    BLUE.mix(0.6).filled(),
                )
            }))?;
            root.present()?;
        }
        Ok(())
    })
}

fn median(v: &[f32]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    f64::from(s[s.len() / 2])
}

fn counts_table(id: &str, title: &str, m: &BTreeMap<String, u64>) -> Markup {
    let total: u64 = m.values().sum();
    html! {
        table id=(id) {
            tr { th { (title) } th { "rows" } th { "share" } }
            @for (k, v) in m {
                tr { td { (k) } td.n { (v) } td.n { (format!("{:.1} %", 100.0 * *v as f64 / total.max(1) as f64)) } }
            }
        }
    }
}

/// Writes the report page of the run in `out` to `path` (atomically).
pub fn write_report(out: &Path, path: &Path) -> anyhow::Result<()> {
    let f = figures(out)?;
    let summary_path = out.join("summary.json");
    let summary: serde_json::Value = match std::fs::read(&summary_path) {
        Ok(b) => serde_json::from_slice(&b)?,
        Err(_) => serde_json::Value::Null,
    };
    let state = RunState::read(out)?;
    let fp = &state.fingerprint;
    let stage_sums: Vec<f64> = f
        .stage_ms
        .iter()
        .map(|v| v.iter().map(|&x| f64::from(x)).sum::<f64>() / 1e3)
        .collect();
    let decided: u64 = f.embedders_used.iter().skip(1).sum();
    let inv = &summary["this_invocation"];
    let body = html! {
        h1 { "Run report" }
        table #facts {
            tr { th { "run id" } td.mono { (state.run_id) } }
            tr { th { "rows" } td #rows { (f.rows) } }
            tr { th { "matcher / embedders" } td { (fp.matcher) " / " (fp.embedders.join(", ")) } }
            tr { th { "operating point / threshold" } td { (fp.operating_point) " / " (format!("{:.3}", fp.threshold)) } }
            tr { th { "cascade" } td { (fp.cascade) } }
            tr { th { "engine version" } td { (fp.engine_version) } }
            @if !summary.is_null() {
                tr { th { "complete" } td { (summary["complete"]) } }
                tr { th { "last invocation" } td { (inv["rows_processed"]) " rows in " (format!("{:.1}", inv["processing_seconds"].as_f64().unwrap_or(0.0))) " s, "
                    (format!("{:.1}", inv["throughput_rows_per_second"].as_f64().unwrap_or(0.0))) " rows/s on " (inv["threads"]) " threads" } }
            }
        }
        h2 { "Decisions" }
        (counts_table("decisions", "decision", &f.decisions))
        h2 { "Reasons (rejected rows)" }
        (counts_table("reasons", "reason", &f.reasons))
        h2 { "Scores" }
        (PreEscaped(histogram_svg(&f)?))
        h2 { "Time per stage" }
        div.row {
            (PreEscaped(stage_svg(&f)?))
            table #stages {
                tr { th { "stage" } th { "rows" } th { "median ms" } th { "total s" } }
                @for (k, st) in STAGES.iter().enumerate() {
                    tr { td { (st) } td.n { (f.stage_ms[k].len()) } td.n { (format!("{:.1}", median(&f.stage_ms[k]))) } td.n { (format!("{:.1}", stage_sums[k])) } }
                }
            }
        }
        h2 { "Throughput" }
        (PreEscaped(throughput_svg(&f)?))
        h2 { "The cascade: rows decided after each embedder" }
        table #cascade {
            tr { th { "embedders run" } th { "rows" } th { "share of rows that reached the embedders" } }
            @for (k, n) in f.embedders_used.iter().enumerate().skip(1) {
                tr { td { (k) } td.n { (n) } td.n { (format!("{:.1} %", 100.0 * *n as f64 / decided.max(1) as f64)) } }
            }
            tr { td { "0 (refused before embedding)" } td.n { (f.embedders_used.first().copied().unwrap_or(0)) } td { "" } }
        }
        h2 { "Review queue" }
        p { span #review_rows { (f.review_rows) } " rows wait for an officer (" (format!("{:.1} %", 100.0 * f.review_rows as f64 / f.rows.max(1) as f64)) " of the run)." }
        (counts_table("review", "review reason", &f.review_reasons))
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "ikd run report · " (state.run_id) }
                style { (PreEscaped("body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1000px}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;font-size:14px}th{background:#eee}.n{text-align:right}.mono{font-family:monospace}.row{display:flex;gap:2em;align-items:flex-start}")) }
            }
            body { (body) }
        }
    };
    crate::batch::write_atomic(path, page.into_string().as_bytes(), None)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// After `ikd run` / `ikd demo`: writes OUT/report.html and prints where it is (a report that
/// cannot be written is a warning: the run itself is committed).
/// The line goes to stderr when stdout carries JSON (`--print-summary`).
pub fn after_run(out: &Path, stdout_is_json: bool) {
    let path = out.join("report.html");
    match write_report(out, &path) {
        Ok(()) if stdout_is_json => eprintln!("  report: {}", path.display()),
        Ok(()) => println!("  report: {}", path.display()),
        Err(e) => eprintln!("ikd: warning: the run report could not be written: {e:#}"),
    }
}
