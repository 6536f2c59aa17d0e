"""Zero copy over unix://: inputs in memfd regions the client owns, outputs as arrays that view
those regions (not copies), the regions reused across calls, and inline frames as the
alternative."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

import mlos
from conftest import BIG_ELEMENTS, Models
from mlosd_harness import Daemon


def _mapping_of(arr: np.ndarray) -> str:
    """The /proc/self/maps path of the mapping that holds arr's first byte."""
    p = arr.ctypes.data
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if lo <= p < hi:
                return fields[5] if len(fields) > 5 else ""
    raise AssertionError("address not mapped")


def _region_of(client: mlos.Client, arr: np.ndarray) -> mlos.SharedMemory:
    regions = [r for r in client.shared_memory if np.shares_memory(arr, r.array)]
    assert len(regions) == 1, "the array views none of the client's regions"
    return regions[0]


def test_64mb_output_is_a_view_of_shared_memory(unix_client: mlos.Client) -> None:
    x = np.arange(BIG_ELEMENTS, dtype=np.float32)
    out = unix_client.infer(Models.big, {"input": x})["output"]
    assert out.shape == (BIG_ELEMENTS,) and out.dtype == np.float32
    assert out.nbytes == 64 << 20
    assert np.array_equal(out, x)
    assert not np.shares_memory(out, x)

    # Not a copy: the array's memory is one of the client's memfd regions, which mlosd has
    # registered, and the model wrote the answer there.
    region = _region_of(unix_client, out)
    assert _mapping_of(out).startswith("/memfd:mlos-py")
    registered = {r.name: r for r in unix_client.shared_memory_status()}
    assert any(r.byte_size == region.size for r in registered.values())
    # The base chain ends in the region's mapping (a ctypes window over its mmap).
    base: Any = out
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    assert not isinstance(base, np.ndarray) or base is region.array
    # Writing through the region is visible in the output, and the other way round.
    offset = out.ctypes.data - region.address
    region.array[offset:offset + 4] = np.frombuffer(np.float32(-7.5).tobytes(), np.uint8)
    assert out[0] == -7.5
    out[1] = 123.0
    assert region.array[offset + 4:offset + 8].view(np.float32)[0] == 123.0


def test_outputs_stay_valid_and_regions_are_reused(unix_client: mlos.Client) -> None:
    a = np.full(BIG_ELEMENTS, 1.0, np.float32)
    b = np.full(BIG_ELEMENTS, 2.0, np.float32)
    first = unix_client.infer(Models.big, {"input": a})["output"]
    second = unix_client.infer(Models.big, {"input": b})["output"]
    # A kept output is never handed to a later request.
    assert not np.shares_memory(first, second)
    assert first[0] == 1.0 and first[-1] == 1.0
    assert second[0] == 2.0 and second[-1] == 2.0
    regions = len(unix_client.shared_memory)
    del first, second
    gc.collect()
    # Dropped outputs give their blocks back: repeated calls use the same regions.
    addresses = set()
    for i in range(4):
        out = unix_client.infer(Models.big, {"input": a})["output"]
        addresses.add(out.ctypes.data)
        del out
    assert len(unix_client.shared_memory) == regions
    assert len(addresses) <= 2


def test_allocated_inputs_are_not_copied(unix_client: mlos.Client,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    copies = []
    real = np.copyto

    def counting(dst: np.ndarray, src: Any, **kw: Any) -> None:
        copies.append(dst.nbytes)
        real(dst, src, **kw)

    monkeypatch.setattr(np, "copyto", counting)
    x = unix_client.allocate(BIG_ELEMENTS, np.float32)
    x[:] = np.arange(BIG_ELEMENTS, dtype=np.float32) * 0.5
    assert np.shares_memory(x, _region_of(unix_client, x).array)
    out = unix_client.infer(Models.big, {"input": x})["output"]
    assert copies == []
    assert np.array_equal(out, x) and not np.shares_memory(out, x)
    # An output passed back in is not copied either; an ordinary array is, once.
    again = unix_client.infer(Models.big, {"input": out})["output"]
    assert copies == []
    assert np.array_equal(again, x)
    unix_client.infer(Models.big, {"input": np.ones(BIG_ELEMENTS, np.float32)})
    assert copies == [BIG_ELEMENTS * 4]


def test_static_outputs_in_shared_memory_strings_inline(unix_client: mlos.Client) -> None:
    ins = {"in_int32": np.array([1, -1], np.int32), "in_string": np.array(["x", "y"], object)}
    from test_infer import DTYPE_INPUTS
    full = {**{"in_" + d: v for d, v in DTYPE_INPUTS.items()}, **ins}
    out = unix_client.infer(Models.dtypes, full)
    _region_of(unix_client, out["out_int32"])
    assert out["out_int32"].tolist() == [1, -1]
    assert list(out["out_string"]) == [b"x", b"y"]
    assert not any(np.shares_memory(out["out_string"], r.array)
                   for r in unix_client.shared_memory)


def test_dynamic_outputs_move_to_shared_memory_after_the_first_call(
        unix_client: mlos.Client) -> None:
    x = np.arange(1000, dtype=np.float32)
    first = unix_client.infer(Models.echo, {"input": x})["output"]
    second = unix_client.infer(Models.echo, {"input": x})["output"]
    assert np.array_equal(first, x) and np.array_equal(second, x)
    assert not any(np.shares_memory(first, r.array) for r in unix_client.shared_memory)
    _region_of(unix_client, second)


def test_outputs_outlive_the_client(daemon: Daemon) -> None:
    c = mlos.Client(daemon.urls["unix"])
    out = c.infer(Models.big, {"input": np.full(BIG_ELEMENTS, 3.0, np.float32)})["output"]
    c.close()
    gc.collect()
    assert out[0] == 3.0 and out[-1] == 3.0


def test_inline_frames_when_zero_copy_is_off(daemon: Daemon) -> None:
    with mlos.Client(daemon.urls["unix"], zero_copy=False) as c:
        x = np.arange(BIG_ELEMENTS, dtype=np.float32)
        out = c.infer(Models.big, {"input": x})["output"]
        assert np.array_equal(out, x)
        assert c.shared_memory == []
        assert out.flags.writeable


def test_shared_memory_is_unix_only(daemon: Daemon) -> None:
    with mlos.Client(daemon.urls["http"]) as c:
        with pytest.raises(mlos.UnimplementedError):
            c.shared_memory
        plain = c.allocate((2, 3), np.int16)
        assert plain.shape == (2, 3) and plain.dtype == np.int16


def test_memfd_is_sealed() -> None:
    import fcntl
    import os
    m = mlos.SharedMemory(4096)
    seals = fcntl.fcntl(m.fd, fcntl.F_GET_SEALS)
    assert seals & fcntl.F_SEAL_SHRINK and seals & fcntl.F_SEAL_GROW
    with pytest.raises(OSError):
        os.ftruncate(m.fd, 1024)
    view = m.ndarray(64, (4,), np.float32)
    view[:] = 1.5
    m.close()
    assert m.array[64:80].view(np.float32).tolist() == [1.5] * 4
