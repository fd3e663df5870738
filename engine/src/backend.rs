//! Inference backends: the one seam between the face stages and an ONNX runtime.
//!
//! A stage hands a backend one NCHW `f32` input of the shape pinned in the manifest and gets
//! the model's outputs back in graph order. Two implementations:
//! - [`InferenceBackend::Tract`] (default): pure Rust, `tract-onnx`, nothing to install.
//! - [`InferenceBackend::OnnxRuntime`] (cargo feature `onnxruntime`): the `ort` crate loading
//!   `libonnxruntime.so` at run time (for example the one inside the `onnxruntime` Python wheel),
//!   for users who have it or want one of its execution providers.
//!
//! Both keep a pool of per-thread run states (tract plan states, ORT sessions) so that rayon
//! workers never share one and never rebuild one per call.

use crate::error::ModelError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which runtime executes the ONNX models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferenceBackend {
    /// `tract-onnx`, compiled in.
    #[default]
    Tract,
    /// ONNX Runtime loaded from a shared library (needs the `onnxruntime` cargo feature).
    #[serde(rename = "onnxruntime")]
    OnnxRuntime,
}

impl InferenceBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            InferenceBackend::Tract => "tract",
            InferenceBackend::OnnxRuntime => "onnxruntime",
        }
    }

    /// Whether this build can run the backend.
    pub fn is_available(self) -> bool {
        match self {
            InferenceBackend::Tract => true,
            InferenceBackend::OnnxRuntime => cfg!(feature = "onnxruntime"),
        }
    }
}

impl std::fmt::Display for InferenceBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for InferenceBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tract" => Ok(InferenceBackend::Tract),
            "onnxruntime" | "ort" => Ok(InferenceBackend::OnnxRuntime),
            other => Err(format!("unknown inference backend {other:?} (tract, onnxruntime)")),
        }
    }
}

/// Backend choice plus what the ONNX Runtime backend needs to find its library.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    pub kind: InferenceBackend,
    /// Path of `libonnxruntime.so`; `None` reads `$ORT_DYLIB_PATH`.
    pub onnxruntime_library: Option<PathBuf>,
}

/// One output of a model run, copied out of the runtime.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub values: Vec<f32>,
}

/// A model ready to run: built from verified bytes with a pinned input shape.
pub(crate) trait Runner: Send + Sync {
    /// Runs one input of the pinned shape (`input.len() == 1*3*H*W`). Borrowed, so callers can
    /// reuse their buffers (ONNX Runtime reads it in place).
    fn run(&self, input: &[f32]) -> Result<Vec<Output>, String>;
}

/// Builds a runner for `bytes` with input shape `[1, 3, height, width]`.
pub(crate) fn load(config: &BackendConfig, bytes: &[u8], shape: [usize; 4]) -> Result<Box<dyn Runner>, LoadFailure> {
    match config.kind {
        InferenceBackend::Tract => tract::TractRunner::load(bytes, shape).map(|r| Box::new(r) as Box<dyn Runner>),
        #[cfg(feature = "onnxruntime")]
        InferenceBackend::OnnxRuntime => {
            onnxruntime::OrtRunner::load(config, bytes, shape).map(|r| Box::new(r) as Box<dyn Runner>)
        }
        #[cfg(not(feature = "onnxruntime"))]
        InferenceBackend::OnnxRuntime => Err(LoadFailure::Unavailable(
            "this build has no ONNX Runtime backend: rebuild with `--features onnxruntime`".into(),
        )),
    }
}

/// Why a runner could not be built: the runtime itself, or this model in it.
pub(crate) enum LoadFailure {
    /// The backend cannot run at all (not compiled in, library missing or too old).
    Unavailable(String),
    /// The runtime refused this model.
    Model(String),
}

impl LoadFailure {
    pub fn into_model_error(self, backend: InferenceBackend, id: &str, path: PathBuf, sha256: String) -> ModelError {
        match self {
            LoadFailure::Unavailable(detail) => ModelError::BackendUnavailable {
                backend: backend.as_str(),
                detail,
            },
            LoadFailure::Model(detail) => ModelError::Load {
                id: id.to_owned(),
                path,
                sha256,
                detail,
            },
        }
    }
}

mod tract {
    use super::{LoadFailure, Output, Runner};
    use std::sync::{Arc, Mutex};
    use tract_onnx::prelude::*;

    pub struct TractRunner {
        plan: Arc<TypedRunnableModel>,
        shape: [usize; 4],
        states: Mutex<Vec<TypedSimpleState>>,
    }

