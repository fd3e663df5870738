//! Claim 169 credentials: round trips, interoperability with the independent `claim169-core`
//! crate (both directions, Ed25519 and ES256), every verifier refusal, key file permissions,
//! and activation codes.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ikd_credential::{
    generate_key_files, normalize_code, verify, verify_with_decryption, ActivationSecret, Algorithm, CredentialError,
    CredentialIssuer, EncryptionAlgorithm, EncryptionKey, Gender, Identity, IssuerKey, KeySet, NonceOrigin, PublicKey,
    VerifyOptions, ACTIVATION_ALPHABET,
};

const ISSUER: &str = "https://ikd.dukcapil.example.id";
const DAY: u64 = 86_400;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1_700_000_000)
}

fn identity() -> Identity {
    Identity {
        id: "3171234567890123".into(),
        full_name: "Siti Rahayu".into(),
        date_of_birth: Some("1990-05-15".into()),
        gender: Some(Gender::Female),
        email: Some("siti.rahayu@example.id".into()),
        address: Some("Jl. Merdeka 1\nJakarta".into()),
        phone: None,
        nationality: Some("ID".into()),
        photo: None,
    }
}

fn issuer(alg: Algorithm) -> CredentialIssuer {
    CredentialIssuer::new(
        IssuerKey::generate(alg).unwrap(),
        ISSUER.into(),
        Duration::from_secs(365 * DAY),
    )
}

fn keyset_of(issuer: &CredentialIssuer) -> KeySet {
    let mut keys = KeySet::new();
    keys.insert(issuer.key().public_key().clone()).unwrap();
    keys
}

/// zlib + Base45 around arbitrary COSE bytes (to build hostile credentials).
fn wrap(cose: &[u8]) -> String {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(cose).unwrap();
    base45::encode(z.finish().unwrap())
}

fn unwrap_cose(text: &str) -> Vec<u8> {
    let z = base45::decode(text).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&z[..]), &mut out).unwrap();
    out
}

fn opts() -> VerifyOptions {
    VerifyOptions::default()
}

// ---------------------------------------------------------------- round trips

#[test]
fn credential_round_trip_ed25519_and_es256() {
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let issuer = issuer(alg);
        let keys = keyset_of(&issuer);
        let t = 1_700_000_000;
        let issued = issuer.issue(&identity(), t).unwrap();
        assert_eq!(issued.expires_at, t + 365 * DAY);
        assert!(issued
            .text
            .bytes()
            .all(|b| b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(&b)));
        let v = verify(&issued.text, &keys, t + 10, &opts()).unwrap();
        assert_eq!(v.identity, identity());
        assert_eq!(v.issuer.as_deref(), Some(ISSUER));
        assert_eq!((v.iat, v.nbf, v.exp), (Some(t), Some(t), Some(t + 365 * DAY)));
        assert_eq!(v.kid, issuer.key().kid());
        assert_eq!(v.alg, alg);
    }
}

#[test]
fn credential_ed25519_is_deterministic() {
    let issuer = issuer(Algorithm::EdDsa);
    let a = issuer.issue(&identity(), 1_700_000_000).unwrap();
    let b = issuer.issue(&identity(), 1_700_000_000).unwrap();
    assert_eq!(a, b);
    let c = issuer.issue(&identity(), 1_700_000_001).unwrap();
    assert_ne!(a.text, c.text);
}

#[test]
fn credential_kid_is_rfc7638_thumbprint() {
    // RFC 8037 appendix A.3: thumbprint of the example Ed25519 public key.
    let x = [
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1,
        0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
    ];
    let key = PublicKey::ed25519(&x).unwrap();
    assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

#[test]
fn credential_dob_formats_and_bad_identity() {
    let issuer = issuer(Algorithm::EdDsa);
    let keys = keyset_of(&issuer);
    let mut id = identity();
    id.date_of_birth = Some("19900515".into());
    let v = verify(&issuer.issue(&id, now()).unwrap().text, &keys, now(), &opts()).unwrap();
    assert_eq!(v.identity.date_of_birth.as_deref(), Some("1990-05-15"));
    id.date_of_birth = Some("15-05-1990".into());
    assert!(matches!(
        issuer.issue(&id, now()),
        Err(CredentialError::InvalidIdentity(_))
    ));
}

#[test]
fn credential_jwks_round_trip_with_rotation() {
    let a = issuer(Algorithm::EdDsa);
    let b = issuer(Algorithm::Es256);
    let mut keys = KeySet::new();
    keys.insert(a.key().public_key().clone()).unwrap();
    keys.insert(b.key().public_key().clone()).unwrap();
    let json = keys.to_jwks();
    assert!(!json.contains("\"d\""));
    let parsed = KeySet::from_jwks(&json).unwrap();
    assert_eq!(parsed.len(), 2);
    for iss in [&a, &b] {
        let text = iss.issue(&identity(), now()).unwrap().text;
        verify(&text, &parsed, now(), &opts()).unwrap();
    }
    // A JWK carrying a private part is refused.
    let with_d = json.replacen("\"kty\"", "\"d\": \"AAAA\", \"kty\"", 1);
    assert!(matches!(
        KeySet::from_jwks(&with_d),
        Err(CredentialError::InvalidKeySet(_))
    ));
}

// ---------------------------------------------------------------- interoperability

#[test]
fn credential_interop_claim169_core_decodes_and_verifies_ours() {
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let issuer = issuer(alg);
        let text = issuer.issue(&identity(), now()).unwrap().text;
        let public = issuer.key().public_key().bytes().to_vec();
        let decoder = claim169_core::Decoder::new(text.clone());
        let decoder = match alg {
            Algorithm::EdDsa => decoder.verify_with_ed25519(&public).unwrap(),
            Algorithm::Es256 => decoder.verify_with_ecdsa_p256(&public).unwrap(),
        };
        let result = decoder
            .decode()
            .unwrap_or_else(|e| panic!("{alg}: claim169-core refused ours: {e}"));
        assert_eq!(result.verification_status, claim169_core::VerificationStatus::Verified);
        let c = &result.claim169;
        assert_eq!(c.id.as_deref(), Some("3171234567890123"));
        assert_eq!(c.full_name.as_deref(), Some("Siti Rahayu"));
        assert_eq!(c.date_of_birth.as_deref(), Some("19900515"));
        assert_eq!(c.gender, Some(claim169_core::Gender::Female));
        assert_eq!(c.email.as_deref(), Some("siti.rahayu@example.id"));
        assert_eq!(c.nationality.as_deref(), Some("ID"));
        assert_eq!(result.cwt_meta.issuer.as_deref(), Some(ISSUER));

        // And with the wrong key it must fail verification.
        let other = IssuerKey::generate(alg).unwrap();
        let d = claim169_core::Decoder::new(text);
        let d = match alg {
            Algorithm::EdDsa => d.verify_with_ed25519(other.public_key().bytes()).unwrap(),
            Algorithm::Es256 => d.verify_with_ecdsa_p256(other.public_key().bytes()).unwrap(),
        };
        assert!(d.decode().is_err());
    }
}

