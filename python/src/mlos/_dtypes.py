"""The dtype table (``src/wire/dtype.cc``: name, KServe name, SMI code, size), numpy arrays in
and out, and the KServe BYTES codec (each element a u32 little-endian length + bytes).

Numeric tensors travel row-major little endian. Strings (``string`` / ``BYTES``) are numpy
object arrays of ``bytes`` on the way out; on the way in, object arrays of ``str``/``bytes``
and fixed-width ``S``/``U`` arrays are taken. numpy has no bfloat16: outputs are
``ml_dtypes.bfloat16`` arrays when that package is installed, else ``uint16`` arrays of the
bit patterns; inputs are ``ml_dtypes.bfloat16`` arrays or :class:`mlos.Tensor` with
``dtype="bfloat16"`` around uint16 bits (or floats, rounded to nearest even).
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import numpy as np

from .errors import InternalError, InvalidArgumentError


@dataclasses.dataclass(frozen=True)
class Dtype:
    name: str        # the MLOS name: "float32"
    kserve: str      # "FP32"
    code: int        # smi_dtype, the IPC dtype byte
    size: int        # bytes per element; 0 for string
    numpy: str       # numpy dtype string ("" for bfloat16 and string)


_TABLE = [
    Dtype("float32", "FP32", 1, 4, "<f4"), Dtype("float64", "FP64", 2, 8, "<f8"),
    Dtype("float16", "FP16", 3, 2, "<f2"), Dtype("bfloat16", "BF16", 4, 2, ""),
    Dtype("int8", "INT8", 5, 1, "i1"), Dtype("int16", "INT16", 6, 2, "<i2"),
    Dtype("int32", "INT32", 7, 4, "<i4"), Dtype("int64", "INT64", 8, 8, "<i8"),
    Dtype("uint8", "UINT8", 9, 1, "u1"), Dtype("uint16", "UINT16", 10, 2, "<u2"),
    Dtype("uint32", "UINT32", 11, 4, "<u4"), Dtype("uint64", "UINT64", 12, 8, "<u8"),
    Dtype("bool", "BOOL", 13, 1, "?"), Dtype("string", "BYTES", 14, 0, ""),
]
_BY_NAME = {d.name: d for d in _TABLE}
_BY_KSERVE = {d.kserve: d for d in _TABLE}
_BY_CODE = {d.code: d for d in _TABLE}

try:  # optional: a real bfloat16 numpy type
    import ml_dtypes as _ml_dtypes
    _BF16: np.dtype | None = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    _BF16 = None


def by_name(name: str) -> Dtype | None:
    return _BY_NAME.get(name)


def by_kserve(name: str) -> Dtype | None:
    return _BY_KSERVE.get(name)


def by_code(code: int) -> Dtype | None:
    return _BY_CODE.get(code)


@dataclasses.dataclass
class Tensor:
    """An input with an explicit dtype, for what a numpy dtype cannot say on its own:
    ``Tensor(bits_uint16, "bfloat16")``, ``Tensor(["a", "b"], "string")``."""
    data: Any
    dtype: str


@dataclasses.dataclass
class Prepared:
    """An input ready for the wire: numeric `array` (C-contiguous, little endian) or the
    serialised BYTES `blob`."""
    name: str
    dtype: Dtype
    shape: tuple[int, ...]
    array: np.ndarray | None = None
    blob: bytes | None = None

    @property
    def nbytes(self) -> int:
        return self.array.nbytes if self.array is not None else len(self.blob or b"")

    def data(self) -> memoryview:
        """The bytes as they travel (a view of the array, not a copy)."""
        if self.array is not None:
            return memoryview(self.array).cast("B") if self.array.size else memoryview(b"")
        return memoryview(self.blob or b"")


def _numeric_dtype(arr: np.ndarray) -> Dtype | None:
    if _BF16 is not None and arr.dtype == _BF16:
        return _BY_NAME["bfloat16"]
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "b":
        return _BY_NAME["bool"]
    if kind == "f":
        return _BY_NAME.get({2: "float16", 4: "float32", 8: "float64"}.get(size, ""))
    if kind in "iu":
        return _BY_NAME.get(("int" if kind == "i" else "uint") + str(size * 8))
    return None


def encode_bytes(arr: np.ndarray, name: str) -> bytes:
    """KServe BYTES: u32 length + bytes per element, row-major."""
    parts: list[bytes] = []
    for v in arr.reshape(-1):
        if isinstance(v, (bytes, np.bytes_)):
            b = bytes(v)
        elif isinstance(v, (str, np.str_)):
            b = str(v).encode("utf-8")
        else:
            raise InvalidArgumentError(
                f"input '{name}': a string tensor holds {type(v).__name__}, not str or bytes")
        parts.append(struct.pack("<I", len(b)))
        parts.append(b)
    return b"".join(parts)


def decode_bytes(buf: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """The inverse of encode_bytes: an object array of bytes in `shape`."""
    mv = memoryview(buf).cast("B")
    count = 1
    for d in shape:
        count *= d
    out = np.empty(count, dtype=object)
    pos = 0
    for i in range(count):
        if pos + 4 > len(mv):
            raise InternalError(f"output '{name}': truncated BYTES data")
        (n,) = struct.unpack_from("<I", mv, pos)
        pos += 4
        if pos + n > len(mv):
            raise InternalError(f"output '{name}': truncated BYTES data")
        out[i] = bytes(mv[pos:pos + n])
        pos += n
    return out.reshape(shape)


def prepare(name: str, value: Any) -> Prepared:
    """An input value (numpy array, anything np.asarray takes, or Tensor) for the wire."""
    forced: Dtype | None = None
    if isinstance(value, Tensor):
        forced = by_name(value.dtype)
        if forced is None:
            raise InvalidArgumentError(f"input '{name}': unknown dtype '{value.dtype}'")
        value = value.data
    if forced is not None and forced.name == "string":
        arr = np.asarray(value, dtype=object)
    elif isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (str, bytes)):
        arr = np.array(value, dtype=object)
    else:
        arr = np.asarray(value)
    shape = tuple(int(d) for d in arr.shape)
    if forced is None and arr.dtype.kind in "OSU":
        forced = _BY_NAME["string"]
    if forced is not None and forced.name == "string":
        return Prepared(name, forced, shape, blob=encode_bytes(arr, name))
    if forced is not None and forced.name == "bfloat16":
        return Prepared(name, forced, shape, array=_to_bf16_bits(arr, name))
    d = forced or _numeric_dtype(arr)
    if d is None:
        raise InvalidArgumentError(f"input '{name}': numpy dtype {arr.dtype} has no MLOS dtype")
    if d.numpy:
        target = np.dtype(d.numpy)
        if arr.dtype != target:
            arr = arr.astype(target)
    return Prepared(name, d, shape, array=np.ascontiguousarray(arr))


def _to_bf16_bits(arr: np.ndarray, name: str) -> np.ndarray:
    if _BF16 is not None and arr.dtype == _BF16:
        return np.ascontiguousarray(arr).view("<u2")
    if arr.dtype.kind in "iu" and arr.dtype.itemsize == 2:
        return np.ascontiguousarray(arr.astype("<u2", copy=False))
    if arr.dtype.kind == "f":
        bits = np.ascontiguousarray(arr.astype("<f4")).view("<u4")
        rounded = bits + 0x7FFF + ((bits >> 16) & 1)  # round to nearest even
        return (rounded >> 16).astype("<u2")
    raise InvalidArgumentError(
        f"input '{name}': bfloat16 needs uint16 bit patterns or floats, got {arr.dtype}")


def output_array(buf: Any, dtype: Dtype, shape: tuple[int, ...], name: str,
                 aligned: bool = False) -> np.ndarray:
    """An output as a numpy array over `buf` (a view, never a copy, for numeric dtypes).

    `buf` must expose exactly the output's bytes (a ctypes window, a numpy uint8 slice, bytes).
    An unaligned numeric buffer is copied (numpy would otherwise give a slow unaligned array);
    `aligned` says the caller knows it is aligned (shared-memory blocks, IPC inline data).
    """
    if dtype.name == "string":
        return decode_bytes(buf, shape, name)
    np_dtype = np.dtype(dtype.numpy) if dtype.numpy else (_BF16 or np.dtype("<u2"))
    count = 1
    for d in shape:
        count *= d
    arr = buf if isinstance(buf, np.ndarray) else np.frombuffer(buf, dtype=np.uint8)
    if arr.nbytes != count * dtype.size:
        raise InternalError(f"output '{name}': {arr.nbytes} bytes for shape {list(shape)} "
                            f"of {dtype.name}")
    if not aligned and count and arr.__array_interface__["data"][0] % dtype.size:
        arr = arr.copy()
    return arr.view(np_dtype).reshape(shape)
