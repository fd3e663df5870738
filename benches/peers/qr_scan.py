#!/usr/bin/env python3
"""Scan back `ikd`'s QR codes with OpenCV, an independent QR reader.

For each photo budget, `ikd credential issue` makes an encrypted (A256GCM) Ed25519 credential
for a typical identity with the holder's portrait of a bundled ID photo, and renders its QR code
(EC level M, 6 px per module). OpenCV's QRCodeDetector (and, where present, QRCodeDetectorAruco)
must read back exactly the text ikd printed; then the same at 3 px per module, as a phone
camera sees a code on a small screen. A code at 6 px per module passes when at least one of OpenCV's
readers gives back the same text (3 px is reported, not required); the table shows each reader (the classic QRCodeDetector misses some large
versions that QRCodeDetectorAruco reads).

Usage: benches/peers/.venv/bin/python benches/peers/qr_scan.py target/release/ikd
Exit 0 when every code scans back.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile

import cv2

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
ID_PHOTO = os.path.join(ROOT, "datasets/fixtures/faces/portraits/obama.jpg")
IDENTITY = {
    "id": "3171012501900007",
    "full_name": "Siti Nurhaliza Rahmawati",
    "date_of_birth": "1990-01-25",
    "gender": "female",
    "email": "siti.rahmawati@example.id",
}


def ikd(binary, *args):
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    assert out.returncode == 0, (args, out.stderr)
    return out.stdout


def readers():
    found = [("QRCodeDetector", cv2.QRCodeDetector())]
    if hasattr(cv2, "QRCodeDetectorAruco"):
        found.append(("QRCodeDetectorAruco", cv2.QRCodeDetectorAruco()))
    return found


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/ikd"
    budgets = sys.argv[2].split(",") if len(sys.argv) > 2 else ["none", "800", "1000", "1200", "1500", "1800"]
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        keys, aes_dir = os.path.join(work, "keys"), os.path.join(work, "aes")
        ikd(binary, "keys", "generate", "--out", keys)
        ikd(binary, "keys", "generate", "--kind", "aes256", "--out", aes_dir)
        aes = glob.glob(os.path.join(aes_dir, "*.aes.json"))[0]
        identity = os.path.join(work, "identity.json")
        with open(identity, "w") as f:
            json.dump(IDENTITY, f)
        print(f"OpenCV {cv2.__version__}")
        print(f"{'photo budget':>12} {'chars':>6} {'version':>8} {'px/module':>10}  result")
        for budget in budgets:
            for module_px in [6, 3]:
                png = os.path.join(work, f"qr-{budget}-{module_px}.png")
                photo = [] if budget == "none" else ["--photo", ID_PHOTO, "--photo-budget", budget]
                text = ikd(
                    binary, "credential", "issue", "--key", keys, "--identity", identity,
                    "--issuer", "https://ikd.example.id", "--encrypt-key", aes, *photo,
                ).strip()
                rendered = ikd(binary, "credential", "qr", text, "--out", png, "--module-px", str(module_px))
                version = rendered.split("QR version ")[1].split(",")[0]
                image = cv2.imread(png, cv2.IMREAD_GRAYSCALE)
                results, read = [], False
                for name, reader in readers():
                    decoded, _, _ = reader.detectAndDecode(image)
                    ok = decoded == text
                    read |= ok
                    results.append(f"{name} {'same text' if ok else 'not read'}")
                failures += module_px == 6 and not read
                print(f"{budget:>12} {len(text):>6} {version:>8} {module_px:>10}  {', '.join(results)}")
    if failures:
        print(f"{failures} codes at 6 px per module did not scan back to the text")
        sys.exit(1)
    print("every code at 6 px per module scanned back to the same text")


if __name__ == "__main__":
    main()
