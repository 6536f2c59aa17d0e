"""Inference through tritonclient: every datatype tritonclient maps to numpy (BOOL, INT8..INT64,
UINT8..UINT64, FP16, FP32, FP64, BYTES and BF16) over HTTP with binary tensors, with JSON
tensors and mixed, and over gRPC; many inputs and a subset of outputs in one request; the
asynchronous and streaming calls; and the errors tritonclient raises for mlosd's refusals.
"""

from __future__ import annotations

import queue

import ml_dtypes
import numpy as np
import pytest
from tritonclient.utils import InferenceServerException, triton_to_np_dtype

from conftest import CLS, DTYPES, Triton, identity_model


def values(datatype: str, for_json: bool = False) -> np.ndarray:
    """Edge values of each datatype: extremes, zero, fractions, empty and non-ASCII strings."""
    if datatype == "BOOL":
        return np.array([True, False, True])
    if datatype == "BYTES":
        v = [b"", b"a\x00b", "h\u00e9llo \u4e16\u754c".encode()]
        if not for_json:
            v.append(b"\xff\xfe\x00")  # not UTF-8: only binary tensors carry it
        return np.array(v, dtype=np.object_)
    if datatype == "BF16":
        return np.array([-1.5, 0.0, 3.0e38, 2.0 ** -126], dtype=ml_dtypes.bfloat16)
    dt = np.dtype(triton_to_np_dtype(datatype))
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return np.array([info.min, 0, 1, info.max], dtype=dt)
    info = np.finfo(dt)
    return np.array([-float(info.max), float(info.tiny), 0.1, -0.0, 1.0 / 3.0], dtype=dt)


def same(out: np.ndarray, want: np.ndarray, datatype: str, json_out: bool) -> None:
    if datatype == "BYTES" and json_out:
        # JSON carries strings: tritonclient returns str objects.
        want = np.array([w.decode("utf-8") for w in want], dtype=np.object_)
    assert out.shape == want.shape
    if datatype == "BYTES":
        assert out.tolist() == want.tolist()
        return
    assert out.dtype == want.dtype, (out.dtype, want.dtype)
    assert out.tobytes() == want.tobytes(), (out, want)  # bit for bit (-0.0 included)


def identity_call(t: Triton, datatype: str, data: np.ndarray, binary_in: bool = True,
                  binary_out: bool = True, **kw: object) -> np.ndarray:
    i = t.mod.InferInput("in", list(data.shape), datatype)
    if t.http:
        i.set_data_from_numpy(data, binary_data=binary_in)
        o = t.mod.InferRequestedOutput("out", binary_data=binary_out)
    else:
        i.set_data_from_numpy(data)
        o = t.mod.InferRequestedOutput("out")
    r = t.client.infer(identity_model(datatype), [i], outputs=[o], **kw)
    out = r.as_numpy("out")
    assert out is not None
    return out


@pytest.mark.parametrize("datatype", DTYPES)
def test_every_dtype_binary_and_grpc(triton: Triton, datatype: str) -> None:
    want = values(datatype)
    same(identity_call(triton, datatype, want), want, datatype, json_out=False)


# JSON in and out, binary in with JSON out, JSON in with binary out. tritonclient sends BF16
# inputs only as binary tensors (test_bf16_json_input_is_refused_by_tritonclient).
JSON_CASES = [(dt, bin_in, bin_out) for dt in DTYPES
              for bin_in, bin_out in ((False, False), (True, False), (False, True))
              if dt != "BF16" or bin_in]


@pytest.mark.parametrize("datatype,binary_in,binary_out", JSON_CASES)
def test_every_dtype_http_json(daemon, datatype: str, binary_in: bool, binary_out: bool) -> None:
    t = Triton("http", daemon)
    want = values(datatype, for_json=True)
    out = identity_call(t, datatype, want, binary_in=binary_in, binary_out=binary_out)
    same(out, want, datatype, json_out=not binary_out)
    t.close()


