#!/usr/bin/env python3
"""The kill -9 torture (docs/reliability.md, "Crash consistency"): mlosd's registry and axon's
cache under SIGKILL at random moments. Prints a summary and exits 1 on any inconsistency.

  torture.py --short                 # the ctest `torture_short`: 20 mlosd kills, 10 axon kills
  torture.py --kills 200 --axon-kills 200   # `make torture TORTURE_KILLS=200`
  torture.py --self-test             # the checkers catch broken states (ctest `torture_selftest`)

MLOS_BUILD_DIR names the build directory (default <repo>/build).
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import axon_torture  # noqa: E402
import mlosd_torture  # noqa: E402
import torture_selftest  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--short", action="store_true", help="CI mode: 20 + 10 kills, 3 first starts")
    ap.add_argument("--kills", type=int, default=200, help="SIGKILLs of mlosd")
    ap.add_argument("--axon-kills", type=int, default=200, help="SIGKILLs of axon")
    ap.add_argument("--bootstrap-kills", type=int, default=20,
                    help="first starts (fresh state dir) killed at a random moment")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    ap.add_argument("--work", type=pathlib.Path, default=None, help="work dir (default: temp)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--self-test", action="store_true", help="check the checkers, then exit")
    a = ap.parse_args()
    if a.self_test:
        return torture_selftest.main()
    if a.short:
        a.kills, a.axon_kills, a.bootstrap_kills = 20, 10, 3
    seed = a.seed if a.seed is not None else int(time.time())
    work = a.work or pathlib.Path(tempfile.mkdtemp(prefix="mlos-torture-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"torture: seed {seed}, work dir {work}", flush=True)
    t0 = time.monotonic()

    def log(line: str) -> None:
        print(line, flush=True)

    failed = False
    try:
        m = mlosd_torture.run(work / "mlosd", a.kills, a.bootstrap_kills, seed, log)
        t1 = time.monotonic()
        x = axon_torture.run(work / "axon", a.axon_kills, seed + 1, log)
        t2 = time.monotonic()
        print(f"\n== kill -9 torture summary (seed {seed}) ==")
        print(m.line("mlosd") + f" [{t1 - t0:.0f} s]")
        print(x.line("axon ") + f" [{t2 - t1:.0f} s]")
        for what, t in (("mlosd", m), ("axon", x)):
            for p in t.inconsistencies:
                print(f"{what} INCONSISTENCY: {p}")
        failed = bool(m.inconsistencies or x.inconsistencies)
        print("RESULT: " + ("FAIL" if failed else "PASS") + f" (total {t2 - t0:.0f} s)")
    finally:
        if a.keep or failed:
            print(f"torture: work dir kept: {work}")
        elif a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
