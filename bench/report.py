#!/usr/bin/python3
"""docs/benchmarks.md and its plots from the suite's results (bench/suite.sh).
Usage: bench/report.py RESULTS_JSON OUT_MD PLOT_DIR
RESULTS_JSON is {"meta": {...}, "results": [mlos-bench JSON lines + the suite's fields]} (or a
JSON-lines file of results alone); section e is read from results-peers.json beside it (the peers
run, bench/peers/report_peers.py). Plots need gnuplot (Debian: gnuplot-nox); without it the
document says they were skipped. The "Findings" section is bench/findings.md, written by hand."""
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
MLOSD_TARGETS = ["http-json", "http-binary", "grpc", "ipc-inline", "ipc-shm"]
TARGET_NAMES = {
    "raw": "ONNX Runtime direct (raw)",
    "http-json": "HTTP, KServe v2 JSON",
    "http-binary": "HTTP, KServe binary extension",
    "grpc": "gRPC (KServe v2)",
    "ipc-inline": "IPC, tensors inline",
    "ipc-shm": "IPC, tensors in shared memory",
}
MODELS = {
    "tiny": "float32 [batch,16] → MatMul+Add+Softmax → [batch,4]",
    "mlp": "float32 [batch,256] → 3 × (512, Relu) → [batch,10]",
    "encoder": "int64 input_ids [batch,128] (vocab 1000) → 2-layer pre-LN transformer encoder "
               "(d_model 128, 4 heads, FFN 512, Gelu) → mean embedding float32 [batch,128]",
    "large": "float32 [batch,8388608] → Mul by 2 → same shape (32 MB per row in and out)",
}
GOAL_RATIO = 2.0  # mlosd ≥ 2× the peer at c=16 on encoder


def load(path):
    text = open(path).read()
    try:
        doc = json.loads(text)
    except ValueError:  # JSON lines
        doc = {"meta": {}, "results": [json.loads(l) for l in text.splitlines() if l.strip()]}
    if isinstance(doc, list):
        doc = {"meta": {}, "results": doc}
    return doc.get("meta", {}), doc.get("results", [])


def key_of(r):
    """(section, server, target, model, extra) from the suite's label."""
    parts = (r.get("label") or "").split("/")
    parts += [""] * (5 - len(parts))
    section, server, target, model, extra = parts[:5]
    return (r.get("section") or section, r.get("server") or server, r.get("target") or target,
            model, extra)


def ok(r):
    return r is not None and not r.get("suite_error") and bool(r.get("requests"))


def lat(r, q):
    return (r.get("latency_us") or {}).get(q) if ok(r) else None


def us(v):
    if v is None:
        return "—"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}"


def ms(v):
    return "—" if v is None else f"{v / 1000:.1f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b else "—"


def rps(v):
    return "—" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")