#[test]
fn credential_interop_we_verify_claim169_core_credentials() {
    use claim169_core::{Claim169, CwtMeta, EcdsaP256Signer, Ed25519Signer, Encoder};
    let t = now();
    let claim = Claim169::new()
        .with_id("3171234567890123")
        .with_full_name("Budi Santoso")
        .with_date_of_birth("19851231")
        .with_gender(claim169_core::Gender::Male)
        .with_email("budi@example.id");
    let meta = CwtMeta::new()
        .with_issuer(ISSUER)
        .with_issued_at(t as i64)
        .with_not_before(t as i64)
        .with_expires_at((t + DAY) as i64);

    // Ed25519
    let mut signer = Ed25519Signer::generate();
    let public = PublicKey::ed25519(&signer.public_key_bytes()).unwrap();
    signer.set_key_id(public.kid().as_bytes().to_vec());
    let mut keys = KeySet::new();
    keys.insert(public).unwrap();
    let text = Encoder::new(claim.clone(), meta.clone())
        .sign_with(signer, coset::iana::Algorithm::EdDSA)
        .encode()
        .unwrap()
        .qr_data;
    let v = verify(&text, &keys, t, &opts()).unwrap();
    assert_eq!(v.alg, Algorithm::EdDsa);
    assert_eq!(v.identity.id, "3171234567890123");
    assert_eq!(v.identity.full_name, "Budi Santoso");
    assert_eq!(v.identity.date_of_birth.as_deref(), Some("1985-12-31"));
    assert_eq!(v.identity.gender, Some(Gender::Male));
    assert_eq!(v.identity.email.as_deref(), Some("budi@example.id"));
    assert_eq!(v.exp, Some(t + DAY));

    // ES256
    let mut signer = EcdsaP256Signer::generate();
    let public = PublicKey::es256_uncompressed(&signer.public_key_uncompressed()).unwrap();
    signer.set_key_id(public.kid().as_bytes().to_vec());
    let mut keys = KeySet::new();
    keys.insert(public).unwrap();
    let text = Encoder::new(claim, meta)
        .sign_with(signer, coset::iana::Algorithm::ES256)
        .encode()
        .unwrap()
        .qr_data;
    let v = verify(&text, &keys, t, &opts()).unwrap();
    assert_eq!(v.alg, Algorithm::Es256);
    assert_eq!(v.identity.full_name, "Budi Santoso");
}

// ---------------------------------------------------------------- refusals

#[test]
fn credential_refuses_tampered_bytes() {
    let issuer = issuer(Algorithm::EdDsa);
    let keys = keyset_of(&issuer);
    let text = issuer.issue(&identity(), now()).unwrap().text;
    let cose = unwrap_cose(&text);
    // Change the name inside the signed payload: "Siti" -> "Situ".
    let pos = cose.windows(4).position(|w| w == b"Siti").unwrap();
    let mut tampered = cose.clone();
    tampered[pos + 3] = b'u';
    assert!(matches!(
        verify(&wrap(&tampered), &keys, now(), &opts()),
        Err(CredentialError::BadSignature)
    ));
    // Flip a signature bit.
    let mut sig_flip = cose.clone();
    let last = sig_flip.len() - 1;
    sig_flip[last] ^= 1;
    assert!(matches!(
        verify(&wrap(&sig_flip), &keys, now(), &opts()),
        Err(CredentialError::BadSignature)
    ));
    // Every single-byte change anywhere in the text is refused, never panics.
    let bytes = text.as_bytes();
    for i in (0..bytes.len()).step_by(7) {
        let mut t = bytes.to_vec();
        t[i] = if t[i] == b'0' { b'1' } else { b'0' };
        let t = String::from_utf8(t).unwrap();
        assert!(verify(&t, &keys, now(), &opts()).is_err(), "mutation at {i} accepted");
    }
}

#[test]
fn credential_refuses_unknown_kid() {
    let issuer = issuer(Algorithm::EdDsa);
    let others = keyset_of(&self::issuer(Algorithm::EdDsa));
    let text = issuer.issue(&identity(), now()).unwrap().text;
    let err = verify(&text, &others, now(), &opts()).unwrap_err();
    assert!(
        matches!(&err, CredentialError::UnknownKid { kid } if kid == issuer.key().kid()),
        "{err:?}"
    );
    assert_eq!(err.code(), "unknown_kid");
}

#[test]
fn credential_refuses_wrong_algorithm() {
    // A key set that lists the issuer's kid as an ES256 key: the EdDSA credential must be refused
    // before any signature check (algorithm confusion).
    let issuer = issuer(Algorithm::EdDsa);
    let es = IssuerKey::generate(Algorithm::Es256).unwrap();
    let mut keys = KeySet::new();
    keys.insert(es.public_key().clone().with_kid(issuer.key().kid()))
        .unwrap();
    let text = issuer.issue(&identity(), now()).unwrap().text;
    let err = verify(&text, &keys, now(), &opts()).unwrap_err();
    assert!(
        matches!(err, CredentialError::WrongAlgorithm { expected: "ES256", .. }),
        "{err:?}"
    );

    // A header naming an unsupported algorithm (ES384, -35) is refused too.
    let cose = unwrap_cose(&text);
    let mut forged = cose.clone();
    let pos = forged.windows(3).position(|w| w == [0x01, 0x27, 0x04]).unwrap(); // {1: -8, 4: ...}
    forged[pos + 1] = 0x38; // -35 needs two bytes: splice
    forged.insert(pos + 2, 0x22);
    // Fix the protected bstr length (it grew by one byte).
    let len_pos = pos - 2;
    forged[len_pos] += 1;
    let err = verify(&wrap(&forged), &keyset_of(&issuer), now(), &opts()).unwrap_err();
    assert!(
        matches!(
            err,
            CredentialError::WrongAlgorithm { .. } | CredentialError::BadCose(_)
        ),
        "{err:?}"
    );
}

