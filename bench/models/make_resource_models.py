#!/usr/bin/env python3
"""Extra models for bench/mlosd/resources.sh (the resource manager's benchmark), written as
OUTDIR/<name>/model.onnx:
  w32      float32 input [batch,1024] -> MatMul 1024x2048, Relu, MatMul 2048x2048, Relu,
           MatMul 2048x1024 -> output [batch,1024]: 32 MiB of weights (reload and sharing).
  z00..z11 int64 ids [batch,16] -> Gather from a float32 table [rows,256] -> ReduceMean over the
           16 ids -> MatMul 256x16 -> output [batch,16]. The tables differ in size (20 to 60 MB,
           sizes shuffled so that size and name order are unrelated) and each model has weights
           of its own (a seed per model): what one costs is memory, not compute (a call reads
           16 rows). For the memory-pressure section.
  zsig     the z models' signature with a 1024-row table: the load generator reads a model's
           inputs from an .onnx file, and this one loads in a blink.
Every input and output has the dynamic batch dimension "batch" first. ids must be < 1024 (the
load generator's --int-max 1024). Weights are random from fixed seeds, so the files are the same
on every run. Usage: make_resource_models.py OUTDIR [NAME ...]. Run with Debian's python
(python3-onnx, python3-numpy). Prints one JSON line per model: name, path, bytes, weight_bytes.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
SEED = 20261203
IDS = 16      # ids per request row
DIM = 256     # embedding width
MB = 1000 * 1000
Z_COUNT = 12
# Table sizes of z00..z11 in MB: 20 to 60 in even steps, in an order unrelated to the names.
Z_SIZES_MB = [20 + 40 * k / (Z_COUNT - 1) for k in (7, 2, 10, 0, 5, 11, 3, 8, 1, 9, 6, 4)]


def save(model, out, name):
    onnx.checker.check_model(model)
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    onnx.save(model, path)
    weights = sum(int(np.prod(t.dims)) * 4 for t in model.graph.initializer)
    print(json.dumps({"name": name, "path": path, "bytes": os.path.getsize(path),
                      "weight_bytes": weights}))


def make(nodes, inits, inputs, outputs, name):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="mlos-bench-resource-models")
    m.ir_version = IR_VERSION
    return m


def weight(rng, name, shape, fan_in):
    w = rng.standard_normal(shape, dtype=np.float32) / np.float32(np.sqrt(fan_in))
    return numpy_helper.from_array(w, name)


def w32(rng):
    dims = [1024, 2048, 2048, 1024]
    nodes, inits, x = [], [], "input"
    for i in range(3):
        inits.append(weight(rng, f"w{i}", (dims[i], dims[i + 1]), dims[i]))
        y = "output" if i == 2 else f"h{i}"
        mm = y if i == 2 else f"mm{i}"
        nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [mm], name=f"matmul{i}"))
        if i < 2:
            nodes.append(helper.make_node("Relu", [mm], [y], name=f"relu{i}"))
        x = y
    return make(nodes, inits,
                [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1024])],
                [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1024])], "w32")


def embedding(rng, name, rows):
    inits = [weight(rng, "table", (rows, DIM), 1), weight(rng, "head", (DIM, 16), DIM)]
    nodes = [helper.make_node("Gather", ["table", "ids"], ["emb"], name="gather", axis=0),
             helper.make_node("ReduceMean", ["emb"], ["pooled"], name="pool", axes=[1], keepdims=0),
             helper.make_node("MatMul", ["pooled", "head"], ["output"], name="head_mm")]
    return make(nodes, inits,
                [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", IDS])],
                [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 16])], name)


def builders():
    b = {"w32": lambda: w32(np.random.default_rng([SEED, 0]))}
    for i, mb in enumerate(Z_SIZES_MB):
        rows = int(mb * MB) // (DIM * 4)
        b[f"z{i:02d}"] = (lambda i=i, rows=rows:
                          embedding(np.random.default_rng([SEED, 1 + i]), f"z{i:02d}", rows))
    b["zsig"] = lambda: embedding(np.random.default_rng([SEED, 99]), "zsig", 1024)
    return b


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) > 1 else 2
    out, names = sys.argv[1], sys.argv[2:]
    b = builders()
    for name in names or list(b):
        if name not in b:
            print(f"unknown model {name}; known: {', '.join(b)}", file=sys.stderr)
            return 2
        save(b[name](), out, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
