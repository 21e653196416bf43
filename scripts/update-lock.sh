#!/usr/bin/env bash
# Refreshes requirements/lock.txt, the tested set every install gets, to the newest releases pyproject.toml
# allows; installs the candidate into a scratch venv exactly as scripts/setup.sh would, and runs the whole
# suite on it (packaging included: the bundle is rebuilt from the candidate). The lock is replaced only when
# every test passes; otherwise it stays as it was and the candidate is kept for a look.
#
#   scripts/update-lock.sh                        every package to its newest release
#   scripts/update-lock.sh -P transformers        only this one (and what it needs); repeatable
#   scripts/update-lock.sh --no-upgrade           re-resolve after a change in pyproject.toml, keeping pins
#   scripts/update-lock.sh ... -- -k chunker      arguments after -- go to pytest (a partial check: the lock
#                                                 is then NOT replaced, only the candidate kept)
#
# Why pip-tools: pip-compile writes a plain requirements file with sha256 hashes of every wheel and sdist of
# each pinned release, which pip itself installs with --require-hashes (no extra tool for users, CI or the
# bundle), and it reads pip's own configuration. torch stays out of the lock (requirements/torch.txt pins its
# version): its CPU and CUDA wheels are different files, so no one hash list fits both; it is resolved here
# against the CPU wheel so the lock carries no CUDA-only packages.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PIP_TOOLS="pip-tools==7.7.0"
TOOLS="${LOCK_TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/voxtral-desktop/lock-tools}"
WORK="$(mktemp -d /tmp/voxtral-lock.XXXXXX)"
CANDIDATE="$WORK/lock.txt"

say() { printf '\033[1m[update-lock]\033[0m %s\n' "$*" >&2; }

compile_args=(--upgrade)
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -P|--upgrade-package) [ "${compile_args[0]}" = --upgrade ] && compile_args=(); compile_args+=(--upgrade-package "$2"); shift 2 ;;
    --no-upgrade) compile_args=(); shift ;;
    --) shift; pytest_args=("$@"); break ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown option '$1' (try --help)"; exit 2 ;;
  esac
done

if [ ! -x "$TOOLS/bin/pip-compile" ]; then
  say "installing $PIP_TOOLS into $TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q "$PIP_TOOLS"
fi

[ -f requirements/lock.txt ] && cp requirements/lock.txt "$CANDIDATE"
say "resolving (${compile_args[*]:-keeping current pins})"
# The output file's name is written into its header; compile in place under the real name, then move.
"$TOOLS/bin/pip-compile" -q --generate-hashes --strip-extras --extra dev --extra bundle --extra llamacpp \
  --unsafe-package torch --no-emit-index-url --no-emit-find-links --resolver backtracking \
  "${compile_args[@]}" --output-file "$CANDIDATE" pyproject.toml requirements/lock.in
sed -i "s#--output-file=$CANDIDATE#--output-file=requirements/lock.txt#" "$CANDIDATE"
if grep -qiE '^(nvidia-|triton==)' "$CANDIDATE"; then
  say "the candidate holds CUDA-only packages: torch was resolved against its CUDA wheel. Make the CPU wheel"
  say "visible to pip (e.g. PIP_FIND_LINKS=https://download.pytorch.org/whl/cpu/torch/) and run again."
  exit 1
fi
if [ -f requirements/lock.txt ]; then
  diff -u <(grep -E '^[a-z0-9]' requirements/lock.txt) <(grep -E '^[a-z0-9]' "$CANDIDATE") >&2 \
    && say "no version changed" || true
fi

say "installing the candidate into $WORK/venv and running the suite on it"
cp "$CANDIDATE" "$WORK/candidate.txt"
VENV="$WORK/venv" VOXTRAL_LOCK="$CANDIDATE" "$ROOT/scripts/setup.sh"
set +e
VOXTRAL_LOCK="$CANDIDATE" VOXTRAL_TINY_CACHE="$WORK/tiny-cache" "$WORK/venv/bin/python" -m pytest -q "${pytest_args[@]}"
status=$?
set -e
if [ $status -ne 0 ]; then
  say "tests failed on the candidate (exit $status): requirements/lock.txt is unchanged; candidate: $CANDIDATE"
  exit $status
fi
if [ ${#pytest_args[@]} -gt 0 ]; then
  say "partial run passed; requirements/lock.txt is unchanged (run without pytest arguments to replace it)"
  say "candidate: $CANDIDATE"
  exit 0
fi
cp "$CANDIDATE" requirements/lock.txt
say "requirements/lock.txt replaced: the whole suite passed on it. Commit it with the test run's summary."