def test_bf16_json_input_is_refused_by_tritonclient(daemon) -> None:
    """tritonclient itself refuses a BF16 JSON input, before any request."""
    t = Triton("http", daemon)
    i = t.mod.InferInput("in", [2], "BF16")
    with pytest.raises(InferenceServerException, match="binary_data=True"):
        i.set_data_from_numpy(np.zeros(2, ml_dtypes.bfloat16), binary_data=False)
    t.close()


def test_empty_and_large_tensors(triton: Triton) -> None:
    empty = np.zeros((0,), np.float32)
    same(identity_call(triton, "FP32", empty), empty, "FP32", False)
    big = np.random.default_rng(7).standard_normal(4 << 20).astype(np.float32)  # 16 MiB
    same(identity_call(triton, "FP32", big), big, "FP32", False)


def test_many_inputs_subset_of_outputs(triton: Triton) -> None:
    """dtypes.onnx: 14 inputs of every dtype in one request; three outputs asked for."""
    names = {"float32": "FP32", "float64": "FP64", "float16": "FP16", "bfloat16": "BF16",
             "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
             "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
             "bool": "BOOL", "string": "BYTES"}
    data = {n: values(dt)[:2] for n, dt in names.items()}
    inputs = []
    for n, dt in names.items():
        i = triton.mod.InferInput("in_" + n, [2], dt)
        i.set_data_from_numpy(data[n])
        inputs.append(i)
    asked = ["out_int8", "out_string", "out_bfloat16"]
    r = triton.client.infer("test/dtypes", inputs,
                            outputs=[triton.mod.InferRequestedOutput(n) for n in asked])
    got = r.get_response()
    got_names = [o["name"] for o in got["outputs"]] if triton.http else \
        [o.name for o in got.outputs]
    assert sorted(got_names) == sorted(asked)
    for n in asked:
        key = n[4:]
        same(r.as_numpy(n), data[key], names[key], json_out=False)
    assert r.as_numpy("out_float32") is None


def test_all_outputs_by_default(triton: Triton) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    inputs = []
    for n in ("a", "b"):
        i = triton.mod.InferInput(n, [2, 3], "FP32")
        i.set_data_from_numpy(a)
        inputs.append(i)
    r = triton.client.infer(CLS, inputs, request_id="req-7")
    np.testing.assert_array_equal(r.as_numpy("sum"), a + a)
    resp = r.get_response()
    if triton.http:
        assert (resp["model_name"], resp["model_version"], resp["id"]) == (CLS, "1.0.0", "req-7")
    else:
        assert (resp.model_name, resp.model_version, resp.id) == (CLS, "1.0.0", "req-7")


def test_async_infer(triton: Triton) -> None:
    data = [np.array([k, k + 1], np.int64) for k in range(8)]
    results = []
    if triton.http:
        pending = []
        for d in data:
            i = triton.mod.InferInput("in", [2], "INT64")
            i.set_data_from_numpy(d)
            pending.append(triton.client.async_infer(identity_model("INT64"), [i]))
        results = [p.get_result().as_numpy("out") for p in pending]
    else:
        done: queue.Queue = queue.Queue()
        for k, d in enumerate(data):
            i = triton.mod.InferInput("in", [2], "INT64")
            i.set_data_from_numpy(d)
            triton.client.async_infer(identity_model("INT64"), [i], request_id=str(k),
                                      callback=lambda result, error: done.put((result, error)))
        got = {}
        for _ in data:
            r, e = done.get(timeout=30)
            assert e is None, e
            got[int(r.get_response().id)] = r.as_numpy("out")
        results = [got[k] for k in range(len(data))]
    for d, r in zip(data, results):
        np.testing.assert_array_equal(r, d)


