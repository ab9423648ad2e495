#!/usr/bin/env bash
# The README's test command: set up .venv when needed (CPU torch first), then run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# pip, without this machine's harmless "Location ... is ignored" noise
quiet_pip() {
    .venv/bin/pip "$@" 2>&1 | { grep -v "^WARNING: Location '" || true; }
    return "${PIPESTATUS[0]}"
}

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# torch 2.13.0 first: a plain `torch` requirement would pull gigabytes of CUDA packages.
.venv/bin/python -c "import torch" 2>/dev/null || quiet_pip install -q torch==2.13.0
quiet_pip install -q -e ".[test]"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
