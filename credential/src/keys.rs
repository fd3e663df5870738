//! Signing keys (PKCS#8 files, 0600), public keys, `kid` derivation (RFC 7638 JWK thumbprint)
//! and the public key set (JWKS, RFC 7517 / RFC 8037).
//!
//! Key directory layout written by [`generate_key_files`]:
//!
//! ```text
//! DIR/<kid>.p8        PKCS#8 v2 private key (DER), mode 0600, created with that mode
//! DIR/<kid>.jwk.json  the public key as a JWK (mode 0644)
//! DIR/active.kid      the kid that `IssuerKey::load(DIR)` signs with (the newest key)
//! DIR/activation.secret  32 random bytes for activation codes (mode 0600), see `activation`
//! ```

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use super::encoding::{b64url_decode, b64url_encode};
use super::secret::{create_private_dir, read_private_file, write_private_file, Wiped};
use super::CredentialError;

/// Largest private key / secret file we read.
/// Name of the file holding the active kid.
pub const ACTIVE_KID_FILE: &str = "active.kid";
/// Extension of private key files.
pub const PRIVATE_KEY_EXT: &str = "p8";
/// Suffix of public JWK files.
pub const PUBLIC_JWK_SUFFIX: &str = ".jwk.json";

/// A signature algorithm supported for credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// EdDSA with Ed25519 (COSE alg -8). The default.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// ECDSA with P-256 and SHA-256 (COSE alg -7).
    #[serde(rename = "ES256")]
    Es256,
}

impl Algorithm {
    /// The COSE algorithm identifier (RFC 9053).
    pub const fn cose_id(self) -> i64 {
        match self {
            Self::EdDsa => -8,
            Self::Es256 => -7,
        }
    }

    /// The algorithm for a COSE identifier.
    pub fn from_cose_id(id: i64) -> Option<Self> {
        match id {
            -8 => Some(Self::EdDsa),
            -7 => Some(Self::Es256),
            _ => None,
        }
    }

    /// The JOSE/COSE name: `EdDSA` or `ES256`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ed25519" | "eddsa" => Ok(Self::EdDsa),
            "es256" | "p256" | "p-256" => Ok(Self::Es256),
            other => Err(format!("unknown algorithm {other:?} (expected ed25519 or es256)")),
        }
    }
}

/// A public verification key with its `kid`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    alg: Algorithm,
    /// Ed25519: 32 bytes. ES256: 65-byte uncompressed SEC1 point (0x04 || x || y).
    bytes: Vec<u8>,
    kid: String,
    /// When this key may sign (credential `iat` inside it); open ends are unbounded.
    window: SigningWindow,
}

/// The issuance window of a signing key, kept in its JWK (`signs_from`, `signs_until`, Unix
/// seconds). A rotated key keeps verifying the credentials it signed while it was active, but a
/// credential it "signed" with a later `iat` is refused as [`CredentialError::KeyRetired`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningWindow {
    /// First second the key signs.
    pub from: Option<u64>,
    /// The second the key was retired (it signs strictly before it).
    pub until: Option<u64>,
}

impl SigningWindow {
    /// True if a credential issued at `iat` falls inside the window.
    pub fn contains(&self, iat: u64) -> bool {
        self.from.is_none_or(|f| iat >= f) && self.until.is_none_or(|u| iat < u)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish()
    }
}

