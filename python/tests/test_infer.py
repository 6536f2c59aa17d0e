"""Inference over every transport: every dtype bit-exact, strings, 0-d and empty tensors,
several inputs and outputs, output subsets, identical results across transports."""

from __future__ import annotations

import numpy as np
import pytest

import mlos
from conftest import Models

# One input per dtype of dtypes.onnx ("in_<t>" [2] -> Identity -> "out_<t>"), with the extreme
# values of each type.
DTYPE_INPUTS: dict[str, object] = {
    "float32": np.array([np.float32(np.nan), -np.inf], np.float32),
    "float64": np.array([-0.0, 1e308], np.float64),
    "float16": np.array([65504, -2.0 ** -24], np.float16),
    "bfloat16": mlos.Tensor(np.array([0xFFC1, 0x8000], np.uint16), "bfloat16"),
    "int8": np.array([-128, 127], np.int8),
    "int16": np.array([-32768, 32767], np.int16),
    "int32": np.array([-2 ** 31, 2 ** 31 - 1], np.int32),
    "int64": np.array([-2 ** 63, 2 ** 63 - 1], np.int64),
    "uint8": np.array([0, 255], np.uint8),
    "uint16": np.array([1, 65535], np.uint16),
    "uint32": np.array([1, 2 ** 32 - 1], np.uint32),
    "uint64": np.array([1, 2 ** 64 - 1], np.uint64),
    "bool": np.array([True, False]),
    "string": np.array(["", "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c \U0001F680"], dtype=object),
}


def _bits(value: object) -> bytes:
    arr = value.data if isinstance(value, mlos.Tensor) else value
    return np.ascontiguousarray(arr).tobytes()


def test_every_dtype_round_trips_bit_exact(client: mlos.Client) -> None:
    out = client.infer(Models.dtypes, {"in_" + d: v for d, v in DTYPE_INPUTS.items()})
    assert sorted(out) == sorted("out_" + d for d in DTYPE_INPUTS)
    for d, value in DTYPE_INPUTS.items():
        got = out["out_" + d]
        assert got.shape == (2,), d
        if d == "string":
            assert got.dtype == object
            assert list(got) == [s.encode() for s in value]  # type: ignore[attr-defined]
        elif d == "bfloat16":
            assert got.itemsize == 2
            assert got.view(np.uint16).tobytes() == _bits(value)
        else:
            assert got.dtype == np.asarray(value).dtype, d
            assert got.tobytes() == _bits(value), d


@pytest.mark.parametrize("strings", [
    np.array([b"raw \x00\xff bytes", b""], dtype=object),
    np.array(["fixed", "width"], dtype="U"),
    np.array([b"fixed", b"bytes"], dtype="S"),
], ids=["object-bytes", "unicode", "S"])
def test_string_inputs_in_every_numpy_form(client: mlos.Client, strings: np.ndarray) -> None:
    ins = {"in_" + d: v for d, v in DTYPE_INPUTS.items()}
    ins["in_string"] = strings
    out = client.infer(Models.dtypes, ins, outputs=["out_string"])
    assert list(out) == ["out_string"]
    want = [s.encode() if isinstance(s, str) else bytes(s) for s in strings.tolist()]
    assert list(out["out_string"]) == want


def test_bfloat16_from_floats_and_plain_values(client: mlos.Client) -> None:
    ins: dict[str, object] = {"in_" + d: v for d, v in DTYPE_INPUTS.items()}
    ins["in_bfloat16"] = mlos.Tensor(np.array([1.0, -2.5], np.float32), "bfloat16")
    ins["in_int64"] = [7, -7]  # a list: np.asarray gives int64
    out = client.infer(Models.dtypes, ins, outputs=["out_bfloat16", "out_int64"])
    assert out["out_bfloat16"].view(np.uint16).tolist() == [0x3F80, 0xC020]
    assert out["out_int64"].tolist() == [7, -7]


def test_scalar_and_empty_tensors(client: mlos.Client) -> None:
    out = client.infer(Models.scalar_empty, {"scalar": np.float32(42.5),
                                             "empty": np.zeros((0, 3), np.float32)})
    assert out["scalar_out"].shape == ()
    assert out["scalar_out"].dtype == np.float32
    assert float(out["scalar_out"]) == 42.5
    assert out["empty_out"].shape == (0, 3)
    assert out["empty_out"].dtype == np.float32


def test_several_inputs_outputs_and_subsets(client: mlos.Client) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([[0.5, -2, 10], [1e6, -1e-3, 0]], np.float32)
    out = client.infer(Models.add, {"a": a, "b": b})
    np.testing.assert_array_equal(out["sum"], a + b)
    x = np.linspace(-3, 3, 48, dtype=np.float32).reshape(3, 16)
    both = client.infer(Models.mlp, {"input": x})
    assert sorted(both) == ["logits", "probs"]
    np.testing.assert_allclose(both["probs"].sum(axis=1), 1.0, rtol=1e-5)
    only = client.infer(Models.mlp, {"input": x}, outputs=["probs"])
    assert list(only) == ["probs"]
    np.testing.assert_array_equal(only["probs"], both["probs"])


def test_results_identical_across_transports(daemon) -> None:  # type: ignore[no-untyped-def]
    x = np.sin(np.arange(5 * 16, dtype=np.float32) * 0.37).reshape(5, 16) * 3.1
    results = []
    for url in daemon.urls.values():
        with mlos.Client(url) as c:
            results.append(c.infer(Models.mlp, {"input": x}))
    for r in results[1:]:
        for name in ("logits", "probs"):
            assert r[name].tobytes() == results[0][name].tobytes()


def test_large_odd_sized_tensors(client: mlos.Client) -> None:
    # Odd sizes next to each other: no tensor starts aligned by luck on any transport.
    rng = np.random.default_rng(7)
    ins = {"odd": rng.integers(-128, 127, 1000003, dtype=np.int8),
           "big": rng.standard_normal(3 << 19).astype(np.float32),  # 6 MiB
           "tail": rng.integers(0, 255, 77, dtype=np.uint8)}
    for _ in range(2):  # the second time, dynamic outputs use shared memory on unix://
        out = client.infer(Models.multi, ins)
        assert sorted(out) == ["output0", "output1", "output2"]
        for i, want in enumerate(ins.values()):
            got = out[f"output{i}"]
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_version_option_and_alias_forms(client: mlos.Client) -> None:
    x = np.ones((1, 16), np.float32)
    want = client.infer(Models.mlp, {"input": x})["probs"]
    by_version = client.infer("test/mlp", {"input": x}, version="1.0.0")["probs"]
    by_latest = client.infer("test/mlp@latest", {"input": x})["probs"]
    np.testing.assert_array_equal(by_version, want)
    np.testing.assert_array_equal(by_latest, want)


def test_request_options_reach_the_server(client: mlos.Client) -> None:
    x = np.ones((1, 16), np.float32)
    out = client.infer(Models.mlp, {"input": x}, priority=1, timeout=30.0, keep_alive=-1)
    assert out["probs"].shape == (1, 4)
    with pytest.raises(mlos.InvalidArgumentError):
        client.infer(Models.mlp, {"input": x}, priority=-1)