def test_grpc_stream_infer(daemon) -> None:
    t = Triton("grpc", daemon)
    done: queue.Queue = queue.Queue()
    t.client.start_stream(callback=lambda result, error: done.put((result, error)))
    try:
        for k in range(5):
            i = t.mod.InferInput("in", [1], "BYTES")
            i.set_data_from_numpy(np.array([f"msg {k}".encode()], np.object_))
            t.client.async_stream_infer(identity_model("BYTES"), [i], request_id=str(k))
        # A bad request on the stream comes back as an error on the stream, which goes on.
        bad = t.mod.InferInput("in", [1], "INT32")
        bad.set_data_from_numpy(np.zeros(1, np.int32))
        t.client.async_stream_infer(identity_model("BYTES"), [bad], request_id="bad")
        ok, errors = {}, []
        for _ in range(6):
            r, e = done.get(timeout=30)
            if e is not None:
                errors.append(e)
            else:
                ok[r.get_response().id] = r.as_numpy("out")[0]
    finally:
        t.client.stop_stream()
        t.close()
    assert ok == {str(k): f"msg {k}".encode() for k in range(5)}
    assert len(errors) == 1 and "expected string, got int32" in errors[0].message()


# ---- errors: tritonclient raises InferenceServerException with the server's status --------

def status(t: Triton, http: str, grpc: str) -> str:
    return http if t.http else f"StatusCode.{grpc}"


def raises(t: Triton, call, want_status: str, *fragments: str) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as e:
        call()
    assert e.value.status() == want_status, (e.value.status(), e.value.message())
    for f in fragments:
        assert f in e.value.message(), (f, e.value.message())
    return e.value


def fp32(t: Triton, name: str, shape: list[int], datatype: str = "FP32"):
    i = t.mod.InferInput(name, shape, datatype)
    i.set_data_from_numpy(np.ones(shape, triton_to_np_dtype(datatype)))
    return i


def test_error_unknown_model(triton: Triton) -> None:
    raises(triton, lambda: triton.client.infer("nope/none", [fp32(triton, "a", [1, 3])]),
           status(triton, "404", "NOT_FOUND"), "nope/none", "not registered")


def test_error_unknown_version(triton: Triton) -> None:
    call = lambda: triton.client.infer(CLS, [fp32(triton, "a", [1, 3]), fp32(triton, "b", [1, 3])],
                                       model_version="9.9.9")
    raises(triton, call, status(triton, "404", "NOT_FOUND"), "9.9.9")


def test_error_wrong_dtype(triton: Triton) -> None:
    call = lambda: triton.client.infer(CLS, [fp32(triton, "a", [1, 3], "INT32"),
                                             fp32(triton, "b", [1, 3])])
    raises(triton, call, status(triton, "400", "INVALID_ARGUMENT"),
           'input "a"', "expected float32, got int32")


def test_error_wrong_shape(triton: Triton) -> None:
    call = lambda: triton.client.infer(CLS, [fp32(triton, "a", [2, 4]), fp32(triton, "b", [2, 4])])
    raises(triton, call, status(triton, "400", "INVALID_ARGUMENT"), 'input "a"', "dim 1")


def test_error_missing_input(triton: Triton) -> None:
    call = lambda: triton.client.infer(CLS, [fp32(triton, "a", [1, 3])])
    raises(triton, call, status(triton, "400", "INVALID_ARGUMENT"), 'missing input "b"')


def test_error_unknown_input(triton: Triton) -> None:
    call = lambda: triton.client.infer(CLS, [fp32(triton, "a", [1, 3]), fp32(triton, "b", [1, 3]),
                                             fp32(triton, "c", [1, 3])])
    raises(triton, call, status(triton, "400", "INVALID_ARGUMENT"), '"c"')


def test_error_unknown_output(triton: Triton) -> None:
    call = lambda: triton.client.infer(CLS, [fp32(triton, "a", [1, 3]), fp32(triton, "b", [1, 3])],
                                       outputs=[triton.mod.InferRequestedOutput("bogus")])
    raises(triton, call, status(triton, "400", "INVALID_ARGUMENT"), 'unknown output "bogus"')


def test_error_server_stays_up(triton: Triton) -> None:
    """After every refusal above the same client still infers."""
    a = np.ones((1, 3), np.float32)
    i1, i2 = fp32(triton, "a", [1, 3]), fp32(triton, "b", [1, 3])
    np.testing.assert_array_equal(triton.client.infer(CLS, [i1, i2]).as_numpy("sum"), a + a)