    impl TractRunner {
        pub fn load(bytes: &[u8], shape: [usize; 4]) -> Result<TractRunner, LoadFailure> {
            // Pinning the input before optimising matters: symbolic dims run ~12x slower.
            // tract can panic on graphs that do not fit the declared shape (a manifest pairing a
            // hash with the wrong kind of model), so a panic is reported as a load failure.
            let optimise = || {
                tract_onnx::onnx()
                    .model_for_read(&mut std::io::Cursor::new(bytes))
                    .and_then(|m| m.with_input_fact(0, f32::fact(shape).into()))
                    .and_then(|m| m.into_optimized())
                    .and_then(|m| m.into_runnable())
            };
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(optimise)) {
                Ok(Ok(plan)) => Ok(TractRunner {
                    plan,
                    shape,
                    states: Mutex::new(Vec::new()),
                }),
                Ok(Err(e)) => Err(LoadFailure::Model(format!("{e:#}"))),
                Err(_) => Err(LoadFailure::Model(
                    "the graph does not accept the declared input shape".into(),
                )),
            }
        }
    }

    impl Runner for TractRunner {
        fn run(&self, input: &[f32]) -> Result<Vec<Output>, String> {
            let input = Tensor::from_shape(&self.shape, input).map_err(|e| e.to_string())?;
            let pooled = self.states.lock().map(|mut s| s.pop()).unwrap_or(None);
            let mut state = match pooled {
                Some(s) => s,
                None => self.plan.spawn().map_err(|e| format!("{e:#}"))?,
            };
            let result = state.run(tvec![input.into_tvalue()]);
            if let Ok(mut states) = self.states.lock() {
                states.push(state);
            }
            let outputs = result.map_err(|e| format!("{e:#}"))?;
            outputs
                .iter()
                .map(|t| {
                    let view = t.as_plain_ram().ok_or("output tensor is not in host memory")?;
                    let values = view.as_slice::<f32>().map_err(|e| e.to_string())?;
                    Ok(Output {
                        values: values.to_vec(),
                    })
                })
                .collect()
        }
    }
}

#[cfg(feature = "onnxruntime")]
mod onnxruntime {
    use super::{BackendConfig, LoadFailure, Output, Runner};
    use ort::session::{builder::GraphOptimizationLevel, Session};
    use ort::value::TensorRef;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// The process-wide ORT environment and the library it came from: ONNX Runtime can be
    /// loaded once per process, so the first engine's library wins. A failed load is not
    /// remembered, so a corrected path can be tried again.
    static ENVIRONMENT: Mutex<Option<(PathBuf, ort::environment::Environment)>> = Mutex::new(None);

    fn environment(config: &BackendConfig) -> Result<ort::environment::Environment, LoadFailure> {
        let unavailable = LoadFailure::Unavailable;
        // Without an explicit path `ort` would look for the library lazily and can hang or
        // panic on the first session: insist on a path and load it here.
        let path = config
            .onnxruntime_library
            .clone()
            .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from))
            .ok_or_else(|| {
                unavailable(
                    "no ONNX Runtime library given: set `onnxruntime_library` (--onnxruntime-lib) or \
                     $ORT_DYLIB_PATH to libonnxruntime.so (e.g. the one in the onnxruntime wheel, \
                     site-packages/onnxruntime/capi/libonnxruntime.so.*)"
                        .to_owned(),
                )
            })?;
        if !path.is_file() {
            return Err(unavailable(format!(
                "ONNX Runtime library {} does not exist",
                path.display()
            )));
        }
        let mut loaded = ENVIRONMENT
            .lock()
            .map_err(|_| unavailable("environment lock poisoned".into()))?;
        match &*loaded {
            Some((from, env)) if *from == path => Ok(env.clone()),
            Some((from, _)) => Err(unavailable(format!(
                "ONNX Runtime is already loaded from {} in this process; cannot switch to {}",
                from.display(),
                path.display()
            ))),
            None => {
                let env = ort::init_from(&path)
                    .map_err(|e| unavailable(e.to_string()))?
                    .with_name("ikd-engine")
                    .build()
                    .map_err(|e| unavailable(format!("ONNX Runtime environment: {e}")))?;
                *loaded = Some((path, env.clone()));
                Ok(env)
            }
        }
    }

    pub struct OrtRunner {
        environment: ort::environment::Environment,
        bytes: Vec<u8>,
        shape: [usize; 4],
        sessions: Mutex<Vec<Session>>,
    }

    impl OrtRunner {
        pub fn load(config: &BackendConfig, bytes: &[u8], shape: [usize; 4]) -> Result<OrtRunner, LoadFailure> {
            let runner = OrtRunner {
                environment: environment(config)?,
                bytes: bytes.to_vec(),
                shape,
                sessions: Mutex::new(Vec::new()),
            };
            let first = runner.session().map_err(LoadFailure::Model)?;
            runner.give_back(first);
            Ok(runner)
        }

        /// A new session with one intra-op thread: parallelism comes from the engine's callers
        /// (rayon workers, one session each), as with tract, so the cores are not oversubscribed.
        fn session(&self) -> Result<Session, String> {
            let build = || -> Result<Session, ort::Error> {
                Session::builder(&self.environment)?
                    .with_optimization_level(GraphOptimizationLevel::Level3)?
                    .with_intra_threads(1)?
                    .with_inter_threads(1)?
                    .commit_from_memory(&self.bytes)
            };
            build().map_err(|e| e.to_string())
        }

        fn give_back(&self, session: Session) {
            if let Ok(mut pool) = self.sessions.lock() {
                pool.push(session);
            }
        }
    }

    impl Runner for OrtRunner {
        fn run(&self, input: &[f32]) -> Result<Vec<Output>, String> {
            let pooled = self.sessions.lock().map(|mut s| s.pop()).unwrap_or(None);
            let mut session = match pooled {
                Some(s) => s,
                None => self.session()?,
            };
            let result = (|| -> Result<Vec<Output>, String> {
                let tensor = TensorRef::from_array_view((self.shape, input)).map_err(|e| e.to_string())?;
                let outputs = session.run(ort::inputs![tensor]).map_err(|e| e.to_string())?;
                let mut copied = Vec::with_capacity(outputs.len());
                for (_, value) in outputs.iter() {
                    let (_, values) = value.try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
                    copied.push(Output {
                        values: values.to_vec(),
                    });
                }
                Ok(copied)
            })();
            self.give_back(session);
            result
        }
    }
}
