#!/usr/bin/env bash
# ctest deploy_systemd_unit: deploy/systemd/mlosd.service and mlosd-ready.service pass
# `systemd-analyze verify` with no diagnostic at all (verify exits 0 on unknown keys and bad
# values, printing a warning: any output fails here), mlosd.service keeps its hardening
# (`systemd-analyze security --offline` exposure at most 3.5) and sets none of the options that
# break the sandboxed workers (docs/deploy.md), and a broken copy of the unit is caught.
#
# The units are verified inside a scratch root laid out as the .deb installs them, with the real
# mlosd and the helper, and the host's own units beside them (sysinit.target, ...): verify checks
# every ExecStart= executable. Nothing outside the scratch root is touched.
# Usage: systemd_unit_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src="$1" build="$2"
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null ||
  fail "systemd-analyze is not installed (Debian package systemd; make setup installs it)"
[ -x "$build/bin/mlosd" ] || fail "$build/bin/mlosd is not built"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/mlos-unit-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
units="$root/usr/lib/systemd/system"
mkdir -p "$root/usr/bin" "$root/usr/lib/mlos" "$units"
for d in /usr/lib/systemd/system /lib/systemd/system; do
  [ -d "$d" ] && cp -a "$d/." "$units/"
done
cp "$build/bin/mlosd" "$root/usr/bin/mlosd"
cp "$(readlink -f /bin/sh)" "$root/usr/bin/sh"  # ExecReload=/bin/sh ...; bin -> usr/bin as on Debian 12
ln -s usr/bin "$root/bin"
install -m 0755 "$src/deploy/systemd/mlosd-wait-health" "$root/usr/lib/mlos/mlosd-wait-health"

# verify UNIT_FILE...: the units must load with no message at all.
verify() {
  local out rc=0
  out="$(systemd-analyze verify --root="$root" --man=no "$@" 2>&1)" || rc=$?
  printf '%s' "$out"
  [ $rc -eq 0 ] && [ -z "$out" ]
}

passed=0
cp "$src/deploy/systemd/mlosd.service" "$src/deploy/systemd/mlosd-ready.service" "$units/"
if ! out="$(verify "$units/mlosd.service" "$units/mlosd-ready.service")"; then
  fail "systemd-analyze verify: $out"
fi
echo "ok: systemd-analyze verify mlosd.service mlosd-ready.service"
passed=$((passed + 1))

# Hardening: exposure 0.0 (best) .. 10.0; the unit scores 3.0 (docs/deploy.md).
sec="$(systemd-analyze security --offline=true --root="$root" --threshold=35 \
  "$units/mlosd.service" 2>&1)" || fail "mlosd.service exposure over 3.5:
$(grep -E '✗|Overall' <<<"$sec")"
echo "ok: $(grep -o 'Overall exposure level.*' <<<"$sec")"
passed=$((passed + 1))

# Options that would break the sandboxed workers (isolation: process | strict) and those the
# workers need. Each line: KEY and the value it must not have (!) or must have (=).
while read -r rule; do
  key="${rule%%[=!]*}" op="${rule:${#key}:1}" want="${rule:${#key}+1}"
  have="$(sed -n "s/^$key=//p" "$units/mlosd.service" | tail -n 1)"
  case "$op" in
    '!') [ "$have" != "$want" ] || fail "mlosd.service sets $key=$want, which breaks the sandbox" ;;
    '=') [ "$have" = "$want" ] || fail "mlosd.service: $key is '$have', the sandbox needs '$want'" ;;
  esac
done <<'EOF'
ProtectKernelTunables!yes
ProtectKernelLogs!yes
ProtectControlGroups!yes
ProtectProc!invisible
ProcSubset!pid
MemoryDenyWriteExecute!yes
PrivateUsers!yes
RestrictNamespaces=user mnt pid net ipc uts
Delegate=yes
NoNewPrivileges=yes
ProtectSystem=strict
StateDirectory=mlos
Type=exec
EOF
echo "ok: no option that breaks the sandbox, the ones it needs are set"
passed=$((passed + 1))

# The check can fail: a misspelt key, a bad value, a missing executable are each reported.
cp "$units/mlosd.service" "$tmp/good.service"
for broken in 's/^ProtectSystem=strict/ProtectSytem=strict/' 's/^ProtectHome=yes/ProtectHome=bogus/' \
    's|^ExecStart=/usr/bin/mlosd|ExecStart=/usr/bin/mlosd-missing|'; do
  sed "$broken" "$tmp/good.service" > "$units/mlosd.service"
  if verify "$units/mlosd.service" >/dev/null; then
    fail "verify accepted a broken unit ($broken)"
  fi
done
cp "$tmp/good.service" "$units/mlosd.service"
echo "ok: broken units are rejected"
passed=$((passed + 1))
echo "$passed passed, 0 failed"
