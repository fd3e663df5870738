//! JSON views of engine results shared by `compare`, `embed` and `eval`.

use ikd_engine::Analysis;
use serde_json::{json, Value};

/// What the engine saw in one image: image facts, every face, the chosen face with quality,
/// and the error (reason code + message) if it was refused.
pub fn analysis_json(path: &str, a: &Analysis) -> Value {
    let error = a.result.as_ref().err().map(|e| {
        json!({
            "reason": e.reason().map(|r| r.as_str()),
            "message": e.to_string(),
        })
    });
    json!({
        "path": path,
        "image": a.image,
        "faces": a.faces,
        "face": a.face,
        "error": error,
        "timings_ms": {
            "decode": a.timings.decode.as_secs_f64() * 1e3,
            "detect": a.timings.detect.as_secs_f64() * 1e3,
            "align": a.timings.align.as_secs_f64() * 1e3,
            "embed": a.timings.embed.as_secs_f64() * 1e3,
        },
        "embedder_runs": a.timings.embedder_runs,
    })
}
