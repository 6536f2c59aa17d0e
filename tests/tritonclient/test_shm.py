"""System shared memory through tritonclient.utils.shared_memory: regions created by the
client (POSIX shm), registered, listed and unregistered over HTTP and gRPC, and inferences
whose inputs and outputs are in them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException, serialize_byte_tensor

from conftest import CLS, Triton, identity_model
from test_infer import values

F32 = 4 * 6  # one [2, 3] float32 tensor


def status_of(t: Triton, name: str = "") -> dict[str, tuple[str, int, int]]:
    """{region name: (key, offset, byte_size)} from either protocol's status answer."""
    s = t.client.get_system_shared_memory_status(name)
    if t.http:
        return {r["name"]: (r["key"], int(r["offset"]), int(r["byte_size"])) for r in s}
    return {n: (r.key, r.offset, r.byte_size) for n, r in s.regions.items()}


class Regions:
    """Client-side regions (tritonclient's handles), destroyed and unregistered at the end."""

    def __init__(self, t: Triton) -> None:
        self.t = t
        self.handles: list = []

    def create(self, name: str, byte_size: int) -> object:
        key = f"/mlos_tc_{self.t.protocol}_{os.getpid()}_{name}"
        h = shm.create_shared_memory_region(name, key, byte_size)
        self.handles.append((h, key))
        return h

    def key(self, handle: object) -> str:
        return next(k for h, k in self.handles if h is handle)

    def close(self) -> None:
        self.t.client.unregister_system_shared_memory()
        for h, _ in self.handles:
            shm.destroy_shared_memory_region(h)


@pytest.fixture
def regions(triton: Triton) -> Iterator[Regions]:
    triton.client.unregister_system_shared_memory()
    r = Regions(triton)
    yield r
    r.close()


def test_register_status_unregister(triton: Triton, regions: Regions) -> None:
    c = triton.client
    h1 = regions.create("tc_one", 64)
    h2 = regions.create("tc_two", 128)
    assert status_of(triton) == {}
    c.register_system_shared_memory("tc_one", regions.key(h1), 64)
    c.register_system_shared_memory("tc_two", regions.key(h2), 96, offset=32)
    assert status_of(triton) == {"tc_one": (regions.key(h1), 0, 64),
                                 "tc_two": (regions.key(h2), 32, 96)}
    assert status_of(triton, "tc_two") == {"tc_two": (regions.key(h2), 32, 96)}
    c.unregister_system_shared_memory("tc_one")
    assert set(status_of(triton)) == {"tc_two"}
    c.unregister_system_shared_memory()
    assert status_of(triton) == {}


def test_infer_inputs_and_outputs_in_shm(triton: Triton, regions: Regions) -> None:
    c = triton.client
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), -0.25, dtype=np.float32)
    hin = regions.create("tc_in", 2 * F32)
    hout = regions.create("tc_out", 16 + F32)
    shm.set_shared_memory_region(hin, [a, b])
    c.register_system_shared_memory("tc_in", regions.key(hin), 2 * F32)
    c.register_system_shared_memory("tc_out", regions.key(hout), 16 + F32)
    ia = triton.mod.InferInput("a", [2, 3], "FP32")
    ia.set_shared_memory("tc_in", F32)
    ib = triton.mod.InferInput("b", [2, 3], "FP32")
    ib.set_shared_memory("tc_in", F32, offset=F32)
    o = triton.mod.InferRequestedOutput("sum")
    o.set_shared_memory("tc_out", F32, offset=16)
    for _ in range(3):  # the same registered regions, request after request
        r = c.infer(CLS, [ia, ib], outputs=[o])
        np.testing.assert_array_equal(shm.get_contents_as_numpy(hout, np.float32, [2, 3], 16),
                                      a + b)
        # The answer names the output and its shape; its bytes are only in the region.
        out = r.get_output("sum")
        if triton.http:
            # As Triton: no data and no parameters (Triton's C++ client, perf_analyzer's,
            # refuses output parameters without binary_data_size).
            assert out["shape"] == [2, 3] and "data" not in out and "parameters" not in out
        else:
            assert list(out.shape) == [2, 3]
            assert out.parameters["shared_memory_region"].string_param == "tc_out"
            # An empty raw entry keeps raw_output_contents aligned with outputs (as Triton).
            assert list(r.get_response().raw_output_contents) == [b""]
        a += 1
        shm.set_shared_memory_region(hin, [a])


