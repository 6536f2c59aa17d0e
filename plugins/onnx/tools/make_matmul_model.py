#!/usr/bin/env python3
"""A weight-heavy model for mlos-onnx-reload-bench: OUT (default matmul32.onnx) =
  float32 input "x" [batch,2048] -> MatMul 2048x2048 -> Relu -> MatMul 2048x2048 -> "y" [batch,2048]
32 MiB of float weights (two initializers), random from a fixed seed (the file is the same on every
run), ir_version 8, opset 17. Usage: make_matmul_model.py [OUT] (missing directories are made).
Run with Debian's python (python3-onnx, python3-numpy)."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

N = 2048


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "matmul32.onnx"
    rng = np.random.default_rng(20261203)
    weights = [
        numpy_helper.from_array((rng.standard_normal((N, N)) / np.sqrt(N)).astype(np.float32), name)
        for name in ("w1", "w2")
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="matmul1"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="matmul2"),
    ]
    graph = helper.make_graph(
        nodes, "matmul32",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", N])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", N])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    onnx.save(model, out)
    print(f"{out} ({sum(len(w.raw_data) for w in weights)} bytes of weights)")


if __name__ == "__main__":
    main()
