"""Health, server and model metadata, model configuration, statistics and the model
repository, through tritonclient's InferenceServerClient over HTTP and gRPC; and the model
name with a slash (`local/cls`) on every v2 route tritonclient builds from a model name.
"""

from __future__ import annotations

import re
import urllib.parse

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from conftest import CLS, Triton

EXTENSIONS = {"binary_tensor_data", "model_configuration", "model_repository", "statistics",
              "system_shared_memory"}


def field(obj: object, name: str) -> object:
    """A field of an HTTP answer (dict) or a gRPC one (protobuf message)."""
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def add_inputs(t: Triton, a: np.ndarray, b: np.ndarray) -> list:
    ia = t.mod.InferInput("a", list(a.shape), "FP32")
    ib = t.mod.InferInput("b", list(b.shape), "FP32")
    ia.set_data_from_numpy(a)
    ib.set_data_from_numpy(b)
    return [ia, ib]


def infer_cls(t: Triton, rows: int = 2, version: str = "") -> np.ndarray:
    a = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
    b = np.full((rows, 3), 0.5, dtype=np.float32)
    r = t.client.infer(CLS, add_inputs(t, a, b), model_version=version)
    out = r.as_numpy("sum")
    np.testing.assert_array_equal(out, a + b)
    return out


def test_health_and_server_metadata(triton: Triton) -> None:
    c = triton.client
    assert c.is_server_live() is True
    assert c.is_server_ready() is True
    md = c.get_server_metadata()
    assert field(md, "name") == "mlos"
    assert field(md, "version")
    assert EXTENSIONS <= set(field(md, "extensions"))


def test_model_metadata(triton: Triton) -> None:
    for version in ("", "1.0.0"):
        md = triton.client.get_model_metadata(CLS, model_version=version)
        assert field(md, "name") == CLS
        assert list(field(md, "versions")) == ["1.0.0"]
        assert field(md, "platform") == "onnx"
        ins = [(field(i, "name"), field(i, "datatype"), list(field(i, "shape")))
               for i in field(md, "inputs")]
        outs = [(field(o, "name"), field(o, "datatype"), list(field(o, "shape")))
                for o in field(md, "outputs")]
        assert ins == [("a", "FP32", [-1, 3]), ("b", "FP32", [-1, 3])]
        assert outs == [("sum", "FP32", [-1, 3])]


def test_model_metadata_every_dtype(triton: Triton) -> None:
    md = triton.client.get_model_metadata("test/dtypes")
    types = {field(i, "name"): field(i, "datatype") for i in field(md, "inputs")}
    assert types == {"in_float32": "FP32", "in_float64": "FP64", "in_float16": "FP16",
                     "in_bfloat16": "BF16", "in_int8": "INT8", "in_int16": "INT16",
                     "in_int32": "INT32", "in_int64": "INT64", "in_uint8": "UINT8",
                     "in_uint16": "UINT16", "in_uint32": "UINT32", "in_uint64": "UINT64",
                     "in_bool": "BOOL", "in_string": "BYTES"}


def test_model_ready(triton: Triton) -> None:
    c = triton.client
    assert c.is_model_ready(CLS) is True
    assert c.is_model_ready(CLS, model_version="1.0.0") is True
    # An unknown model or version: HTTP answers 404, which tritonclient reports as False (the
    # protocol: "4xx for false"); over gRPC it is NOT_FOUND, which tritonclient raises.
    for name, version in (("nope/none", ""), (CLS, "9.9.9")):
        if triton.http:
            assert c.is_model_ready(name, model_version=version) is False
        else:
            with pytest.raises(InferenceServerException) as e:
                c.is_model_ready(name, model_version=version)
            assert e.value.status() == "StatusCode.NOT_FOUND"