impl PublicKey {
    /// An Ed25519 public key (32 bytes); kid = its RFC 7638 thumbprint.
    pub fn ed25519(bytes: &[u8]) -> Result<Self, CredentialError> {
        if bytes.len() != 32 {
            return Err(CredentialError::InvalidKeySet(format!(
                "Ed25519 public key must be 32 bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Self::with_thumbprint(Algorithm::EdDsa, bytes.to_vec()))
    }

    /// A P-256 public key as a 65-byte uncompressed SEC1 point; kid = its RFC 7638 thumbprint.
    pub fn es256_uncompressed(bytes: &[u8]) -> Result<Self, CredentialError> {
        if bytes.len() != 65 || bytes.first() != Some(&4) {
            return Err(CredentialError::InvalidKeySet(
                "P-256 public key must be a 65-byte uncompressed point".into(),
            ));
        }
        Ok(Self::with_thumbprint(Algorithm::Es256, bytes.to_vec()))
    }

    fn with_thumbprint(alg: Algorithm, bytes: Vec<u8>) -> Self {
        let mut key = Self {
            alg,
            bytes,
            kid: String::new(),
            window: SigningWindow::default(),
        };
        key.kid = key.thumbprint();
        key
    }

    /// Replace the kid (e.g. one assigned by another issuer).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// Set the issuance window.
    pub fn with_window(mut self, window: SigningWindow) -> Self {
        self.window = window;
        self
    }

    /// When this key signs.
    pub fn window(&self) -> SigningWindow {
        self.window
    }

    /// The algorithm this key verifies.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw public key bytes (Ed25519: 32; P-256: 65, uncompressed).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url): hash of the required members in
    /// lexicographic order without whitespace.
    pub fn thumbprint(&self) -> String {
        let canonical = match self.alg {
            Algorithm::EdDsa => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                b64url_encode(&self.bytes)
            ),
            Algorithm::Es256 => {
                let (x, y) = self.ec_xy();
                format!(
                    r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                    b64url_encode(x),
                    b64url_encode(y)
                )
            }
        };
        b64url_encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    fn ec_xy(&self) -> (&[u8], &[u8]) {
        let x = self.bytes.get(1..33).unwrap_or_default();
        let y = self.bytes.get(33..65).unwrap_or_default();
        (x, y)
    }

    /// The public key as a JWK (RFC 7517; OKP per RFC 8037).
    pub fn to_jwk(&self) -> Jwk {
        match self.alg {
            Algorithm::EdDsa => Jwk {
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: Some(b64url_encode(&self.bytes)),
                y: None,
                kid: Some(self.kid.clone()),
                alg: Some("EdDSA".into()),
                use_: Some("sig".into()),
                signs_from: self.window.from,
                signs_until: self.window.until,
                d: None,
            },
            Algorithm::Es256 => {
                let (x, y) = self.ec_xy();
                Jwk {
                    kty: "EC".into(),
                    crv: Some("P-256".into()),
                    x: Some(b64url_encode(x)),
                    y: Some(b64url_encode(y)),
                    kid: Some(self.kid.clone()),
                    alg: Some("ES256".into()),
                    use_: Some("sig".into()),
                    signs_from: self.window.from,
                    signs_until: self.window.until,
                    d: None,
                }
            }
        }
    }

    /// Parse a public JWK. Refuses JWKs that carry a private part (`d`).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, CredentialError> {
        let bad = |m: &str| CredentialError::InvalidKeySet(m.to_string());
        if jwk.d.is_some() {
            return Err(bad("JWK contains a private key (\"d\"); publish public keys only"));
        }
        if let Some(u) = &jwk.use_ {
            if u != "sig" {
                return Err(bad("JWK \"use\" is not \"sig\""));
            }
        }
        let decode = |field: &Option<String>, name: &str| -> Result<Vec<u8>, CredentialError> {
            let text = field.as_deref().ok_or_else(|| bad(&format!("JWK has no \"{name}\"")))?;
            b64url_decode(text).ok_or_else(|| bad(&format!("JWK \"{name}\" is not base64url")))
        };
        let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => Self::ed25519(&decode(&jwk.x, "x")?)?,
            ("EC", Some("P-256")) => {
                let x = decode(&jwk.x, "x")?;
                let y = decode(&jwk.y, "y")?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(bad("P-256 \"x\" and \"y\" must be 32 bytes each"));
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Self::es256_uncompressed(&point)?
            }
            (kty, crv) => return Err(bad(&format!("unsupported key type {kty}/{}", crv.unwrap_or("-")))),
        };
        if let Some(alg) = &jwk.alg {
            if alg != key.alg.name() {
                return Err(bad(&format!("JWK alg {alg} does not match its key type ({})", key.alg)));
            }
        }
        let key = key.with_window(SigningWindow {
            from: jwk.signs_from,
            until: jwk.signs_until,
        });
        Ok(match &jwk.kid {
            Some(kid) if !kid.is_empty() => key.with_kid(kid.clone()),
            _ => key,
        })
    }

    /// Verify `signature` over `message`.
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            Algorithm::EdDsa => &signature::ED25519,
            Algorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
        };
        signature::UnparsedPublicKey::new(alg, &self.bytes)
            .verify(message, sig)
            .is_ok()
    }
}

