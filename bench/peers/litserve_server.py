"""LitServe (Lightning AI, PyPI `litserve`) serving ONNX models with ONNX Runtime: a peer of
bench/suite.sh. LitServe has no inference protocol of its own: an API is what its LitAPI's
decode_request / predict / encode_response make of a JSON body, at the LitAPI's `api_path`. Here
each model is one LitAPI at /v2/models/NAME/infer whose body and reply are the JSON form of the
KServe v2 (open inference) protocol, so the suite's load generator drives it as it drives the
others; there is no binary extension, gRPC, model metadata or v2 health route (LitServe's health
check is GET /health).

CPU set-up, after LitServe's docs: accelerator="cpu", workers_per_device inference processes (one
per core by default here: on CPU the machine is one device), each with one ONNX Runtime session
per model and one intra-op thread; num_api_servers left to its default (as many HTTP server
processes as inference workers); fast_queue=True (ZeroMQ between the API servers and the workers,
which LitServe documents as the faster transport); log_level "warning" (no access log line per
request); no client.py generated.
Usage: litserve_server.py --model NAME=PATH [...] --port P [--workers N] [--intra-op N]
"""
import argparse
import os
import sys

import litserve as ls
import numpy as np
import onnxruntime as ort

DTYPES = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT64": np.int64,
          "INT32": np.int32, "INT16": np.int16, "INT8": np.int8, "UINT8": np.uint8, "BOOL": np.bool_}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


class OnnxAPI(ls.LitAPI):
    def __init__(self, name: str, path: str, intra_op: int):
        super().__init__(api_path=f"/v2/models/{name}/infer")
        self.name, self.path, self.intra_op = name, path, intra_op

    def setup(self, device):
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.intra_op
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, so, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]

    def decode_request(self, request):
        return {i["name"]: np.asarray(i["data"], dtype=DTYPES[i["datatype"]]).reshape(i["shape"])
                for i in request["inputs"]}

    def predict(self, feeds):
        return self.session.run(self.output_names, feeds)

    def encode_response(self, results):
        return {"model_name": self.name, "outputs": [
            {"name": n, "datatype": NAMES[a.dtype], "shape": list(a.shape), "data": a.ravel().tolist()}
            for n, a in zip(self.output_names, results)]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", action="append", required=True, help="NAME=PATH.onnx (repeatable)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--intra-op", type=int, default=1)
    a = p.parse_args()
    apis = [OnnxAPI(m.split("=", 1)[0], m.split("=", 1)[1], a.intra_op) for m in a.model]
    print(f"litserve {ls.__version__}, onnxruntime {ort.__version__}, {a.workers} worker(s), pid "
          f"{os.getpid()}", flush=True)
    server = ls.LitServer(apis, accelerator="cpu", workers_per_device=a.workers, fast_queue=True)
    server.run(host="127.0.0.1", port=a.port, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    sys.exit(main())
