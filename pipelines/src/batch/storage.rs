//! Object storage: `s3://bucket/prefix/...` wherever a run takes a path, beside the local paths
//! of before (which keep their own code, unchanged: this module is only reached for `s3://`).
//!
//! One [`Location`] per object or prefix; the operations a run needs, blocking (the run is
//! rayon-parallel, not async; each call drives one request on a small shared tokio runtime):
//! read a whole small object with a size limit, range reads, list a prefix (one level or all),
//! head, create-only put (`PutMode::Create`, `If-None-Match: *`) and overwrite.
//!
//! Configuration comes from the standard AWS environment: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL` (path-style
//! addressing then, for on-premise S3), `AWS_ALLOW_HTTP=true` (plain HTTP is refused
//! otherwise). Requests are retried with exponential backoff on 5xx, timeouts and dropped
//! connections (`IKD_S3_RETRIES`, default 10, within `IKD_S3_RETRY_SECONDS`, default 180),
//! time out after `IKD_S3_TIMEOUT_SECONDS` (default 60), and at most `IKD_S3_MAX_REQUESTS`
//! (default 16) are in flight per process. No error or log line carries a secret: the
//! messages this module returns have the secret key and session token replaced by `***`.
//!
//! It sits below `table`, `paths`, `lookup`, `results` and the run, and imports none of them.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::limit::LimitStore;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What went wrong with an object, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{what} has {size} bytes, more than the limit of {max}")]
    TooLarge { what: String, size: u64, max: u64 },
    #[error("{0}: access denied (check the credentials and the bucket policy)")]
    Denied(String),
    #[error("{0}: the credentials were refused (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN)")]
    Unauthenticated(String),
    #[error("{0}")]
    Config(String),
    #[error("{what}: {message}")]
    Other { what: String, message: String },
}

/// The result of a create-only put.
#[derive(Debug)]
pub enum Created {
    /// This call created the object.
    New,
    /// The object existed already (another attempt, or this call's earlier try whose reply
    /// was lost): its bytes, for the caller to compare before calling it a conflict.
    Existing(Bytes),
}

/// An object or a prefix in a bucket.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    key: String,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.url())
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

/// Metadata of one object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// The key relative to the listed prefix (for [`Location::list`]) or the full key.
    pub name: String,
    pub size: u64,
    pub e_tag: Option<String>,
    pub last_modified: std::time::SystemTime,
}

/// Whether a path given on the command line names object storage.
pub fn is_remote(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.starts_with("s3://"))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ikd-storage")
            .enable_all()
            .build()
            .expect("the storage runtime starts (threads and a timer, nothing that depends on input)")
    })
}

/// rustls's process-wide crypto provider: ring (the project's crypto library), not aws-lc-rs.
pub fn install_tls_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Err only when a provider is installed already: that one is used. rustls 0.23.48
        // deprecates ring's provider for lacking post-quantum key exchange (X25519MLKEM768,
        // which only its aws-lc-rs provider has): the classical X25519/P-256 exchange is what
        // we get in exchange for no C build.
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let _ = provider.install_default();
    });
}

fn env_number(name: &str, default: u64) -> Result<u64, StorageError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| StorageError::Config(format!("{name}={v:?} is not a whole number"))),
    }
}

