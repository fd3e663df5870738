//! The report page: a run's figures, state and summary as one self-contained HTML document
//! (tables, and the plots inlined as SVG); every value is escaped by maud.

use super::figures::{median, RunFigures, STAGES};
use super::plots::{histogram_svg, stage_svg, throughput_svg};
use crate::batch::run::RunState;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::collections::BTreeMap;

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

/// The report page (one self-contained HTML document) of a run: its figures, its state
/// (run id, fingerprint) and its summary (`Null` when it has none yet).
pub fn render(f: &RunFigures, state: &RunState, summary: &serde_json::Value) -> anyhow::Result<String> {
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
        (PreEscaped(histogram_svg(f)?))
        h2 { "Time per stage" }
        div.row {
            (PreEscaped(stage_svg(f)?))
            table #stages {
                tr { th { "stage" } th { "rows" } th { "median ms" } th { "total s" } }
                @for (k, st) in STAGES.iter().enumerate() {
                    tr { td { (st) } td.n { (f.stage_ms[k].len()) } td.n { (format!("{:.1}", median(&f.stage_ms[k]))) } td.n { (format!("{:.1}", stage_sums[k])) } }
                }
            }
        }
        h2 { "Throughput" }
        (PreEscaped(throughput_svg(f)?))
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
    Ok(page.into_string())
}