def test_infer_mixed_shm_and_inline(triton: Triton, regions: Regions) -> None:
    """One input in shared memory, the other inline; the output inline."""
    a = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    hin = regions.create("tc_mixed", F32)
    shm.set_shared_memory_region(hin, [a])
    triton.client.register_system_shared_memory("tc_mixed", regions.key(hin), F32)
    ia = triton.mod.InferInput("a", [2, 3], "FP32")
    ia.set_shared_memory("tc_mixed", F32)
    ib = triton.mod.InferInput("b", [2, 3], "FP32")
    ib.set_data_from_numpy(a)
    r = triton.client.infer(CLS, [ia, ib])
    np.testing.assert_array_equal(r.as_numpy("sum"), a + a)


@pytest.mark.parametrize("datatype", ["BOOL", "INT8", "UINT16", "INT64", "UINT64", "FP16",
                                      "FP64", "BF16", "BYTES"])
def test_dtypes_through_shm(triton: Triton, regions: Regions, datatype: str) -> None:
    data = values(datatype)
    # BYTES go into a region serialized (4-byte length, bytes; per element), as tritonclient
    # documents for set_shared_memory_region.
    payload = serialize_byte_tensor(data) if datatype == "BYTES" else data
    nbytes = len(payload.item()) if datatype == "BYTES" else data.nbytes
    hin = regions.create("tc_din", nbytes)
    hout = regions.create("tc_dout", nbytes)
    shm.set_shared_memory_region(hin, [payload])
    triton.client.register_system_shared_memory("tc_din", regions.key(hin), nbytes)
    triton.client.register_system_shared_memory("tc_dout", regions.key(hout), nbytes)
    i = triton.mod.InferInput("in", list(data.shape), datatype)
    i.set_shared_memory("tc_din", nbytes)
    o = triton.mod.InferRequestedOutput("out")
    o.set_shared_memory("tc_dout", nbytes)
    triton.client.infer(identity_model(datatype), [i], outputs=[o])
    got = shm.get_contents_as_numpy(hout, data.dtype if datatype != "BYTES" else np.object_,
                                    list(data.shape))
    if datatype == "BYTES":
        assert got.tolist() == data.tolist()
    else:
        assert got.tobytes() == data.tobytes()


# ---- errors -------------------------------------------------------------------------------

def failure(call) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as e:
        call()
    return e.value


def test_error_unregistered_region(triton: Triton, regions: Regions) -> None:
    ia = triton.mod.InferInput("a", [2, 3], "FP32")
    ia.set_shared_memory("tc_nowhere", F32)
    ib = triton.mod.InferInput("b", [2, 3], "FP32")
    ib.set_data_from_numpy(np.zeros((2, 3), np.float32))
    e = failure(lambda: triton.client.infer(CLS, [ia, ib]))
    assert "tc_nowhere" in e.message()
    assert e.status() in (("400", "404") if triton.http else
                          ("StatusCode.INVALID_ARGUMENT", "StatusCode.NOT_FOUND"))


def test_error_register_missing_key_and_duplicate(triton: Triton, regions: Regions) -> None:
    c = triton.client
    e = failure(lambda: c.register_system_shared_memory("tc_ghost", "/mlos_tc_no_such_key", 64))
    assert "tc_ghost" in e.message() or "/mlos_tc_no_such_key" in e.message()
    h = regions.create("tc_dup", 64)
    c.register_system_shared_memory("tc_dup", regions.key(h), 64)
    e = failure(lambda: c.register_system_shared_memory("tc_dup", regions.key(h), 64))
    assert "tc_dup" in e.message()
    assert status_of(triton) == {"tc_dup": (regions.key(h), 0, 64)}


def test_error_region_too_small(triton: Triton, regions: Regions) -> None:
    c = triton.client
    h = regions.create("tc_small", 64)
    # Past the end of the shared-memory object itself.
    e = failure(lambda: c.register_system_shared_memory("tc_big", regions.key(h), 1 << 20))
    assert "tc_big" in e.message() or regions.key(h) in e.message()
    c.register_system_shared_memory("tc_small", regions.key(h), 64)
    a = np.ones((2, 3), np.float32)
    ia = triton.mod.InferInput("a", [2, 3], "FP32")
    ia.set_data_from_numpy(a)
    ib = triton.mod.InferInput("b", [2, 3], "FP32")
    ib.set_data_from_numpy(a)
    o = triton.mod.InferRequestedOutput("sum")
    o.set_shared_memory("tc_small", F32, offset=48)  # 48 + 24 > 64
    e = failure(lambda: c.infer(CLS, [ia, ib], outputs=[o]))
    assert "tc_small" in e.message()


def test_error_unregister_unknown(triton: Triton, regions: Regions) -> None:
    e = failure(lambda: triton.client.unregister_system_shared_memory("tc_never"))
    assert "tc_never" in e.message()