#[test]
fn credential_refuses_expired_and_not_yet_valid() {
    let issuer = CredentialIssuer::new(
        IssuerKey::generate(Algorithm::EdDsa).unwrap(),
        ISSUER.into(),
        Duration::from_secs(DAY),
    );
    let keys = keyset_of(&issuer);
    let t = 1_700_000_000;
    let text = issuer.issue(&identity(), t).unwrap().text;
    let strict = VerifyOptions {
        clock_skew_secs: 0,
        ..opts()
    };
    assert!(verify(&text, &keys, t + DAY - 1, &strict).is_ok());
    assert!(matches!(
        verify(&text, &keys, t + DAY, &strict),
        Err(CredentialError::Expired { .. })
    ));
    assert!(matches!(
        verify(&text, &keys, t - 1, &strict),
        Err(CredentialError::NotYetValid { .. })
    ));
    // Within the default 300 s skew both edges are tolerated.
    assert!(verify(&text, &keys, t - 299, &opts()).is_ok());
    assert!(verify(&text, &keys, t + DAY + 299, &opts()).is_ok());
    assert!(matches!(
        verify(&text, &keys, t + DAY + 300, &opts()),
        Err(CredentialError::Expired { .. })
    ));
}

#[test]
fn credential_refuses_bad_base45() {
    let keys = keyset_of(&issuer(Algorithm::EdDsa));
    for text in ["", "abc", "GGW", "::::", "é"] {
        let err = verify(text, &keys, now(), &opts()).unwrap_err();
        assert!(
            matches!(err, CredentialError::BadBase45 | CredentialError::BadZlib),
            "{text:?}: {err:?}"
        );
    }
    assert!(matches!(
        verify("abc", &keys, now(), &opts()),
        Err(CredentialError::BadBase45)
    ));
    let long = "A".repeat(10_000);
    assert!(matches!(
        verify(&long, &keys, now(), &opts()),
        Err(CredentialError::TooLong { .. })
    ));
}

#[test]
fn credential_refuses_zlib_bomb_and_bad_zlib() {
    let keys = keyset_of(&issuer(Algorithm::EdDsa));
    // 10 MB of zeros compresses to ~10 KB of Base45: refused at the 64 KiB cap.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![0u8; 10_000_000]).unwrap();
    let bomb = base45::encode(z.finish().unwrap());
    let o = VerifyOptions {
        max_text_len: 1 << 20,
        ..opts()
    };
    assert!(matches!(
        verify(&bomb, &keys, now(), &o),
        Err(CredentialError::ZlibBomb { limit: 65_536 })
    ));
    // Not zlib at all.
    let not_zlib = base45::encode(b"hello, this is not zlib");
    assert!(matches!(
        verify(&not_zlib, &keys, now(), &opts()),
        Err(CredentialError::BadZlib)
    ));
    // Truncated stream, and trailing garbage after a valid stream.
    let issuer = issuer(Algorithm::EdDsa);
    let z = base45::decode(issuer.issue(&identity(), now()).unwrap().text).unwrap();
    let truncated = base45::encode(&z[..z.len() - 5]);
    assert!(matches!(
        verify(&truncated, &keyset_of(&issuer), now(), &opts()),
        Err(CredentialError::BadZlib)
    ));
    let mut trailing = z.clone();
    trailing.extend_from_slice(b"junk");
    assert!(matches!(
        verify(&base45::encode(trailing), &keyset_of(&issuer), now(), &opts()),
        Err(CredentialError::BadZlib)
    ));
}

#[test]
fn credential_refuses_bad_cbor_and_bad_cose() {
    let issuer = issuer(Algorithm::EdDsa);
    let keys = keyset_of(&issuer);
    // Envelope is not CBOR / not a tagged COSE_Sign1.
    for cose in [
        &b"\xff\xff\xff"[..],
        b"\xa0",
        b"\x84\x40\xa0\x40\x40",
        b"\xd0\x84\x40\xa0\x40\x40",
    ] {
        let err = verify(&wrap(cose), &keys, now(), &opts()).unwrap_err();
        assert!(
            matches!(err, CredentialError::BadCose(_) | CredentialError::BadEncryption(_)),
            "{cose:?}: {err:?}"
        );
    }
    // Correctly signed, but the payload is not CBOR.
    let signed = issuer.sign_raw_payload(b"\xff\x00garbage").unwrap();
    assert!(matches!(
        verify(&wrap(&signed), &keys, now(), &opts()),
        Err(CredentialError::BadCbor(_))
    ));
    // Correctly signed CBOR that is not a map.
    let signed = issuer.sign_raw_payload(b"\x83\x01\x02\x03").unwrap();
    assert!(matches!(
        verify(&wrap(&signed), &keys, now(), &opts()),
        Err(CredentialError::BadCbor(_))
    ));
    // Deeply nested CBOR does not overflow the stack.
    let mut deep = vec![0x81u8; 100_000];
    deep.push(0);
    let signed = issuer.sign_raw_payload(&deep).unwrap();
    let o = VerifyOptions {
        max_text_len: 1 << 20,
        max_decompressed: 1 << 20,
        ..opts()
    };
    assert!(verify(&wrap(&signed), &keys, now(), &o).is_err());
}

#[test]
fn credential_refuses_missing_claim_169() {
    let issuer = issuer(Algorithm::EdDsa);
    let keys = keyset_of(&issuer);
    // {1: "iss", 4: far future} without 169.
    let payload = [&b"\xa2\x01\x63iss\x04\x1a"[..], &u32::MAX.to_be_bytes()].concat();
    let signed = issuer.sign_raw_payload(&payload).unwrap();
    assert!(matches!(
        verify(&wrap(&signed), &keys, now(), &opts()),
        Err(CredentialError::MissingClaim169)
    ));
    // Claim 169 present but with a wrong type for the NIK.
    let payload = [
        &b"\xa2\x04\x1a"[..],
        &u32::MAX.to_be_bytes(),
        b"\x18\xa9\xa2\x01\x01\x04\x61X",
    ]
    .concat();
    let signed = issuer.sign_raw_payload(&payload).unwrap();
    assert!(matches!(
        verify(&wrap(&signed), &keys, now(), &opts()),
        Err(CredentialError::InvalidClaim169(_))
    ));
    // Missing exp is refused by default.
    let payload = b"\xa1\x18\xa9\xa2\x01\x61N\x04\x61X";
    let signed = issuer.sign_raw_payload(payload).unwrap();
    assert!(matches!(
        verify(&wrap(&signed), &keys, now(), &opts()),
        Err(CredentialError::MissingClaim(_))
    ));
    let lenient = VerifyOptions {
        require_exp: false,
        ..opts()
    };
    assert_eq!(verify(&wrap(&signed), &keys, now(), &lenient).unwrap().identity.id, "N");
}

#[test]
fn credential_refusals_never_panic_on_random_input() {
    let keys = keyset_of(&issuer(Algorithm::EdDsa));
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    for _ in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 200) as usize;
        let text: String = (0..len)
            .map(|i| char::from(alphabet[((state >> (i % 50)) as usize + i * 7) % alphabet.len()]))
            .collect();
        assert!(verify(&text, &keys, now(), &opts()).is_err());
    }
}