/// One client per bucket per process (connections are pooled inside it).
fn store_for(bucket: &str) -> Result<Arc<dyn ObjectStore>, StorageError> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    let mut stores = stores.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = stores.get(bucket) {
        return Ok(s.clone());
    }
    install_tls_provider();
    let allow_http = match std::env::var("AWS_ALLOW_HTTP") {
        Ok(v) => v.eq_ignore_ascii_case("true"),
        Err(_) => false,
    };
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .ok();
    if let Some(e) = &endpoint {
        if e.starts_with("http://") && !allow_http {
            return Err(StorageError::Config(format!(
                "AWS_ENDPOINT_URL={e} is plain HTTP: set AWS_ALLOW_HTTP=true to allow it (only on a trusted network)"
            )));
        }
    }
    let timeout = env_number("IKD_S3_TIMEOUT_SECONDS", 60)?;
    let options = ClientOptions::new()
        .with_allow_http(allow_http)
        .with_timeout(Duration::from_secs(timeout.max(1)))
        .with_connect_timeout(Duration::from_secs(5));
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: env_number("IKD_S3_RETRIES", 10)? as usize,
        retry_timeout: Duration::from_secs(env_number("IKD_S3_RETRY_SECONDS", 180)?),
    };
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_client_options(options)
        .with_retry(retry);
    if let Some(e) = endpoint {
        // On-premise S3: path-style addressing (`ENDPOINT/bucket/key`), no bucket DNS names.
        builder = builder.with_endpoint(e).with_virtual_hosted_style_request(false);
    }
    let s3 = builder
        .build()
        .map_err(|e| StorageError::Config(redact(&format!("s3://{bucket}: {e}"))))?;
    let max = env_number("IKD_S3_MAX_REQUESTS", 16)?.max(1) as usize;
    let store: Arc<dyn ObjectStore> = Arc::new(LimitStore::new(s3, max));
    stores.insert(bucket.to_string(), store.clone());
    Ok(store)
}

/// Replaces the secret key and the session token, wherever they appear, with `***`.
pub fn redact(message: &str) -> String {
    let mut out = message.to_string();
    for var in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        if let Ok(secret) = std::env::var(var) {
            if secret.len() >= 4 {
                out = out.replace(&secret, "***");
            }
        }
    }
    out
}

fn map_error(what: &str, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound(what.to_string()),
        object_store::Error::PermissionDenied { .. } => StorageError::Denied(what.to_string()),
        object_store::Error::Unauthenticated { .. } => StorageError::Unauthenticated(what.to_string()),
        other => {
            let message = redact(&format!("{other}"));
            // S3's "NoSuchBucket" comes back as a generic 404 on some calls.
            if message.contains("NoSuchBucket") {
                StorageError::NotFound(format!("the bucket of {what}"))
            } else if message.contains("AccessDenied") {
                StorageError::Denied(what.to_string())
            } else if message.contains("InvalidAccessKeyId") || message.contains("SignatureDoesNotMatch") {
                StorageError::Unauthenticated(what.to_string())
            } else {
                StorageError::Other {
                    what: what.to_string(),
                    message,
                }
            }
        }
    }
}