/// One JSON Web Key (public members only are ever written).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `OKP` or `EC`.
    pub kty: String,
    /// Curve: `Ed25519` or `P-256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public x (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Public y for EC (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Public key use.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Issuance window start (Unix seconds; ikd's member, ignored by other JWK readers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signs_from: Option<u64>,
    /// The key's retirement (Unix seconds): it signs nothing from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signs_until: Option<u64>,
    /// Private part: only read so that it can be refused; never written.
    #[serde(default, skip_serializing)]
    d: Option<serde::de::IgnoredAny>,
}

#[derive(Serialize, Deserialize)]
struct JwksDoc {
    keys: Vec<Jwk>,
}

/// A set of public keys by kid (what a verifier trusts). Several keys are normal (rotation).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, PublicKey>,
}

impl KeySet {
    /// An empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a key. Refuses a second key with the same kid.
    pub fn insert(&mut self, key: PublicKey) -> Result<(), CredentialError> {
        if self.keys.contains_key(&key.kid) {
            return Err(CredentialError::InvalidKeySet(format!("duplicate kid {}", key.kid)));
        }
        self.keys.insert(key.kid.clone(), key);
        Ok(())
    }

    /// Parse a JWKS document (`{"keys":[...]}`). Every entry must be a supported public key.
    pub fn from_jwks(json: &str) -> Result<Self, CredentialError> {
        let doc: JwksDoc = serde_json::from_str(json).map_err(|e| CredentialError::InvalidKeySet(e.to_string()))?;
        let mut set = Self::new();
        for jwk in &doc.keys {
            set.insert(PublicKey::from_jwk(jwk)?)?;
        }
        if set.is_empty() {
            return Err(CredentialError::InvalidKeySet("no keys".into()));
        }
        Ok(set)
    }

    /// The key set as a JWKS JSON document (sorted by kid, pretty-printed).
    pub fn to_jwks(&self) -> String {
        let mut keys: Vec<&PublicKey> = self.keys.values().collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        let doc = JwksDoc {
            keys: keys.iter().map(|k| k.to_jwk()).collect(),
        };
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| String::from("{\"keys\":[]}"))
    }

    /// The key with this kid.
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Iterate over the keys (unordered).
    pub fn iter(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.values()
    }

    /// Every `*.jwk.json` public key in a key directory (as written by [`generate_key_files`]).
    pub fn from_key_dir(dir: &Path) -> Result<Self, CredentialError> {
        let io = |source| CredentialError::KeyFile {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(PUBLIC_JWK_SUFFIX))
            })
            .collect();
        paths.sort();
        let mut set = Self::new();
        for path in paths {
            let text = fs::read_to_string(&path).map_err(|source| CredentialError::KeyFile {
                path: path.clone(),
                source,
            })?;
            let jwk: Jwk = serde_json::from_str(&text)
                .map_err(|e| CredentialError::InvalidKeySet(format!("{}: {e}", path.display())))?;
            set.insert(PublicKey::from_jwk(&jwk)?)?;
        }
        if set.is_empty() {
            return Err(CredentialError::NoKey(format!(
                "no *{PUBLIC_JWK_SUFFIX} in {}",
                dir.display()
            )));
        }
        Ok(set)
    }
}

enum Signer {
    Ed25519(Wiped<Ed25519KeyPair>),
    Es256(Wiped<EcdsaKeyPair>, SystemRandom),
}

/// A private signing key. Its `Debug` output shows only the algorithm and kid.
pub struct IssuerKey {
    signer: Signer,
    public: PublicKey,
}

impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKey")
            .field("alg", &self.public.alg)
            .field("kid", &self.public.kid)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl IssuerKey {
    /// Parse a PKCS#8 private key (Ed25519 v1 or v2, or P-256). Errors never include key bytes.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CredentialError> {
        if let Ok(kp) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            let public = PublicKey::ed25519(kp.public_key().as_ref())?;
            return Ok(Self {
                signer: Signer::Ed25519(Wiped::new(kp)),
                public,
            });
        }
        let rng = SystemRandom::new();
        match EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng) {
            Ok(kp) => {
                let public = PublicKey::es256_uncompressed(kp.public_key().as_ref())?;
                Ok(Self {
                    signer: Signer::Es256(Wiped::new(kp), rng),
                    public,
                })
            }
            Err(e) => Err(CredentialError::InvalidKey(format!(
                "not a PKCS#8 Ed25519 or P-256 key ({e})"
            ))),
        }
    }

    /// A fresh in-memory key (the PKCS#8 bytes are discarded). For tests and benches.
    pub fn generate(alg: Algorithm) -> Result<Self, CredentialError> {
        let der = generate_pkcs8(alg)?;
        Self::from_pkcs8(der.as_ref())
    }

    /// Load a key from a PKCS#8 file, or from a key directory (the key named in `active.kid`).
    /// Refuses files that group or others can read.
    pub fn load(path: &Path) -> Result<Self, CredentialError> {
        let file = if path.is_dir() {
            path.join(format!("{}.{PRIVATE_KEY_EXT}", active_kid(path)?))
        } else {
            path.to_path_buf()
        };
        let der = read_private_file(&file)?; // wiped when dropped
        Self::from_pkcs8(&der)
    }

    /// The algorithm.
    pub fn alg(&self) -> Algorithm {
        self.public.alg
    }

    /// The kid (RFC 7638 thumbprint of the public key).
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Sign `message`; appends the raw signature (64 bytes for both algorithms) to `out`.
    pub(crate) fn sign_into(&self, message: &[u8], out: &mut Vec<u8>) -> Result<(), CredentialError> {
        match &self.signer {
            Signer::Ed25519(kp) => out.extend_from_slice(kp.sign(message).as_ref()),
            Signer::Es256(kp, rng) => {
                out.extend_from_slice(kp.sign(rng, message).map_err(|_| CredentialError::Signing)?.as_ref())
            }
        }
        Ok(())
    }
}

/// A new private key as PKCS#8 (wiped when dropped).
fn generate_pkcs8(alg: Algorithm) -> Result<Wiped<ring::pkcs8::Document>, CredentialError> {
    let rng = SystemRandom::new();
    match alg {
        Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng),
        Algorithm::Es256 => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng),
    }
    .map(Wiped::new)
    .map_err(|_| CredentialError::InvalidKey("key generation failed".into()))
}

/// What [`generate_key_files`] wrote.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// The new key's kid.
    pub kid: String,
    /// The algorithm.
    pub alg: Algorithm,
    /// The private key file (0600).
    pub private_key_path: PathBuf,
    /// The public JWK file.
    pub public_key_path: PathBuf,
    /// The activation secret file, if this call created it.
    pub created_activation_secret: Option<PathBuf>,
}

/// Generate a key pair into `dir` (created 0700 if missing), make it the active key, and create
/// `activation.secret` if absent. The private key file is created with mode 0600 (`O_EXCL`), so
/// it is never readable by others, not even briefly.
pub fn generate_key_files(alg: Algorithm, dir: &Path) -> Result<GeneratedKey, CredentialError> {
    generate_key_files_at(alg, dir, None)
}

