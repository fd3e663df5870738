#!/usr/bin/env python3
"""Encrypted Claim 169 credentials, both ways, between `ikd` and the PyPI `claim169` package.

  ikd -> claim169: `ikd credential issue --encrypt-key` for Ed25519 and ES256, each with
                   AES-256-GCM and AES-128-GCM; claim169 decrypts, verifies the nested signature
                   (with the public key from ikd's JWK) and reads the identity.
  claim169 -> ikd: claim169 signs (Ed25519, ES256) and encrypts (A256GCM, A128GCM) with its own
                   encoder; `ikd credential verify --decrypt-key --accept-foreign-iv` reads it
                   (its IVs are random, not derived from the plaintext as ikd's are).
Every credential carries the holder's photo (a real 64x80 JPEG portrait, the fixture
credential/tests/fixtures/holder_64x80.jpg): it must come back byte-identical on the other side.

Usage: benches/peers/.venv/bin/python benches/peers/claim169_interop.py target/release/ikd
Needs: pip install -r benches/peers/requirements-interop.txt (in benches/peers/.venv). Exit 0 when
all 8 cases pass.
"""

import base64
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import claim169
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ISSUER = "https://ikd.example.id"
PHOTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../credential/tests/fixtures/holder_64x80.jpg")
IDENTITY = {
    "id": "3171234567890123",
    "full_name": "Siti Rahayu",
    "date_of_birth": "1990-05-15",
    "gender": "female",
    "email": "siti.rahayu@example.id",
}


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ikd(binary, *args):
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


def verifier_for(jwk):
    """A claim169 verifier callable for ikd's public JWK."""
    if jwk["kty"] == "OKP":
        key = ed25519.Ed25519PublicKey.from_public_bytes(unb64u(jwk["x"]))

        def verify(algorithm, key_id, data, signature):
            key.verify(bytes(signature), bytes(data))

    else:
        nums = ec.EllipticCurvePublicNumbers(
            int.from_bytes(unb64u(jwk["x"]), "big"), int.from_bytes(unb64u(jwk["y"]), "big"), ec.SECP256R1()
        )
        key = nums.public_key()

        def verify(algorithm, key_id, data, signature):
            sig = bytes(signature)
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            key.verify(der, bytes(data), ec.ECDSA(hashes.SHA256()))

    return verify


def ours_to_theirs(binary, work, alg, aes):
    keys = os.path.join(work, f"keys-{alg}-{aes}")
    aes_dir = os.path.join(work, f"aes-{alg}-{aes}")
    assert ikd(binary, "keys", "generate", "--alg", alg, "--out", keys)[0] == 0
    assert ikd(binary, "keys", "generate", "--kind", aes, "--out", aes_dir)[0] == 0
    aes_file = glob.glob(os.path.join(aes_dir, "*.aes.json"))[0]
    identity = os.path.join(work, "identity.json")
    with open(identity, "w") as f:
        json.dump(IDENTITY, f)
    code, text, err = ikd(
        binary, "credential", "issue", "--key", keys, "--identity", identity, "--issuer", ISSUER,
        "--encrypt-key", aes_file, "--photo", PHOTO,
    )
    assert code == 0, err
    text = text.strip()
    with open(aes_file) as f:
        aes_key = unb64u(json.load(f)["k"])
    with open(glob.glob(os.path.join(keys, "*.jwk.json"))[0]) as f:
        jwk = json.load(f)
    result = claim169.decode_encrypted_aes(text, aes_key, verifier=verifier_for(jwk))
    c = result.claim169
    assert result.is_verified()
    assert (c.id, c.full_name, c.email) == (IDENTITY["id"], IDENTITY["full_name"], IDENTITY["email"]), c
    with open(PHOTO, "rb") as f:
        assert bytes(c.photo) == f.read(), "the photo changed on the way"
    assert int(c.photo_format) == 1, c.photo_format  # JPEG
    # Without the verifier claim169 refuses (it does not silently skip the nested signature).
    try:
        claim169.decode_encrypted_aes(text, aes_key)
        raise AssertionError("claim169 decoded without verifying")
    except (claim169.Claim169Exception, ValueError):
        pass
    return f"ikd -> claim169  {alg:7} {aes}: decrypted, signature verified, id/name/email and photo equal"


