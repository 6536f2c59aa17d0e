#!/usr/bin/python3
"""Generates the models mlos-bench's own tests drive (bench/CMakeLists.txt), into OUTDIR:

  stateful.onnx  shaped like Silero VAD: a dynamic inner dim, a state tensor and a 0-d input
                 "input" float32 [batch,samples], "state" float32 [2,batch,8], "sr" int64 []
                 -> "output" float32 [batch,1] = mean(input, axis 1) * sr / 16000
                    "stateN" float32 [2,batch,8] = state + mean(input, axis 1)

Run with Debian's interpreter (python3-onnx, python3-numpy), as tests/fixtures/make_models.py:
    /usr/bin/python3 bench/loadgen/make_test_models.py OUTDIR
Deterministic output; opset 13, IR version 7 (ONNX Runtime 1.29 loads them).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 7


def stateful():
    inputs = [
        helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", "samples"]),
        helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 8]),
        helper.make_tensor_value_info("sr", TensorProto.INT64, []),
    ]
    outputs = [
        helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1]),
        helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, "batch", 8]),
    ]
    inits = [
        numpy_helper.from_array(np.array(16000.0, dtype=np.float32), "sr_ref"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1], keepdims=1),  # [batch,1]
        helper.make_node("Cast", ["sr"], ["sr_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["sr_f", "sr_ref"], ["sr_scale"]),
        helper.make_node("Mul", ["mean", "sr_scale"], ["output"]),
        helper.make_node("Unsqueeze", ["mean", "axis0"], ["mean3"]),  # [1,batch,1]
        helper.make_node("Add", ["state", "mean3"], ["stateN"]),
    ]
    graph = helper.make_graph(nodes, "stateful", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mlos-bench-tests", producer_version="1")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


MODELS = {"stateful.onnx": stateful}


def main(argv):
    if len(argv) != 1:
        print("usage: make_test_models.py OUTDIR", file=sys.stderr)
        return 2
    os.makedirs(argv[0], exist_ok=True)
    for name, build in MODELS.items():
        path = os.path.join(argv[0], name)
        with open(path + ".tmp", "wb") as f:
            f.write(build().SerializeToString())
        os.replace(path + ".tmp", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
