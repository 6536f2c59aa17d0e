"""Round trip over unix:// shared memory: the Python SDK against the C++ SDK, same daemon, same
model, same path (not a test: a measurement, reported in docs/python.md).

Starts mlosd from the build (python/tests/mlosd_harness.py), installs an ONNX Identity on
float32 [16 Mi] (64 MiB in, 64 MiB out) and the tiny mlp fixture, then alternates rounds of:

  python-shm       mlos.Client("unix://..."): the input lives in the client's shared memory
                   (Client.allocate), the output comes back as a view of it: nothing copied on
                   the client, the same path as the C++ run below
  python-copy      the same with an ordinary numpy input (copied into shared memory per call)
  cpp-shm          build/bin/mlos-bench --target ipc-shm (the C++ SDK; input and output in a
                   registered memfd region)

and prints the p50 of each (µs) and the Python/C++ ratio. Usage, with the project's venv:

    .venv/bin/python python/bench/ipc_roundtrip.py [--rounds 3] [--requests 200] [--cpu 0]

--cpu N pins mlosd and both clients to one CPU (taskset), as bench/mlosd/protocols.sh does.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import mlos  # noqa: E402
from mlosd_harness import BUILD, Daemon, Package, onnx_package  # noqa: E402
from onnx_model import identity  # noqa: E402

BIG = 16 << 20


def python_p50(client: mlos.Client, model: str, inputs: dict[str, np.ndarray], n: int) -> float:
    for _ in range(max(3, n // 10)):
        client.infer(model, inputs)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = client.infer(model, inputs)
        times.append(time.perf_counter() - t0)
        del out
    return statistics.median(times) * 1e6


def cpp_p50(socket: str, onnx: pathlib.Path, model: str, n: int, cpu: str | None,
            shape: str | None) -> float:
    cmd = [str(BUILD / "bin" / "mlos-bench"), "--target", "ipc-shm", "--url", f"unix://{socket}",
           "--onnx", str(onnx), "--model", model, "--requests", str(n), "--warmup", "0.5"]
    if shape:
        cmd += ["--shape", shape]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu] + cmd
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    latency = result.get("latency_us", result.get("latency", {}))
    return float(latency["p50"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--small-requests", type=int, default=3000)
    ap.add_argument("--cpu", default=None)
    args = ap.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {int(args.cpu)})
    with tempfile.TemporaryDirectory(prefix="mlos-py-bench-") as tmp:
        d = Daemon(pathlib.Path(tmp))
        if args.cpu is not None:
            import mlosd_harness
            real = mlosd_harness.MLOSD
            wrapper = pathlib.Path(tmp) / "mlosd-pinned"
            wrapper.write_text(f"#!/bin/sh\nexec taskset -c {args.cpu} {real} \"$@\"\n")
            wrapper.chmod(0o755)
            mlosd_harness.MLOSD = wrapper
        d.start()
        try:
            big = Package("ident64m", identity([BIG]))
            big_id = d.install(big)
            big_onnx = pathlib.Path(tmp) / "ident64m.onnx"
            big_onnx.write_bytes(big.contents)
            mlp_id = d.install(onnx_package("mlp", "mlp.onnx"))
            with mlos.Client(d.urls["unix"]) as c:
                resident = c.allocate(BIG, np.float32)
                resident[:] = 1.5
                plain = np.full(BIG, 1.5, np.float32)
                small = {"input": np.full((1, 16), 0.1, np.float32)}
                rows: dict[str, list[float]] = {k: [] for k in (
                    "python-shm", "python-copy", "cpp-shm", "small python-shm",
                    "small cpp-shm")}
                for _ in range(args.rounds):
                    rows["python-shm"].append(
                        python_p50(c, big_id, {"input": resident}, args.requests))
                    rows["python-copy"].append(
                        python_p50(c, big_id, {"input": plain}, args.requests))
                    rows["cpp-shm"].append(cpp_p50(str(d.socket), big_onnx, big_id,
                                                   args.requests, args.cpu, None))
                    rows["small python-shm"].append(
                        python_p50(c, mlp_id, small, args.small_requests))
                    rows["small cpp-shm"].append(cpp_p50(
                        str(d.socket), BUILD / "fixtures" / "mlp.onnx", mlp_id,
                        args.small_requests, args.cpu, "input=1,16"))
        finally:
            d.stop()
    print(f"rounds of {args.requests} (64 MiB) / {args.small_requests} (mlp) requests, "
          f"concurrency 1, p50 µs per round, then the median of the rounds")
    med = {k: statistics.median(v) for k, v in rows.items()}
    for k, v in rows.items():
        print(f"  {k:18s} {' '.join(f'{x:10.1f}' for x in v)}   median {med[k]:10.1f}")
    print(f"64 MiB Identity, python-shm / cpp-shm: {med['python-shm'] / med['cpp-shm']:.2f}x; "
          f"python-copy / cpp-shm: {med['python-copy'] / med['cpp-shm']:.2f}x")
    print(f"mlp (tiny), python-shm / cpp-shm: "
          f"{med['small python-shm'] / med['small cpp-shm']:.2f}x")


if __name__ == "__main__":
    main()
