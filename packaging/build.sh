#!/usr/bin/env bash
# Build the one-folder PyInstaller bundle dist/voxtral-desktop/ from the project's .venv.
#
#   packaging/build.sh            build, replacing dist/voxtral-desktop (reuses PyInstaller's cached analysis)
#   packaging/build.sh --clean    first remove build/pyinstaller, dist/voxtral-desktop and PyInstaller's cache
#   packaging/build.sh --no-trim  keep everything the hooks collect (to compare sizes; see the spec)
#
# First brings the venv to the tested set (scripts/setup.sh: requirements/lock.txt, PyInstaller included;
# a few seconds when it is already there), so a bundle is never built from untested versions. VOXTRAL_VENV
# picks another venv (TORCH_VARIANT=cuda for a GPU build); PYI_LOG_LEVEL=INFO shows PyInstaller's full log.
# Prints the build time and the bundle's size.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VOXTRAL_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
DIST="$ROOT/dist"
WORK="$ROOT/build/pyinstaller"
BUNDLE="$DIST/voxtral-desktop"

clean=0
for arg in "$@"; do
    case "$arg" in
        --clean) clean=1 ;;
        --no-trim) export VOXTRAL_BUNDLE_TRIM=0 ;;
        -h|--help) sed -n '2,11p' "$ROOT/packaging/build.sh" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

VENV="$VENV" "$ROOT/scripts/setup.sh"

args=(--noconfirm --distpath "$DIST" --workpath "$WORK" --log-level "${PYI_LOG_LEVEL:-WARN}")
if (( clean )); then
    rm -rf "$WORK" "$BUNDLE"
    args+=(--clean)
fi

# The torch wheel decides the bundle: +cpu is the small one; a CUDA wheel brings several GB of CUDA libraries.
torch=$("$PY" -c "import importlib.metadata as m; print(m.version('torch'))")
echo "build.sh: bundling from $VENV (torch $torch)"

started=$(date +%s.%N)
"$PY" -m PyInstaller "${args[@]}" "$ROOT/packaging/voxtral-desktop.spec"
finished=$(date +%s.%N)

size=$(du -sh "$BUNDLE" | cut -f1)
files=$(find "$BUNDLE" -type f | wc -l)
seconds=$(awk -v a="$started" -v b="$finished" 'BEGIN { printf "%.0f", b - a }')
echo "build.sh: built ${BUNDLE#"$ROOT"/} in ${seconds} s: ${size}, ${files} files" \
    "(torch ${torch}, trim ${VOXTRAL_BUNDLE_TRIM:-1})"
