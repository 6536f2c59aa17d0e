"""Section e of docs/benchmarks.md: the peers run of bench/suite.sh (MLOS_BENCH_PART=peers,
docs/bench/results-peers.json): peer servers from PyPI beside mlosd and ONNX Runtime direct, and
Triton's perf_analyzer beside mlos-bench. Called by bench/report.py; the text of
bench/peers/notes.md (configuration, how to read the numbers) is written by hand."""
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_NAMES = {"kserve": "KServe", "mlserver": "MLServer", "litserve": "LitServe"}
MLOSD = ["http-json", "http-binary", "grpc"]
GOAL_OVERHEAD = 1 / 3   # mlosd's p50 overhead at c=1 ≤ 1/3 of the best peer's (KServe v2 HTTP)
GOAL_TPUT = 3.0         # mlosd's c=16 encoder throughput ≥ 3× the best peer's (KServe v2 HTTP)
PA_TARGETS = [("http", "http-binary"), ("grpc", "grpc"), ("http-shm", None), ("grpc-shm", None)]


def key(r):
    parts = (r.get("label") or "").split("/") + [""] * 5
    return (r.get("section") or parts[0], r.get("server") or parts[1], r.get("target") or parts[2],
            parts[3], parts[4])


def ok(r):
    return r is not None and not r.get("suite_error") and bool(r.get("requests"))


def lat(r, q):
    return (r.get("latency_us") or {}).get(q) if ok(r) else None


def us(v):
    return "—" if v is None else (f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}")


def ms(v):
    return "—" if v is None else f"{v / 1000:.1f}"


def rps(v):
    return "—" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")


def why(r):
    if r is None:
        return "not run"
    if r.get("suite_error"):
        return "failed (below)"
    return f"{r['errors']} errors" if r.get("errors") else ""


