"""kill -9 torture of axon's cache (AXON_HOME in a temporary dir).

Runs `axon install <package dir>`, `axon uninstall ns/name@version` and `axon cache gc` one at
a time and SIGKILLs axon after a random delay scaled to how long that kind of command takes.
An operation is acknowledged when axon exited 0 on its own. After every kill (and every few
acknowledged operations) the cache is checked: `axon --json list` works and lists exactly the
versions the journal says (the killed command: applied or not), `axon verify` passes for each,
every directory that looks like a version is a complete, listed one (no half-published
version), `.refs/latest` names the version the last completing install set; and the next
install of the model the killed command touched succeeds.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import time

from torture_common import BIN, Op, Totals, popen_binary, reconcile, wait_for_binary, write_package

AXON = BIN / "axon"


class Cache:
    def __init__(self, work: pathlib.Path) -> None:
        self.home = work / "axon-home"
        self.root = self.home / "cache"
        self.env = dict(os.environ, AXON_HOME=str(self.home), HF_HUB_OFFLINE="1")

    def start(self, args: list[str]) -> subprocess.Popen:
        return popen_binary([str(AXON), *args], env=self.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)

    def run(self, args: list[str], timeout: float = 300) -> tuple[int, str]:
        p = self.start(args)
        out, err = p.communicate(timeout=timeout)
        return p.returncode, (out + err).decode(errors="replace")


class Packages:
    """Three models, two or three versions each, files of 0.25 to 6 MiB (an install takes long
    enough to be killed inside it); two versions of one model share a file (one blob)."""

    def __init__(self, root: pathlib.Path, rng: random.Random) -> None:
        self.dirs: dict[str, pathlib.Path] = {}
        shared = rng.randbytes(3 << 20)
        plan = {("k", "big"): {"1.0.0": shared, "2.0.0": shared, "3.0.0": rng.randbytes(6 << 20)},
                ("k", "mid"): {"1.0.0": rng.randbytes(1 << 20), "2.0.0": rng.randbytes(2 << 20)},
                ("k", "small"): {"1.0.0": rng.randbytes(256 << 10),
                                 "2.0.0": rng.randbytes(512 << 10)}}
        for (ns, name), versions in plan.items():
            for v, data in versions.items():
                self.dirs[f"{ns}/{name}@{v}"] = write_package(root, ns, name, v, "testing",
                                                              "weights.bin", data)
        self.ids = sorted(self.dirs)


def model_of(mid: str) -> tuple[str, str]:
    name, version = mid.split("@")
    return name, version


def observe(cache: Cache, packages: Packages) -> tuple[dict, list[str]]:
    """The cache as axon and the file system show it, and what is wrong with it whatever the
    journal says."""
    problems: list[str] = []
    facts: dict = {}
    rc, out = cache.run(["--json", "list"])
    if rc != 0:
        return facts, [f"axon list failed ({rc}): {out[:300]}"]
    try:
        listed = json.loads(out[out.index("["):]) if "[" in out else []
    except ValueError:
        return facts, [f"axon --json list printed {out[:300]!r}"]
    ids = [e["id"] for e in listed]
    for mid in ids:
        if mid not in packages.dirs:
            problems.append(f"axon lists an unknown version {mid}")
        facts[("installed", mid)] = True
        rc, vout = cache.run(["verify", mid])
        if rc != 0:
            problems.append(f"axon verify {mid} failed: {vout.strip()[:300]}")
    models = cache.root / "models"
    for ns_dir in sorted(models.glob("*")) if models.exists() else []:
        for model_dir in sorted(ns_dir.glob("*")):
            name = f"{ns_dir.name}/{model_dir.name}"
            for v in sorted(model_dir.iterdir()):
                if v.name.startswith("."):
                    continue  # .refs, .staging-* and .removing-* (cleaned by the next install)
                if f"{name}@{v.name}" not in ids:
                    problems.append(f"{v} looks like a version but is not a complete one "
                                    f"(contents {sorted(p.name for p in v.iterdir())})")
    # What `latest` names, as axon resolves it (`axon verify ns/name`).
    for name in sorted({model_of(i)[0] for i in packages.ids}):
        rc, vout = cache.run(["verify", name])
        if rc == 0 and vout.startswith(f"ok: {name}@"):
            facts[("latest", name)] = vout.split()[1].split("@")[1]
        elif "not installed" not in vout:
            problems.append(f"axon verify {name} (latest): {vout.strip()[:300]}")
    return facts, problems


def leftovers_after_gc(cache: Cache) -> list[str]:
    """`axon cache gc` (nothing running, any age) reclaims whatever the kills left: partial
    files and copies, staging and removing dirs, blobs no version links, temporary refs."""
    rc, out = cache.run(["cache", "gc", "--partial-max-age", "0"])
    if rc != 0:
        return [f"axon cache gc failed ({rc}): {out[:300]}"]
    problems = []
    partial = cache.root / "partial"
    left = sorted(p.name for p in partial.iterdir()) if partial.exists() else []
    if left:
        problems.append(f"after cache gc, partial/ still holds {left[:8]}")
    for p in (cache.root / "models").rglob(".*"):
        if p.name.startswith((".staging-", ".removing-", ".pending-")) or \
                (p.parent.name == ".refs" and p.name.startswith(".")):
            problems.append(f"after cache gc, {p} is left")
    blobs = cache.root / "blobs" / "sha256"
    for b in blobs.iterdir() if blobs.exists() else []:
        if b.stat().st_nlink == 1:
            problems.append(f"after cache gc, blob {b.name[:16]}... is linked by no version")
    return problems


def pick(rng: random.Random, expected: dict, packages: Packages) -> Op:
    installed = [i for i in packages.ids if expected.get(("installed", i))]
    r = rng.random()
    if r < 0.12:
        return Op("gc", (), {})
    if installed and r < 0.45:
        mid = rng.choice(installed)
        name, v = model_of(mid)
        eff = {("installed", mid): None}
        if expected.get(("latest", name)) == v:
            eff[("latest", name)] = None
        return Op("uninstall", (mid,), eff)
    mid = rng.choice(packages.ids)
    name, v = model_of(mid)
    if expected.get(("installed", mid)):
        return Op("install", (mid,), {})  # already installed: a no-op
    return Op("install", (mid,), {("installed", mid): True, ("latest", name): v})


def args_of(op: Op, packages: Packages) -> list[str]:
    if op.kind == "gc":
        return ["cache", "gc", "--partial-max-age", "0"]
    if op.kind == "uninstall":
        return ["uninstall", op.args[0]]
    return ["install", str(packages.dirs[op.args[0]])]


def run(work: pathlib.Path, kills: int, seed: int, log=print) -> Totals:
    rng = random.Random(seed)
    totals = Totals()
    wait_for_binary(AXON)
    cache = Cache(work)
    packages = Packages(work / "axon-packages", rng)
    expected: dict = {}
    durations = {"install": 0.2, "uninstall": 0.05, "gc": 0.05}  # learned as they run
    since_check = 0
    while totals.kills < kills:
        op = pick(rng, expected, packages)
        kill = rng.random() < 0.6
        delay = rng.uniform(0, durations[op.kind] * 1.3)
        started = time.monotonic()
        proc = cache.start(args_of(op, packages))
        killed = False
        if kill:
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
        out, err = proc.communicate(timeout=300)
        elapsed = time.monotonic() - started
        in_flight = None
        if killed:
            totals.kills += 1
            totals.in_flight += 1
            in_flight = op
        else:
            durations[op.kind] = 0.8 * durations[op.kind] + 0.2 * elapsed
            text = (out + err).decode(errors="replace")
            if proc.returncode != 0:
                totals.refused += 1
                totals.inconsistencies.append(f"axon {' '.join(args_of(op, packages))} failed "
                                              f"({proc.returncode}): {text.strip()[:400]}")
                continue
            totals.acked += 1
            effects = op.effects
            if op.kind == "install" and "already installed" in text:
                effects = {}
            for k, v in effects.items():
                if v is None:
                    expected.pop(k, None)
                else:
                    expected[k] = v
            since_check += 1
            if since_check < 5:
                continue
        since_check = 0
        where = f"axon kill {totals.kills}" if killed else f"axon after {totals.acked} ops"
        facts, problems = observe(cache, packages)
        totals.checks += 1
        problems += reconcile(expected, facts, in_flight, where, totals)
        if killed and op.kind != "gc":
            # The next install of the model the killed command touched must succeed.
            mid = op.args[0]
            rc, text = cache.run(["install", str(packages.dirs[mid])])
            if rc != 0:
                problems.append(f"{where}: install {mid} after the kill failed: {text[:300]}")
            elif "already installed" not in text:
                expected[("installed", mid)] = True
                expected[("latest", model_of(mid)[0])] = model_of(mid)[1]
            else:
                expected[("installed", mid)] = True
        if problems:
            log(f"{where}: {op.describe()} {'killed' if killed else 'completed'}")
            for p in problems:
                log("  INCONSISTENT " + p)
            totals.inconsistencies += problems
            if len(totals.inconsistencies) > 50:
                break
        elif killed and totals.kills % 20 == 0:
            log(totals.line(f"axon after {totals.kills} kills"))
    facts, problems = observe(cache, packages)
    totals.checks += 1
    problems += reconcile(expected, facts, None, "axon final", totals)
    problems += leftovers_after_gc(cache)
    totals.inconsistencies += problems
    shutil.rmtree(cache.home, ignore_errors=True)
    return totals
