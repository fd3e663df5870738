//! What several commands share: the flags that build an engine, reading an input file, and the
//! JSON view of what the engine saw in one image (`compare`, `embed`).

use anyhow::Context;
use ikd_engine::{Analysis, Engine, EngineConfig};
use serde_json::{json, Value};
use std::path::PathBuf;

/// How to build the engine: a TOML configuration file and/or single overrides.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EngineArgs {
    /// Engine configuration (TOML: manifest, detector, matcher, operating_point, threshold,
    /// cascade, flip_augment, refine_landmarks, fit_detector_input, [limits], [quality], [backend]); unset fields
    /// keep their documented defaults.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Model manifest (default: the bundled models/manifest.toml or $IKD_MODELS_DIR).
    #[arg(long, value_name = "FILE", global = true)]
    pub manifest: Option<PathBuf>,
    /// Matcher id from the manifest (which embedders decide, in cascade order), e.g.
    /// `all-three` (default), `omz-0095+sface`, `sface`, `omz-0095`, `dlib`.
    #[arg(long, global = true)]
    pub matcher: Option<String>,
    /// Security level whose calibrated threshold decides.
    #[arg(long, global = true, value_name = "fmr-1e-3|fmr-1e-4|fmr-1e-5")]
    pub operating_point: Option<ikd_engine::OperatingPoint>,
    /// Override the calibrated threshold on the fused score (mean z-score); turns the cascade off.
    #[arg(long, global = true)]
    pub threshold: Option<f32>,
    /// Run every embedder of the matcher on every face instead of stopping when the first
    /// ones already decide.
    #[arg(long, global = true)]
    pub no_cascade: bool,
    /// Embed each face and its mirror image and average, with every embedder (default: as
    /// the manifest says per embedder).
    #[arg(long, global = true, conflicts_with = "no_flip_augment")]
    pub flip_augment: bool,
    /// Embed each face once with every embedder (as the Python peer pipelines do).
    #[arg(long, global = true)]
    pub no_flip_augment: bool,
    /// Align on the first detection's landmarks, without the second detection on a
    /// normalised crop (faster, less accurate; see README "Calibration and accuracy").
    #[arg(long, global = true)]
    pub no_refine_landmarks: bool,
    /// Letterbox every photo into the detector's pinned square input instead of the smallest
    /// fitted input that holds it at the same scale (slower, same pixels).
    #[arg(long, global = true)]
    pub no_fitted_detector_input: bool,
    /// Inference runtime: `tract` (built in) or `onnxruntime` (needs a build with
    /// `--features onnxruntime` and the library, see --onnxruntime-lib).
    #[arg(long, global = true, value_name = "tract|onnxruntime")]
    pub backend: Option<ikd_engine::InferenceBackend>,
    /// libonnxruntime.so for `--backend onnxruntime` (e.g. from the onnxruntime wheel).
    #[arg(long, global = true, value_name = "FILE", env = "ORT_DYLIB_PATH")]
    pub onnxruntime_lib: Option<PathBuf>,
}

impl EngineArgs {
    pub fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => EngineConfig::default(),
        };
        if let Some(m) = &self.manifest {
            config.manifest = m.clone();
        }
        if let Some(m) = &self.matcher {
            config.matcher = Some(m.clone());
        }
        if let Some(p) = self.operating_point {
            config.operating_point = p;
        }
        if let Some(t) = self.threshold {
            config.threshold = Some(t);
        }
        if self.no_cascade {
            config.cascade = false;
        }
        if self.flip_augment {
            config.flip_augment = Some(true);
        }
        if self.no_flip_augment {
            config.flip_augment = Some(false);
        }
        if self.no_refine_landmarks {
            config.refine_landmarks = false;
        }
        if self.no_fitted_detector_input {
            config.fit_detector_input = false;
        }
        if let Some(b) = self.backend {
            config.backend.kind = b;
        }
        if let Some(lib) = &self.onnxruntime_lib {
            config.backend.onnxruntime_library = Some(lib.clone());
        }
        Ok(config)
    }

    pub fn build(&self) -> anyhow::Result<Engine> {
        Ok(Engine::new(self.engine_config()?)?)
    }
}

/// Reads a file named on the command line; a missing file is a usage error (exit 2).
pub fn read_input(path: &std::path::Path) -> Result<Vec<u8>, std::process::ExitCode> {
    std::fs::read(path).map_err(|e| {
        eprintln!("ikd: cannot read {}: {e}", path.display());
        std::process::ExitCode::from(2)
    })
}

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
