"""KServe's Python model server (PyPI `kserve`) serving ONNX models with ONNX Runtime: a peer of
bench/suite.sh. KServe has no ONNX Runtime model class of its own in Python (its ONNX path is
Triton), so this is the custom model its docs describe ("Deploy a custom Python model server":
subclass kserve.Model, load in load(), infer in predict(), ModelServer().start([...])), on the
open inference protocol (KServe v2) over REST and gRPC.

CPU set-up, after KServe's docs on the Python server: --workers uvicorn processes share the HTTP
port (one per core by default here), and each runs one ONNX Runtime session per model with
--intra-op threads (default 1), so that concurrent requests use the cores. No log line per request
(--enable_latency_logging False, and kserve_log.json raises uvicorn's access log to WARNING), as
mlosd logs nothing per request.
Usage: kserve_server.py --model NAME=PATH [...] --http_port P --grpc_port G [--workers N]
       [--intra-op N]
"""
import argparse
import importlib.metadata
import os
import sys

# KServe parses sys.argv when it is imported (also in the worker processes it spawns, which get
# the parent's argv): no log line per request (latency trace and uvicorn access log).
sys.argv += ["--enable_latency_logging", "False",
             "--log_config_file", os.path.join(os.path.dirname(os.path.abspath(__file__)), "kserve_log.json")]

import kserve  # noqa: E402
import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.utils.utils import generate_uuid

DTYPES = {np.float32: "FP32", np.float64: "FP64", np.float16: "FP16", np.int64: "INT64",
          np.int32: "INT32", np.int16: "INT16", np.int8: "INT8", np.uint8: "UINT8", np.bool_: "BOOL"}


class OnnxModel(Model):
    def __init__(self, name: str, path: str, intra_op: int):
        super().__init__(name)
        self.path, self.intra_op = path, intra_op
        self.load()

    def load(self) -> bool:
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.intra_op
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, so, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.ready = True
        return self.ready

    # With --workers > 1 KServe starts its uvicorn processes with multiprocessing's spawn and
    # pickles the models into them: each worker opens its own session.
    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("session", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.load()

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        feeds = {i.name: i.as_numpy() for i in payload.inputs}
        results = self.session.run(self.output_names, feeds)
        binary = payload.use_binary_outputs
        outputs = []
        for name, arr in zip(self.output_names, results):
            out = InferOutput(name=name, shape=list(arr.shape), datatype=DTYPES[arr.dtype.type])
            out.set_data_from_numpy(arr, binary_data=binary)
            outputs.append(out)
        return InferResponse(response_id=payload.id or generate_uuid(), model_name=self.name,
                             infer_outputs=outputs, use_binary_outputs=binary)


def main():
    p = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    p.add_argument("--model", action="append", required=True, help="NAME=PATH.onnx (repeatable)")
    p.add_argument("--intra-op", type=int, default=1)
    args, _ = p.parse_known_args()
    models = [OnnxModel(m.split("=", 1)[0], m.split("=", 1)[1], args.intra_op) for m in args.model]
    print(f"kserve {importlib.metadata.version('kserve')}, onnxruntime "
          f"{ort.__version__}, {args.workers} worker(s), pid {os.getpid()}", flush=True)
    ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=args.workers).start(models)


if __name__ == "__main__":
    sys.exit(main())
