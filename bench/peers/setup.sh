#!/usr/bin/env bash
# The peers run's Python environments (bench/suite.sh with MLOS_BENCH_PART=peers, or `make bench`),
# made only when a benchmark needs them, never by `make setup`/`make test`:
#   .venv-peers-<name>/          kserve, mlserver, litserve: `python3 -m venv` (the python3 first
#                                on PATH, 3.11) + pip install -r bench/peers/requirements-<name>.txt
#   .venv-peers-perf-analyzer/   perf_analyzer (PyPI perf-analyzer, manylinux_2_38) unpacked with
#                                pip, Debian 13's libc6/libstdc++6/libgcc-s1 fetched with
#                                `apt-get download` (private lists, nothing installed system-wide)
#                                and extracted beside it, and bin/perf_analyzer, a wrapper that
#                                runs it on that libc through its dynamic loader.
# Each is rebuilt when its requirements file (or this script's trixie pins) change; a no-op otherwise.
# Usage: bench/peers/setup.sh [NAME...]   (default: kserve mlserver litserve perf-analyzer)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/bench/peers"
py="$(command -v python3 || true)"
if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "peers setup: needs python3 3.11 first on PATH (the pins are for 3.11; found: ${py:-none})" >&2
  exit 1
fi
# Debian 13 (trixie) packages for perf_analyzer's glibc 2.38 / GLIBCXX_3.4.32 needs. Debian keeps
# only the current point release on its mirrors: if a pin is gone, the current one is taken.
DEBIAN_TRIXIE="libc6=2.41-12+deb13u5 libstdc++6=14.2.0-19 libgcc-s1=14.2.0-19"

make_venv() {  # name
  local name=$1 venv="$root/.venv-peers-$1" req="$here/requirements-$1.txt"
  if [ -x "$venv/bin/python" ] && cmp -s "$req" "$venv/.requirements"; then return 0; fi
  echo "peers setup: creating $venv from bench/peers/requirements-$name.txt (PyPI, pinned)"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.requirements"
}

make_perf_analyzer() {
  local venv="$root/.venv-peers-perf-analyzer" req="$here/requirements-perf-analyzer.txt"
  local stamp; stamp="$(cat "$req"; echo "$DEBIAN_TRIXIE")"
  if [ -x "$venv/bin/perf_analyzer" ] && [ "$(cat "$venv/.requirements" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  echo "peers setup: creating $venv (perf-analyzer from PyPI, Debian trixie's libc6 and libstdc++6)"
  rm -rf "$venv" "$venv.tmp"
  mkdir -p "$venv.tmp/bin" "$venv.tmp/apt/lists/partial" "$venv.tmp/apt/cache/archives/partial" \
    "$venv.tmp/debs" "$venv.tmp/root"
  "$py" -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --only-binary=:all: \
    --platform manylinux_2_38_x86_64 --platform manylinux_2_17_x86_64 --python-version 3.11 --target "$venv.tmp/site" -r "$req"
  ln -sf libcudart.so.12 "$venv.tmp/site/nvidia/cuda_runtime/lib/libcudart.so"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    >"$venv.tmp/apt/sources.list"
  local a=(-o "Dir::Etc::SourceList=$venv.tmp/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$venv.tmp/apt/lists" -o "Dir::Cache=$venv.tmp/apt/cache"
    -o Dir::State::status=/dev/null -o APT::Architecture=amd64 -o APT::Architectures=amd64
    -o APT::Sandbox::User=root -qq)
  apt-get "${a[@]}" update
  local p
  for p in $DEBIAN_TRIXIE; do
    (cd "$venv.tmp/debs" && { apt-get "${a[@]}" download "$p" 2>/dev/null ||
      { echo "peers setup: $p is no longer on the mirror; taking trixie's current ${p%%=*}"; \
        apt-get "${a[@]}" download "${p%%=*}"; }; })
  done
  for p in "$venv.tmp"/debs/*.deb; do dpkg-deb -x "$p" "$venv.tmp/root"; done
  rm -rf "$venv.tmp/apt" "$venv.tmp/debs" "$venv.tmp/root/usr/share" "$venv.tmp/root/etc"
  cat >"$venv.tmp/bin/perf_analyzer" <<'SH'
#!/bin/sh
# perf_analyzer (PyPI perf-analyzer) on Debian trixie's glibc and libstdc++, through their loader.
d="$(cd "$(dirname "$0")/.." && pwd)"
lib="$d/root/usr/lib/x86_64-linux-gnu"
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:$d/site/nvidia/cuda_runtime/lib" \
  "$d/site/perf_analyzer/bin/perf_analyzer" "$@"
SH
  chmod +x "$venv.tmp/bin/perf_analyzer"
  "$venv.tmp/bin/perf_analyzer" --version >/dev/null 2>&1 || {
    echo "peers setup: perf_analyzer does not run:" >&2; "$venv.tmp/bin/perf_analyzer" --version >&2; exit 1; }
  echo "$stamp" >"$venv.tmp/.requirements"
  mv "$venv.tmp" "$venv"
}

for n in ${*:-kserve mlserver litserve perf-analyzer}; do
  case "$n" in
    perf-analyzer) make_perf_analyzer ;;
    kserve | mlserver | litserve) make_venv "$n" ;;
    *) echo "peers setup: unknown peer '$n'" >&2; exit 2 ;;
  esac
done
