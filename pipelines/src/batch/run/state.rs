//! `OUT/run.json`: the run id and the fingerprint of everything a resume must not change.

use super::super::{create_file, sync_dir, unix_now, UsageError};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a run must not change between a crash and its resume. Shared by all shards (the shard
/// index is not part of it), so every shard of a job computes the same run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub input_sha256: String,
    pub gallery_fingerprint: String,
    pub chunk_size: usize,
    pub shards: u32,
    pub detector_model: String,
    pub matcher: String,
    /// The embedders that decide, in cascade order.
    pub embedders: Vec<String>,
    pub operating_point: String,
    pub cascade: bool,
    pub threshold: f32,
    pub engine_version: String,
    pub credential_kid: Option<String>,
    /// Kid of the AES key credentials are encrypted with (absent: signed only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_kid: Option<String>,
    /// Byte budget of the holder's portrait in credentials (absent: no photo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_budget: Option<usize>,
    /// `--selfie-dir`, canonical (absent: the requests file's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selfie_dir: Option<String>,
    pub issuer: Option<String>,
    pub validity_days: Option<u64>,
    pub review_margin: f32,
    pub issued_at: Option<u64>,
}

/// `OUT/run.json`, written once by the first process of a run (atomically, no-replace).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub fingerprint: Fingerprint,
    /// `iat` of every credential of the run: fixed at first start so a resume re-issues
    /// byte-identical Ed25519 credentials.
    pub issued_at: u64,
    pub created_at: u64,
}

/// Where a run's state lives.
pub fn state_path(out: &Path) -> PathBuf {
    out.join("run.json")
}

impl RunState {
    /// Reads an existing run's state (for the tools that work on a finished run).
    pub fn read(out: &Path) -> anyhow::Result<RunState> {
        if super::super::storage::is_remote(out) {
            return read_remote(out);
        }
        let path = state_path(out);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Reads `run.json` or creates it atomically (hard link of a complete temp file, which fails
/// if another shard created it first; then that one is read). Refuses a different fingerprint.
/// Returns the state and whether the run is being resumed.
pub(super) fn open_state(out: &Path, fp: &Fingerprint) -> anyhow::Result<(RunState, bool)> {
    let path = state_path(out);
    let check = |state: RunState| -> anyhow::Result<RunState> {
        if &state.fingerprint != fp {
            let a = serde_json::to_value(&state.fingerprint)?;
            let b = serde_json::to_value(fp)?;
            let diff: Vec<String> = match (a.as_object(), b.as_object()) {
                (Some(a), Some(b)) => a
                    .iter()
                    .filter(|(k, v)| b.get(*k) != Some(*v))
                    .map(|(k, v)| format!("{k}: was {v}, now {}", b[k]))
                    .collect(),
                _ => vec![],
            };
            return Err(UsageError(format!(
                "{} belongs to run {} with other arguments or input ({}); use another --out to start a new run",
                out.display(),
                state.run_id,
                diff.join("; ")
            ))
            .into());
        }
        Ok(state)
    };
    if super::super::storage::is_remote(out) {
        return open_state_remote(out, fp, check);
    }
    remove_temps_of_ended_processes(out);
    if path.exists() {
        return Ok((check(RunState::read(out)?)?, true));
    }
    let state = new_state(fp)?;
    // The temp file itself is what gets linked: written and synced in place, not through
    // `write_atomic` (which would add a temp of the temp).
    let tmp = out.join(format!(".run.json.{}.tmp", std::process::id()));
    (|| -> std::io::Result<()> {
        let mut f = create_file(&tmp, None)?;
        f.write_all(serde_json::to_string_pretty(&state)?.as_bytes())?;
        f.sync_all()
    })()
    .with_context(|| format!("writing {}", path.display()))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(out);
            Ok((state, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((check(RunState::read(out)?)?, true)),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// A new run's state. The run id leaves the shard count out: N shards of a job and one single
/// run of the same input and arguments carry the same run id (the table is the same).
fn new_state(fp: &Fingerprint) -> anyhow::Result<RunState> {
    let fp_bytes = serde_json::to_vec(&Fingerprint {
        shards: 0,
        ..fp.clone()
    })?;
    let run_id = format!("run-{}", &ikd_engine::sha256_hex(&fp_bytes)[..16]);
    let now = unix_now();
    Ok(RunState {
        run_id,
        fingerprint: fp.clone(),
        issued_at: fp.issued_at.unwrap_or(now),
        created_at: now,
    })
}

/// `s3://.../run.json`: created with one create-only put (the first shard's wins); when it
/// exists (another shard, an earlier attempt, or this put's own lost reply), it is read back
/// and its fingerprint must match.
fn open_state_remote(
    out: &Path,
    fp: &Fingerprint,
    check: impl Fn(RunState) -> anyhow::Result<RunState>,
) -> anyhow::Result<(RunState, bool)> {
    use super::super::storage::{Created, Location};
    let loc = Location::from_path(out)?.join("run.json");
    let parse = |bytes: &[u8]| -> anyhow::Result<RunState> {
        serde_json::from_slice(bytes).with_context(|| format!("parsing {loc}"))
    };
    if let Some(_existing) = loc.head()? {
        return Ok((check(parse(&loc.read(Some(1 << 20))?)?)?, true));
    }
    let state = new_state(fp)?;
    let bytes = serde_json::to_string_pretty(&state)?.into_bytes();
    match loc.put_create(bytes.clone().into())? {
        Created::New => Ok((state, false)),
        // Ours (a retried put whose first reply was lost) or another shard's: same check.
        Created::Existing(there) if there.as_ref() == bytes.as_slice() => Ok((state, false)),
        Created::Existing(there) => Ok((check(parse(&there)?)?, true)),
    }
}

/// Reads an `s3://` run's state.
pub fn read_remote(out: &Path) -> anyhow::Result<RunState> {
    let loc = super::super::storage::Location::from_path(out)?.join("run.json");
    let bytes = loc.read(Some(1 << 20))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {loc}"))
}

/// Removes the `run.json` temp files (`.run.json.PID.tmp`, and `..run.json.PID.tmp.tmp` of
/// earlier versions) that a killed process left: only those whose process has ended, since
/// another shard starting beside this one may be between writing its own and linking it.
fn remove_temps_of_ended_processes(out: &Path) {
    for entry in std::fs::read_dir(out).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .trim_start_matches('.')
            .strip_prefix("run.json.")
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if name.ends_with(".tmp") && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_run_json_temps_of_ended_processes_are_removed() {
        let out = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22, so no process has pid 999999999.
        let ended = [".run.json.999999999.tmp", "..run.json.999999999.tmp.tmp"];
        let live = format!(".run.json.{}.tmp", std::process::id());
        for name in ended
            .iter()
            .copied()
            .chain([live.as_str(), ".part-000001.parquet.tmp", "run.json"])
        {
            std::fs::write(out.path().join(name), b"{}").unwrap();
        }
        remove_temps_of_ended_processes(out.path());
        for name in ended {
            assert!(!out.path().join(name).exists(), "{name} left");
        }
        for name in [live.as_str(), ".part-000001.parquet.tmp", "run.json"] {
            assert!(out.path().join(name).exists(), "{name} removed");
        }
    }
}
