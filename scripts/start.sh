#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh), then starts the app. Extra arguments go to voxtral-desktop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/voxtral-desktop "$@"
