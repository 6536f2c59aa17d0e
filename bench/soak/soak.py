#!/usr/bin/env python3
"""The soak (make soak SOAK_MINUTES=N; docs/reliability.md, "Soak").

Starts the real mlosd (HTTP, gRPC and IPC) with two versions of a model from a Triton-layout
repository, measures what the four front-ends sustain together (closed loop), then drives each at
80 % of that rate (open loop, mlos-bench in 20 s windows) for N minutes while a management loop
switches the default version, unloads the version just left and loads it again. Every 5 s it
samples mlosd's resident memory, open descriptors and threads. It fails on any request error,
on a management call that fails, or when memory or descriptors grow by 5 % or more from just
after the warm-up to the end. Writes OUT/soak.json, OUT/soak.png (gnuplot) and the "Soak"
section of docs/reliability.md (between its soak markers) when --doc is given.

Standard library only; run with any python3 >= 3.9.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

TARGETS = ["http-json", "http-binary", "grpc", "ipc-shm"]
WINDOW_S = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(base, method, path, body=None, timeout=120):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def model_path(mid):
    return "/models/" + urllib.parse.quote(mid, safe="")


class Daemon:
    def __init__(self, build, work, model):
        self.build, self.work = build, work
        repo = os.path.join(work, "repo", "mlp")
        for v in ("1", "2"):
            os.makedirs(os.path.join(repo, v), exist_ok=True)
            shutil.copy(model, os.path.join(repo, v, "model.onnx"))
        self.http_port, self.grpc_port = free_port(), free_port()
        self.sock = os.path.join(work, "mlosd.sock")
        self.log = open(os.path.join(work, "mlosd.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(build, "bin", "mlosd"), "--http", f"127.0.0.1:{self.http_port}",
             "--grpc", f"127.0.0.1:{self.grpc_port}", "--ipc", self.sock,
             "--state-dir", os.path.join(work, "state"),
             "--model-repository", os.path.join(work, "repo")],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        for line in self.proc.stdout:
            if line.startswith("mlosd listening on"):
                break
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.http_port}"
        for _ in range(600):
            if http(self.base, "GET", "/v2/health/ready")[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("mlosd did not become ready; see " + self.log.name)

    def url(self, target):
        if target.startswith("http"):
            return self.base
        if target == "grpc":
            return f"grpc://127.0.0.1:{self.grpc_port}"
        return "unix://" + self.sock

    def sample(self):
        pid = self.proc.pid
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return {"rss_mib": int(fields["VmRSS"].split()[0]) / 1024.0,
                "fds": len(os.listdir(f"/proc/{pid}/fd")),
                "threads": int(fields["Threads"])}

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code


def bench(build, daemon, model, target, args):
    cmd = [os.path.join(build, "bin", "mlos-bench"), "--target", target,
           "--url", daemon.url(target), "--onnx", model, "--model", "local/mlp"] + args
    out = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"errors": 1, "first_error": (out.stderr or "no output").strip()[-300:],
                "requests": 0, "throughput_rps": 0, "latency_us": {"p50": 0, "p99": 0},
                "dropped": 0}
    return json.loads(lines[-1])


def capacity(build, daemon, model, seconds):
    """Closed loop, all four targets at once (they share the CPUs), 4 clients each."""
    got = {}

    def run(t):
        got[t] = bench(build, daemon, model, t, ["--mode", "closed", "--concurrency", "4",
                                                 "--duration", str(seconds), "--warmup", "2"])
    threads = [threading.Thread(target=run, args=(t,)) for t in TARGETS]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {t: got[t]["throughput_rps"] for t in TARGETS}


def manage(daemon, stop, events, period):
    """Default switches between the two versions; the version left is unloaded and loaded."""
    current = "2.0.0"
    while not stop.wait(period):
        other = "1.0.0" if current == "2.0.0" else "2.0.0"
        t0 = time.time()
        for step, (method, mid, what) in enumerate([
                ("POST", f"local/mlp@{other}", "load"),
                ("POST", f"local/mlp@{other}", "default"),
                ("POST", f"local/mlp@{current}", "unload"),
                ("POST", f"local/mlp@{current}", "load")]):
            code, body = http(daemon.base, method, model_path(mid) + "/" + what)
            events.append({"t": round(time.time(), 3), "op": f"{what} {mid}", "status": code,
                           "error": body.get("error", "") if code != 200 else ""})
        current = other
        events.append({"t": round(time.time(), 3), "op": "cycle", "status": 200,
                       "seconds": round(time.time() - t0, 3), "error": ""})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--out", required=True)
    ap.add_argument("--doc", help="docs/reliability.md to update")
    ap.add_argument("--load", type=float, default=0.8, help="fraction of the measured capacity")
    ap.add_argument("--note", default="", help="a sentence for the doc about the run's machine")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.makedirs(a.out, exist_ok=True)
    model = os.path.join(build, "fixtures", "mlp.onnx")
    work = tempfile.mkdtemp(prefix="mlos-soak-")
    daemon = Daemon(build, work, model)
    try:
        cap = capacity(build, daemon, model, 10 if a.minutes >= 5 else 4)
        rates = {t: max(1, int(cap[t] * a.load)) for t in TARGETS}
        print(f"soak: capacity (closed loop, together) {cap}; driving at {rates} req/s "
              f"for {a.minutes} min", flush=True)
        start = time.time()
        end = start + a.minutes * 60
        windows, samples, events = [], [], []
        stop = threading.Event()

        def drive(t):
            while time.time() < end - 1:
                w = min(WINDOW_S, max(1, int(end - time.time())))
                r = bench(build, daemon, model, t, ["--mode", "open", "--rate", str(rates[t]),
                                                    "--concurrency", "32", "--duration", str(w),
                                                    "--warmup", "0"])
                r["t"] = round(time.time() - start, 1)
                r["target"] = t
                windows.append(r)

        def sampler():
            while not stop.wait(5):
                s = daemon.sample()
                s["t"] = round(time.time() - start, 1)
                samples.append(s)
        drivers = [threading.Thread(target=drive, args=(t,)) for t in TARGETS]
        aux = [threading.Thread(target=sampler),
               threading.Thread(target=manage, args=(daemon, stop, events, 15))]
        for th in drivers + aux:
            th.start()
        for th in drivers:
            th.join()
        stop.set()
        for th in aux:
            th.join()
        final = daemon.sample()
    finally:
        exit_code = daemon.stop()
    result = summarize(a, cap, rates, windows, samples, events, exit_code, final)
    with open(os.path.join(a.out, "soak.json"), "w") as f:
        json.dump(result, f, indent=1)
    plot(a.out, work, windows, samples)
    if a.doc:
        write_doc(a.doc, result, a.note)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result["summary"], indent=1))
    if result["failures"]:
        print("soak: FAILED: " + "; ".join(result["failures"]), file=sys.stderr)
        return 1
    return 0


def growth(samples, key, warm):
    after = [s[key] for s in samples if s["t"] >= warm]
    if len(after) < 4:
        return 0.0, None, None
    k = max(2, len(after) // 10)
    base, last = statistics.median(after[:k]), statistics.median(after[-k:])
    return (last - base) / base if base else 0.0, base, last


def summarize(a, cap, rates, windows, samples, events, exit_code, final):
    total_s = a.minutes * 60
    warm = max(60.0, 0.2 * total_s) if total_s >= 300 else 0.2 * total_s
    per = {}
    for t in TARGETS:
        ws = [w for w in windows if w["target"] == t]
        per[t] = {"rate": rates[t], "capacity": cap[t],
                  "requests": sum(w["requests"] for w in ws),
                  "errors": sum(w["errors"] for w in ws),
                  "dropped": sum(w.get("dropped", 0) for w in ws),
                  "p50_us_median": statistics.median([w["latency_us"]["p50"] for w in ws] or [0]),
                  "p99_us_max": max([w["latency_us"]["p99"] for w in ws] or [0]),
                  "p99_us_median": statistics.median([w["latency_us"]["p99"] for w in ws] or [0]),
                  "first_error": next((w["first_error"] for w in ws if w["errors"]), "")}
    rss = growth(samples, "rss_mib", warm)
    fds = growth(samples, "fds", warm)
    failed_ops = [e for e in events if e["status"] != 200]
    cycles = [e for e in events if e["op"] == "cycle"]
    failures = []
    for t, p in per.items():
        if p["errors"]:
            failures.append(f"{t}: {p['errors']} errors ({p['first_error']})")
    if failed_ops:
        failures.append(f"{len(failed_ops)} management calls failed ({failed_ops[0]})")
    if rss[0] >= 0.05:
        failures.append(f"resident memory grew {rss[0] * 100:.1f} % after the warm-up")
    if fds[0] >= 0.05:
        failures.append(f"open descriptors grew {fds[0] * 100:.1f} % after the warm-up")
    if exit_code != 0:
        failures.append(f"mlosd exited with {exit_code} on SIGTERM")
    summary = {"minutes": a.minutes, "warmup_s": warm, "targets": per,
               "management_cycles": len(cycles), "management_failures": len(failed_ops),
               "rss_mib": {"after_warmup": rss[1], "end": rss[2],
                           "growth_pct": round(rss[0] * 100, 2), "final": final["rss_mib"]},
               "fds": {"after_warmup": fds[1], "end": fds[2], "growth_pct": round(fds[0] * 100, 2),
                       "final": final["fds"]},
               "threads_final": final["threads"], "mlosd_exit": exit_code}
    return {"summary": summary, "failures": failures, "windows": windows, "samples": samples,
            "events": events}


def plot(out, work, windows, samples):
    if not shutil.which("gnuplot") or not samples:
        return
    data = {}
    for t in TARGETS:
        path = os.path.join(work, f"soak-{t}.dat")
        with open(path, "w") as f:
            for w in windows:
                if w["target"] == t:
                    f.write(f"{w['t'] / 60:.2f} {w['latency_us']['p99'] / 1000:.3f}\n")
        data[t] = path
    mem = os.path.join(work, "soak-proc.dat")
    with open(mem, "w") as f:
        for s in samples:
            f.write(f"{s['t'] / 60:.2f} {s['rss_mib']:.1f} {s['fds']} {s['threads']}\n")
    lat = ", ".join(f"'{data[t]}' using 1:2 with linespoints title '{t}'" for t in TARGETS)
    script = f"""set terminal pngcairo size 1000,700 font ',10'
