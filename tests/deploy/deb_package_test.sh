#!/usr/bin/env bash
# ctest deploy_deb_package: the .deb packages CPack makes from the build (as `make package` does;
# nothing is compiled when the tree is built) install with `dpkg -i` into a scratch root, run, and
# remove again, without touching the host's system:
#  1. control data: Depends from dpkg-shlibdeps (Debian's libraries, never the bundled runtimes),
#     /etc/mlos/mlosd.yaml a conffile;
#  2. `dpkg --root=ROOT --force-script-chrootless -i` into an empty dpkg database (dependencies
#     are the host's, hence --force-depends); postinst makes the mlos user inside ROOT;
#  3. no installed ELF file has a RUNPATH into the source or build tree, and each resolves every
#     library it needs from ROOT or the system's library directories;
#  4. the installed mlosd starts with the shipped /etc/mlos/mlosd.yaml (state, ports, socket and
#     model root redirected by flags), as an unprivileged user, under the system-call filter of
#     the shipped mlosd.service (unit_seccomp.py), with models sandboxed (--isolation process):
#     /v2/health/live and ready answer, the installed mlosd-wait-health agrees, auth is required
#     (the shipped config), all four plugins loaded, a model installed with the installed axon
#     registers and infers through a sandboxed worker with the installed mlos client;
#  5. `dpkg -r` then `--purge` remove it (maintainer scripts run again, chrootless).
# Usage: deb_package_test.sh SOURCE_DIR BUILD_DIR. Needs root (dpkg sets file owners).
set -euo pipefail
src="$1" build="$(cd "$2" && pwd)"
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root: dpkg -i sets owners (CI and make test run as root)"
for tool in cpack dpkg dpkg-deb dpkg-shlibdeps readelf ldd setpriv curl systemd-analyze; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (make setup installs it)"
done
/usr/bin/python3 -c 'import seccomp' 2>/dev/null ||
  fail "Debian's python3-seccomp is not installed (make setup installs it)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/mlos-deb-test.XXXXXX")"