// ---------------------------------------------------------------- keys on disk

#[cfg(unix)]
#[test]
fn credential_key_files_mode_0600_and_permission_refusal() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let g = generate_key_files(Algorithm::EdDsa, &keys_dir).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&g.private_key_path), 0o600);
    let secret = g.created_activation_secret.clone().unwrap();
    assert_eq!(mode(&secret), 0o600);
    // The key loads from the directory (active kid) and from the file.
    let key = IssuerKey::load(&keys_dir).unwrap();
    assert_eq!(key.kid(), g.kid);
    assert_eq!(IssuerKey::load(&g.private_key_path).unwrap().kid(), g.kid);
    // Debug output never contains key material.
    let der = std::fs::read(&g.private_key_path).unwrap();
    let debug = format!("{key:?}");
    assert!(debug.contains("redacted"));
    assert!(!debug.contains(&format!("{:?}", &der[der.len() - 8..])));
    // Group-readable: refused with a typed error.
    std::fs::set_permissions(&g.private_key_path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = IssuerKey::load(&keys_dir).unwrap_err();
    assert!(
        matches!(err, CredentialError::InsecureKeyPermissions { mode: 0o640, .. }),
        "{err:?}"
    );
    std::fs::set_permissions(&g.private_key_path, std::fs::Permissions::from_mode(0o604)).unwrap();
    assert!(matches!(
        IssuerKey::load(&g.private_key_path),
        Err(CredentialError::InsecureKeyPermissions { .. })
    ));
    // Same for the activation secret.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        ActivationSecret::load(&keys_dir),
        Err(CredentialError::InsecureKeyPermissions { .. })
    ));

    // Rotation: a second key becomes active, both public keys are published.
    std::fs::set_permissions(&g.private_key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let g2 = generate_key_files(Algorithm::Es256, &keys_dir).unwrap();
    assert!(g2.created_activation_secret.is_none());
    assert_eq!(IssuerKey::load(&keys_dir).unwrap().kid(), g2.kid);
    let set = KeySet::from_key_dir(&keys_dir).unwrap();
    assert_eq!(set.len(), 2);
    let jwks = set.to_jwks();
    assert!(jwks.contains(&g.kid) && jwks.contains(&g2.kid));
    assert!(!jwks.contains("\"d\""));
    // Not a key at all.
    assert!(matches!(
        IssuerKey::from_pkcs8(b"not a key"),
        Err(CredentialError::InvalidKey(_))
    ));
}

// ---------------------------------------------------------------- activation codes

#[test]
fn credential_activation_code_deterministic_and_hash_hides_code() {
    let secret = ActivationSecret::from_bytes(&[7u8; 32]).unwrap();
    let code = secret.code("req-0001", "3171234567890123");
    let again = secret.code("req-0001", "3171234567890123");
    assert_eq!(code, again, "re-run must issue the same code");
    let s = code.as_str();
    assert_eq!(s.len(), 11);
    assert_eq!(s.as_bytes()[5], b'-');
    assert!(s
        .bytes()
        .filter(|&b| b != b'-')
        .all(|b| ACTIVATION_ALPHABET.contains(&b)));
    // Different request, different NIK, different secret: different codes.
    assert_ne!(secret.code("req-0002", "3171234567890123"), code);
    assert_ne!(secret.code("req-0001", "3171234567890124"), code);
    assert_ne!(
        ActivationSecret::from_bytes(&[8u8; 32])
            .unwrap()
            .code("req-0001", "3171234567890123"),
        code
    );
    // Length-prefixed fields: moving a character between request id and NIK changes the code.
    assert_ne!(secret.code("ab", "c"), secret.code("a", "bc"));

    let stored = secret.stored_hash("req-0001", "3171234567890123", &code);
    assert_eq!(stored.len(), 64);
    assert!(stored.bytes().all(|b| b.is_ascii_hexdigit()));
    let plain: String = s.chars().filter(|&c| c != '-').collect();
    assert!(!stored.to_ascii_uppercase().contains(&plain));
    assert!(!stored.to_ascii_uppercase().contains(&s[..5]) || !stored.to_ascii_uppercase().contains(&s[6..]));
    assert_eq!(stored, secret.stored_hash("req-0001", "3171234567890123", &again));
    // Debug never shows the code or the secret.
    assert!(!format!("{code:?}").contains(&s[..5]));
    assert!(format!("{secret:?}").contains("redacted"));

    // Checking what a person types: forgiving about case/dashes, strict about content.
    assert!(secret.check("req-0001", "3171234567890123", &plain.to_lowercase(), &stored));
    assert!(secret.check("req-0001", "3171234567890123", s, &stored));
    assert!(!secret.check("req-0002", "3171234567890123", s, &stored));
    let mut wrong = plain.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    assert!(!secret.check(
        "req-0001",
        "3171234567890123",
        std::str::from_utf8(&wrong).unwrap(),
        &stored
    ));
    assert_eq!(normalize_code(" abcde fghjk ").as_deref(), Some("ABCDE-FGHJK"));
    assert_eq!(normalize_code("ABCDE-FGHJ0"), None, "0 is not in the alphabet");
    assert!(ActivationSecret::from_bytes(&[1u8; 16]).is_err());
}

#[test]
fn credential_activation_codes_spread_over_alphabet() {
    let secret = ActivationSecret::from_bytes(&[42u8; 32]).unwrap();
    let mut counts = [0usize; 256];
    let mut seen = std::collections::HashSet::new();
    for i in 0..3000 {
        let code = secret.code(&format!("req-{i}"), "3171234567890123");
        assert!(seen.insert(code.as_str().to_string()), "collision");
        for b in code.as_str().bytes().filter(|&b| b != b'-') {
            counts[usize::from(b)] += 1;
        }
    }
    let expected = 30_000 / ACTIVATION_ALPHABET.len();
    for &c in ACTIVATION_ALPHABET {
        let n = counts[usize::from(c)];
        assert!(
            n > expected * 8 / 10 && n < expected * 12 / 10,
            "{} appears {n} times",
            c as char
        );
    }
}

#[test]
fn credential_stored_zlib_level_0_is_read_by_us_and_by_claim169_core() {
    let issuer = issuer(Algorithm::EdDsa).with_zlib_level(0);
    let t = now();
    let text = issuer.issue(&identity(), t).unwrap().text;
    let public = issuer.key().public_key().bytes().to_vec();
    let result = claim169_core::Decoder::new(text.clone())
        .verify_with_ed25519(&public)
        .unwrap()
        .decode()
        .unwrap_or_else(|e| panic!("claim169-core refused a stored-zlib credential: {e}"));
    assert_eq!(result.verification_status, claim169_core::VerificationStatus::Verified);
    assert_eq!(result.claim169.id.as_deref(), Some("3171234567890123"));
    // The stored stream inflates to exactly the signed COSE bytes.
    let inflate = |t: &str| {
        let z = base45::decode(t).unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&z[..]), &mut out).unwrap();
        out
    };
    assert_eq!(inflate(&text), issuer.sign_cose(&identity(), t).unwrap());
}

