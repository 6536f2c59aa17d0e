#!/usr/bin/env python3
"""Writes the fuzz seed corpora (fuzz/corpus/<name>/): small, realistic inputs for each target.

Run from the repository root after a normal build (it takes model files from build/fixtures and
packs a .axon with build/bin/axon): python3 fuzz/make_seeds.py [BUILD_DIR]. The output is
committed; rerun it only to change the seeds. Inputs of targets whose first byte selects a mode
start with that byte (see each fuzz/<name>_fuzz.cc).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def copy(target, *files):
    for f in files:
        with open(os.path.join(BUILD, "fixtures", f), "rb") as src:
            put(target, f, src.read())


# --- protobuf, by hand (no generated Python code needed) ---
def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, value):
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def packed(num, values, fmt=None):
    body = b"".join(struct.pack(fmt, v) for v in values) if fmt else b"".join(
        varint(v) for v in values)
    return field(num, body)


def param(key, kind, value):
    # map<string, InferParameter> entry: key = 1, value = 2
    return field(1, key) + field(2, field(kind, value))


def grpc_seeds():
    x = field(1, "x") + field(2, "FP32") + packed(3, [1, 4])
    raw = struct.pack("<4f", 1, 2, 3, 4)
    req = (field(1, "local/add") + field(2, "1.0.0") + field(3, "req-1") +
           field(4, param("priority", 2, 1)) + field(5, x) + field(6, field(1, "y")) +
           field(7, raw))
    put("grpc_infer", "raw_fp32", b"\x00" + req)
    put("grpc_infer", "raw_fp32_split", b"\x85" + req)
    typed = (field(1, "local/m") + field(5, field(1, "ids") + field(2, "INT64") +
             packed(3, [3]) + field(5, packed(3, [7, 8, 9])))
             + field(5, field(1, "s") + field(2, "BYTES") + packed(3, [2]) +
                     field(5, field(8, "ab") + field(8, "c")))
             + field(6, field(1, "out") + field(2, param("binary_data", 1, 1))))
    put("grpc_infer", "typed_int64_bytes", b"\x00" + typed)
    shm = (field(1, "local/m") + field(5, field(1, "x") + field(2, "UINT8") + packed(3, [16]) +
           field(4, param("shared_memory_region", 3, "r0")) +
           field(4, param("shared_memory_byte_size", 2, 16))) +
           field(6, field(1, "y") + field(2, param("shared_memory_region", 3, "r1"))) +
           field(4, param("keep_alive", 3, "5m")) + field(4, param("timeout", 2, 1000)))
    put("grpc_infer", "shm", b"\x9f" + shm)


# --- IPC frames (docs/ipc.md; python/src/mlos/_ipc_frames.py) ---
def s(*values):
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def wire_tensor(out, name, dtype, shape, data=None, region=None):
    out += s(name) + struct.pack("<BBH", dtype, 1 if region else 0, len(shape))
    out += struct.pack(f"<{len(shape)}q", *shape)
    if region:
        out += s(region[0]) + struct.pack("<QQ", region[1], region[2])
        return out
    out += struct.pack("<Q", len(data))
    out += b"\0" * ((8 - len(out) % 8) % 8)
    return out + data


def ipc_seeds():
    header = struct.pack("<IHHQII", 0x50494C4D, 1, 4, 7, 0, 0)
    req = bytearray(s("local/add", "1.0.0") + struct.pack("<QI", 0, 2))
    req = wire_tensor(req, "x", 1, [1, 4], struct.pack("<4f", 1, 2, 3, 4))
    req = wire_tensor(req, "s", 13, [2], struct.pack("<I", 2) + b"ab" + struct.pack("<I", 1) + b"c")
    req += struct.pack("<I", 2) + s("y") + b"\0"
    req += s("z") + b"\1" + s("r1") + struct.pack("<QQ", 0, 64)
    put("ipc_frame", "infer_request", bytes(req))
    ext = bytearray(s("local/m", "") + struct.pack("<QI", 5000, 1))
    ext = wire_tensor(ext, "x", 7, [2], b"", region=("r0", 8, 16))
    ext += struct.pack("<I", 0) + struct.pack("<BIq", 3, 2, -1)
    put("ipc_frame", "infer_request_ext", bytes(ext))
    res = bytearray(s("local/add@1.0.0") + struct.pack("<QQI", 12, 34, 2))
    res = wire_tensor(res, "y", 1, [1, 4], struct.pack("<4f", 2, 4, 6, 8))
    res = wire_tensor(res, "z", 8, [1], b"", region=("r1", 0, 8))
    put("ipc_frame", "infer_response", bytes(res))
    put("ipc_frame", "header_health", struct.pack("<IHHQII", 0x50494C4D, 1, 2, 1, 0, 0))
    put("ipc_frame", "header_infer", header)


def shm_seeds():
    def reg(mode, name, offset, size, resolves, trunc=None):
        b = bytes([mode]) + s(name) + struct.pack("<QQ", offset, size)
        if trunc is not None:
            b += struct.pack("<I", trunc)
        for which, at, n in resolves:
            b += struct.pack("<BQQ", which, at, n)
        return b
    put("shm_region", "memfd", reg(0, "r0", 0, 4096, [(0, 0, 16), (0, 4080, 16), (1, 0, 1)]))
    put("shm_region", "memfd_offset", reg(0, "input", 8192, 65536 - 8192, [(0, 100, 200)]))
    put("shm_region", "file", reg(1, "f", 4096, 4096, [(0, 0, 4096), (0, 4095, 1)]))
    put("shm_region", "file_truncated", reg(3, "t", 0, 65536, [(0, 0, 8), (0, 60000, 100)],
                                            trunc=1000))


def repository_seeds():
    def entry(kind, *names):
        return bytes([kind]) + b"".join(bytes([len(n)]) + n.encode() for n in names)
    triton = entry(5, "resnet", "1", "model") + entry(5, "resnet", "2", "model")
    files = entry(6, "bert") + entry(21, "a") + entry(10, "llm", "x")
    packages = entry(37, "pkg", "x") + entry(128, "empty", "v", "w")
    put("model_repository", "triton", b"\x00" + triton)
    put("model_repository", "mixed", b"\x00" + files + packages + triton)
    put("model_repository", "named", b"\x01\x0dlocal/m@2.0.0" + entry(6, "model"))


def npy(descr, shape, data):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else ""))
    pad = 64 - (10 + len(header) + 1) % 64
    header += " " * (pad % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    for f in ("full.yaml", "legacy_axon.yaml", "minimal.yaml", "unknown_fields.yaml"):
        with open(os.path.join(ROOT, "tests", "fixtures", "manifests", f)) as src:
            put("manifest", f, src.read())

    # A real .axon from the project's own packer: a manifest and one small model file.
    with tempfile.TemporaryDirectory() as tmp:
        pkg = os.path.join(tmp, "pkg")
        os.makedirs(pkg)
        shutil.copy(os.path.join(BUILD, "fixtures", "add.onnx"), os.path.join(pkg, "model.onnx"))
        with open(os.path.join(ROOT, "tests", "fixtures", "manifests", "minimal.yaml")) as src:
            manifest = src.read()
        with open(os.path.join(pkg, "manifest.yaml"), "w") as f:
            f.write(manifest)
        out = os.path.join(tmp, "add.axon")
        subprocess.run([os.path.join(BUILD, "bin", "axon"), "pack", pkg, "-o", out, "--level", "1"],
                       check=True, stdout=subprocess.DEVNULL)
        with open(out, "rb") as f:
            put("archive", "add.axon", f.read())
        tar = os.path.join(tmp, "plain.tar")
        subprocess.run(["tar", "--format=ustar", "--mtime=@0", "--owner=0", "--group=0",
                        "--numeric-owner", "-cf", tar, "-C", pkg, "manifest.yaml",
                        "model.onnx"], check=True)
        with open(tar, "rb") as f:
            put("archive", "plain.tar", f.read())

    copy("onnx", "add.onnx", "dtypes.onnx", "scalar_and_empty.onnx", "mlp.onnx")
    copy("gguf", "tiny.gguf")
    copy("tflite", "tflite_add_f32.tflite", "tflite_multi.tflite", "tflite_gather_str.tflite",
         "tflite_passthrough.tflite")
    copy("torchscript", "torch_dict.pt", "torch_lite_flatbuffer.ptl")
    copy("tflite_plugin", "tflite_add_f32.tflite", "tflite_multi.tflite",
         "tflite_gather_str.tflite", "tflite_passthrough.tflite")
    io = {"inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]},
                     {"name": "ids", "dtype": "int64"}],
          "outputs": [{"name": "y", "dtype": "bfloat16", "shape": [-1, 4]}]}
    put("torch_io", "manifest", json.dumps({"apiVersion": "mlos.ai/v1", "kind": "Model",
                                            "metadata": {"name": "m", "version": "1.0.0"},
                                            "spec": {"format": {"type": "torchscript"},
                                                     "io": io}}))
    put("torch_io", "uint16", json.dumps({"spec": {"io": {
        "inputs": [{"name": "x", "dtype": "uint16", "shape": [1]}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": []}]}}}))

    for f in ("torch_dtypes.io.yaml", "torch_scripted.io.yaml"):
        with open(os.path.join(BUILD, "fixtures", f), "rb") as src:
            put("sidecar", f, b"\x00" + src.read())
    put("sidecar", "flag", b"\x01serving_default_x:0:float32:1,4")
    put("sidecar", "shape", b"\x02[-1, 3, 224, 224]")

    put("npy", "f32", b"\x00" + npy("<f4", [2, 2], struct.pack("<4f", 1, 2, 3, 4)))
    put("npy", "i64_scalar", b"\x00" + npy("<i8", [], struct.pack("<q", 7)))
    put("npy", "b1", b"\x00" + npy("|b1", [3], b"\x01\x00\x01"))
    put("npy", "json_nested", b"\x01[[1.5, 2], [3, 4]]")
    put("npy", "json_doc", b"\x03" + json.dumps(
        {"shape": [2], "data": ["a", "b"], "dtype": "string"}).encode())

    req = {"id": "1", "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                  "data": [1, 2, 3, 4]}],
           "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
           "parameters": {"priority": 1, "timeout": 1000, "keep_alive": "5m"}}
    put("kserve_json", "fp32", json.dumps(req))
    put("kserve_json", "bytes_bool", json.dumps({"inputs": [
        {"name": "s", "shape": [2], "datatype": "BYTES", "data": ["a", "bc"]},
        {"name": "b", "shape": [1], "datatype": "BOOL", "data": [True]},
        {"name": "h", "shape": [1, 1], "datatype": "FP16", "data": [[0.5]]}]}))
    put("kserve_json", "shm", json.dumps({"inputs": [
        {"name": "x", "shape": [4], "datatype": "INT32", "parameters": {
            "shared_memory_region": "r0", "shared_memory_byte_size": 16,
            "shared_memory_offset": 0}}],
        "outputs": [{"name": "y", "parameters": {"shared_memory_region": "r1",
                                                 "shared_memory_byte_size": 16}}],
        "parameters": {"binary_data_output": True}}))
    head = json.dumps({"inputs": [
        {"name": "x", "shape": [4], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
        {"name": "s", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}],
        "outputs": [{"name": "y"}]}).encode()
    body = head + struct.pack("<4f", 1, 2, 3, 4) + struct.pack("<I", 2) + b"hi"
    put("kserve_binary", "fp32_bytes", struct.pack("<I", len(head)) + body)
    put("kserve_binary", "json_only", struct.pack("<I", 0x80000000) + json.dumps(req).encode())

    put("native", "flat", b"\x01" + json.dumps({"x": [1, 2, 3, 4, 5, 6]}).encode())
    put("native", "nested_shapes", b"\x82" + json.dumps(
        {"inputs": {"x": [[1, 2], [3, 4]], "y": ["a", "b"]},
         "parameters": {"priority": 2, "keep_alive": -1}}).encode())
    put("native", "input_shapes", b"\x04" + json.dumps(
        {"u": [1, 2, 3, 4], "h": [0.5, 1.5],
         "input_shapes": {"u": [2, 2], "h": [1, 1, 2]}}).encode())
    put("native", "guess", b"\x00" + json.dumps({"a": [[true_ for true_ in (True, False)]],
                                                 "n": [1, 2], "f": [1.5]}).encode())

    for i, (method, target) in enumerate([
            (0, "/v2/models/local%2Fadd/versions/1.0.0/infer"), (2, "/v2/models/add/infer"),
            (0, "/models/local/add@1.0.0"), (2, "/models/local%2Fadd%401.0.0/inference"),
            (2, "/v2/systemsharedmemory/region/r%200/register"), (0, "/ui/console.js"),
            (0, "/audit?limit=10"), (0, "/stats/live"), (4, "/tokens/ci-bot"),
            (2, "/v1/chat/completions"), (0, "/v2/models/stats"), (6, "/api/tags")]):
        put("router", "t%02d" % i, bytes([method]) + target.encode())
    for i, q in enumerate(["/audit?limit=10", "/audit", "/audit?x=1&limit=1000#f",
                           "/audit?limit=&limit=5", "/audit?limit=-1"]):
        put("query", "q%d" % i, q)

    ipc_seeds()
    shm_seeds()
    repository_seeds()
    grpc_seeds()


if __name__ == "__main__":
    main()