def test_model_config(triton: Triton) -> None:
    for version in ("", "1.0.0"):
        if triton.http:
            cfg = triton.client.get_model_config(CLS, model_version=version)
            tensors = [(i["name"], i["data_type"], i["dims"]) for i in cfg["input"]]
            outs = [(o["name"], o["data_type"], o["dims"]) for o in cfg["output"]]
            assert (cfg["name"], cfg["platform"], cfg["max_batch_size"]) == (CLS, "onnx", 0)
            assert cfg["backend"] == "onnx"
        else:
            cfg = triton.client.get_model_config(CLS, model_version=version).config
            tensors = [(i.name, triton.mod.model_config_pb2.DataType.Name(i.data_type),
                        list(i.dims)) for i in cfg.input]
            outs = [(o.name, triton.mod.model_config_pb2.DataType.Name(o.data_type),
                     list(o.dims)) for o in cfg.output]
            assert (cfg.name, cfg.platform, cfg.max_batch_size, cfg.backend) == (
                CLS, "onnx", 0, "onnx")
        assert tensors == [("a", "TYPE_FP32", [-1, 3]), ("b", "TYPE_FP32", [-1, 3])]
        assert outs == [("sum", "TYPE_FP32", [-1, 3])]


def test_model_config_datatypes(triton: Triton) -> None:
    if triton.http:
        cfg = triton.client.get_model_config("test/dtypes")
        types = {i["name"]: i["data_type"] for i in cfg["input"]}
    else:
        cfg = triton.client.get_model_config("test/dtypes").config
        name = triton.mod.model_config_pb2.DataType.Name
        types = {i.name: name(i.data_type) for i in cfg.input}
    assert types["in_string"] == "TYPE_STRING"
    assert types["in_bfloat16"] == "TYPE_BF16"
    assert types["in_bool"] == "TYPE_BOOL"
    assert types["in_uint64"] == "TYPE_UINT64"
    assert len(types) == 14


def stats_of(triton: Triton, name: str = "", version: str = "") -> list[dict]:
    s = triton.client.get_inference_statistics(name, model_version=version, as_json=True) \
        if not triton.http else triton.client.get_inference_statistics(name, version)
    out = []
    for m in s["model_stats"]:
        st = m["inference_stats"]
        out.append({
            "name": m["name"], "version": m["version"],
            "inference_count": int(m.get("inference_count", 0)),
            "execution_count": int(m.get("execution_count", 0)),
            "last_inference": int(m.get("last_inference", 0)),
            **{f"{k}_{f}": int(st.get(k, {}).get(f, 0)) for k in
               ("success", "fail", "queue", "compute_infer") for f in ("count", "ns")}})
    return out


def test_statistics(triton: Triton) -> None:
    (before,) = stats_of(triton, CLS)
    assert (before["name"], before["version"]) == (CLS, "1.0.0")
    for _ in range(3):
        infer_cls(triton)
    with pytest.raises(InferenceServerException):  # missing input "b": a failed request
        i = triton.mod.InferInput("a", [1, 3], "FP32")
        i.set_data_from_numpy(np.zeros((1, 3), np.float32))
        triton.client.infer(CLS, [i])
    (after,) = stats_of(triton, CLS, "1.0.0")
    assert after["inference_count"] - before["inference_count"] == 3
    assert after["execution_count"] - before["execution_count"] == 3
    assert after["success_count"] - before["success_count"] == 3
    assert after["success_ns"] > before["success_ns"]
    assert after["compute_infer_count"] - before["compute_infer_count"] == 3
    assert after["compute_infer_ns"] > before["compute_infer_ns"]
    assert after["compute_infer_ns"] <= after["success_ns"]
    assert after["queue_count"] - before["queue_count"] == 3
    assert after["fail_count"] - before["fail_count"] == 1
    assert after["last_inference"] >= max(before["last_inference"], 1)
    everything = {(m["name"], m["version"]) for m in stats_of(triton)}
    assert (CLS, "1.0.0") in everything and ("test/dtypes", "1.0.0") in everything


def test_repository_index_unload_load(triton: Triton) -> None:
    c = triton.client
    try:
        c.unload_model(CLS)
        assert c.is_model_ready(CLS) is False  # registered, not loaded: ready=false
        index = c.get_model_repository_index()
        entries = index if triton.http else index.models
        state = {(field(m, "name"), field(m, "version")): field(m, "state") for m in entries}
        assert state[(CLS, "1.0.0")] != "READY"
    finally:
        c.load_model(CLS)
    assert c.is_model_ready(CLS) is True
    index = c.get_model_repository_index()
    entries = index if triton.http else index.models
    state = {(field(m, "name"), field(m, "version")): field(m, "state") for m in entries}
    assert state[(CLS, "1.0.0")] == "READY"
    infer_cls(triton)