// ----- encrypted credentials (COSE_Encrypt0, AES-GCM) -----

fn encrypting_issuer(alg: Algorithm, enc: EncryptionAlgorithm) -> (CredentialIssuer, EncryptionKey, Vec<u8>) {
    let (key, bytes) = EncryptionKey::generate(enc).unwrap();
    let again = EncryptionKey::from_bytes(enc, &bytes, None).unwrap();
    (issuer(alg).with_encryption(key), again, bytes.to_vec())
}

#[test]
fn credential_encrypted_round_trip_and_no_plaintext_in_the_qr() {
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        for enc in [EncryptionAlgorithm::A128Gcm, EncryptionAlgorithm::A256Gcm] {
            let (issuer, key, _) = encrypting_issuer(alg, enc);
            let t = now();
            let issued = issuer.issue(&identity(), t).unwrap();
            assert_eq!(issued.encryption_kid.as_deref(), Some(key.kid()));
            // The NIK and name are nowhere in the decoded bytes (they are in the clear in a
            // signed-only credential at zlib level 0).
            let envelope = unwrap_cose(&issued.text);
            assert_eq!(envelope[0], 0xD0, "tag 16");
            for secret in ["3171234567890123", "Siti Rahayu", "siti.rahayu"] {
                assert!(!envelope.windows(secret.len()).any(|w| w == secret.as_bytes()));
            }
            let keys = keyset_of(&issuer);
            let v = verify_with_decryption(&issued.text, &keys, Some(&key), t, &opts()).unwrap();
            assert_eq!(v.identity, identity());
            let info = v.encryption.unwrap();
            assert_eq!(
                (info.alg, info.iv, info.kid.as_str()),
                (enc, NonceOrigin::Synthetic, key.kid())
            );
            // Signed-only credentials still verify with a decryption key at hand.
            let plain = self::issuer(alg).issue(&identity(), t).unwrap().text;
            let plain_issuer_keys = KeySet::new();
            assert!(verify_with_decryption(&plain, &plain_issuer_keys, Some(&key), t, &opts()).is_err());
        }
    }
}

#[test]
fn credential_encrypted_refusals_without_partial_data() {
    let (issuer, key, _) = encrypting_issuer(Algorithm::EdDsa, EncryptionAlgorithm::A256Gcm);
    let keys = keyset_of(&issuer);
    let t = now();
    let text = issuer.issue(&identity(), t).unwrap().text;
    let code = |r: Result<ikd_credential::VerifiedCredential, CredentialError>| r.unwrap_err().code();

    // Missing key: a clear reason naming the key, nothing else.
    let e = verify(&text, &keys, t, &opts()).unwrap_err();
    assert_eq!(e.code(), "encrypted_no_key");
    assert!(e.to_string().contains(key.kid()), "{e}");
    // Wrong key (another AES-256 key; and the right length for the wrong variant).
    let (other, _) = EncryptionKey::generate(EncryptionAlgorithm::A256Gcm).unwrap();
    assert_eq!(
        code(verify_with_decryption(&text, &keys, Some(&other), t, &opts())),
        "wrong_decryption_key"
    );
    let (small, _) = EncryptionKey::generate(EncryptionAlgorithm::A128Gcm).unwrap();
    assert_eq!(
        code(verify_with_decryption(&text, &keys, Some(&small), t, &opts())),
        "wrong_decryption_key"
    );
    // A wrong key that claims the right kid fails the tag check.
    let (_, bytes) = EncryptionKey::generate(EncryptionAlgorithm::A256Gcm).unwrap();
    let impostor = EncryptionKey::from_bytes(EncryptionAlgorithm::A256Gcm, &bytes, Some(key.kid().into())).unwrap();
    assert_eq!(
        code(verify_with_decryption(&text, &keys, Some(&impostor), t, &opts())),
        "decryption_failed"
    );

    // Tampered ciphertext, tag, IV and protected header: every byte of the envelope flipped in
    // turn is refused, never accepted, never a panic.
    let envelope = unwrap_cose(&text);
    for i in 0..envelope.len() {
        let mut bad = envelope.clone();
        bad[i] ^= 0x01;
        let r = verify_with_decryption(&wrap(&bad), &keys, Some(&key), t, &opts());
        let e = r.expect_err("a flipped byte must be refused");
        assert!(e.is_invalid_credential(), "byte {i}: {e}");
    }
    let last = envelope.len() - 1; // inside the GCM tag
    let mut bad = envelope.clone();
    bad[last] ^= 0x80;
    assert_eq!(
        code(verify_with_decryption(&wrap(&bad), &keys, Some(&key), t, &opts())),
        "decryption_failed"
    );

    // Malformed envelopes.
    let malformed: Vec<Vec<u8>> = vec![
        envelope[..envelope.len() / 2].to_vec(), // truncated
        vec![0xD0, 0x80],                        // tag 16, empty array
        vec![0xD0, 0x83, 0x40, 0xA0, 0x40],      // no alg, no IV, empty ciphertext
        vec![
            0xD0, 0x83, 0x43, 0xA1, 0x01, 0x03, 0xA1, 0x05, 0x41, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0,
        ], // 1-byte IV
        vec![
            0xD0, 0x83, 0x43, 0xA1, 0x01, 0x03, 0xA1, 0x05, 0x4C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x43, 1, 2, 3,
        ], // ciphertext shorter than the tag
        vec![0xD0, 0x83, 0x43, 0xA1, 0x01, 0x18, 0xA0, 0xF6], // unknown alg, null ciphertext
    ];
    for (i, m) in malformed.iter().enumerate() {
        let e = verify_with_decryption(&wrap(m), &keys, Some(&key), t, &opts()).unwrap_err();
        assert!(e.is_invalid_credential(), "malformed {i}: {e}");
        let e = verify(&wrap(m), &keys, t, &opts()).unwrap_err();
        assert!(e.is_invalid_credential(), "malformed {i} without key: {e}");
    }

    // A reused IV: a second credential sealed with the first one's IV decrypts (GCM cannot
    // tell) but its IV is not the one derived from its plaintext, so the verifier refuses it.
    let iv: [u8; 12] = <coset::CoseEncrypt0 as coset::TaggedCborSerializable>::from_tagged_slice(&envelope)
        .map(|e| e.unprotected.iv.clone())
        .unwrap()
        .try_into()
        .unwrap();
    let other_person = Identity {
        id: "3171234567890999".into(),
        ..identity()
    };
    let sign1 = issuer.sign_cose(&other_person, t).unwrap();
    let reused = key.encrypt_with_iv_for_tests(&sign1, iv).unwrap();
    assert_eq!(
        code(verify_with_decryption(&wrap(&reused), &keys, Some(&key), t, &opts())),
        "foreign_iv"
    );
    // A caller that accepts foreign IVs (another encoder's random ones) reads it, flagged.
    let lenient = VerifyOptions {
        accept_foreign_iv: true,
        ..opts()
    };
    let v = verify_with_decryption(&wrap(&reused), &keys, Some(&key), t, &lenient).unwrap();
    assert_eq!(v.encryption.unwrap().iv, NonceOrigin::Foreign);
}

