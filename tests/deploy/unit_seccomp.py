#!/usr/bin/python3
"""Runs a command under the seccomp filters a systemd unit's settings would give it.

Usage: unit_seccomp.py UNIT_FILE -- COMMAND [ARG...]

No systemd runs the deploy tests (CI has no systemd as PID 1), so deb_package_test.sh starts the
installed mlosd through this: what mlosd.service's SystemCallFilter=, SystemCallErrorNumber=,
RestrictAddressFamilies= and NoNewPrivileges= say, loaded with libseccomp (Debian's
python3-seccomp) as systemd 252 does, then exec. The groups (@system-service, ...) are expanded
by `systemd-analyze syscall-filter`, the same tables systemd uses. The sandboxed workers mlosd
starts inherit the filters, as they would under systemd. Namespace, mount and cgroup settings are
not emulated (systemd_unit_test.sh checks those against the sandbox's needs).
"""
import errno
import os
import re
import subprocess
import sys

import seccomp


def unit_values(path, key):
    values = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^%s=(.*)$" % re.escape(key), line.strip())
            if m:
                values.append(m.group(1).strip())
    return values


def expand(names, seen=None):
    """System call names of a list of names and @groups, groups expanded recursively."""
    seen = set() if seen is None else seen
    calls = set()
    for name in names:
        if not name.startswith("@"):
            calls.add(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                             check=True, capture_output=True, text=True).stdout
        members = [l.strip() for l in out.splitlines()[1:]
                   if l.startswith(" ") and not l.strip().startswith("#") and l.strip()]
        calls |= expand(members, seen)
    return calls


def syscall_filter(unit):
    allowed, denied = set(), set()
    for value in unit_values(unit, "SystemCallFilter"):
        if not value:
            allowed, denied = set(), set()
        elif value.startswith("~"):
            denied |= expand(value[1:].split())
        else:
            allowed |= expand(value.split())
    if not allowed:
        sys.exit("unit_seccomp: %s sets no SystemCallFilter= allow list" % unit)
    action = seccomp.ERRNO(errno.EPERM)
    numbers = unit_values(unit, "SystemCallErrorNumber")
    if not numbers or numbers[-1] not in ("EPERM", str(errno.EPERM)):
        action = seccomp.KILL_PROCESS  # systemd's default for a call outside the list
    f = seccomp.SyscallFilter(defaction=action)
    for name in sorted(allowed - denied):
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            pass  # a name this architecture does not have (systemd skips those too)
    return f


def address_families(unit):
    values = unit_values(unit, "RestrictAddressFamilies")
    if not values:
        return None
    import socket
    allowed = {int(getattr(socket, fam)) for fam in values[-1].split()}
    # socket() with any other family fails with EAFNOSUPPORT, as with systemd.
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for family in range(0, 46):
        if family not in allowed:
            f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
                       seccomp.Arg(0, seccomp.EQ, family))
    return f


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: unit_seccomp.py UNIT_FILE -- COMMAND [ARG...]")
    unit, command = sys.argv[1], sys.argv[3:]
    filters = [syscall_filter(unit)]
    families = address_families(unit)
    if families is not None:
        filters.append(families)
    # Loading a filter without privileges needs no_new_privs; the unit asks for it anyway.
    if unit_values(unit, "NoNewPrivileges")[-1:] != ["yes"]:
        sys.exit("unit_seccomp: %s does not set NoNewPrivileges=yes" % unit)
    for f in reversed(filters):
        f.load()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
