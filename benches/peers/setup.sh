#!/usr/bin/env bash
# Create (or refresh) the Python venv for the peer pipelines at benches/peers/.venv.
# Idempotent: re-running only installs what is missing / differs from requirements.txt.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating venv at $VENV" >&2
  "$PY" -m venv "$VENV"
fi
# Fast path: everything pinned is already installed at the pinned version.
if "$VENV/bin/python" - "$HERE/requirements.txt" <<'PYEOF' 2>/dev/null; then
import sys
from importlib.metadata import version
ok = True
for line in open(sys.argv[1]):
    line = line.split('#', 1)[0].strip()
    if not line:
        continue
    name, want = line.split('==')
    try:
        ok &= version(name) == want
    except Exception:
        ok = False
sys.exit(0 if ok else 1)
PYEOF
  echo "[setup] venv up to date" >&2
else
  echo "[setup] installing pinned requirements" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
fi
"$VENV/bin/python" -c 'import numpy, onnxruntime, cv2, PIL; assert hasattr(cv2, "FaceDetectorYN"); print("[setup] numpy", numpy.__version__, "onnxruntime", onnxruntime.__version__, "opencv", cv2.__version__, "pillow", PIL.__version__)' >&2
