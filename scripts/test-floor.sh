#!/usr/bin/env bash
# Installs the oldest supported dependencies (scripts/floor-requirements.txt) in a scratch venv, checks
# them with pip check, and runs the tests (all but packaging) on them. Run it after changing a floor.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${FLOOR_VENV:-/tmp/voxtral-floor}"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --only-binary=:all: -r scripts/floor-requirements.txt
"$VENV/bin/pip" install -q --no-deps --no-build-isolation -e .
"$VENV/bin/pip" check
# The tiny model is rebuilt for these versions (its cache key includes them).
VOXTRAL_TINY_CACHE="${VOXTRAL_TINY_CACHE:-$VENV/tiny-cache}" QT_QPA_PLATFORM=offscreen \
  exec "$VENV/bin/python" -m pytest -q tests/core tests/integration tests/ui tests/test_layering.py tests/test_dependencies.py \
  --deselect tests/test_dependencies.py::test_this_environment_is_the_locked_set "$@"