def theirs_to_ours(binary, work, alg, aes):
    now = int(time.time())
    claim = claim169.Claim169Input(id="3171234567890999", full_name="Budi Santoso", email="budi@example.id")
    with open(PHOTO, "rb") as f:
        photo = f.read()
    claim.photo = photo
    claim.photo_format = 1  # JPEG
    meta = claim169.CwtMetaInput(issuer=ISSUER, expires_at=now + 86400)
    if alg == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
        raw = private.public_key().public_bytes_raw()
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw), "alg": "EdDSA", "use": "sig"}

        def sign(algorithm, key_id, data):
            return private.sign(bytes(data))

        sign_alg = "EdDSA"
    else:
        private = ec.generate_private_key(ec.SECP256R1())
        n = private.public_key().public_numbers()
        jwk = {
            "kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big")),
            "alg": "ES256", "use": "sig",
        }

        def sign(algorithm, key_id, data):
            r, s = decode_dss_signature(private.sign(bytes(data), ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        sign_alg = "ES256"
    kid = "claim169-" + alg
    jwk["kid"] = kid
    key_bytes = os.urandom(32 if aes == "aes256" else 16)
    aesgcm = AESGCM(key_bytes)

    def encrypt(algorithm, key_id, nonce, aad, plaintext):
        return aesgcm.encrypt(bytes(nonce), bytes(plaintext), bytes(aad))

    enc_alg = "A256GCM" if aes == "aes256" else "A128GCM"
    text = claim169.encode_with_signer_and_encryptor(
        claim, meta, sign, sign_alg, encrypt, enc_alg, key_id=kid.encode()
    )
    jwks = os.path.join(work, f"theirs-{alg}-{aes}.jwks.json")
    with open(jwks, "w") as f:
        json.dump({"keys": [jwk]}, f)
    aes_file = os.path.join(work, f"theirs-{alg}-{aes}.aes.json")
    fd = os.open(aes_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"kty": "oct", "alg": enc_alg, "kid": "claim169-aes", "use": "enc", "k": b64u(key_bytes)}, f)
    code, out, err = ikd(binary, "credential", "verify", text, "--keyset", jwks, "--decrypt-key", aes_file, "--json")
    assert code == 3 and "foreign_iv" in out, (code, out, err)
    code, out, err = ikd(
        binary, "credential", "verify", text, "--keyset", jwks, "--decrypt-key", aes_file, "--accept-foreign-iv",
        "--json",
    )
    assert code == 0, (code, out, err)
    v = json.loads(out)["credential"]
    assert v["identity"]["id"] == "3171234567890999" and v["identity"]["full_name"] == "Budi Santoso", v
    assert v["encryption"]["iv"] == "foreign"
    shown = json.loads(out)["photo"]
    assert shown["format"] == "jpeg" and shown["bytes"] == len(photo), shown
    assert shown["sha256"] == hashlib.sha256(photo).hexdigest(), "the photo changed on the way"
    return (
        f"claim169 -> ikd  {alg:7} {aes}: refused as foreign_iv by default, read with --accept-foreign-iv,"
        " photo equal"
    )


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/ikd"
    with tempfile.TemporaryDirectory() as work:
        for alg in ["ed25519", "es256"]:
            for aes in ["aes256", "aes128"]:
                print(ours_to_theirs(binary, work, alg, aes))
                print(theirs_to_ours(binary, work, alg, aes))
    print(f"all 8 cases passed (claim169 {getattr(claim169, 'version', lambda: '?')()})")


if __name__ == "__main__":
    main()
