//! Deterministic assignment of request rows to shards.
//!
//! A row with a valid NIK goes to `hash(region_key) mod N` (province + regency), so a shard
//! loads only the gallery partitions of its regions; a row with an invalid NIK goes to
//! `hash(request_id) mod N`. Duplicate detection does not depend on the assignment: every shard
//! reads the request ids of the whole input (cheap) and decides "first occurrence wins" in
//! input order, so a duplicate is recognised even when its first occurrence lives in another
//! shard (see docs/batch.md).

use super::{hash64, UsageError};
use ikd_engine::nik::Nik;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

/// Environment variables that carry an array-job index, in the order they are tried.
pub const INDEX_ENV_VARS: [&str; 2] = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"];

impl Shard {
    /// Parses `I/N`.
    pub fn parse(s: &str) -> Result<Shard, UsageError> {
        let bad = || UsageError(format!("--shard must look like I/N with 0 <= I < N, got {s:?}"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count).ok_or_else(bad)
    }

    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (count >= 1 && index < count).then_some(Shard { index, count })
    }

    /// `--shards N` with the index from `JOB_COMPLETION_INDEX` (Kubernetes Indexed Job) or
    /// `SLURM_ARRAY_TASK_ID`.
    pub fn from_env(count: u32, get: impl Fn(&str) -> Option<String>) -> Result<Shard, UsageError> {
        for var in INDEX_ENV_VARS {
            if let Some(v) = get(var) {
                let index: u32 = v
                    .trim()
                    .parse()
                    .map_err(|_| UsageError(format!("{var}={v:?} is not a shard index")))?;
                return Shard::new(index, count)
                    .ok_or_else(|| UsageError(format!("{var}={index} is out of range for --shards {count}")));
            }
        }
        Err(UsageError(format!(
            "--shards {count} needs the shard index in JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID"
        )))
    }

    /// The shard a row belongs to.
    pub fn of(count: u32, request_id: &str, nik: Option<&Nik>) -> u32 {
        if count <= 1 {
            return 0;
        }
        let h = match nik {
            Some(n) => hash64(b"ikd/shard/region", &n.region_key().to_be_bytes()),
            None => hash64(b"ikd/shard/request", request_id.as_bytes()),
        };
        (h % u64::from(count)) as u32
    }

    pub fn owns(&self, request_id: &str, nik: Option<&Nik>) -> bool {
        Shard::of(self.count, request_id, nik) == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_env() {
        assert_eq!(Shard::parse("1/3").unwrap(), Shard { index: 1, count: 3 });
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("x").is_err());
        let s = Shard::from_env(4, |k| (k == "SLURM_ARRAY_TASK_ID").then(|| "2".to_string())).unwrap();
        assert_eq!(s, Shard { index: 2, count: 4 });
        assert!(Shard::from_env(4, |_| None).is_err());
    }

    #[test]
    fn every_row_has_exactly_one_shard() {
        let nik = Nik::parse("3174015505900001").ok();
        for id in ["a", "b", "c", "d"] {
            let owners = (0..3)
                .filter(|&i| Shard { index: i, count: 3 }.owns(id, nik.as_ref()))
                .count();
            assert_eq!(owners, 1);
            let owners = (0..3).filter(|&i| Shard { index: i, count: 3 }.owns(id, None)).count();
            assert_eq!(owners, 1);
        }
    }
}
