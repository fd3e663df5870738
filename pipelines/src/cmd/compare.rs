//! `ikd compare SELFIE ID_PHOTO`: one 1:1 decision with everything seen in both images.

use super::common::{analysis_json, read_input, EngineArgs};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The selfie (selfie rule: exactly one face).
    pub selfie: PathBuf,
    /// The ID (KTP-el) photo.
    pub id_photo: PathBuf,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Exit 0 for any decision (match, no_match, rejected); 2 for an unreadable argument.
pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let selfie = match read_input(&args.selfie) {
        Ok(b) => b,
        Err(code) => return Ok(code),
    };
    let id_photo = match read_input(&args.id_photo) {
        Ok(b) => b,
        Err(code) => return Ok(code),
    };
    let engine = args.engine.build()?;
    let c = engine.compare(&selfie, &id_photo)?;
    let v = &c.verdict;
    if args.json {
        let out = json!({
            "decision": v.decision,
            "score": v.score,
            "threshold": v.threshold,
            "operating_point": v.operating_point,
            "reason": v.reason,
            "detail": v.detail,
            "detector_model": v.detector_model,
            "matcher": v.matcher,
            "model_scores": v.model_scores,
            "embedders_used": v.embedders_used(),
            "engine_version": ikd_engine::ENGINE_VERSION,
            "selfie": analysis_json(&args.selfie.display().to_string(), &c.selfie),
            "id_photo": analysis_json(&args.id_photo.display().to_string(), &c.id_photo),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        match (v.score, v.reason) {
            (Some(s), _) => println!(
                "{} (fused score {s:.3}, threshold {:.3} at {}; {})",
                v.decision,
                v.threshold,
                v.operating_point,
                v.model_scores
                    .iter()
                    .map(|m| format!("{} cosine {:.4}", m.model, m.cosine))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (None, Some(r)) => println!("rejected: {r} ({})", v.detail.as_deref().unwrap_or("")),
            (None, None) => println!("{}", v.decision),
        }
    }
    Ok(ExitCode::SUCCESS)
}
