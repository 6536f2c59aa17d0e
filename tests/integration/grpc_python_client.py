#!/usr/bin/env python3
"""A third-party KServe v2 gRPC client (Python grpcio, stubs generated from
proto/grpc_service.proto at run time) against a running mlosd: ModelInfer outputs, raw and
typed, must be bit-identical to what the HTTP /v2 infer endpoint answers for the same input.

usage: grpc_python_client.py --grpc HOST:PORT --http PORT --proto-dir DIR --model NS/NAME
       grpc_python_client.py --grpc HOST:PORT --proto-dir DIR --generate NS/NAME
Prints "OK" and exits 0 on success; exits 1 with a reason otherwise. With --generate, instead:
streams mlos.v1.Management/Generate (greedy, 8 tokens), checks the stream's shape (text chunks,
then one last message with the usage) and prints "TEXT <json string>" before "OK".
"""
import argparse
import json
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def http_infer(port, model, values, batch):
    body = json.dumps({
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [batch, 16], "data": values}],
        "parameters": {"binary_data_output": True},
    }).encode()
    url = "http://127.0.0.1:%d/v2/models/%s/infer" % (port, urllib.parse.quote(model, safe=""))
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read()
        hlen = int(r.headers.get("Inference-Header-Content-Length", len(raw)))
    header = json.loads(raw[:hlen])
    out, pos = {}, hlen
    for o in header["outputs"]:
        n = o["parameters"]["binary_data_size"]
        out[o["name"]] = (o["shape"], raw[pos:pos + n])
        pos += n
    return out


def generate(a):
    gen = tempfile.mkdtemp(prefix="mlos-grpc-py-")
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", "-I" + a.proto_dir,
                           "--python_out=" + gen, "--grpc_python_out=" + gen,
                           a.proto_dir + "/mlos_management.proto"])
    sys.path.insert(0, gen)
    import grpc  # noqa: E402
    import mlos_management_pb2 as pb  # noqa: E402
    import mlos_management_pb2_grpc as pbg  # noqa: E402

    stub = pbg.ManagementStub(grpc.insecure_channel(a.grpc))
    from google.protobuf import wrappers_pb2 as wrappers  # noqa: E402
    req = pb.GenerateRequest(model=a.generate, prompt="Once upon a time",
                             max_tokens=wrappers.Int64Value(value=8),
                             temperature=wrappers.DoubleValue(value=0.0))
    chunks, last = [], None
    for msg in stub.Generate(req, timeout=120):
        if last is not None:
            fail("a message after the last one")
        if msg.done:
            last = msg
        else:
            chunks.append(msg.text)
    if last is None:
        fail("the stream ended without its last message")
    if len(chunks) < 2:
        fail("%d chunks" % len(chunks))
    if last.completion_tokens != 8 or last.finish_reason != "length":
        fail("last message: %s" % last)

    # An unknown model ends the stream with NOT_FOUND.
    try:
        for _ in stub.Generate(pb.GenerateRequest(model="test/none", prompt="x"), timeout=30):
            fail("unknown model streamed")
        fail("unknown model answered")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND:
            fail("unknown model: %s %s" % (e.code(), e.details()))
    print("TEXT " + json.dumps("".join(chunks)))
    print("OK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grpc", required=True)
    ap.add_argument("--http", type=int)
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--model", default="test/mlp")
    ap.add_argument("--generate", help="stream a generation from this model instead")
    a = ap.parse_args()
    if a.generate:
        generate(a)
        return
    if a.http is None:
        fail("--http is required")

    gen = tempfile.mkdtemp(prefix="mlos-grpc-py-")
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", "-I" + a.proto_dir,
                           "--python_out=" + gen, "--grpc_python_out=" + gen,
                           a.proto_dir + "/grpc_service.proto"])
    sys.path.insert(0, gen)
    import grpc  # noqa: E402
    import grpc_service_pb2 as pb  # noqa: E402
    import grpc_service_pb2_grpc as pbg  # noqa: E402

    stub = pbg.GRPCInferenceServiceStub(grpc.insecure_channel(a.grpc))
    if not stub.ServerLive(pb.ServerLiveRequest(), timeout=30).live:
        fail("server not live")
    md = stub.ModelMetadata(pb.ModelMetadataRequest(name=a.model), timeout=30)
    if md.name != a.model or [i.name for i in md.inputs] != ["input"]:
        fail("metadata: %s" % md)

    batch = 4
    values = [((i * 37) % 11) * 0.173 - 0.9 for i in range(batch * 16)]
    values = [struct.unpack("<f", struct.pack("<f", v))[0] for v in values]  # exact float32
    want = http_infer(a.http, a.model, values, batch)

    # Raw in, raw out (Triton's default for gRPC).
    req = pb.ModelInferRequest(model_name=a.model, id="py-1")
    t = req.inputs.add(name="input", datatype="FP32", shape=[batch, 16])
    req.raw_input_contents.append(struct.pack("<%df" % len(values), *values))
    res = stub.ModelInfer(req, timeout=60)
    if res.id != "py-1" or res.model_name != a.model:
        fail("response header: %s %s" % (res.id, res.model_name))
    if len(res.raw_output_contents) != len(res.outputs) or len(res.outputs) != len(want):
        fail("raw outputs: %d for %d outputs" % (len(res.raw_output_contents), len(res.outputs)))
    for o, raw in zip(res.outputs, res.raw_output_contents):
        shape, data = want[o.name]
        if list(o.shape) != shape or o.datatype != "FP32":
            fail("%s: shape %s dtype %s, HTTP %s" % (o.name, list(o.shape), o.datatype, shape))
        if raw != data:
            fail("%s: raw bytes differ from HTTP's" % o.name)

    # Typed in, typed out (binary_data=false).
    req = pb.ModelInferRequest(model_name=a.model)
    t = req.inputs.add(name="input", datatype="FP32", shape=[batch, 16])
    t.contents.fp32_contents.extend(values)
    for name in sorted(want):
        o = req.outputs.add(name=name)
        o.parameters["binary_data"].bool_param = False
    res = stub.ModelInfer(req, timeout=60)
    if len(res.raw_output_contents) != 0:
        fail("typed answer carries raw_output_contents")
    for o in res.outputs:
        got = struct.pack("<%df" % len(o.contents.fp32_contents), *o.contents.fp32_contents)
        if got != want[o.name][1]:
            fail("%s: typed contents differ from HTTP's" % o.name)

    # An error: same message as HTTP, gRPC code NOT_FOUND.
    req = pb.ModelInferRequest(model_name="test/none")
    req.inputs.add(name="input", datatype="FP32", shape=[1, 16]).contents.fp32_contents.extend(
        values[:16])
    try:
        stub.ModelInfer(req, timeout=30)
        fail("unknown model answered")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND:
            fail("unknown model: %s %s" % (e.code(), e.details()))
    print("OK")


if __name__ == "__main__":
    main()
