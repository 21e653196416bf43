#!/usr/bin/env bash
# Sets up everything voxtral-desktop needs on Debian/Ubuntu: system packages, a virtual environment in
# .venv, the right torch wheel, and the app with its test tools, at the versions in requirements/lock.txt
# (the tested set, hash-checked). Safe to run again: a second run only checks.
#
#   VENV=...            another virtual environment (packaging/build.sh's VOXTRAL_VENV uses this)
#   TORCH_VARIANT=cpu   the CPU wheel even with an NVIDIA GPU; =cuda the CUDA wheel without one (a GPU build)
#   VOXTRAL_LOCK=...    another lock file (scripts/update-lock.sh tries its candidate with this)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-dev
  # espeak-ng: the neural voice reads text with it (and tests make speech); libportaudio2: sound in and out
  espeak-ng sox libsndfile1 libportaudio2
  # Qt's runtime libraries (offscreen and X11)
  libegl1 libgl1 libglvnd0 libglx0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 fontconfig
  fonts-dejavu-core libfreetype6 libglib2.0-0 libdbus-1-3 libx11-6 libx11-xcb1 libxcb1 libxcb-icccm4
  libxcb-keysyms1 libxcb-cursor0 libxcb-shape0 libxcb-render-util0 libxcb-image0 libxcb-randr0
  libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
  # a virtual screen and microphone for tests and screenshots
  xvfb pulseaudio pulseaudio-utils libasound2-plugins alsa-utils
  # recorded human speech the tests play (read sentences, 16 kHz; testing/human_speech.py)
  pocketsphinx-testdata
  # the packaged build (strip) and its .desktop check
  binutils desktop-file-utils
  # the push-to-talk tests hold keys through real X events; xev holds the focus while the global shortcut is
  # pressed; a private D-Bus session bus carries the test portal, tray watcher and notification services
  xdotool x11-utils dbus-daemon
)
# The system voice (speech-dispatcher), the fallback when no neural voice can be had (offline before the first
# voice download). The neural voice needs only espeak-ng and onnxruntime. CI machines have no speakers: their
# tests speak through the neural voice into PulseAudio's virtual devices, or through Qt's mock engine.
[ -z "${CI:-}" ] && APT_PACKAGES+=(speech-dispatcher speech-dispatcher-espeak-ng)
LOCK="${VOXTRAL_LOCK:-requirements/lock.txt}"
# The tested torch release (requirements/torch.txt); TORCH_VERSION=... tries another.
TORCH_VERSION="${TORCH_VERSION:-$(sed -n 's/^torch==//p' requirements/torch.txt)}"
VENV="${VENV:-.venv}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

install_apt() {
  command -v dpkg-query >/dev/null || { say "not a Debian system: install the equivalents of ${APT_PACKAGES[*]} yourself"; return; }
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing Debian packages: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

has_nvidia_gpu() { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }

# cuda or cpu: TORCH_VARIANT, else whether an NVIDIA GPU is here. Decided here only.
variant() {
  local v="${TORCH_VARIANT:-}"
  [ -z "$v" ] && { has_nvidia_gpu && v=cuda || v=cpu; }
  echo "$v"
}

# The llama.cpp engine (the `llamacpp` extra) is for machines without an NVIDIA GPU: with one, transformers on
# CUDA is the engine `backend: auto` picks, and the engine's wheel is left out of the install.
CPU_ONLY_PACKAGES="xllamacpp"
lock_for_here() {
  [ "$(variant)" = cuda ] || { echo "$LOCK"; return; }
  local out="$VENV/.voxtral-lock-gpu.txt"
  # A pin's block is its "name==version \" line and the indented hash and comment lines under it.
  awk -v skip="^(${CPU_ONLY_PACKAGES// /|})==" '$0 ~ skip {drop=1; next} drop && /^ / {next} {drop=0; print}' \
    "$LOCK" > "$out"
  echo "$out"
}

# The lock without its hashes, as pip constraints: torch's own dependencies (sympy, networkx, ...) then come
# at the locked versions too.
lock_constraints() {
  local out="$VENV/.voxtral-constraints.txt"
  sed -e 's/ *\\$//' -e '/^ *--hash/d' -e 's/ *#.*//' "$LOCK" | grep -v '^ *$' > "$out"
  echo "$out"
}

install_torch() {
  local have
  have=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null || true)
  [ "${have%%+*}" = "$TORCH_VERSION" ] && return
  local variant; variant=$(variant)
  local pins; pins=$(lock_constraints)
  if [ "$variant" = cuda ]; then
    say "installing torch $TORCH_VERSION with CUDA${have:+ (replacing $have)}"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION" -c "$pins"
    return
  fi
  # No GPU: the CPU wheel is ~200 MB instead of several GB of CUDA libraries.
  local cpu_index="https://download.pytorch.org/whl/cpu"
  if "$VENV/bin/python" -c "import urllib.request as u; u.urlopen('$cpu_index/torch/', timeout=5)" 2>/dev/null; then
    say "no GPU: installing the CPU build of torch $TORCH_VERSION${have:+ (replacing $have)}"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION" -c "$pins" --index-url "$cpu_index" --extra-index-url https://pypi.org/simple
  else
    say "no GPU and PyTorch's CPU index is unreachable: installing torch $TORCH_VERSION from the configured index"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION" -c "$pins"
  fi
}

python_of_lock() { sed -n 's/^# This file is autogenerated by pip-compile with Python \([0-9.]*\)$/\1/p' "$LOCK"; }

install_app() {
  # Re-installs only when the lock or the project changed.
  local stamp="$VENV/.voxtral-deps" want
  want=$( (cat pyproject.toml "$LOCK" requirements/torch.txt; variant) | sha256sum | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
  local py lockpy
  py=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  lockpy=$(python_of_lock)
  if [ "$py" = "$lockpy" ]; then
    say "installing the locked dependencies ($LOCK, hash-checked) into $VENV"
    # --no-deps: exactly the lock, nothing resolved anew (torch and, for CUDA, its libraries are already in).
    "$VENV/bin/pip" install -q --require-hashes --no-deps -r "$(lock_for_here)"
  else
    # The lock is resolved for one Python; on another some packages differ by marker. Its pins still hold.
    say "Python $py here, the lock is for Python $lockpy: installing with its versions as constraints (no hashes)"
    local extras="dev,bundle"
    [ "$(variant)" = cuda ] || extras+=",llamacpp"
    "$VENV/bin/pip" install -q -c "$(lock_constraints)" -e ".[$extras]"
  fi
  say "installing voxtral-desktop itself (editable) into $VENV"
  "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
}

check_deps() {
  # A half-upgraded venv (a package whose own requirements no longer hold) fails here, not mid-test.
  "$VENV/bin/pip" check >&2 || { say "pip check found broken requirements in $VENV (above); run: rm -rf $VENV && $0"; exit 1; }
}

install_apt
[ -x "$VENV/bin/python" ] || { say "creating $VENV"; python3 -m venv "$VENV"; }
install_torch
install_app
check_deps
say "ready: $VENV ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")'))"