def test_unknown_model_errors(triton: Triton) -> None:
    c = triton.client
    want = "404" if triton.http else "StatusCode.NOT_FOUND"
    calls = [lambda: c.get_model_metadata("nope/none"),
             lambda: c.get_model_config("nope/none"),
             lambda: c.get_inference_statistics("nope/none"),
             lambda: c.load_model("nope/none")]
    for call in calls:
        with pytest.raises(InferenceServerException) as e:
            call()
        assert e.value.status() == want, e.value
        assert "nope/none" in e.value.message()


def test_trace_extension_is_absent(triton: Triton) -> None:
    """Not in /v2's extensions: a clear refusal, never "model local/cls/trace/setting"."""
    with pytest.raises(InferenceServerException) as e:
        triton.client.get_trace_settings(model_name=CLS)
    if triton.http:
        assert e.value.status() == "404"
        assert "trace extension is not supported" in e.value.message()
    else:
        assert e.value.status() == "StatusCode.UNIMPLEMENTED"


def test_slash_name_on_every_model_route(daemon, capsys: pytest.CaptureFixture[str]) -> None:
    """tritonclient.http quotes a model name with urllib.parse.quote, which keeps '/': every
    model route goes out as /v2/models/local/cls/... (seen in the client's verbose log) and
    mlosd answers each one for the model local/cls."""
    assert urllib.parse.quote(CLS) == CLS
    t = Triton("http", daemon, verbose=True)
    c = t.client
    assert c.is_model_ready(CLS) and c.is_model_ready(CLS, "1.0.0")
    assert c.get_model_metadata(CLS)["name"] == CLS
    assert c.get_model_metadata(CLS, "1.0.0")["name"] == CLS
    assert c.get_model_config(CLS)["name"] == CLS
    assert c.get_model_config(CLS, "1.0.0")["name"] == CLS
    assert c.get_inference_statistics(CLS)["model_stats"][0]["name"] == CLS
    assert c.get_inference_statistics(CLS, "1.0.0")["model_stats"][0]["name"] == CLS
    c.unload_model(CLS)
    c.load_model(CLS)
    infer_cls(t)
    infer_cls(t, version="1.0.0")
    a = np.ones((1, 3), np.float32)
    assert c.async_infer(CLS, add_inputs(t, a, a)).get_result().as_numpy("sum")[0, 0] == 2
    t.close()
    log = capsys.readouterr().out
    sent = set(re.findall(r"^(?:GET|POST) (\S+),", log, flags=re.M))
    expected = {f"/v2/models/{CLS}{suffix}" for suffix in (
        "/ready", "/versions/1.0.0/ready", "", "/versions/1.0.0", "/config",
        "/versions/1.0.0/config", "/stats", "/versions/1.0.0/stats", "/infer",
        "/versions/1.0.0/infer")} | {f"/v2/repository/models/{CLS}/load",
                                     f"/v2/repository/models/{CLS}/unload"}
    assert expected <= sent, f"not sent: {expected - sent}\nlog:\n{log}"
    print("routes tritonclient sent for local/cls, each answered:\n  " +
          "\n  ".join(sorted(expected)))


def test_slash_name_on_every_grpc_call(daemon) -> None:
    """gRPC carries the name in a message field: the same calls by name over gRPC."""
    t = Triton("grpc", daemon)
    c = t.client
    assert c.is_model_ready(CLS) and c.is_model_ready(CLS, "1.0.0")
    assert c.get_model_metadata(CLS).name == CLS
    assert c.get_model_metadata(CLS, "1.0.0").name == CLS
    assert c.get_model_config(CLS).config.name == CLS
    assert c.get_model_config(CLS, "1.0.0").config.name == CLS
    assert c.get_inference_statistics(CLS).model_stats[0].name == CLS
    assert c.get_inference_statistics(CLS, "1.0.0").model_stats[0].name == CLS
    c.unload_model(CLS)
    c.load_model(CLS)
    infer_cls(t)
    infer_cls(t, version="1.0.0")
    t.close()
