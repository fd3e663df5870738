//! Entry points for coverage-guided fuzzing (`fuzz/`, cargo feature `fuzzing`) and for the
//! replay of the fuzz corpora in the tests. Each takes arbitrary bytes and must return, never
//! panic, whatever they are; the fuzz targets are one call each.
//!
//! The keys are fixed (a constant Ed25519 seed and a constant AES-256 key), so that the seed
//! inputs made by [`seed_credentials`] verify and decrypt, and mutations of them reach the
//! claim parsers behind the signature.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use crate::{
    verify_with_decryption, CredentialId, CredentialIssuer, EncryptionAlgorithm, EncryptionKey, Gender, Identity,
    IssuerKey, KeySet, Photo, PhotoFormat, StatusList, VerifyOptions,
};

/// A moment inside the seeds' validity.
pub const NOW: u64 = 1_767_225_600 + 86_400;
const ISSUED_AT: u64 = 1_767_225_600;
const AES_KEY: [u8; 32] = [0x42; 32];

struct Fixed {
    signer: IssuerKey,
    keys: KeySet,
    aes: EncryptionKey,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let signer = fixed_signer();
        let mut keys = KeySet::new();
        keys.insert(signer.public_key().clone()).expect("a fresh key set");
        let aes = EncryptionKey::from_bytes(EncryptionAlgorithm::A256Gcm, &AES_KEY, None).expect("AES key");
        Fixed { signer, keys, aes }
    })
}

fn fixed_signer() -> IssuerKey {
    IssuerKey::from_pkcs8(&fixed_der()).expect("a valid PKCS#8 Ed25519 key")
}

fn options() -> VerifyOptions {
    VerifyOptions {
        accept_foreign_iv: true,
        ..VerifyOptions::default()
    }
}

/// Base45 text → zlib → COSE_Encrypt0 / COSE_Sign1 → CWT → claim 169, as a verifier reads it.
pub fn credential_text(data: &[u8]) {
    let f = fixed();
    let _ = verify_with_decryption(&String::from_utf8_lossy(data), &f.keys, Some(&f.aes), NOW, &options());
}

/// Whether `data` verifies (and decrypts) with the fixed keys: for tests of the seeds.
pub fn verifies(data: &[u8]) -> bool {
    let f = fixed();
    verify_with_decryption(&String::from_utf8_lossy(data), &f.keys, Some(&f.aes), NOW, &options()).is_ok()
}

/// The binary layers one at a time (the first byte picks one), so a mutation need not
/// survive Base45, zlib and the signature to reach them: 0 the CWT payload and claim 169 CBOR,
/// 1 a COSE_Sign1, 2 a COSE_Encrypt0 (kid, then decryption), 3 a signed status list.
pub fn credential_cbor(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let f = fixed();
    match which % 4 {
        0 => drop(crate::cose::parse_cwt(rest)),
        1 => drop(crate::sign1::verify_cose(rest, &f.keys)),
        2 => {
            let _ = crate::encrypt::envelope_kid(rest);
            let _ = f.aes.decrypt(rest);
        }
        _ => drop(StatusList::verify(rest, &f.keys, NOW)),
    }
}

/// A JWKS document, as a verifier loads its key set.
pub fn jwks(data: &[u8]) {
    let _ = KeySet::from_jwks(&String::from_utf8_lossy(data));
}

/// Valid inputs to start the corpora from: credentials signed with the fixed key, signed-only
/// and encrypted, with and without the bundled photo fixture (`photo`: a JPEG ≤ 2,048 B).
pub fn seed_credentials(photo: Option<&[u8]>) -> Vec<String> {
    let mut identity = Identity {
        id: "3174010101900001".into(),
        full_name: "Siti Rahayu".into(),
        date_of_birth: Some("1990-01-01".into()),
        gender: Some(Gender::Female),
        email: Some("siti@example.id".into()),
        ..Identity::default()
    };
    let issuer = |encrypt: bool| {
        let key = IssuerKey::from_pkcs8(&fixed_der()).expect("key");
        let i = CredentialIssuer::new(key, "https://ikd.example.id".into(), Duration::from_secs(86_400 * 365));
        if encrypt {
            i.with_encryption(EncryptionKey::from_bytes(EncryptionAlgorithm::A256Gcm, &AES_KEY, None).expect("AES"))
        } else {
            i
        }
    };
    let mut out = Vec::new();
    for encrypt in [false, true] {
        out.push(issuer(encrypt).issue(&identity, ISSUED_AT).expect("issue").text);
    }
    if let Some(bytes) = photo {
        identity.photo = Some(Photo {
            format: PhotoFormat::Jpeg,
            bytes: bytes.to_vec(),
        });
        for encrypt in [false, true] {
            out.push(issuer(encrypt).issue(&identity, ISSUED_AT).expect("issue").text);
        }
    }
    out
}

/// Seeds for [`credential_cbor`]: each layer of a real credential, with its selector byte.
pub fn seed_layers() -> Vec<Vec<u8>> {
    let f = fixed();
    let issuer = CredentialIssuer::new(
        IssuerKey::from_pkcs8(&fixed_der()).expect("key"),
        "https://ikd.example.id".into(),
        Duration::from_secs(86_400 * 365),
    );
    let identity = Identity {
        id: "3174010101900001".into(),
        full_name: "Siti Rahayu".into(),
        ..Identity::default()
    };
    let sign1 = issuer.sign_cose(&identity, ISSUED_AT).expect("sign");
    let mut layers = Vec::new();
    if let Ok(sign1_parsed) = <coset::CoseSign1 as coset::TaggedCborSerializable>::from_tagged_slice(&sign1) {
        if let Some(payload) = sign1_parsed.payload {
            layers.push([&[0u8][..], &payload].concat());
        }
    }
    layers.push([&[1u8][..], &sign1].concat());
    let mut sealed = Vec::new();
    if f.aes.encrypt_into(&sign1, &mut sealed).is_ok() {
        layers.push([&[2u8][..], &sealed].concat());
    }
    let list = StatusList {
        issuer: "https://ikd.example.id".into(),
        issued_at: ISSUED_AT,
        expires_at: NOW + 86_400,
        revoked: BTreeSet::from([CredentialId([9; 16])]),
        kid: None,
    };
    if let Ok(signed) = list.sign(&f.signer) {
        layers.push([&[3u8][..], &signed].concat());
    }
    layers
}

/// The fixed key set as JWKS (a seed for [`jwks`]).
pub fn seed_jwks() -> String {
    fixed().keys.to_jwks()
}

/// PKCS#8 v1 (RFC 8410) of the Ed25519 seed 0x07 x 32. A public test key: never a real one.
fn fixed_der() -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ];
    der.extend_from_slice(&[0x07; 32]);
    der
}