/// A put answered 404 means the bucket is missing (a key need not exist to be written).
fn map_put_error(what: &str, e: object_store::Error) -> StorageError {
    match map_error(what, e) {
        StorageError::NotFound(w) if !w.starts_with("the bucket of ") => {
            StorageError::NotFound(format!("the bucket of {w}"))
        }
        other => other,
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

impl Location {
    /// `s3://bucket[/key...]`. Refuses other schemes, an empty bucket and `..` or empty
    /// segments (a key is never normalised into another one).
    pub fn parse(url: &str) -> Result<Location, StorageError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| StorageError::Config(format!("{url}: not an s3:// URL")))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::Config(format!("{url}: no bucket name")));
        }
        let key = key.trim_end_matches('/');
        if !key.is_empty() && key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(StorageError::Config(format!(
                "{url}: empty, `.` or `..` path segments are not allowed in a key"
            )));
        }
        Ok(Location {
            store: store_for(bucket)?,
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// [`Location::parse`] of a command-line path.
    pub fn from_path(path: &Path) -> Result<Location, StorageError> {
        let s = path
            .to_str()
            .ok_or_else(|| StorageError::Config(format!("{}: not UTF-8", path.display())))?;
        Location::parse(s)
    }

    pub fn url(&self) -> String {
        if self.key.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.key)
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The last segment of the key.
    pub fn name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or("")
    }

    /// The prefix this object lies in.
    pub fn parent(&self) -> Location {
        Location {
            store: self.store.clone(),
            bucket: self.bucket.clone(),
            key: self
                .key
                .rsplit_once('/')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default(),
        }
    }

    /// `self/rel`, where `rel` is one or more plain segments (callers pass fixed names).
    pub fn join(&self, rel: &str) -> Location {
        let rel = rel.trim_matches('/');
        Location {
            store: self.store.clone(),
            bucket: self.bucket.clone(),
            key: if self.key.is_empty() {
                rel.to_string()
            } else {
                format!("{}/{rel}", self.key)
            },
        }
    }

    /// Resolves a path a row names (e.g. `selfie_path`) inside this prefix: relative, no `..`
    /// that leaves it, no absolute path unless it is this prefix's own `s3://` URL. The rule of
    /// `paths::InputDir` for local files, on keys (there are no symlinks in a bucket).
    pub fn resolve_inside(&self, rel: &str) -> Result<Location, String> {
        let own = format!("{}/", self.url());
        let rel = if let Some(r) = rel.strip_prefix(&own) {
            r
        } else if rel.starts_with('/') || rel.contains("://") {
            return Err(format!("it names an object outside {}", self.url()));
        } else {
            rel
        };
        let mut parts: Vec<&str> = Vec::new();
        for seg in rel.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(format!("it names an object outside {}", self.url()));
                    }
                }
                s => parts.push(s),
            }
        }
        if parts.is_empty() {
            return Err("it names no object".into());
        }
        Ok(self.join(&parts.join("/")))
    }

    fn object_path(&self) -> ObjectPath {
        ObjectPath::from(self.key.as_str())
    }

    /// The whole object, refused before its body is read when it is larger than `max`.
    pub fn read(&self, max: Option<u64>) -> Result<Bytes, StorageError> {
        let what = self.url();
        block_on(async {
            let got = self
                .store
                .get(&self.object_path())
                .await
                .map_err(|e| map_error(&what, e))?;
            if let Some(max) = max {
                if got.meta.size > max {
                    return Err(StorageError::TooLarge {
                        what: what.clone(),
                        size: got.meta.size,
                        max,
                    });
                }
            }
            got.bytes().await.map_err(|e| map_error(&what, e))
        })
    }

    /// Copies the object into a local file, streamed (for a requests table: the CSV and
    /// Parquet readers work on a file). Returns its size.
    pub fn download_to(&self, dest: &Path) -> Result<u64, StorageError> {
        use std::io::Write;
        let what = self.url();
        let io = |e: std::io::Error| StorageError::Other {
            what: dest.display().to_string(),
            message: e.to_string(),
        };
        let mut file = std::fs::File::create(dest).map_err(io)?;
        let n = block_on(async {
            let got = self
                .store
                .get(&self.object_path())
                .await
                .map_err(|e| map_error(&what, e))?;
            let mut stream = got.into_stream();
            let mut n = 0u64;
            while let Some(chunk) = stream.try_next().await.map_err(|e| map_error(&what, e))? {
                file.write_all(&chunk).map_err(io)?;
                n += chunk.len() as u64;
            }
            Ok::<u64, StorageError>(n)
        })?;
        file.sync_all().map_err(io)?;
        Ok(n)
    }

    /// Bytes `range` of the object.
    pub fn read_range(&self, range: Range<u64>) -> Result<Bytes, StorageError> {
        let what = self.url();
        block_on(self.store.get_range(&self.object_path(), range)).map_err(|e| map_error(&what, e))
    }

    /// Several ranges of the object, fetched concurrently (nearby ones coalesced).
    pub fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>, StorageError> {
        let what = self.url();
        block_on(self.store.get_ranges(&self.object_path(), ranges)).map_err(|e| map_error(&what, e))
    }

    /// The object's size and ETag, `None` when it does not exist.
    pub fn head(&self) -> Result<Option<ObjectInfo>, StorageError> {
        let what = self.url();
        match block_on(self.store.head(&self.object_path())) {
            Ok(m) => Ok(Some(ObjectInfo {
                name: self.key.clone(),
                size: m.size,
                e_tag: m.e_tag,
                last_modified: m.last_modified.into(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(map_error(&what, e)),
        }
    }

    /// Every object below this prefix (any depth), names relative to it, sorted.
    pub fn list(&self) -> Result<Vec<ObjectInfo>, StorageError> {
        let what = self.url();
        let prefix = (!self.key.is_empty()).then(|| self.object_path());
        let strip = if self.key.is_empty() {
            String::new()
        } else {
            format!("{}/", self.key)
        };
        let mut out: Vec<ObjectInfo> = block_on(async {
            self.store
                .list(prefix.as_ref())
                .map_ok(|m| ObjectInfo {
                    name: m
                        .location
                        .as_ref()
                        .strip_prefix(&strip)
                        .unwrap_or(m.location.as_ref())
                        .to_string(),
                    size: m.size,
                    e_tag: m.e_tag,
                    last_modified: m.last_modified.into(),
                })
                .try_collect()
                .await
        })
        .map_err(|e| map_error(&what, e))?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The names of the "directories" directly below this prefix, sorted.
    pub fn list_prefixes(&self) -> Result<Vec<String>, StorageError> {
        let what = self.url();
        let prefix = (!self.key.is_empty()).then(|| self.object_path());
        let listed = block_on(self.store.list_with_delimiter(prefix.as_ref())).map_err(|e| map_error(&what, e))?;
        let mut out: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Creates the object with `bytes` if no object has this key (one request, so a reader sees
    /// all of it or nothing). When one exists, returns its bytes.
    pub fn put_create(&self, bytes: Bytes) -> Result<Created, StorageError> {
        let what = self.url();
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match block_on(self.store.put_opts(&self.object_path(), PutPayload::from(bytes), opts)) {
            Ok(_) => Ok(Created::New),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(Created::Existing(self.read(None)?))
            }
            Err(e) => Err(map_put_error(&what, e)),
        }
    }

    /// Writes the object, replacing any (for what a run rewrites: summary, report).
    pub fn put_overwrite(&self, bytes: Bytes) -> Result<(), StorageError> {
        let what = self.url();
        block_on(self.store.put(&self.object_path(), PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| map_put_error(&what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_rows_cannot_leave_their_prefix() {
        let base = Location::parse("s3://bucket/night/2026-12-07").unwrap();
        assert_eq!(base.bucket(), "bucket");
        assert_eq!(base.key(), "night/2026-12-07");
        assert_eq!(base.join("a.jpg").url(), "s3://bucket/night/2026-12-07/a.jpg");
        assert_eq!(
            base.resolve_inside("sub/./a.jpg").unwrap().key(),
            "night/2026-12-07/sub/a.jpg"
        );
        assert_eq!(
            base.resolve_inside("sub/../a.jpg").unwrap().key(),
            "night/2026-12-07/a.jpg"
        );
        assert!(base.resolve_inside("s3://bucket/night/2026-12-07/x.jpg").is_ok());
        for hostile in [
            "../x.jpg",
            "sub/../../x.jpg",
            "/etc/passwd",
            "s3://other/x.jpg",
            "s3://bucket/night/x.jpg",
            "",
        ] {
            assert!(base.resolve_inside(hostile).is_err(), "{hostile} must be refused");
        }
        for bad in ["s3://", "s3:///key", "s3://b/a//c", "s3://b/a/../c", "/local/path"] {
            assert!(Location::parse(bad).is_err(), "{bad} must be refused");
        }
        assert!(is_remote(Path::new("s3://b/k")));
        assert!(!is_remote(Path::new("/tmp/s3:/b")));
    }
}