class Report:
    def __init__(self, meta, results, plot_dir, md_dir):
        self.meta, self.results, self.plot_dir, self.md_dir = meta, results, plot_dir, md_dir
        self.by = {}
        for r in results:
            self.by[key_of(r)] = r
        self.failures = [r for r in results if not ok(r) or r.get("errors")]
        self.gnuplot = shutil.which("gnuplot")
        self.plots = []
        self.plot_errors = []

    def get(self, section, server, target, model, extra=""):
        return self.by.get((section, server, target, model, extra))

    def tput(self, section, server, target, model, extra=""):
        r = self.get(section, server, target, model, extra)
        return r.get("throughput_rps") if ok(r) else None

    def status(self, r):
        if r is None:
            return "not run"
        if r.get("suite_error"):
            return "failed"
        bad = []
        if r.get("errors"):
            bad.append(f"{r['errors']} errors")
        if r.get("dropped"):
            bad.append(f"{r['dropped']} not sent in time")
        if not r.get("requests"):
            bad.append("no requests")
        return ", ".join(bad)

    # ---- plots ----------------------------------------------------------------------------
    def plot(self, name, script, data, size="800,450"):
        """Runs gnuplot on `script` with the data files `data` ({filename: text})."""
        if not self.gnuplot:
            return None
        out = os.path.join(self.plot_dir, name)
        with tempfile.TemporaryDirectory() as tmp:
            for fn, text in data.items():
                open(os.path.join(tmp, fn), "w").write(text)
            head = (f"set terminal pngcairo size {size} font 'sans,10' noenhanced\n"
                    f"set output '{out}'\nset grid\nset key outside right top\n")
            p = subprocess.run([self.gnuplot], input=head + script, text=True, cwd=tmp,
                               capture_output=True)
        if p.returncode != 0 or not os.path.exists(out):
            self.plot_errors.append(f"{name}: {p.stderr.strip()[:300]}")
            return None
        self.plots.append(name)
        return os.path.relpath(out, self.md_dir)

    # ---- sections -------------------------------------------------------------------------
    def header(self):
        m = self.meta
        ncpu = m.get("nproc") or os.cpu_count()
        cpu = m.get("cpu") or cpu_model()
        kernel = m.get("kernel") or platform.release()
        date = m.get("date") or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        scale = m.get("scale", 1)
        busy = []
        try:
            pct = m.get("cpu_busy_pct_start")
            if pct is not None and int(pct) >= 20:
                busy = ["", f"**Warning: the CPUs were {pct} % busy in the 2 s before the suite started: other "
                        "work competed for them, so these numbers are unreliable, the throughput ones "
                        "especially. Rerun on a quiet machine.**"]
            elif pct is None and float(str(m.get("loadavg_start", "0")).split()[0]) >= ncpu / 2:
                busy = ["", f"**Warning: the machine was busy when the suite started (load average "
                        f"{m['loadavg_start']} on {ncpu} cores): other work competed for the CPUs, so these "
                        "numbers are unreliable, the throughput ones especially. Rerun on a quiet machine.**"]
        except ValueError:
            pass
        L = ["# Benchmarks: mlosd, ONNX Runtime direct and a Node.js peer", "",
             f"Generated by `bench/suite.sh` (`make bench`) and `bench/report.py` on {date}"
             + (f", commit `{m['commit']}`" if m.get("commit") else "") + ". Rerun to refresh;",
             "the raw results are in [bench/results.json](bench/results.json).", *busy, "",
             "## Machine and software", "",
             f"- {ncpu} cores, {cpu}, Linux {kernel}"
             + (f"; CPUs {m['cpu_busy_pct_start']} % busy in the 2 s before the run" if m.get("cpu_busy_pct_start") is not None else "")
             + "".join(f"; load average {m[k]} {when}" for k, when in
                       [("loadavg_start", "before the run"), ("loadavg_end", "at its end")] if m.get(k)),
             "  (the load generator runs on the same machine as the servers).",
             f"- ONNX Runtime: mlosd's onnx plugin reports `{m.get('mlosd_onnxruntime') or '?'}`; the peer's "
             f"onnxruntime-node reports `{m.get('peer_onnxruntime') or '?'}` (Node.js {m.get('node') or '?'}).",
             f"- Durations scaled by MLOS_BENCH_SCALE={scale:g}"
             + (" (a quick check: short runs, noisier numbers)" if float(scale) < 1 else "")
             + (f"; the suite took {m['wall_s']} s." if m.get("wall_s") else "."),
             "", "mlosd's configuration:", "", "```yaml", (m.get("mlosd_config") or "?").rstrip(), "```", ""]
        b = m.get("batching")
        if m.get("mlosd_batching_config"):
            L += ["The second daemon of section b (\"mlosd+batching\") adds dynamic batching:", "", "```yaml",
                  m["mlosd_batching_config"].rstrip(), "```", ""]
        if b == "on":
            L.append("Dynamic batching is on (`batching:` above): requests that queue while a model is busy "
                     "run as one batch of up to `max_batch_size` rows; see docs/ARCHITECTURE.md.")
        elif b == "off":
            L.append("The main daemon runs without dynamic batching (its default): each request runs alone, "
                     "with at most `scheduling.max_concurrent_infers` plugin calls per model at once when that is "
                     "set (one per core here; the others wait in order).")
        for n in m.get("notes") or []:
            L.append(f"- Note: {n}")
        L += ["", "## What is compared", "",
              "- **raw**: ONNX Runtime called in-process by the load generator (`mlos-bench --target raw`, "
              "1 intra-op thread): the floor, no serving at all.",
              "- **mlosd** over each front-end: " + ", ".join(f"`{t}` ({TARGET_NAMES[t]})" for t in MLOSD_TARGETS)
              + "; the onnx plugin with 1 intra-op and 1 inter-op thread per session, models installed "
              "with `axon install` and loaded as `local/<name>@1.0.0`.",
              "- **peer**: [bench/peer/server.js](../bench/peer/server.js), what one would otherwise write: Node's "
              "`http` module on `onnxruntime-node` (the same ONNX Runtime) with default session options, "
              "KServe v2 JSON only. Driven by the same load generator with the same `http-json` target.",
              "- **Peer servers from PyPI** (KServe, MLServer, LitServe) and **Triton's perf_analyzer**: section e, "
              "a run of its own (`MLOS_BENCH_PART=peers`) with mlosd and raw measured again beside them.",
              "", "All requests have batch 1 (the batch dimension of each model is dynamic). Models, generated by "
              "[bench/models/make_models.py](../bench/models/make_models.py) with fixed-seed random weights:", "",
              "| model | graph |", "|---|---|"]
        L += [f"| {k} | {v} |" for k, v in MODELS.items()]
        return L

    def findings(self):
        path = os.path.join(HERE, "findings.md")
        text = open(path).read().strip() if os.path.exists(path) else "TODO"
        return ["", "## Findings", "", text]

    def overhead(self):
        L = ["", "## a. Overhead at concurrency 1", "",
             "One request in flight (closed loop, concurrency 1). Server, peer and load generator all pinned "
             "to CPU 0 with `taskset`: on these VMs a wakeup across CPUs costs about 100 µs (the guest's "
             "haltpoll idle driver), which would swamp what is measured here; on one CPU a round trip is a "
             "pair of context switches (see [benchmarks-mlosd.md](benchmarks-mlosd.md)). "
             "\"Over raw\" is the path's percentile minus raw's; \"peer / path\" is the peer's p50 divided by "
             "the path's (above 1: faster than the peer). The peer runs ONNX Runtime's default intra-op pool "
             "(a thread per core); pinned to one CPU those threads contend, so its unpinned concurrency-1 run "
             "from section b is shown below it as well.", ""]
        bars = []
        for model in ["tiny", "mlp", "encoder"]:
            raw = self.get("overhead", "raw", "raw", model)
            peer = self.get("overhead", "peer", "http-json", model)
            if raw is None and peer is None and not any(self.get("overhead", "mlosd", t, model) for t in MLOSD_TARGETS):
                continue
            L += [f"### {model}", "", "| path | p50 µs | p99 µs | p50 over raw µs | p99 over raw µs | peer / path (p50) | |",
                  "|---|---|---|---|---|---|---|"]
            r50, r99 = lat(raw, "p50"), lat(raw, "p99")
            p50 = lat(peer, "p50")
            L.append(f"| {TARGET_NAMES['raw']} | {us(r50)} | {us(r99)} | 0 | 0 | {ratio(p50, r50)} | {self.status(raw)} |")
            row_bars = []
            for t in MLOSD_TARGETS:
                r = self.get("overhead", "mlosd", t, model)
                a50, a99 = lat(r, "p50"), lat(r, "p99")
                o50 = a50 - r50 if a50 is not None and r50 is not None else None
                o99 = a99 - r99 if a99 is not None and r99 is not None else None
                L.append(f"| mlosd {TARGET_NAMES[t]} | {us(a50)} | {us(a99)} | **{us(o50)}** | {us(o99)} | "
                         f"{ratio(p50, a50)} | {self.status(r)} |")
                row_bars.append(o50)
            o50 = p50 - r50 if p50 is not None and r50 is not None else None
            o99 = lat(peer, "p99") - r99 if lat(peer, "p99") is not None and r99 is not None else None
            L.append(f"| peer (Node.js, KServe v2 JSON) | {us(p50)} | {us(lat(peer, 'p99'))} | **{us(o50)}** | "
                     f"{us(o99)} | 1 | {self.status(peer)} |")
            row_bars.append(o50)
            # The peer's default intra-op pool (one thread per core) shares CPU 0 when pinned: show
            # its unpinned c=1 run of section b beside it.
            free = next((r for r in self.results if key_of(r)[:4] == ("throughput", "peer", "http-json", model)
                         and r.get("concurrency") == 1 and ok(r)), None)
            if free is not None:
                f50, f99 = lat(free, "p50"), lat(free, "p99")
                L.append(f"| peer, unpinned (section b, c=1) | {us(f50)} | {us(f99)} | "
                         f"{us(f50 - r50) if r50 is not None else '—'} | {us(f99 - r99) if r99 is not None else '—'} | | |")
            negative = [v for v in row_bars if v is not None and v < 0]
            bars.append((model, row_bars))
            L.append("")
            if negative:
                L += [f"Negative overheads on {model}: the model's own time varies between runs by more than "
                      "the transport costs (raw and mlosd are separate runs); read them as \"within the noise\".", ""]
        if bars:
            cols = [*MLOSD_TARGETS, "peer"]
            data = "model " + " ".join(cols) + "\n" + "".join(
                model + " " + " ".join("NaN" if v is None else f"{max(v, 0.1):.2f}" for v in vals) + "\n"
                for model, vals in bars)
            script = ("set style data histograms\nset style histogram clustered gap 1\n"
                      "set style fill solid 0.8 border -1\nset logscale y\nset ylabel 'p50 over raw (µs, log)'\n"
                      "set title 'Overhead over ONNX Runtime direct at concurrency 1 (pinned to one CPU)'\n"
                      "set yrange [1:*]\nset xlabel 'bars under 1 µs or negative (within the noise) are not drawn'\n"
                      f"plot for [i=2:{len(cols) + 1}] 'bars.dat' using i:xtic(1) title columnheader(i)\n")
            img = self.plot("overhead.png", script, {"bars.dat": data})
            if img:
                L += [f"![overhead per protocol]({img})", ""]
        return L

    def throughput(self):
        L = ["", "## b. Throughput, closed loop", "",
             "C connections (or client threads) each sending its next request as soon as the previous reply "
             "arrives; nothing pinned. Requests/s, with mlosd's ratio to the peer in brackets. Raw is the "
             "model run in-process by C threads with 1 intra-op thread each, on the same 2 cores: what the "
             "machine can compute with no serving at all. \"mlosd+batching\" is a second daemon with dynamic "
             "batching on (its configuration is above), otherwise configured like the first.", ""]
        targets = ["http-json", "http-binary", "grpc", "ipc-inline", "ipc-shm"]
        goal_lines = []
        for model in ["encoder", "mlp"]:
            conc = sorted({r.get("concurrency") for r in self.results
                           if key_of(r)[0] == "throughput" and key_of(r)[3] == model and r.get("concurrency")})
            if not conc:
                continue
            L += [f"### {model}", "",
                  "| concurrency | raw (C threads) | " + " | ".join(f"mlosd {t}" for t in targets)
                  + " | mlosd+batching http-binary | peer | peer p99 ms | mlosd http-json p99 ms |",
                  "|---|---|" + "---|" * len(targets) + "---|---|---|---|"]
            series = {"raw": [], **{t: [] for t in targets}, "batching": [], "peer": []}
            for c in conc:
                pick = lambda server, t: next((r for r in self.results if key_of(r)[:4] == ("throughput", server, t, model)
                                               and r.get("concurrency") == c), None)
                raw, peer = pick("raw", "raw"), pick("peer", "http-json")
                pv = raw_v = None
                if ok(peer):
                    pv = peer["throughput_rps"]
                if ok(raw):
                    raw_v = raw["throughput_rps"]
                cells = [rps(raw_v)]
                series["raw"].append((c, raw_v))
                for t in targets:
                    r = pick("mlosd", t)
                    v = r["throughput_rps"] if ok(r) else None
                    series[t].append((c, v))
                    cells.append(f"{rps(v)} ({ratio(v, pv)})" if v is not None else f"— {self.status(r)}")
                rb = pick("mlosd-batch", "http-binary")
                vb = rb["throughput_rps"] if ok(rb) else None
                series["batching"].append((c, vb))
                cells.append(f"{rps(vb)} ({ratio(vb, pv)})" if vb is not None else f"— {self.status(rb)}")
                series["peer"].append((c, pv))
                j = pick("mlosd", "http-json")
                cells += [rps(pv) if pv is not None else f"— {self.status(peer)}", ms(lat(peer, "p99")), ms(lat(j, "p99"))]
                L.append(f"| {c} | " + " | ".join(cells) + " |")
                if model == "encoder" and c == 16:
                    at16 = {t: next((v for cc, v in series[t] if cc == 16), None) for t in targets}
                    goal_lines += self.goal(pv, at16)
                    goal_lines += ["", self.ipc_goal(at16)]
            L.append("")
            data = "".join(f"# {name}\n" + "".join(f"{c} {'NaN' if v is None else f'{v:.2f}'}\n" for c, v in pts) + "\n\n"
                           for name, pts in series.items())
            names = list(series)
            script = (f"set logscale x 2\nset logscale y\nset xlabel 'concurrency'\nset ylabel 'requests/s (log)'\n"
                      f"set xrange [0.8:80]\nset xtics (1,4,16,64)\nset title 'Closed-loop throughput, {model}, batch 1'\n"
                      "plot " + ", ".join(f"'tput.dat' index {i} using 1:2 with linespoints lw 2 pt 7 title "
                                          f"'{'mlosd ' + n if n in targets else ('mlosd+batching http-binary' if n == 'batching' else n)}'" for i, n in enumerate(names)) + "\n")
            img = self.plot(f"throughput-{model}.png", script, {"tput.dat": data})
            if img:
                L += [f"![throughput vs concurrency, {model}]({img})", ""]
        if goal_lines:
            L = L[:5] + goal_lines + [""] + L[5:]
        return L

    def ipc_goal(self, at16):
        """Issue 17: IPC is the fastest path at every concurrency."""
        hb, shm, inline = at16.get("http-binary"), at16.get("ipc-shm"), at16.get("ipc-inline")
        if hb is None or shm is None or inline is None:
            return "**Goal: IPC ≥ HTTP binary at concurrency 16 on encoder**: not measured in this run."
        met = shm >= hb and inline >= 0.95 * hb
        return (f"**Goal: IPC with shared memory ≥ HTTP binary, IPC inline ≥ 0.95× HTTP binary, at concurrency 16 "
                f"on encoder**: **{'met' if met else 'MISSED'}**: ipc-shm {shm:.0f}, ipc-inline {inline:.0f} "
                f"({inline / hb:.2f}×), http-binary {hb:.0f} requests/s.")

    def goal(self, peer, mlosd):
        j = mlosd.get("http-json")
        L = [f"**Goal: mlosd ≥ {GOAL_RATIO:g}× the peer at concurrency 16 on encoder** (same protocol, KServe v2 JSON): "]
        if peer is None or j is None:
            L[0] += "not measured (a run failed; see below)."
            return L
        met = j >= GOAL_RATIO * peer
        L[0] += (f"{'met' if met else '**MISSED**'}: mlosd http-json {rps(j)} requests/s against the peer's "
                 f"{rps(peer)}, {j / peer:.2f}×.")
        others = [f"{t} {rps(v)} ({v / peer:.2f}×)" for t, v in mlosd.items() if t != "http-json" and v is not None]
        if others:
            L[0] += " Other mlosd front-ends at c=16: " + ", ".join(others) + "."
        return L

    def openloop(self):
        rows = [r for r in self.results if key_of(r)[0] == "openloop"]
        m = self.meta
        L = ["", "## c. Open loop: latency under a fixed arrival rate (encoder)", ""]
        if not rows:
            return L + ["Not measured" + (": " + "; ".join(n for n in m.get("notes", []) if "open loop" in n) if m.get("notes") else ".")]
        base = m.get("peer_c16_encoder_rps")
        L += ["Requests arrive at a fixed rate whatever the latency (no coordinated omission), at 50 % and 90 % "
              "of the peer's closed-loop throughput at concurrency 16"
              + (f" ({rps(base)} requests/s)" if base else "")
              + "; the same absolute rates for every server. Nothing pinned.", "",
              "| server | offered rate /s | achieved /s | p50 ms | p90 ms | p99 ms | max ms | |",
              "|---|---|---|---|---|---|---|---|"]
        series = {}
        for r in sorted(rows, key=lambda r: (key_of(r)[1] != "mlosd", key_of(r)[2], r.get("rate") or 0)):
            _, server, target, _, pct = key_of(r)
            name = f"mlosd {target}" if server == "mlosd" else "peer"
            rate = r.get("rate")
            rate_s = (f"{rate:.0f}" if rate else "?") + (f" ({pct} %)" if pct else "")
            L.append(f"| {name} | {rate_s} | {rps(r.get('throughput_rps') if ok(r) else None)} | {ms(lat(r, 'p50'))} | "
                     f"{ms(lat(r, 'p90'))} | {ms(lat(r, 'p99'))} | {ms(lat(r, 'max'))} | {self.status(r)} |")
            if ok(r):
                series.setdefault(name, []).append((r["throughput_rps"], lat(r, "p50"), lat(r, "p99")))
        L.append("")
        # Closed-loop points of encoder fill in the curve: latency against achieved throughput.
        closed = {}
        for r in self.results:
            s, server, target, model, _ = key_of(r)
            if s == "throughput" and model == "encoder" and ok(r) and server != "raw" and target in ("http-json", "http-binary"):
                name = f"mlosd {target}" if server == "mlosd" else "peer"
                closed.setdefault(name, []).append((r["throughput_rps"], lat(r, "p50"), lat(r, "p99")))
        if series:
            names = sorted(set(series) | set(closed))
            blocks = []
            for n in names:
                blocks.append("".join(f"{x:.2f} {p50 / 1000:.3f} {p99 / 1000:.3f}\n" for x, p50, p99 in sorted(series.get(n, [])) or [(0, 0, 0)]))
                blocks.append("".join(f"{x:.2f} {p50 / 1000:.3f} {p99 / 1000:.3f}\n" for x, p50, p99 in sorted(closed.get(n, [])) or [(0, 0, 0)]))
            data = "\n\n".join(blocks) + "\n"
            plots = []
            for i, n in enumerate(names):
                plots.append(f"'lat.dat' index {2 * i} using 1:3 with linespoints lw 2 pt 7 lc {i + 1} title '{n} open loop p99'")
                plots.append(f"'lat.dat' index {2 * i} using 1:2 with linespoints lw 1 dt 2 pt 6 lc {i + 1} title '{n} open loop p50'")
                if closed.get(n):
                    plots.append(f"'lat.dat' index {2 * i + 1} using 1:3 with points pt 4 lc {i + 1} title '{n} closed loop p99 (c=1..64)'")
            script = ("set key below maxrows 3 width -2\nset size ratio 0\nset logscale y\n"
                      "set xlabel 'achieved requests/s'\nset ylabel 'latency ms (log)'\n"
                      "set xrange [0:*]\nset title 'Latency against throughput, encoder, batch 1'\n"
                      "plot " + ", ".join(plots) + "\n")
            img = self.plot("latency-encoder.png", script, {"lat.dat": data}, size="800,560")
            if img:
                L += [f"![latency against throughput, encoder]({img})", "",
                      "Filled points: open loop (p99 solid, p50 dashed); squares: the closed-loop runs of section b "
                      "(p99 at concurrency 1 to 64) for the same servers.", ""]
        return L

    def large(self):
        rows = [(t, self.get("large", "raw" if t == "raw" else "mlosd", t, "large"))
                for t in ["raw", "http-binary", "grpc", "ipc-inline", "ipc-shm"]]
        L = ["", "## d. Large tensors: 32 MB in, 32 MB out (large, batch 1)", ""]
        if all(r is None for _, r in rows):
            return L + ["Not measured."]
        raw50 = lat(rows[0][1], "p50")
        L += ["One request in flight, everything pinned to CPU 0 as in section a. The model multiplies a float32 "
              "[1, 8388608] tensor by 2, so each request moves 32 MB each way. \"Over raw\" is what the transport "
              "adds to the model's own time; \"MB/s\" counts the 64 MB a request moves over that overhead.", "",
              "| path | p50 ms | p99 ms | p50 over raw ms | MB/s of overhead | |", "|---|---|---|---|---|---|"]
        for t, r in rows:
            p50 = lat(r, "p50")
            over = p50 - raw50 if p50 is not None and raw50 is not None else None
            bw = f"{64 / (over / 1e6):.0f}" if over and over > 0 and t != "raw" else ""
            name = TARGET_NAMES[t] if t == "raw" else "mlosd " + TARGET_NAMES[t]
            L.append(f"| {name} | {ms(p50)} | {ms(lat(r, 'p99'))} | {'0' if t == 'raw' else ms(over)} | {bw} | {self.status(r)} |")
        L += ["", "Not measured here: the KServe JSON paths and the peer (which speaks only JSON). 8,388,608 floats "
              "as JSON text are about 80–180 MB per direction; that would measure float formatting and parsing "
              "(seconds per request), not serving, and nobody sends tensors this size as JSON.", ""]
        return L

    def commands(self):
        L = ["", "## How this was measured", "",
             "`make bench` runs `bench/run.sh`, which runs the older benchmarks and then "
             f"`MLOS_BENCH_SCALE={self.meta.get('scale', 1):g} bench/suite.sh BUILD_DIR`: it generates the models, "
             "starts mlosd (`--http --grpc --ipc`) and the peer, installs the models with axon, runs every "
             "measurement below as one `mlos-bench` call and writes `docs/bench/results.json`; this script "
             "(`bench/report.py docs/bench/results.json docs/benchmarks.md docs/bench`) writes this page. "
             "`$WORK` is the suite's work dir (`BUILD_DIR/bench-suite`), `$BUILD` the build dir.", "",
             "<details><summary>Every command, in the order run</summary>", "", "```"]
        L += [r.get("command", "?") for r in self.results]
        L += ["```", "", "</details>"]
        if self.failures:
            L += ["", "### Failed or incomplete runs", ""]
            for r in self.failures:
                why = r.get("suite_error") or r.get("first_error") or ("no requests" if not r.get("requests") else "")
                L.append(f"- `{r.get('label', '?')}`: {r.get('errors')} errors; {why}")
        if self.plot_errors:
            L += ["", "Plots that failed: " + "; ".join(self.plot_errors)]
        if not self.gnuplot:
            L += ["", "Plots skipped: gnuplot not installed (Debian package gnuplot-nox)."]
        return L

    def render(self, peers_json=None):
        body = self.overhead() + self.throughput() + self.openloop() + self.large()
        peers = []
        if peers_json:
            sys.path.insert(0, os.path.join(HERE, "peers"))
            import report_peers
            peers = report_peers.render(peers_json)
        return "\n".join(self.header() + self.findings() + body + peers + self.commands()) + "\n"


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    results_path, out_md, plot_dir = sys.argv[1:]
    meta, results = load(results_path)
    os.makedirs(plot_dir, exist_ok=True)
    md_dir = os.path.dirname(os.path.abspath(out_md))
    rep = Report(meta, results, os.path.abspath(plot_dir), md_dir)
    # Section e comes from the peers run (MLOS_BENCH_PART=peers), kept beside results.json.
    text = rep.render(os.path.join(os.path.dirname(os.path.abspath(results_path)), "results-peers.json"))
    open(out_md, "w").write(text)
    print(f"wrote {out_md}" + (f" and {', '.join(rep.plots)} in {plot_dir}" if rep.plots else ""))
    for e in rep.plot_errors:
        print(f"report: plot failed: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
