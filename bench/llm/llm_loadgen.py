#!/usr/bin/env python3
"""llm_loadgen: closed-loop load on an OpenAI-compatible /v1/completions endpoint (SSE streaming).

The same tool drives mlosd and llama-server (bench/llm/run.sh). Python standard library only.

    llm_loadgen.py --url http://127.0.0.1:8080 --model NAME --concurrency 4 \
        [--duration 20 | --requests 8] --prompt-tokens 128 --max-tokens 64 [--ignore-eos] \
        [--label mlosd-c4] [--out results.jsonl]

Each of C streams sends requests one after the other on its own keep-alive connection (a
request that finds it closed by the server is sent again on a new one, timed from there):
`{"model", "prompt", "max_tokens": G, "temperature": 0, "stream": true,
"stream_options": {"include_usage": true}}` (plus `"ignore_eos": true` with --ignore-eos). The
prompt is P-1 common English words (one token each in the llama SPM vocabulary; the model's BOS
makes P) drawn by a seeded generator per (stream, request): no two requests share a prefix, so
no server can reuse a cached prompt. Token counts come from the server's `usage` when it sends
one, else from the number of streamed text chunks.

With --duration, streams stop starting requests after D seconds and finish the one in flight;
with --requests, each stream sends N. --warmup requests per stream run first and are not counted.

--api llamacpp drives llama-server's native /completion instead (same prompt, n_predict,
temperature 0, stream; the final `"stop": true` object ends it and carries tokens_predicted and
tokens_evaluated): its OpenAI route runs a chat-output parser over every completion that fails
on random-weight text ("does not match the expected Content-only format", HTTP 500 mid-stream).

Prints one JSON object (and appends it to --out):
  gen_tps          completion tokens of all counted requests / wall time
  prompt_tps       prompt tokens / wall time
  ttft_ms_p50/p99  time to the first streamed text
  stream_tps_p50   per request: (completion tokens - 1) / (last text - first text), the decode
                   rate one stream sees
  prompt_tps_p50   per request: prompt tokens / TTFT (with max_tokens 1 this is prefill speed)
  requests, errors, first_error, prompt_tokens_mean, completion_tokens_mean, wall_s
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

WORDS = (
    "the of and to in is was for on that with as by at from his it an were are which this be "
    "or has had not but first one their its new after who they have two her she been other when "
    "there all during into school time may years more most only over city some world would where "
    "later up such used many can state about national out known university united then made "
    "between part being well also year before under while high since three both these film "
    "through team people season he we you us game series war early music south north family "
    "john league based american march june july album april government second several"
).split()


def percentile(values, q):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def make_prompt(n_words, seed):
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(max(1, n_words)))


class Stream(threading.Thread):
    def __init__(self, index, args, host, port, path, start_gate, deadline_box):
        super().__init__(daemon=True)
        self.index, self.args = index, args
        self.host, self.port, self.path = host, port, path
        self.start_gate, self.deadline_box = start_gate, deadline_box
        self.results, self.errors, self.first_error = [], 0, ""
        self.conn = None

    def connect(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)

    def one(self, seq):
        a = self.args
        prompt_text = make_prompt(a.prompt_tokens - 1, f"{a.seed}-{self.index}-{seq}")
        if a.api == "llamacpp":
            body = {"prompt": prompt_text, "n_predict": a.max_tokens, "temperature": 0,
                    "stream": True}
        else:
            body = {
                "model": a.model,
                "prompt": prompt_text,
                "max_tokens": a.max_tokens,
                "temperature": 0,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        if a.ignore_eos:
            body["ignore_eos"] = True
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        t0 = time.perf_counter()
        try:
            self.conn.request("POST", self.path, body=data, headers=headers)
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the kept-alive connection after the previous answer (llama-server
            # does after every stream, though it sends Keep-Alive): the request was not served;
            # send it again on a new connection, timed from there.
            self.connect()
            t0 = time.perf_counter()
            self.conn.request("POST", self.path, body=data, headers=headers)
            resp = self.conn.getresponse()
        if resp.status != 200:
            text = resp.read().decode(errors="replace")
            raise RuntimeError(f"HTTP {resp.status}: {text[:300]}")
        t_first = t_last = None
        chunks = 0
        usage = None
        finish = None
        done = False
        last = b""
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if line:
                last = line
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                break
            obj = json.loads(payload)
            if a.api == "llamacpp":  # {"content": ..., "stop": bool, "tokens_predicted": n}
                if obj.get("content"):
                    now = time.perf_counter()
                    if t_first is None:
                        t_first = now
                    t_last = now
                    chunks += 1
                if obj.get("stop"):
                    usage = {"completion_tokens": obj.get("tokens_predicted"),
                             "prompt_tokens": obj.get("tokens_evaluated")}
                    finish = obj.get("stop_type", "stop")
                    done = True
                    break
                continue
            if obj.get("usage"):
                usage = obj["usage"]
            for choice in obj.get("choices") or []:
                if choice.get("text"):
                    now = time.perf_counter()
                    if t_first is None:
                        t_first = now
                    t_last = now
                    chunks += 1
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        # Drain whatever follows [DONE] so the connection can be reused (chunked framing).
        if done:
            resp.read()
        t_end = time.perf_counter()
        if not done:
            raise RuntimeError(f"the stream ended without data: [DONE] after {chunks} chunks "
                               f"(last line: {last[:200]!r})")
        if t_first is None:
            raise RuntimeError("no text was streamed")
        completion = (usage or {}).get("completion_tokens") or chunks
        prompt = (usage or {}).get("prompt_tokens") or a.prompt_tokens
        ttft = t_first - t0
        return {
            "ttft": ttft,
            "completion": completion,
            "prompt": prompt,
            "chunks": chunks,
            "decode_tps": (completion - 1) / (t_last - t_first)
            if completion > 1 and t_last > t_first else None,
            "prompt_tps": prompt / ttft if ttft > 0 else None,
            "latency": t_end - t0,
            "finish": finish,
            "t_end": t_end,
        }

    def run(self):
        self.connect()
        a = self.args
        seq = 0
        for _ in range(a.warmup):
            try:
                self.one(seq)
            except Exception:  # noqa: BLE001  (a warm-up failure shows again when counted)
                self.connect()
            seq += 1
        self.start_gate.wait()
        deadline = time.perf_counter() + (a.duration or 0)
        n = 0
        while True:
            if a.requests is not None and n >= a.requests:
                break
            if a.requests is None and time.perf_counter() >= deadline:
                break
            try:
                self.results.append(self.one(seq))
            except Exception as e:  # noqa: BLE001
                self.errors += 1
                if not self.first_error:
                    self.first_error = str(e)[:300]
                self.connect()
            seq += 1
            n += 1
        self.conn.close()


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--api", choices=["openai", "llamacpp"], default="openai",
                   help="openai: /v1/completions; llamacpp: llama-server's native /completion "
                        "(no OpenAI output parsing; ends at \"stop\": true)")
    p.add_argument("--path", help="default /v1/completions (openai), /completion (llamacpp)")
    p.add_argument("--model", required=True)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--duration", type=float, help="seconds (default 20 unless --requests)")
    p.add_argument("--requests", type=int, help="requests per stream")
    p.add_argument("--warmup", type=int, default=1, help="uncounted requests per stream")
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--ignore-eos", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--label", default="")
    p.add_argument("--out", help="append the JSON result to this file")
    p.add_argument("--print-prompt", action="store_true",
                   help="print the prompt of stream 0's first counted request and exit (the "
                        "text bench/llm/run.sh gives the floor, so it decodes the same tokens)")
    a = p.parse_args(argv)
    if a.print_prompt:
        sys.stdout.write(make_prompt(a.prompt_tokens - 1, f"{a.seed}-0-{a.warmup}"))
        return 0
    if a.path is None:
        a.path = "/completion" if a.api == "llamacpp" else "/v1/completions"
    if a.duration is None and a.requests is None:
        a.duration = 20.0
    u = urllib.parse.urlsplit(a.url)
    host, port = u.hostname, u.port or 80

    gate = threading.Barrier(a.concurrency + 1)
    deadline_box = [0.0]
    streams = [Stream(i, a, host, port, a.path, gate, deadline_box)
               for i in range(a.concurrency)]
    for s in streams:
        s.start()
    gate.wait()  # every stream has finished its warm-up: start the clock
    t_start = time.perf_counter()
    for s in streams:
        s.join()
    results = [r for s in streams for r in s.results]
    t_stop = max([r["t_end"] for r in results], default=time.perf_counter())
    wall = max(t_stop - t_start, 1e-9)
    errors = sum(s.errors for s in streams)
    first_error = next((s.first_error for s in streams if s.first_error), "")
    completion = sum(r["completion"] for r in results)
    prompt = sum(r["prompt"] for r in results)
    ttft_ms = [1000 * r["ttft"] for r in results]
    decode = [r["decode_tps"] for r in results if r["decode_tps"]]
    ptps = [r["prompt_tps"] for r in results if r["prompt_tps"]]

    def rnd(x, d=2):
        return None if x is None else round(x, d)

    out = {
        "label": a.label,
        "concurrency": a.concurrency,
        "prompt_tokens_arg": a.prompt_tokens,
        "max_tokens": a.max_tokens,
        "requests": len(results),
        "errors": errors,
        "first_error": first_error,
        "wall_s": rnd(wall, 3),
        "gen_tps": rnd(completion / wall),
        "prompt_tps": rnd(prompt / wall),
        "ttft_ms_p50": rnd(percentile(ttft_ms, 0.5)),
        "ttft_ms_p99": rnd(percentile(ttft_ms, 0.99)),
        "stream_tps_p50": rnd(percentile(decode, 0.5)),
        "prompt_tps_p50": rnd(percentile(ptps, 0.5)),
        "prompt_tokens_mean": rnd(prompt / len(results), 1) if results else None,
        "completion_tokens_mean": rnd(completion / len(results), 1) if results else None,
        "finish_reasons": sorted({str(r["finish"]) for r in results}),
    }
    line = json.dumps(out)
    print(line)
    if a.out:
        with open(a.out, "a") as f:
            f.write(line + "\n")
    return 0 if results and not errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