#[test]
fn credential_interop_encrypted_both_ways_with_claim169_core() {
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        for enc in [EncryptionAlgorithm::A128Gcm, EncryptionAlgorithm::A256Gcm] {
            // Ours → claim169-core.
            let (issuer, key, bytes) = encrypting_issuer(alg, enc);
            let t = now();
            let text = issuer.issue(&identity(), t).unwrap().text;
            let public = issuer.key().public_key().bytes().to_vec();
            let d = claim169_core::Decoder::new(text);
            let d = match enc {
                EncryptionAlgorithm::A128Gcm => d.decrypt_with_aes128(&bytes).unwrap(),
                EncryptionAlgorithm::A256Gcm => d.decrypt_with_aes256(&bytes).unwrap(),
            };
            let d = match alg {
                Algorithm::EdDsa => d.verify_with_ed25519(&public).unwrap(),
                Algorithm::Es256 => d.verify_with_ecdsa_p256(&public).unwrap(),
            };
            let r = d
                .decode()
                .unwrap_or_else(|e| panic!("{alg}/{enc}: claim169-core refused ours: {e}"));
            assert_eq!(r.verification_status, claim169_core::VerificationStatus::Verified);
            assert_eq!(r.claim169.id.as_deref(), Some("3171234567890123"));
            assert_eq!(r.claim169.full_name.as_deref(), Some("Siti Rahayu"));

            // claim169-core → ours (random IVs: accepted only as foreign).
            let claim = claim169_core::Claim169::new()
                .with_id("3171234567890123")
                .with_full_name("Budi Santoso");
            let meta = claim169_core::CwtMeta::new()
                .with_issuer(ISSUER)
                .with_issued_at(t as i64)
                .with_expires_at((t + DAY) as i64);
            let mut keys = KeySet::new();
            let encoder = claim169_core::Encoder::new(claim, meta);
            let encoder = match alg {
                Algorithm::EdDsa => {
                    let mut signer = claim169_core::Ed25519Signer::generate();
                    let public = PublicKey::ed25519(&signer.public_key_bytes()).unwrap();
                    signer.set_key_id(public.kid().as_bytes().to_vec());
                    keys.insert(public).unwrap();
                    encoder.sign_with(signer, coset::iana::Algorithm::EdDSA)
                }
                Algorithm::Es256 => {
                    let mut signer = claim169_core::EcdsaP256Signer::generate();
                    let public = PublicKey::es256_uncompressed(&signer.public_key_uncompressed()).unwrap();
                    signer.set_key_id(public.kid().as_bytes().to_vec());
                    keys.insert(public).unwrap();
                    encoder.sign_with(signer, coset::iana::Algorithm::ES256)
                }
            };
            let encoder = match enc {
                EncryptionAlgorithm::A128Gcm => encoder.encrypt_with_aes128(&bytes).unwrap(),
                EncryptionAlgorithm::A256Gcm => encoder.encrypt_with_aes256(&bytes).unwrap(),
            };
            let theirs = encoder.encode().unwrap().qr_data;
            assert_eq!(
                verify_with_decryption(&theirs, &keys, Some(&key), t, &opts())
                    .unwrap_err()
                    .code(),
                "foreign_iv"
            );
            let lenient = VerifyOptions {
                accept_foreign_iv: true,
                ..opts()
            };
            let v = verify_with_decryption(&theirs, &keys, Some(&key), t, &lenient).unwrap();
            assert_eq!(v.identity.full_name, "Budi Santoso");
            assert_eq!(v.alg, alg);
        }
    }
}

#[test]
fn credential_encryption_key_file_is_0600_and_loads() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (key, path) = EncryptionKey::generate_file(EncryptionAlgorithm::A256Gcm, dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let loaded = EncryptionKey::load(&path).unwrap();
    assert_eq!(loaded.kid(), key.kid());
    // Same key: what one encrypts the other decrypts.
    let issuer = issuer(Algorithm::EdDsa).with_encryption(key);
    let t = now();
    let text = issuer.issue(&identity(), t).unwrap().text;
    verify_with_decryption(&text, &keyset_of(&issuer), Some(&loaded), t, &opts()).unwrap();
    // The key directory's public key set ignores the AES file; a readable key file is refused.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        EncryptionKey::load(&path).unwrap_err().code(),
        "insecure_key_permissions"
    );
    assert!(!format!("{loaded:?}").contains(&std::fs::read_to_string(&path).unwrap()[40..60]));
}

// ----- key rotation -----

