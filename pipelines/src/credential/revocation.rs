//! Revocation files and the status lists published from them: `ikd credential revoke` appends
//! credential ids to a JSON-lines file (append-only, with when and why), `ikd credential
//! status-list publish` signs the ids it holds as a status list for verifiers.

use anyhow::Context;
use ikd_engine::credential::{CredentialId, IssuerKey, StatusList};
use std::collections::BTreeSet;
use std::path::Path;

/// One line of a revocation file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Revocation {
    id: String,
    revoked_at: u64,
    #[serde(default)]
    reason: String,
}

/// The ids a revocation file holds (none if it does not exist).
pub fn read_revocations(path: &Path) -> anyhow::Result<BTreeSet<CredentialId>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    };
    let mut ids = BTreeSet::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let r: Revocation = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not a revocation", path.display(), n + 1))?;
        let id =
            r.id.parse::<CredentialId>()
                .map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), n + 1))?;
        ids.insert(id);
    }
    Ok(ids)
}

/// Appends the ids of `ids` that `list` does not hold yet (revoked at `now`, for `reason`),
/// synced. Returns how many were added.
pub fn revoke(list: &Path, ids: &[CredentialId], reason: &str, now: u64) -> anyhow::Result<usize> {
    let known = read_revocations(list)?;
    let mut lines = String::new();
    for id in ids.iter().filter(|id| !known.contains(id)) {
        let r = Revocation {
            id: id.to_string(),
            revoked_at: now,
            reason: reason.to_owned(),
        };
        lines.push_str(&serde_json::to_string(&r)?);
        lines.push('\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(list)
        .with_context(|| format!("opening {}", list.display()))?;
    std::io::Write::write_all(&mut file, lines.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("appending to {}", list.display()))?;
    Ok(lines.lines().count())
}

/// The status list of the ids in the revocation file `list`, issued at `now` by `issuer`,
/// valid for `valid_hours`, signed with `key`: the list and its bytes (zlib-compressed
/// COSE_Sign1).
pub fn publish_status_list(
    key: &IssuerKey,
    list: &Path,
    issuer: String,
    now: u64,
    valid_hours: u64,
) -> anyhow::Result<(StatusList, Vec<u8>)> {
    let status = StatusList {
        issuer,
        issued_at: now,
        expires_at: now.saturating_add(valid_hours.saturating_mul(3600)),
        revoked: read_revocations(list)?,
        kid: None,
    };
    let bytes = status.sign(key)?;
    Ok((status, bytes))
}
