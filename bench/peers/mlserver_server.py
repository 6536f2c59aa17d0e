"""Starts Seldon's MLServer (PyPI `mlserver`) on the ONNX models given, with the custom ONNX Runtime
runtime of mlserver_runtime.py: writes a model repository (settings.json and one folder with
model-settings.json per model) under --dir and runs `mlserver start` there (in this process).

CPU set-up, after MLServer's docs ("Parallel Inference"): `parallel_workers` inference processes
(one per core by default here), each holding every model with one ONNX Runtime intra-op thread,
behind the one HTTP/gRPC front process; `debug` off (MLServer's production setting: no access log
line per request); adaptive batching off (its default). Metrics stay on (default) on their own
port.
Usage: mlserver_server.py --dir DIR --model NAME=PATH [...] --http-port P --grpc-port G
       --metrics-port M [--workers N] [--intra-op N]
"""
import argparse
import importlib.metadata
import json
import os
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--model", action="append", required=True, help="NAME=PATH.onnx (repeatable)")
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--intra-op", type=int, default=1)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    settings = {"debug": False, "host": "127.0.0.1", "http_port": a.http_port, "grpc_port": a.grpc_port,
                "metrics_port": a.metrics_port, "parallel_workers": a.workers,
                "grpc_max_message_length": 268435456}
    json.dump(settings, open(os.path.join(a.dir, "settings.json"), "w"), indent=1)
    for m in a.model:
        name, path = m.split("=", 1)
        os.makedirs(os.path.join(a.dir, name), exist_ok=True)
        json.dump({"name": name, "implementation": "mlserver_runtime.OnnxRuntime",
                   "parameters": {"uri": os.path.abspath(path), "extra": {"intra_op_threads": a.intra_op}}},
                  open(os.path.join(a.dir, name, "model-settings.json"), "w"), indent=1)
    # The runtime's module must be importable by MLServer and by its worker processes.
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["PYTHONPATH"] = here + os.pathsep + os.environ.get("PYTHONPATH", "")
    sys.path.insert(0, here)
    os.chdir(a.dir)  # MLServer keeps .metrics/ and .envs/ in its working directory
    print(f"mlserver {importlib.metadata.version('mlserver')}, onnxruntime "
          f"{importlib.metadata.version('onnxruntime')}, {a.workers} worker(s), pid {os.getpid()}", flush=True)
    from mlserver.cli.main import main as mlserver_main
    sys.argv = ["mlserver", "start", "."]
    return mlserver_main()


if __name__ == "__main__":
    sys.exit(main())