#[test]
fn credential_rotation_keeps_old_credentials_valid_and_retires_the_old_key() {
    use ikd_credential::rotate_key_files;
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let t0 = now();
    generate_key_files(Algorithm::EdDsa, &keys_dir).unwrap();
    let old_issuer = CredentialIssuer::new(
        IssuerKey::load(&keys_dir).unwrap(),
        ISSUER.into(),
        Duration::from_secs(365 * DAY),
    );
    let old_kid = old_issuer.key().kid().to_string();
    let before = old_issuer.issue(&identity(), t0).unwrap().text;
    let stale_jwks = KeySet::from_key_dir(&keys_dir).unwrap().to_jwks();

    let t1 = t0 + 100;
    let rotation = rotate_key_files(Algorithm::Es256, &keys_dir, t1).unwrap();
    assert_eq!(rotation.retired_kid, old_kid);
    assert!(
        !rotation.deleted_private_key.exists(),
        "the retired private key is gone"
    );
    let new_key = IssuerKey::load(&keys_dir).unwrap();
    assert_eq!(new_key.kid(), rotation.new.kid);
    assert_ne!(new_key.kid(), old_kid);
    let new_issuer = CredentialIssuer::new(new_key, ISSUER.into(), Duration::from_secs(365 * DAY));
    let after = new_issuer.issue(&identity(), t1 + 10).unwrap();
    assert_eq!(after.alg, Algorithm::Es256);

    // The published set keeps both keys with their windows, through JWKS.
    let jwks = KeySet::from_key_dir(&keys_dir).unwrap().to_jwks();
    assert!(jwks.contains(&format!("\"signs_until\": {t1}")), "{jwks}");
    let keys = KeySet::from_jwks(&jwks).unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.get(&old_kid).unwrap().window().until, Some(t1));
    assert_eq!(keys.get(&after.kid).unwrap().window().from, Some(t1));
    let v = verify(&before, &keys, t1 + 20, &opts()).unwrap();
    assert_eq!(v.kid, old_kid);
    let v = verify(&after.text, &keys, t1 + 20, &opts()).unwrap();
    assert_eq!(v.kid, after.kid);

    // A credential the old key signs after its retirement (a leaked key) is refused.
    let late = old_issuer.issue(&identity(), t1 + 5).unwrap().text;
    let e = verify(&late, &keys, t1 + 20, &opts()).unwrap_err();
    assert_eq!(e.code(), "key_retired", "{e}");
    // So is one the new key backdates to before its window.
    let early = new_issuer.issue(&identity(), t0).unwrap().text;
    assert_eq!(
        verify(&early, &keys, t1 + 20, &opts()).unwrap_err().code(),
        "key_retired"
    );
    // A verifier with the JWKS from before the rotation does not know the new kid.
    let stale = KeySet::from_jwks(&stale_jwks).unwrap();
    assert_eq!(
        verify(&after.text, &stale, t1 + 20, &opts()).unwrap_err().code(),
        "unknown_kid"
    );
    verify(&before, &stale, t1 + 20, &opts()).unwrap();
}

// ----- revocation -----

#[test]
fn credential_status_list_revokes_by_id_and_expires() {
    use ikd_credential::{CredentialId, StatusList};
    let dir = tempfile::tempdir().unwrap();
    generate_key_files(Algorithm::EdDsa, dir.path()).unwrap();
    let key = IssuerKey::load(dir.path()).unwrap();
    let secret = ActivationSecret::load(dir.path()).unwrap();
    let issuer = CredentialIssuer::new(
        IssuerKey::load(dir.path()).unwrap(),
        ISSUER.into(),
        Duration::from_secs(365 * DAY),
    );
    let keys = keyset_of(&issuer);
    let t = now();
    let lost = secret.credential_id("req-lost-phone");
    let kept = secret.credential_id("req-kept");
    assert_eq!(lost, secret.credential_id("req-lost-phone"), "deterministic");
    assert_ne!(lost, kept);
    assert_eq!(lost.to_string().parse::<CredentialId>().unwrap(), lost);
    let revoked_text = issuer.issue_with_id(&identity(), t, &lost).unwrap().text;
    let kept_text = issuer.issue_with_id(&identity(), t, &kept).unwrap().text;
    let no_id_text = issuer.issue(&identity(), t).unwrap().text;

    let list = StatusList {
        issuer: ISSUER.into(),
        issued_at: t,
        expires_at: t + DAY,
        revoked: [lost, secret.credential_id("other")].into_iter().collect(),
        kid: None,
    };
    let signed = list.sign(&key).unwrap();
    let fetched = StatusList::verify(&signed, &keys, t + 60).unwrap();
    assert_eq!(fetched.revoked, list.revoked);
    assert_eq!(fetched.kid.as_deref(), Some(key.kid()));

    let v = verify(&revoked_text, &keys, t + 60, &opts()).unwrap();
    assert_eq!(v.id, Some(lost));
    let e = fetched.check(&v).unwrap_err();
    assert_eq!(e.code(), "revoked");
    assert!(e.is_invalid_credential());
    fetched
        .check(&verify(&kept_text, &keys, t + 60, &opts()).unwrap())
        .unwrap();
    fetched
        .check(&verify(&no_id_text, &keys, t + 60, &opts()).unwrap())
        .unwrap();

    // Expired list, tampered list, list signed by an unknown key, list of another issuer.
    assert_eq!(
        StatusList::verify(&signed, &keys, t + DAY).unwrap_err().code(),
        "status_list_expired"
    );
    let mut cose = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&signed[..]), &mut cose).unwrap();
    let n = cose.len();
    cose[n - 70] ^= 1; // inside the revoked ids, before the signature
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&cose).unwrap();
    assert_eq!(
        StatusList::verify(&z.finish().unwrap(), &keys, t).unwrap_err().code(),
        "bad_signature"
    );
    let stranger = IssuerKey::generate(Algorithm::EdDsa).unwrap();
    assert_eq!(
        StatusList::verify(&list.sign(&stranger).unwrap(), &keys, t)
            .unwrap_err()
            .code(),
        "unknown_kid"
    );
    let foreign = StatusList {
        issuer: "https://other.example".into(),
        ..list.clone()
    };
    let foreign = StatusList::verify(&foreign.sign(&key).unwrap(), &keys, t).unwrap();
    assert_eq!(foreign.check(&v).unwrap_err().code(), "bad_status_list");
    // Garbage never panics.
    for junk in [&b""[..], b"\x78\x9c", b"\x00\x01\x02", &signed[..signed.len() / 2]] {
        assert!(StatusList::verify(junk, &keys, t).is_err());
    }
    // 16 bytes per revoked id: 10,000 ids stay ~160 KB.
    let big = StatusList {
        revoked: (0..10_000).map(|i| secret.credential_id(&format!("r{i}"))).collect(),
        ..list
    };
    let size = big.sign(&key).unwrap().len();
    assert!((160_000..170_000).contains(&size), "{size}");
}

// ----- the holder's photo (claim 169 keys 16, 17) -----

const HOLDER_JPEG: &[u8] = include_bytes!("fixtures/holder_64x80.jpg");

fn with_photo() -> Identity {
    Identity {
        photo: Some(ikd_credential::Photo {
            format: ikd_credential::PhotoFormat::Jpeg,
            bytes: HOLDER_JPEG.to_vec(),
        }),
        ..identity()
    }
}