set output '{os.path.join(out, "soak.png")}'
set multiplot layout 2,1
set xlabel 'minutes'
set ylabel 'p99 latency per 20 s window (ms)'
set key outside right
plot {lat}
set ylabel 'MiB / count'
plot '{mem}' using 1:2 with lines title 'resident MiB', '{mem}' using 1:3 with lines title 'open fds', '{mem}' using 1:4 with lines title 'threads'
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)


def write_doc(doc, result, note=""):
    s = result["summary"]
    rows = "\n".join(
        f"| {t} | {p['capacity']:.0f} | {p['rate']} | {p['requests']} | {p['errors']} | "
        f"{p['dropped']} | {p['p50_us_median']:.0f} | {p['p99_us_median']:.0f} | "
        f"{p['p99_us_max']:.0f} |" for t, p in s["targets"].items())
    verdict = "passed" if not result["failures"] else "FAILED: " + "; ".join(result["failures"])
    text = f"""<!-- soak:begin (written by bench/soak/soak.py) -->
Run: `make soak SOAK_MINUTES={s['minutes']:g}` ({verdict}). mlosd served `local/mlp` (two
versions from a Triton-layout repository) over HTTP JSON, HTTP binary, gRPC and IPC with shared
memory at once, each driven by `mlos-bench` in open loop at 80 % of the rate the four sustained
together in a closed-loop measurement just before, in 20 s windows; every 15 s the default
switched to the other version, the version left was unloaded and loaded again
({s['management_cycles']} cycles, {s['management_failures']} failed calls). {note}

| front-end | capacity (req/s) | driven at (req/s) | requests | errors | dropped | p50 (µs, median window) | p99 (µs, median window) | p99 (µs, worst window) |
|---|---|---|---|---|---|---|---|---|
{rows}

Resident memory after the warm-up ({s['warmup_s']:.0f} s) {s['rss_mib']['after_warmup']:.1f} MiB,
at the end {s['rss_mib']['end']:.1f} MiB ({s['rss_mib']['growth_pct']:+.2f} %); open descriptors
{s['fds']['after_warmup']:.0f} → {s['fds']['end']:.0f} ({s['fds']['growth_pct']:+.2f} %);
{s['threads_final']} threads at the end; mlosd exited {s['mlosd_exit']} on SIGTERM. The limit is
growth under 5 % for both.

![soak: p99 per window, resident memory, descriptors](bench/soak.png)
<!-- soak:end -->"""
    with open(doc) as f:
        page = f.read()
    b, e = page.find("<!-- soak:begin"), page.find("<!-- soak:end -->")
    if b < 0 or e < 0:
        raise SystemExit(f"{doc}: no soak markers")
    page = page[:b] + text + page[e + len("<!-- soak:end -->"):]
    with open(doc, "w") as f:
        f.write(page)


if __name__ == "__main__":
    sys.exit(main())
