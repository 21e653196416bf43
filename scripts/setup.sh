#!/usr/bin/env bash
# Sets up everything voxtral-desktop needs on Debian/Ubuntu: system packages, a virtual environment in
# .venv, the right torch wheel, and the app with its test tools. Safe to run again: a second run only checks.
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
  # the packaged build (strip) and its .desktop check
  binutils desktop-file-utils
)
# The system voice (speech-dispatcher), the fallback when no neural voice can be had (offline before the first
# voice download). The neural voice needs only espeak-ng and onnxruntime. CI machines have no speakers: their
# tests speak through the neural voice into PulseAudio's virtual devices, or through Qt's mock engine.
[ -z "${CI:-}" ] && APT_PACKAGES+=(speech-dispatcher speech-dispatcher-espeak-ng)
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
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

install_torch() {
  "$VENV/bin/python" -c "import torch" 2>/dev/null && return
  if has_nvidia_gpu; then
    say "NVIDIA GPU found: installing torch $TORCH_VERSION with CUDA"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
    return
  fi
  # No GPU: the CPU wheel is ~200 MB instead of several GB of CUDA libraries.
  local cpu_index="https://download.pytorch.org/whl/cpu"
  if "$VENV/bin/python" -c "import urllib.request as u; u.urlopen('$cpu_index/torch/', timeout=5)" 2>/dev/null; then
    say "no GPU: installing the CPU build of torch $TORCH_VERSION"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION" --index-url "$cpu_index"
  else
    say "no GPU and PyTorch's CPU index is unreachable: installing torch $TORCH_VERSION from the configured index"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
  fi
}

install_app() {
  # Re-installs only when the dependencies changed.
  local stamp="$VENV/.voxtral-deps" want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
  say "installing voxtral-desktop and its dependencies into $VENV"
  "$VENV/bin/pip" install -q -e ".[dev]"
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