class PeersReport:
    def __init__(self, meta, results):
        self.meta, self.results = meta, results
        self.peers = [p for p in (meta.get("peers") or {})] or sorted(
            {key(r)[1] for r in results if key(r)[1] in PEER_NAMES})

    def pick(self, section, server, target, model, c=None, extra=""):
        for r in self.results:
            k = key(r)
            if k[:4] == (section, server, target, model) and (c is None or r.get("concurrency") == c) \
                    and (not extra or k[4] == extra):
                return r
        return None

    def name(self, server, target):
        if server in PEER_NAMES:
            return f"{PEER_NAMES[server]} ({target})"
        return f"mlosd {target}" if server == "mlosd" else "ONNX Runtime direct (raw)"

    def header(self):
        m = self.meta
        L = ["", "## e. Peer servers from PyPI, and Triton's perf_analyzer", "",
             f"A run of its own: `MLOS_BENCH_PART=peers bench/suite.sh` on {m.get('date', '?')}"
             + (f", commit `{m['commit']}`" if m.get("commit") else "")
             + f", MLOS_BENCH_SCALE={m.get('scale', 1):g}, {m.get('wall_s', '?')} s; raw results in "
             "[bench/results-peers.json](bench/results-peers.json). mlosd, raw and the peers below were "
             "measured in this same run (the goals compare within it); sections a–d above are another run."]
        pct = m.get("cpu_busy_pct_start")
        if pct is not None and int(pct) >= 20:
            L += ["", f"**Warning: the CPUs were {pct} % busy in the 2 s before this run: other work competed "
                  "for them, so these numbers are unreliable. Rerun on a quiet machine.**"]
        if float(m.get("scale", 1)) < 1:
            L += ["", f"**MLOS_BENCH_SCALE={m['scale']:g}: short runs, for checking the pipeline, not for reading.**"]
        vers = m.get("peers") or {}
        L += ["", "Versions: " + "; ".join(f"{PEER_NAMES.get(k, k)} {v}" for k, v in vers.items())
              + (f"; mlosd's onnx plugin `{m.get('mlosd_onnxruntime')}`" if m.get("mlosd_onnxruntime") else "")
              + (f"; {m['perf_analyzer']}" if m.get("perf_analyzer") else "") + "."]
        for n in m.get("notes") or []:
            L.append(f"- Note: {n}")
        path = os.path.join(HERE, "notes.md")
        if os.path.exists(path):
            L += ["", open(path).read().strip()]
        return L

    def goals(self):
        L = []
        # 1. overhead at c=1 over KServe v2 HTTP (JSON: the protocol every peer speaks).
        for model in ["tiny", "mlp", "encoder"]:
            raw = lat(self.pick("overhead", "raw", "raw", model), "p50")
            mj = lat(self.pick("overhead", "mlosd", "http-json", model), "p50")
            peers = {p: lat(self.pick("overhead", p, "http-json", model), "p50") for p in self.peers}
            peers = {p: v for p, v in peers.items() if v is not None}
            if raw is None or mj is None or not peers:
                L.append(f"- **Goal: p50 overhead at c=1 ≤ 1/3 of the best peer's, {model}**: not measured.")
                continue
            best = min(peers, key=peers.get)
            o_m, o_p = mj - raw, peers[best] - raw
            if o_p <= 0:  # raw slower than a server: the CPUs were busy with something else
                L.append(f"- **Goal: p50 overhead at c=1 ≤ 1/3 of the best peer's, {model}**: not measurable "
                         f"in this run: ONNX Runtime alone ({us(raw)} µs) was no faster than "
                         f"{PEER_NAMES[best]} ({us(peers[best])} µs); run it again on quiet CPUs.")
                continue
            met = o_m <= GOAL_OVERHEAD * o_p
            L.append(f"- **Goal: p50 overhead at c=1 ≤ 1/3 of the best peer's, {model}** (KServe v2 JSON over HTTP): "
                     f"**{'met' if met else 'MISSED'}**: mlosd {us(o_m)} µs over raw, best peer "
                     f"{PEER_NAMES[best]} {us(o_p)} µs ({o_m / o_p:.2f}×).")
        # 2. throughput at c=16 on encoder.
        mj = self.pick("throughput", "mlosd", "http-json", "encoder", 16)
        mb = self.pick("throughput", "mlosd", "http-binary", "encoder", 16)
        peers = {p: self.pick("throughput", p, "http-json", "encoder", 16) for p in self.peers}
        peers = {p: r["throughput_rps"] for p, r in peers.items() if ok(r)}
        if not ok(mj) or not peers:
            L.append("- **Goal: throughput at c=16 on encoder ≥ 3× the best peer's**: not measured.")
        else:
            best = max(peers, key=peers.get)
            ratio = mj["throughput_rps"] / peers[best]
            L.append(f"- **Goal: throughput at c=16 on encoder ≥ 3× the best peer's** (KServe v2 JSON over HTTP): "
                     f"**{'met' if ratio >= GOAL_TPUT else 'MISSED'}**: mlosd {rps(mj['throughput_rps'])} requests/s, "
                     f"best peer {PEER_NAMES[best]} {rps(peers[best])}, {ratio:.2f}×"
                     + (f" (mlosd over HTTP binary: {rps(mb['throughput_rps'])})" if ok(mb) else "") + ".")
        raw16 = self.pick("throughput", "raw", "raw", "encoder", 16)
        if ok(raw16) and peers:
            best = max(peers.values())
            L.append(f"- For scale: ONNX Runtime called in-process by 16 threads (no serving) did "
                     f"{rps(raw16['throughput_rps'])} requests/s at c=16 on encoder, {raw16['throughput_rps'] / best:.2f}× "
                     "the best peer: no server can beat the best peer by more than that on these cores.")
        return ["", "### Goals", ""] + L

    def overhead(self):
        L = ["", "### e.a Overhead at concurrency 1", "",
             "As section a: one request in flight, every process of every server and the load generator pinned "
             "to CPU 0. The peers speak KServe v2 JSON here (LitServe its JSON form of it; see above).", ""]
        for model in ["tiny", "mlp", "encoder"]:
            raw = self.pick("overhead", "raw", "raw", model)
            rows = [("raw", "raw")] + [("mlosd", t) for t in MLOSD] + [(p, "http-json") for p in self.peers]
            if all(self.pick("overhead", s, t, model) is None for s, t in rows):
                continue
            r50, r99 = lat(raw, "p50"), lat(raw, "p99")
            L += [f"#### {model}", "", "| server | p50 µs | p99 µs | p50 over raw µs | p99 over raw µs | |",
                  "|---|---|---|---|---|---|"]
            for s, t in rows:
                r = self.pick("overhead", s, t, model)
                a50, a99 = lat(r, "p50"), lat(r, "p99")
                o50 = a50 - r50 if a50 is not None and r50 is not None else None
                o99 = a99 - r99 if a99 is not None and r99 is not None else None
                L.append(f"| {self.name(s, t)} | {us(a50)} | {us(a99)} | **{us(o50)}** | {us(o99)} | {why(r)} |")
            L.append("")
        return L

    def throughput(self):
        L = ["", "### e.b Throughput, closed loop", "",
             "As section b: nothing pinned; requests/s at concurrency C, with the p99 in ms below each.", ""]
        cols = [("raw", "raw")] + [("mlosd", t) for t in MLOSD] + [(p, "http-json") for p in self.peers]
        for model in ["encoder", "mlp"]:
            conc = sorted({r.get("concurrency") for r in self.results
                           if key(r)[0] == "throughput" and key(r)[3] == model and r.get("concurrency")})
            if not conc:
                continue
            L += [f"#### {model}", "", "| concurrency | " + " | ".join(self.name(s, t) for s, t in cols) + " |",
                  "|---|" + "---|" * len(cols)]
            for c in conc:
                cells = []
                for s, t in cols:
                    r = self.pick("throughput", s, t, model, c)
                    cells.append(f"{rps(r['throughput_rps'])}<br>p99 {ms(lat(r, 'p99'))}" if ok(r) else f"— {why(r)}")
                L.append(f"| {c} | " + " | ".join(cells) + " |")
            L.append("")
        return L

    def openloop(self):
        rows = [r for r in self.results if key(r)[0] == "openloop"]
        L = ["", "### e.c Open loop (encoder)", ""]
        if not rows:
            return L + ["Not measured" + "".join(f"; {n}" for n in self.meta.get("notes", []) if "open loop" in n) + "."]
        base = self.meta.get("best_peer_c16_encoder_rps")
        L += ["As section c, at 50 % and 90 % of the best peer's closed-loop throughput at concurrency 16"
              + (f" ({rps(base)} requests/s)" if base else "") + ", the same rates for every server.", "",
              "| server | offered /s | achieved /s | p50 ms | p90 ms | p99 ms | max ms | |",
              "|---|---|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: (key(r)[4], key(r)[1] != "mlosd", key(r)[1], key(r)[2])):
            _, s, t, _, pct = key(r)
            L.append(f"| {self.name(s, t)} | {rps(r.get('rate'))} ({pct} %) | {rps(r.get('throughput_rps') if ok(r) else None)} | "
                     f"{ms(lat(r, 'p50'))} | {ms(lat(r, 'p90'))} | {ms(lat(r, 'p99'))} | {ms(lat(r, 'max'))} | {why(r)} |")
        return L + [""]

    def perf(self):
        rows = [r for r in self.results if key(r)[0] == "perf"]
        L = ["", "### e.d perf_analyzer beside mlos-bench (mlosd, closed loop)", ""]
        if not rows:
            return L + ["Not measured."]
        L += ["perf_analyzer's requests/s and p50 (µs) against mlosd, next to mlos-bench's for the same model, "
              "protocol and concurrency in e.b (perf_analyzer's HTTP sends tensors in the binary extension, so "
              "its HTTP column sits beside mlos-bench's `http-binary`). \"÷\" is perf_analyzer's throughput "
              "over mlos-bench's. The shared-memory columns have no mlos-bench counterpart on HTTP or gRPC "
              "(mlos-bench's shared memory is mlosd's IPC socket).", ""]
        for model in sorted({key(r)[3] for r in rows}, key=lambda m: ["encoder", "mlp", "tiny"].index(m) if m in ("encoder", "mlp", "tiny") else 9):
            head = []
            for pa_t, mb_t in PA_TARGETS:
                head.append(f"perf_analyzer {pa_t}")
                if mb_t:
                    head += [f"mlos-bench {mb_t}", "÷"]
            L += [f"#### {model}", "", "| concurrency | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
            for c in sorted({r.get("concurrency") for r in rows if key(r)[3] == model}):
                cells = []
                for pa_t, mb_t in PA_TARGETS:
                    pa = self.pick("perf", "perf_analyzer", pa_t, model, c)
                    cells.append(f"{rps(pa['throughput_rps'])}, p50 {us(lat(pa, 'p50'))}" if ok(pa) else f"— {why(pa)}")
                    if mb_t:
                        mb = self.pick("throughput", "mlosd", mb_t, model, c)
                        cells.append(f"{rps(mb['throughput_rps'])}, p50 {us(lat(mb, 'p50'))}" if ok(mb) else f"— {why(mb)}")
                        cells.append(f"{pa['throughput_rps'] / mb['throughput_rps']:.2f}" if ok(pa) and ok(mb) else "—")
                L.append(f"| {c} | " + " | ".join(cells) + " |")
            L.append("")
        return L

    def failures(self):
        bad = [r for r in self.results if r.get("suite_error") or (r.get("errors") and r.get("errors") != 0)]
        if not bad:
            return []
        L = ["", "Failed or incomplete runs of the peers run:", ""]
        seen = {}
        for r in bad:
            msg = r.get("suite_error") or r.get("first_error") or f"{r.get('errors')} errors"
            msg = re.sub(r"Thread \[\d+\]", "Thread [i]", msg)
            seen.setdefault(msg, []).append(r.get("label", "?") + (f" c={r['concurrency']}" if r.get("concurrency") else ""))
        for msg, labels in seen.items():
            L.append(f"- {', '.join(f'`{l}`' for l in labels)}: {msg}")
        return L + [""]

    def commands(self):
        return ["<details><summary>Every command of the peers run, in the order run</summary>", "", "```"] + \
            [r.get("command", "?") for r in self.results] + ["```", "", "</details>"]

    def render(self):
        return self.header() + self.goals() + self.overhead() + self.throughput() + self.openloop() \
            + self.perf() + self.failures() + [""] + self.commands()


def render(path):
    """Section e's lines from a results-peers.json, or a line saying how to make one."""
    if not os.path.exists(path):
        notes = os.path.join(HERE, "notes.md")
        return ["", "## e. Peer servers from PyPI, and Triton's perf_analyzer", "",
                "**Not measured yet**: `MLOS_BENCH_PART=peers bench/suite.sh` (part of `make bench`) writes "
                "docs/bench/results-peers.json, from which this section's tables are written."] + \
            (["", open(notes).read().strip()] if os.path.exists(notes) else [])
    doc = json.load(open(path))
    return PeersReport(doc.get("meta", {}), doc.get("results", [])).render()