#[test]
fn credential_photo_round_trips_byte_identical_signed_and_encrypted() {
    let t = now();
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let (issuer, key, bytes) = encrypting_issuer(alg, EncryptionAlgorithm::A256Gcm);
        let keys = keyset_of(&issuer);
        let text = issuer.issue(&with_photo(), t).unwrap().text;
        let v = verify_with_decryption(&text, &keys, Some(&key), t, &opts()).unwrap();
        assert_eq!(v.identity.photo.as_ref().unwrap().bytes, HOLDER_JPEG);
        // claim169-core returns the same bytes and format.
        let public = issuer.key().public_key().bytes().to_vec();
        let d = claim169_core::Decoder::new(text).decrypt_with_aes256(&bytes).unwrap();
        let d = match alg {
            Algorithm::EdDsa => d.verify_with_ed25519(&public).unwrap(),
            Algorithm::Es256 => d.verify_with_ecdsa_p256(&public).unwrap(),
        };
        let r = d.decode().unwrap();
        assert_eq!(r.claim169.photo.as_deref(), Some(HOLDER_JPEG));
        assert_eq!(r.claim169.photo_format, Some(claim169_core::PhotoFormat::Jpeg));

        // Signed only, too; and claim169-core's photo comes back byte-identical through us.
        let plain = self::issuer(alg);
        let text = plain.issue(&with_photo(), t).unwrap().text;
        let v = verify(&text, &keyset_of(&plain), t, &opts()).unwrap();
        assert_eq!(v.identity.photo.unwrap().bytes, HOLDER_JPEG);
    }
    let claim = claim169_core::Claim169::new()
        .with_id("3171234567890123")
        .with_full_name("Budi Santoso")
        .with_photo(HOLDER_JPEG.to_vec())
        .with_photo_format(claim169_core::PhotoFormat::Jpeg);
    let meta = claim169_core::CwtMeta::new()
        .with_issuer(ISSUER)
        .with_issued_at(t as i64)
        .with_expires_at((t + DAY) as i64);
    let mut signer = claim169_core::Ed25519Signer::generate();
    let public = PublicKey::ed25519(&signer.public_key_bytes()).unwrap();
    signer.set_key_id(public.kid().as_bytes().to_vec());
    let mut keys = KeySet::new();
    keys.insert(public).unwrap();
    let theirs = claim169_core::Encoder::new(claim, meta)
        .sign_with(signer, coset::iana::Algorithm::EdDSA)
        .encode()
        .unwrap()
        .qr_data;
    let v = verify(&theirs, &keys, t, &opts()).unwrap();
    assert_eq!(v.identity.photo.unwrap().bytes, HOLDER_JPEG);
}

#[test]
fn credential_photo_refusals() {
    use ikd_credential::{Photo, PhotoFormat, MAX_PHOTO_BYTES};
    let issuer = issuer(Algorithm::EdDsa);
    let keys = keyset_of(&issuer);
    let t = now();
    // Too large, or not the format it claims: refused at issuance.
    let mut big = HOLDER_JPEG.to_vec();
    big.resize(MAX_PHOTO_BYTES + 1, 0);
    for photo in [
        Photo {
            format: PhotoFormat::Jpeg,
            bytes: big,
        },
        Photo {
            format: PhotoFormat::Webp,
            bytes: HOLDER_JPEG.to_vec(),
        },
        Photo {
            format: PhotoFormat::Jpeg,
            bytes: b"GIF89a....".to_vec(),
        },
    ] {
        let id = Identity {
            photo: Some(photo),
            ..identity()
        };
        assert!(id.validate().is_err());
        assert_eq!(issuer.issue(&id, t).unwrap_err().code(), "invalid_identity");
    }
    // Signed by the issuer but with an unknown format code, a photo without format, or a
    // format without photo: refused by the verifier.
    let payload = |claim: &[(i64, ciborium::Value)]| {
        use ciborium::Value;
        let mut c169 = vec![
            (Value::from(1), Value::from("3171234567890123")),
            (Value::from(4), Value::from("Siti")),
        ];
        c169.extend(claim.iter().map(|(k, v)| (Value::from(*k), v.clone())));
        let cwt = Value::Map(vec![
            (Value::from(1), Value::from(ISSUER)),
            (Value::from(4), Value::from(t + DAY)),
            (Value::from(6), Value::from(t)),
            (Value::from(169), Value::Map(c169)),
        ]);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&cwt, &mut out).unwrap();
        wrap(&issuer.sign_raw_payload(&out).unwrap())
    };
    let jpeg = ciborium::Value::Bytes(HOLDER_JPEG.to_vec());
    let cases = [
        vec![(16, jpeg.clone()), (17, ciborium::Value::from(9))],
        vec![(16, jpeg.clone())],
        vec![(17, ciborium::Value::from(1))],
        vec![(16, ciborium::Value::from("not bytes")), (17, ciborium::Value::from(1))],
        vec![
            (16, ciborium::Value::Bytes(vec![0u8; 3000])),
            (17, ciborium::Value::from(1)),
        ],
    ];
    for (i, case) in cases.iter().enumerate() {
        let e = verify(&payload(case), &keys, t, &opts()).unwrap_err();
        assert!(
            matches!(e.code(), "invalid_photo" | "invalid_claim_169"),
            "case {i}: {e}"
        );
    }
    verify(
        &payload(&[(16, jpeg), (17, ciborium::Value::from(1))]),
        &keys,
        t,
        &opts(),
    )
    .unwrap();
}

#[test]
fn secrets_never_appear_in_debug_or_error_text() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shown = |e: &dyn std::fmt::Debug, d: &dyn std::fmt::Display| format!("{e:?} {d}");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();

    // An AES key: its k is in the file only.
    let (key, path) = EncryptionKey::generate_file(EncryptionAlgorithm::A256Gcm, dir.path()).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let k = json["k"].as_str().unwrap().to_string();
    assert!(!format!("{key:?}").contains(&k));
    // The same k in a file that is refused (wrong alg): the error does not quote it.
    let bad = dir.path().join("bad.aes.json");
    std::fs::write(
        &bad,
        format!(r#"{{"kty":"oct","alg":"A512GCM","kid":"x","use":"enc","k":"{k}"}}"#),
    )
    .unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = EncryptionKey::load(&bad).unwrap_err();
    assert!(!shown(&err, &err).contains(&k), "{err}");
    // ... nor does a JSON error (serde quotes input in its messages).
    std::fs::write(&bad, format!(r#"{{"kty":"oct","k":"{k}","alg":7}}"#)).unwrap();
    let err = EncryptionKey::load(&bad).unwrap_err();
    assert!(!shown(&err, &err).contains(&k), "{err}");

    // A damaged private key file: the error shows none of its bytes.
    let keys = dir.path().join("keys");
    let g = generate_key_files(Algorithm::Es256, &keys).unwrap();
    let mut der = std::fs::read(&g.private_key_path).unwrap();
    let n = der.len();
    der[n - 40] ^= 0xff;
    std::fs::write(&g.private_key_path, &der).unwrap();
    let err = IssuerKey::load(&g.private_key_path).unwrap_err();
    let text = shown(&err, &err);
    assert!(
        !text.contains(&hex(&der[n - 16..])) && !text.contains(&format!("{:?}", &der[n - 16..])),
        "{text}"
    );

    // A short activation secret: refused without its bytes.
    let short = [0x5au8; 16];
    let err = ActivationSecret::from_bytes(&short).unwrap_err();
    assert!(!shown(&err, &err).contains(&hex(&short)));
}
