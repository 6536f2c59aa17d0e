"""The checkers of the torture must catch broken states (ctest `torture_selftest`): a real
registry made by mlosd and a real cache made by axon are broken on purpose, in copies, one way
at a time, and each break must be reported. A torture whose checker saw nothing would pass
without proving anything."""

from __future__ import annotations

import pathlib
import random
import shutil
import sqlite3
import sys
import tempfile

import axon_torture
import mlosd_torture
from torture_common import Op, reconcile

FAILURES: list[str] = []


def expect(what: str, problems: list[str], needle: str) -> None:
    hit = any(needle in p for p in problems)
    print(f"  {'ok ' if hit else 'MISSED'} {what}: {problems[:2] if problems else 'nothing'}")
    if not hit:
        FAILURES.append(f"{what}: no problem mentioning {needle!r} in {problems}")


def registry_checks(work: pathlib.Path) -> None:
    d = mlosd_torture.Mlosd(work / "registry")
    u = mlosd_torture.Universe(work / "registry" / "packages")
    d.spawn()
    d.start()
    admin = (d.state / "admin.token").read_text().strip()
    for mid in ("t/a@1.0.0", "t/a@2.0.0"):
        status, doc = d.call("POST", "/models/register", {"model_id": mid, "path": str(u.paths[mid])},
                             admin)
        assert status == 200, doc
    assert d.call("POST", "/models/t%2Fa/alias", {"alias": "prod", "version": "2.0.0"}, admin)[0] == 200
    assert d.call("POST", "/models/t%2Fa%402.0.0/pin", {}, admin)[0] == 200
    d.kill()
    good, problems = mlosd_torture.observe_db(d.state, work / "copy", u)
    print(f"  registry as made: {len(good)} facts, problems {problems}")
    if problems or ("alias", "t/a", "prod") not in good:
        FAILURES.append(f"the intact registry reads wrong: {good} {problems}")

    def broken(sql: str) -> list[str]:
        shutil.rmtree(work / "broken", ignore_errors=True)
        shutil.copytree(work / "copy", work / "broken")
        db = sqlite3.connect(work / "broken" / "registry.db")
        db.execute(sql)
        db.commit()
        db.close()
        return mlosd_torture.observe_db(work / "broken", work / "copy2", u)[1]

    expect("alias to an unregistered version",
           broken("DELETE FROM models WHERE id = 't/a@2.0.0'"), "alias t/a@prod -> 2.0.0")
    expect("default on a missing version",
           broken("UPDATE defaults SET version = '9.9.9'"), "default of t/a is 9.9.9")
    expect("a name without a default", broken("DELETE FROM defaults"), "but no default")
    expect("a pin on a missing model", broken("INSERT INTO pins(id) VALUES('t/a@3.0.0')"),
           "pin on t/a@3.0.0")
    # Page damage: a copy with bytes in its second page overwritten.
    shutil.rmtree(work / "broken", ignore_errors=True)
    shutil.copytree(work / "copy", work / "broken")
    db = sqlite3.connect(work / "broken" / "registry.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    raw = bytearray((work / "broken" / "registry.db").read_bytes())
    page = int.from_bytes(raw[16:18], "big") or 65536
    for i in range(page + 8, min(len(raw), page * 3), 7):
        raw[i] = 0xA5
    (work / "broken" / "registry.db").write_bytes(bytes(raw))
    probs = mlosd_torture.observe_db(work / "broken", work / "copy2", u)[1]
    expect("damaged pages", probs, "integrity_check" if any("integrity" in p for p in probs)
           else "unreadable")

    # The audit log: as made it holds the acknowledged operations; a half line glued to the
    # next record and a missing record are caught.
    acked = {("register", "t/a@1.0.0"): 1, ("register", "t/a@2.0.0"): 1,
             ("alias", "t/a@prod"): 1, ("pin", "t/a@2.0.0"): 1}
    audit_problems = mlosd_torture.check_audit(d.state, acked)
    print(f"  audit log as made: problems {audit_problems}")
    if audit_problems:
        FAILURES.append(f"the intact audit log reads wrong: {audit_problems}")
    audit = work / "audit-copy"
    audit.mkdir()
    lines = (d.state / "audit.log").read_bytes().split(b"\n")
    (audit / "audit.log").write_bytes(b"\n".join([lines[0][:40] + lines[1]] + lines[2:]))
    expect("a half line in the audit log", mlosd_torture.check_audit(audit, {}), "not JSON")
    expect("an acknowledged operation not audited",
           mlosd_torture.check_audit(d.state, {("unregister", "t/a@1.0.0"): 1}),
           "0 ok records of ('unregister', 't/a@1.0.0')")

    # The journal: an acknowledged register that is missing, a half-applied unregister.
    expected = dict(good)
    expected[("reg", "t/m@1.0.0")] = True
    expect("an acknowledged register lost", reconcile(expected, dict(good), None, "self"),
           "('reg', 't/m@1.0.0') is None, expected True")
    expected = dict(good)
    op = Op("unregister", ("t/a@2.0.0",), {("reg", "t/a@2.0.0"): None, ("pin", "t/a@2.0.0"): None,
                                           ("alias", "t/a", "prod"): None})
    half = dict(good)
    del half[("reg", "t/a@2.0.0")]
    expect("an in-flight unregister half applied", reconcile(expected, half, op, "self"),
           "half-applied")


def cache_checks(work: pathlib.Path) -> None:
    cache = axon_torture.Cache(work)
    packages = axon_torture.Packages(work / "packages", random.Random(1))
    mid = "k/small@1.0.0"
    rc, out = cache.run(["install", str(packages.dirs[mid])])
    assert rc == 0, out
    good, problems = axon_torture.observe(cache, packages)
    print(f"  cache as made: {good}, problems {problems}")
    if problems or good.get(("latest", "k/small")) != "1.0.0":
        FAILURES.append(f"the intact cache reads wrong: {good} {problems}")
    vdir = cache.root / "models" / "k" / "small" / "1.0.0"
    half = vdir.parent / "2.0.0"
    half.mkdir()
    shutil.copy(vdir / "manifest.yaml", half / "manifest.yaml")
    expect("a half-published version", axon_torture.observe(cache, packages)[1],
           "is not a complete one")
    shutil.rmtree(half)
    # Tamper with the installed file (a private copy, so the blob store stays as it is).
    f = vdir / "weights.bin"
    data = bytearray(f.read_bytes())
    f.unlink()
    data[100] ^= 0xFF
    f.write_bytes(bytes(data))
    expect("a damaged installed file", axon_torture.observe(cache, packages)[1], "verify")
    # What kills leave behind, which `cache gc` must reclaim; then something it must not touch
    # (an unknown file), which the leftover check must report.
    model_dir = vdir.parent
    (cache.root / "partial" / "copy-AbC123").mkdir(parents=True)
    (cache.root / "partial" / "copy-AbC123" / "f").write_bytes(b"x" * 1000)
    (model_dir / ".staging-XyZ987").mkdir()
    (model_dir / ".refs" / ".pending-latest").write_text("9.9.9\n")
    (model_dir / ".refs" / ".latest.tmpQwE456").write_text("9.9")
    orphan = cache.root / "blobs" / "sha256" / ("0" * 64)
    orphan.write_bytes(b"orphan")
    left = axon_torture.leftovers_after_gc(cache)
    print(f"  leftovers of kills after gc: {left}")
    if left:
        FAILURES.append(f"cache gc left what kills leave: {left}")
    (cache.root / "partial" / "junk").write_text("?")
    expect("something gc leaves", axon_torture.leftovers_after_gc(cache), "partial/ still holds")
    (cache.root / "partial" / "junk").unlink()
    expected = {("installed", mid): True, ("latest", "k/small"): "1.0.0"}
    (vdir.parent / ".refs" / "latest").write_text("0.0.1\n")
    facts, _ = axon_torture.observe(cache, packages)
    expect("latest lost", reconcile(expected, facts, None, "self"), "('latest', 'k/small')")


def main() -> int:
    work = pathlib.Path(tempfile.mkdtemp(prefix="mlos-torture-selftest-"))
    try:
        print("registry checker:")
        registry_checks(work / "mlosd")
        print("cache checker:")
        cache_checks(work / "axon")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in FAILURES:
        print("SELF-TEST FAILURE: " + f)
    print("RESULT: " + ("FAIL" if FAILURES else "PASS"))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
