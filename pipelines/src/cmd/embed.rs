//! `ikd embed IMAGE`: the face template of one image.

use super::common::{analysis_json, read_input, EngineArgs};
use ikd_engine::FacePolicy;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct EmbedArgs {
    pub image: PathBuf,
    /// Which face to take: single (selfie rule), largest, center.
    #[arg(long, default_value = "single")]
    pub face_policy: FacePolicy,
    /// Print JSON (embedding, face, quality) instead of a summary line.
    #[arg(long)]
    pub json: bool,
    /// Also write the aligned face chip of each embedder as PNG (FILE.png becomes
    /// FILE.<model>.png).
    #[arg(long, value_name = "FILE.png")]
    pub aligned_out: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Exit 0 when a template was made, 3 when the image was refused, 2 for usage errors.
pub fn run(args: EmbedArgs) -> anyhow::Result<ExitCode> {
    let bytes = match read_input(&args.image) {
        Ok(b) => b,
        Err(code) => return Ok(code),
    };
    let engine = args.engine.build()?;
    let analysis = engine.analyze(&bytes, args.face_policy);
    if let (Some(out), Some(face)) = (&args.aligned_out, &analysis.face) {
        let decoded = engine.decode(&bytes)?;
        let on = ikd_engine::Detection {
            landmarks: face.refined_landmarks.unwrap_or(face.detection.landmarks),
            ..face.detection
        };
        for (k, info) in engine.embedders().enumerate() {
            let aligned = engine.align(&decoded, &on, k)?;
            aligned.chip.save(out.with_extension(format!("{}.png", info.id)))?;
        }
    }
    if let Err(e) = &analysis.result {
        if e.reason().is_none() {
            anyhow::bail!("engine failure: {e}");
        }
    }
    let ok = analysis.result.is_ok();
    if args.json {
        let mut out = analysis_json(&args.image.display().to_string(), &analysis);
        if let (Some(obj), Ok(t)) = (out.as_object_mut(), &analysis.result) {
            obj.insert("embeddings".into(), json!(t.embeddings));
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        match &analysis.result {
            Ok(t) => println!(
                "{}: face at {:?}, score {:.3}, embeddings {}",
                args.image.display(),
                t.face.detection.bbox,
                t.face.detection.score,
                t.embeddings
                    .iter()
                    .map(|e| format!("{} ({} dims)", e.model, e.embedding.len()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => println!("{}: rejected: {e}", args.image.display()),
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(3) })
}
