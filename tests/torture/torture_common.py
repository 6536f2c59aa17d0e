"""What the kill -9 tortures share: paths of the build, package dirs, the journal of operations,
the comparison of an expected registry with an observed one, and the summary.

An operation is *acknowledged* only when its success answer was received in full; the one
operation in flight when the process was killed may be applied or not, but never in part.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import subprocess
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MLOS_BUILD_DIR", REPO / "build"))
BIN = BUILD / "bin"
FIXTURES = BUILD / "fixtures"


class _Any:
    """A fact the client cannot predict (e.g. the default chosen after the default version is
    unregistered): learned from the next observation, which the invariants still check."""

    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()


def wait_for_binary(path: pathlib.Path, timeout: float = 300.0) -> None:
    """Others may relink the build while the torture runs: a missing binary is waited for."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and os.access(path, os.X_OK)):
        if time.monotonic() > deadline:
            raise SystemExit(f"torture: {path} is missing (build it first)")
        time.sleep(0.5)


def popen_binary(args: list[str], timeout: float = 300.0, **kw) -> subprocess.Popen:
    """Popen that waits out a binary being relinked (ETXTBSY, ENOEXEC while it is written)."""
    deadline = time.monotonic() + timeout
    while True:
        wait_for_binary(pathlib.Path(args[0]), timeout)
        try:
            return subprocess.Popen(args, **kw)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def binary_stamp(path: pathlib.Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def write_package(root: pathlib.Path, ns: str, name: str, version: str, framework: str,
                  file_name: str, contents: bytes) -> pathlib.Path:
    """A model package dir: manifest.yaml (with sizes and sha256) and one model file."""
    d = root / f"{ns}-{name}-{version}"
    d.mkdir(parents=True, exist_ok=True)
    (d / file_name).write_bytes(contents)
    sha = hashlib.sha256(contents).hexdigest()
    (d / "manifest.yaml").write_text(
        f"apiVersion: axon.mlos.io/v1\nkind: Model\nmetadata:\n  name: {name}\n"
        f"  namespace: {ns}\n  version: {version}\nspec:\n  framework:\n    name: {framework}\n"
        f"  format:\n    type: {framework}\n    execution_format: {framework}\n    files:\n"
        f"      - path: {file_name}\n        size: {len(contents)}\n        sha256: {sha}\n"
        f"    execution_files:\n      - path: {file_name}\n        format: {framework}\n"
        f"        type: single\n")
    return d


@dataclasses.dataclass
class Op:
    """One operation of the journal. `effects` maps a fact to its value once the op is applied
    (ANY: unpredictable); `loose` facts may change with it or not, independently (a set default
    persists "load this version" in one transaction and the default in the next)."""
    kind: str
    args: tuple
    effects: dict
    loose: frozenset = frozenset()
    state: str = "started"  # started | acked | refused
    answer: object = None

    def describe(self) -> str:
        return f"{self.kind}{self.args}"


class Journal:
    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, op: Op) -> Op:
        self.ops.append(op)
        return op


@dataclasses.dataclass
class Totals:
    kills: int = 0
    acked: int = 0
    refused: int = 0
    in_flight: int = 0
    in_flight_applied: int = 0
    in_flight_not_applied: int = 0
    checks: int = 0
    inconsistencies: list[str] = dataclasses.field(default_factory=list)

    def line(self, what: str) -> str:
        return (f"{what}: kills {self.kills}, ops acknowledged {self.acked}, refused {self.refused}, "
                f"in flight at kill {self.in_flight} (applied {self.in_flight_applied}, not "
                f"applied {self.in_flight_not_applied}), checks {self.checks}, inconsistencies "
                f"{len(self.inconsistencies)}")


def reconcile(expected: dict, observed: dict, in_flight: Op | None, where: str,
              totals: Totals | None = None) -> list[str]:
    """Compares the expected facts with the observed ones (both dicts over the same universe of
    fact keys; a key missing from `observed` reads as None), learns the unpredictable ones, and
    updates `expected` to what was observed. Returns the inconsistencies found."""
    problems: list[str] = []
    keys = set(expected) | set(observed)
    touched: set = set()
    if in_flight is not None:
        applied, not_applied = [], []
        for k, new in in_flight.effects.items():
            touched.add(k)
            old = expected.get(k)
            seen = observed.get(k)
            if new is ANY or old is ANY or k in in_flight.loose:
                if k in in_flight.loose and new is not ANY and old is not ANY and seen not in (old, new):
                    problems.append(f"{where}: {k} is {seen!r}, neither {old!r} (before "
                                    f"{in_flight.describe()}) nor {new!r} (after it)")
                continue
            if new == old:
                if seen != old:
                    problems.append(f"{where}: {k} is {seen!r}, expected {old!r} (in flight "
                                    f"{in_flight.describe()} leaves it unchanged)")
                continue
            if seen == new:
                applied.append(k)
            elif seen == old:
                not_applied.append(k)
            else:
                problems.append(f"{where}: {k} is {seen!r}, neither {old!r} (before "
                                f"{in_flight.describe()}) nor {new!r} (after it)")
        if applied and not_applied:
            problems.append(f"{where}: {in_flight.describe()} half-applied: applied {applied}, "
                            f"not applied {not_applied}")
        if totals is not None:
            if applied and not not_applied:
                totals.in_flight_applied += 1
            elif not_applied and not applied:
                totals.in_flight_not_applied += 1
    for k in sorted(keys - touched, key=repr):
        want = expected.get(k)
        seen = observed.get(k)
        if want is ANY:
            continue
        if want != seen:
            problems.append(f"{where}: {k} is {seen!r}, expected {want!r} (acknowledged ops)")
    expected.clear()
    expected.update({k: v for k, v in observed.items() if v is not None})
    return problems


def dump_json(path: pathlib.Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, default=repr))