chmod 0755 "$tmp"  # the unprivileged mlosd reads the installed tree below it
mlosd_pid=""
cleanup() {
  if [ -n "$mlosd_pid" ]; then
    kill -KILL "$mlosd_pid" 2>/dev/null
    wait "$mlosd_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# 1. The packages.
start=$SECONDS
if ! (cd "$build" && cpack -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1); then
  tail -n 30 "$tmp/cpack.log" >&2
  fail "cpack failed"
fi
deb="$(ls "$tmp"/pkg/mlos_*_amd64.deb)"
torch_deb="$(ls "$tmp"/pkg/mlos-plugin-torch_*_amd64.deb 2>/dev/null || true)"
ok "cpack made $(basename "$deb")${torch_deb:+ and $(basename "$torch_deb")} in $((SECONDS - start)) s"

depends="$(dpkg-deb -f "$deb" Depends)"
for want in libc6 'libgrpc++1.51' libyaml-cpp0.7 libsqlite3-0 libseccomp2 libarchive13; do
  grep -q "\b$want\b" <<<"$depends" || fail "mlos Depends lacks $want: $depends"
done
! grep -qiE 'onnxruntime|llama|ggml|tensorflow|torch' <<<"$depends" ||
  fail "mlos depends on a bundled runtime or on libtorch: $depends"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/mlos/mlosd.yaml || fail "mlosd.yaml is not a conffile"
if [ -n "$torch_deb" ]; then
  dpkg-deb -f "$torch_deb" Depends | grep -q 'libtorch1.13' ||
    fail "mlos-plugin-torch Depends lacks libtorch1.13: $(dpkg-deb -f "$torch_deb" Depends)"
fi
ok "Depends from dpkg-shlibdeps ($(tr ',' '\n' <<<"$depends" | wc -l) packages), conffile"

# 2. dpkg -i into an empty root.
root="$tmp/root"
admin="$root/var/lib/dpkg"
mkdir -p "$admin/info" "$admin/updates" "$admin/triggers"
: > "$admin/status"
: > "$admin/available"
dpkg_root() { dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null "$@"; }
dpkg_root -i "$deb" ${torch_deb:+"$torch_deb"} >"$tmp/dpkg.log" 2>&1 || {
  cat "$tmp/dpkg.log" >&2
  fail "dpkg -i into $root failed"
}
for p in mlos ${torch_deb:+mlos-plugin-torch}; do
  [ "$(dpkg-query --admindir="$admin" -W -f='${Status}' "$p")" = "install ok installed" ] ||
    fail "$p is not installed: $(cat "$tmp/dpkg.log")"
done
for f in usr/bin/mlosd usr/bin/mlos usr/bin/axon usr/bin/mlos-worker \
    usr/lib/mlos/mlosd-wait-health usr/lib/mlos/plugins/libmlos_onnx.so \
    usr/lib/mlos/plugins/libmlos_llama.so usr/lib/mlos/plugins/libmlos_tflite.so \
    usr/lib/mlos/runtime/libonnxruntime.so.1 usr/lib/systemd/system/mlosd.service \
    usr/lib/systemd/system/mlosd-ready.service usr/lib/sysusers.d/mlos.conf etc/mlos/mlosd.yaml; do
  [ -e "$root/$f" ] || fail "/$f is not installed"
done
[ -z "$torch_deb" ] || [ -e "$root/usr/lib/mlos/plugins/libmlos_torch.so" ] ||
  fail "libmlos_torch.so is not installed"
# The plugin directory holds plugins only: mlosd dlopens every lib*.so there.
extra="$(ls "$root/usr/lib/mlos/plugins" | grep -v '^libmlos_[a-z]*\.so$' || true)"
[ -z "$extra" ] || fail "not plugins in usr/lib/mlos/plugins: $extra"
grep -q '^mlos:' "$root/etc/passwd" || fail "postinst made no mlos user in $root/etc/passwd"
ok "dpkg -i into an empty root: installed, the mlos user made by postinst"

# 3. Every ELF file: no RUNPATH into the trees this was built from; every library found.
elves=0
while IFS= read -r -d '' f; do
  [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
  elves=$((elves + 1))
  runpath="$(readelf -d "$f" | sed -n 's/.*R\(UN\)\{0,1\}PATH.*\[\(.*\)\]/\2/p')"
  while read -r dir; do
    [ -z "$dir" ] || [[ "$dir" == '$ORIGIN'* ]] ||
      fail "${f#"$root"} has RUNPATH $runpath (only \$ORIGIN-relative paths may be installed)"
  done < <(tr ':' '\n' <<<"$runpath")
  libs="$(env -u LD_LIBRARY_PATH ldd "$f" 2>&1)" || fail "ldd ${f#"$root"}: $libs"
  ! grep -q 'not found' <<<"$libs" || fail "${f#"$root"}: $(grep 'not found' <<<"$libs")"
  while read -r path; do
    case "$path" in
      "$root"/* | /lib/* | /lib64/* | /usr/lib/* | /usr/lib64/*) ;;
      *) fail "${f#"$root"} loads $path, outside the installed tree and the system" ;;
    esac
  done < <(sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p' <<<"$libs")
done < <(find "$root/usr" -type f -print0)
[ "$elves" -ge 8 ] || fail "only $elves ELF files installed"
ok "$elves ELF files: RUNPATHs \$ORIGIN-relative, every library resolved from the package or the system"

# 4. The installed mlosd, as the unit would run it.
nobody_uid="$(id -u nobody)" nobody_gid="$(id -g nobody)"
state="$tmp/state" axon_home="$tmp/axon"
mkdir -p "$state" "$axon_home" "$tmp/model"
cp "$build/fixtures/demo_celsius.onnx" "$tmp/model/model.onnx"
chown "$nobody_uid:$nobody_gid" "$state" "$axon_home"
# A sanitizer build (make test-asan): the service's environment keeps the runtime's options, with
# reports in a folder the unprivileged user can write, checked at the end. LeakSanitizer is off
# here: it stops the world with ptrace, which the unit's system-call filter refuses, as it should
# (the other tests check leaks).
san_env=()
if [ -n "${ASAN_OPTIONS:-}" ]; then
  mkdir -m 1777 "$tmp/sanitizer"
  san_env=("ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0:log_path=$tmp/sanitizer/report"
    "UBSAN_OPTIONS=${UBSAN_OPTIONS:-}:log_path=$tmp/sanitizer/report")
fi
as_service() {
  setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups \
    env -i PATH=/usr/bin:/bin HOME=/nonexistent AXON_HOME="$axon_home" "${san_env[@]}" "$@"
}
as_service "$root/usr/bin/axon" install "$tmp/model" --name demo/celsius@1.0.0 >"$tmp/axon.log" 2>&1 ||
  fail "installed axon install: $(cat "$tmp/axon.log")"
# Not through as_service: $! must be mlosd itself (setpriv, env and unit_seccomp.py each exec).
setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups \
  env -i PATH=/usr/bin:/bin HOME=/nonexistent AXON_HOME="$axon_home" "${san_env[@]}" \
  /usr/bin/python3 "$src/tests/deploy/unit_seccomp.py" "$root/usr/lib/systemd/system/mlosd.service" -- \
  "$root/usr/bin/mlosd" --config "$root/etc/mlos/mlosd.yaml" --state-dir "$state" \
  --http 127.0.0.1:0 --grpc 127.0.0.1:0 --ipc "$state/mlosd.sock" --model-root "$axon_home/cache" \
  --isolation process >"$tmp/mlosd.log" 2>&1 &
mlosd_pid=$!
port=""
for _ in $(seq 300); do
  port="$(sed -n 's|^mlosd listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$tmp/mlosd.log")"
  [ -n "$port" ] && break
  kill -0 "$mlosd_pid" 2>/dev/null || { cat "$tmp/mlosd.log" >&2; fail "installed mlosd exited"; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/mlosd.log" >&2; fail "installed mlosd did not listen within 30 s"; }
url="http://127.0.0.1:$port"
code="$(curl -s -o /dev/null -w '%{http_code}' "$url/v2/health/live")"
[ "$code" = 200 ] || fail "GET /v2/health/live: $code"
# The helper as mlosd-ready.service runs it: its own system-call filter, no privileges.
as_service /usr/bin/python3 "$src/tests/deploy/unit_seccomp.py" \
  "$root/usr/lib/systemd/system/mlosd-ready.service" -- \
  "$root/usr/lib/mlos/mlosd-wait-health" --ready --timeout 60 --url "$url" >/dev/null ||
  fail "installed mlosd-wait-health --ready (under mlosd-ready.service's filter)"
! "$root/usr/lib/mlos/mlosd-wait-health" --live --timeout 1 --url http://127.0.0.1:1 2>/dev/null ||
  fail "mlosd-wait-health answered healthy for a closed port"
ok "installed mlosd (shipped config, unit's syscall filter, unprivileged) live and ready on $url"

code="$(curl -s -o /dev/null -w '%{http_code}' "$url/models")"
[ "$code" = 401 ] || fail "GET /models without a token: $code (the shipped config requires auth)"
token="$(cat "$state/admin.token")"
plugins="$("$root/usr/bin/mlos" --url "$url" --token "$token" plugins --json)" ||
  fail "installed mlos plugins: $plugins"
for p in onnx llama tflite ${torch_deb:+torch}; do
  grep -q "\"name\": \"$p\"" <<<"$plugins" || fail "plugin $p not loaded: $plugins
$(grep -i plugin "$tmp/mlosd.log")"
done
ok "auth required, plugins loaded: $(grep -o '"name": "[a-z]*"' <<<"$plugins" | cut -d'"' -f4 | xargs)"

as_service env MLOS_CORE_ENDPOINT="$url" "$root/usr/bin/axon" register demo/celsius@1.0.0 \
  --token "$token" >"$tmp/register.log" 2>&1 || fail "installed axon register: $(cat "$tmp/register.log")"
out="$("$root/usr/bin/mlos" --url "$url" --token "$token" --json infer demo/celsius@1.0.0 \
  -i 'celsius=[37]' 2>&1)" || fail "installed mlos infer: $out"
grep -Eq '98\.(6|59999)' <<<"$out" || fail "37 °C is not 98.6 °F: $out"
status="$("$root/usr/bin/mlos" --url "$url" --token "$token" --json models get demo/celsius@1.0.0)"
grep -q '"isolation": "process"' <<<"$status" || fail "the model did not run sandboxed: $status"
ok "axon install + register, mlos infer through a sandboxed worker: 37 °C = 98.6 °F"

kill -TERM "$mlosd_pid"
rc=0
wait "$mlosd_pid" || rc=$?
mlosd_pid=""
[ "$rc" -eq 0 ] || { tail -n 20 "$tmp/mlosd.log" >&2; fail "mlosd exited $rc on SIGTERM"; }
ok "SIGTERM: drained and exited 0"

# 5. Removal, then purge.
dpkg_root -r ${torch_deb:+mlos-plugin-torch} mlos >"$tmp/dpkg-r.log" 2>&1 ||
  fail "dpkg -r: $(cat "$tmp/dpkg-r.log")"
[ ! -e "$root/usr/bin/mlosd" ] || fail "dpkg -r left /usr/bin/mlosd"
[ -e "$root/etc/mlos/mlosd.yaml" ] || fail "dpkg -r removed the conffile (only --purge may)"
dpkg_root --purge mlos >"$tmp/dpkg-p.log" 2>&1 || fail "dpkg --purge: $(cat "$tmp/dpkg-p.log")"
[ ! -e "$root/etc/mlos/mlosd.yaml" ] || fail "dpkg --purge left /etc/mlos/mlosd.yaml"
ok "dpkg -r keeps the config, --purge removes it"
if [ ${#san_env[@]} -gt 0 ]; then
  "$src/tests/sanitizers/reports.sh" "$tmp/sanitizer" ||
    fail "sanitizer reports from the installed binaries (above)"
  ok "no sanitizer report from the installed binaries"
fi
echo "$passed passed, 0 failed"