fn generate_key_files_at(alg: Algorithm, dir: &Path, signs_from: Option<u64>) -> Result<GeneratedKey, CredentialError> {
    create_private_dir(dir)?;
    let der = generate_pkcs8(alg)?;
    let key = IssuerKey::from_pkcs8(der.as_ref())?;
    let kid = key.kid().to_string();
    let private_key_path = dir.join(format!("{kid}.{PRIVATE_KEY_EXT}"));
    write_private_file(&private_key_path, der.as_ref())?;
    let public_key_path = dir.join(format!("{kid}{PUBLIC_JWK_SUFFIX}"));
    let public = key.public_key().clone().with_window(SigningWindow {
        from: signs_from,
        until: None,
    });
    let jwk =
        serde_json::to_string_pretty(&public.to_jwk()).map_err(|e| CredentialError::InvalidKeySet(e.to_string()))?;
    write_public_file(&public_key_path, jwk.as_bytes())?;
    replace_public_file(&dir.join(ACTIVE_KID_FILE), format!("{kid}\n").as_bytes())?;
    let secret_path = dir.join(super::activation::ACTIVATION_SECRET_FILE);
    let created_activation_secret = if secret_path.exists() {
        None
    } else {
        super::activation::ActivationSecret::generate_file(&secret_path)?;
        Some(secret_path)
    };
    Ok(GeneratedKey {
        kid,
        alg,
        private_key_path,
        public_key_path,
        created_activation_secret,
    })
}

/// What [`rotate_key_files`] did.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The key that was active, now retired (its public JWK stays, with `signs_until`).
    pub retired_kid: String,
    /// Its private key file, deleted so that it can sign nothing more.
    pub deleted_private_key: PathBuf,
    /// The new active key.
    pub new: GeneratedKey,
}

/// Rotate the signing key of `dir` at time `now`: generate a new key (`signs_from = now`) and
/// make it active, mark the old key's public JWK with `signs_until = now`, then delete the
/// retired private key. Old credentials keep verifying against the published JWKS (which keeps
/// every public key); new ones carry the new kid. In this order a crash leaves a usable active
/// key at every step (at worst an old key not yet marked retired).
pub fn rotate_key_files(alg: Algorithm, dir: &Path, now: u64) -> Result<Rotation, CredentialError> {
    let io = |path: &Path, source| CredentialError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let active = active_kid(dir)?;
    let old_jwk_path = dir.join(format!("{active}{PUBLIC_JWK_SUFFIX}"));
    let text = fs::read_to_string(&old_jwk_path).map_err(|e| io(&old_jwk_path, e))?;
    let mut jwk: Jwk = serde_json::from_str(&text)
        .map_err(|e| CredentialError::InvalidKeySet(format!("{}: {e}", old_jwk_path.display())))?;
    let new = generate_key_files_at(alg, dir, Some(now))?;
    jwk.signs_until = Some(now);
    let json = serde_json::to_string_pretty(&jwk).map_err(|e| CredentialError::InvalidKeySet(e.to_string()))?;
    replace_public_file(&old_jwk_path, json.as_bytes())?;
    let deleted_private_key = dir.join(format!("{active}.{PRIVATE_KEY_EXT}"));
    match fs::remove_file(&deleted_private_key) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&deleted_private_key, e)),
    }
    Ok(Rotation {
        retired_kid: active,
        deleted_private_key,
        new,
    })
}

/// The kid named by `DIR/active.kid`, refused unless it is a plain file-name-safe kid (it is
/// joined into paths that are read and, on rotation, deleted).
fn active_kid(dir: &Path) -> Result<String, CredentialError> {
    let path = dir.join(ACTIVE_KID_FILE);
    let text = fs::read_to_string(&path).map_err(|source| CredentialError::KeyFile { path, source })?;
    let kid = text.trim();
    if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(CredentialError::NoKey(format!("{ACTIVE_KID_FILE} does not hold a kid")));
    }
    Ok(kid.to_string())
}

/// Write a public file through a temporary file and a rename (readers see old or new).
fn replace_public_file(path: &Path, data: &[u8]) -> Result<(), CredentialError> {
    let tmp = path.with_extension("tmp");
    write_public_file(&tmp, data)?;
    fs::rename(&tmp, path).map_err(|source| CredentialError::KeyFile {
        path: path.to_path_buf(),
        source,
    })
}

fn write_public_file(path: &Path, data: &[u8]) -> Result<(), CredentialError> {
    fs::write(path, data).map_err(|source| CredentialError::KeyFile {
        path: path.to_path_buf(),
        source,
    })
}
