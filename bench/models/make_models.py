#!/usr/bin/env python3
"""Benchmark model set for bench/suite.sh: OUTDIR/<name>/model.onnx for
  tiny     float32 input [batch,16]          -> MatMul+Add+Softmax       -> output [batch,4]
  mlp      float32 input [batch,256]         -> 3 x (512, Relu) + linear -> output [batch,10]
  encoder  int64 input_ids [batch,128]       -> 2-layer pre-LN transformer encoder (d_model 128,
           4 heads, FFN 512, exact Gelu via Erf) -> embedding [batch,128] (mean over the sequence)
  large    float32 input [batch,8388608]     -> Mul by 2                 -> output [batch,8388608]
           (32 MB per batch row in and out)
Every input and output has the dynamic batch dimension "batch" first, so a server may batch
requests. Random weights from a fixed seed (the files are the same on every run), ir_version 8,
opset 17 (ONNX Runtime 1.29 runs them). Usage: make_models.py OUTDIR [NAME ...]
Run with Debian's python (python3-onnx, python3-numpy)."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
SEED = 20261126


class Graph:
    """A small builder: nodes, initializers and unique names."""

    def __init__(self, name, rng):
        self.name, self.rng = name, rng
        self.nodes, self.inits, self.n = [], [], 0

    def fresh(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, base, array):
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, base, shape, fan_in):
        w = self.rng.standard_normal(shape).astype(np.float32) / np.float32(np.sqrt(fan_in))
        return self.const(base, w)

    def op(self, op_type, inputs, base=None, **attrs):
        out = self.fresh(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.fresh("n_" + op_type), **attrs))
        return out

    def linear(self, x, d_in, d_out, base):
        w = self.weight(base + "_w", (d_in, d_out), d_in)
        b = self.const(base + "_b", (0.01 * self.rng.standard_normal(d_out)).astype(np.float32))
        return self.op("Add", [self.op("MatMul", [x, w]), b], base)

    def layer_norm(self, x, d, base):
        scale = self.const(base + "_scale", np.ones(d, np.float32))
        bias = self.const(base + "_bias", np.zeros(d, np.float32))
        return self.op("LayerNormalization", [x, scale, bias], base, axis=-1, epsilon=1e-5)

    def model(self, inputs, outputs, final_names):
        # Rename the last nodes' outputs to the graph's output names.
        for node in self.nodes:
            for i, o in enumerate(node.output):
                if o in final_names:
                    node.output[i] = final_names[o]
        g = helper.make_graph(self.nodes, self.name, inputs, outputs, initializer=self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mlos-bench-models")
        m.ir_version = IR_VERSION
        return m


def tensor(name, elem, *dims):
    return helper.make_tensor_value_info(name, elem, ["batch", *dims])


def tiny(rng):
    g = Graph("tiny", rng)
    y = g.op("Softmax", [g.linear("input", 16, 4, "fc")], axis=-1)
    return g.model([tensor("input", TensorProto.FLOAT, 16)], [tensor("output", TensorProto.FLOAT, 4)],
                   {y: "output"})


def mlp(rng):
    g = Graph("mlp", rng)
    h, d = "input", 256
    for i in range(3):
        h = g.op("Relu", [g.linear(h, d, 512, f"fc{i}")])
        d = 512
    y = g.linear(h, d, 10, "out")
    return g.model([tensor("input", TensorProto.FLOAT, 256)], [tensor("output", TensorProto.FLOAT, 10)],
                   {y: "output"})


def encoder(rng, vocab=1000, seq=128, d=128, heads=4, ffn=512, layers=2):
    g = Graph("encoder", rng)
    dh = d // heads
    tok = g.op("Gather", [g.weight("tok_emb", (vocab, d), 1), "input_ids"], "tok", axis=0)
    pos = g.op("Gather", [g.weight("pos_emb", (seq, d), 1), g.const("positions", np.arange(seq, dtype=np.int64))],
               "pos", axis=0)
    x = g.op("Add", [tok, pos], "emb")                      # [batch, seq, d]
    # Batch-agnostic reshapes: 0 copies the batch dimension from the input.
    split = g.const("split_heads", np.array([0, seq, heads, dh], np.int64))
    merge = g.const("merge_heads", np.array([0, seq, d], np.int64))
    scale = g.const("attn_scale", np.array(1.0 / np.sqrt(dh), np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    one = g.const("one", np.array(1.0, np.float32))
    rsqrt2 = g.const("rsqrt2", np.array(1.0 / np.sqrt(2.0), np.float32))
    for l in range(layers):
        h = g.layer_norm(x, d, f"l{l}_ln1")
        q = g.op("Transpose", [g.op("Reshape", [g.linear(h, d, d, f"l{l}_q"), split])], perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [g.linear(h, d, d, f"l{l}_k"), split])], perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [g.linear(h, d, d, f"l{l}_v"), split])], perm=[0, 2, 1, 3])
        scores = g.op("Mul", [g.op("MatMul", [q, k]), scale])          # [batch, heads, seq, seq]
        attn = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])  # [batch, heads, seq, dh]
        attn = g.op("Reshape", [g.op("Transpose", [attn], perm=[0, 2, 1, 3]), merge])
        x = g.op("Add", [x, g.linear(attn, d, d, f"l{l}_o")], f"l{l}_res1")
        h = g.layer_norm(x, d, f"l{l}_ln2")
        f = g.linear(h, d, ffn, f"l{l}_ff1")
        # Gelu (exact): 0.5 * f * (1 + erf(f / sqrt(2)))
        gelu = g.op("Mul", [g.op("Mul", [f, half]),
                            g.op("Add", [g.op("Erf", [g.op("Mul", [f, rsqrt2])]), one])], "gelu")
        x = g.op("Add", [x, g.linear(gelu, ffn, d, f"l{l}_ff2")], f"l{l}_res2")
    x = g.layer_norm(x, d, "ln_f")
    y = g.op("ReduceMean", [x], axes=[1], keepdims=0)
    return g.model([tensor("input_ids", TensorProto.INT64, seq)], [tensor("embedding", TensorProto.FLOAT, d)],
                   {y: "embedding"})


def large(rng, n=8388608):
    g = Graph("large", rng)
    y = g.op("Mul", ["input", g.const("factor", np.array(2.0, np.float32))])
    return g.model([tensor("input", TensorProto.FLOAT, n)], [tensor("output", TensorProto.FLOAT, n)],
                   {y: "output"})


MODELS = {"tiny": tiny, "mlp": mlp, "encoder": encoder, "large": large}


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) > 1 else 2
    out, names = sys.argv[1], sys.argv[2:] or list(MODELS)
    for name in names:
        if name not in MODELS:
            print(f"unknown model {name}; known: {', '.join(MODELS)}", file=sys.stderr)
            return 2
        # One generator per model, so a model's weights don't depend on which others are built.
        m = MODELS[name](np.random.default_rng([SEED, list(MODELS).index(name)]))
        onnx.checker.check_model(m, full_check=True)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "model.onnx")
        onnx.save(m, path)
        print(f"{path} ({os.path.getsize(path)} bytes, {len(m.graph.node)} nodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
