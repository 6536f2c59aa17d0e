"""The mlosd IPC frame codec (docs/ipc.md, src/wire/ipc_protocol.cc), pure functions.

Frame = 24-byte header (u32 magic "MLIP", u16 version, u16 op, u64 request_id, u32 status,
u32 length) + payload; every integer little endian. Payload strings are u32 length + bytes;
inline tensor bytes start 8-byte aligned counted from the start of the payload.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from typing import Any

MAGIC = 0x50494C4D  # bytes "MLIP"
VERSION = 1
HEADER = struct.Struct("<IHHQII")
HEADER_SIZE = HEADER.size  # 24
MAX_PAYLOAD = 1 << 30

INLINE = 0
SHM = 1

EXT_PRIORITY = 1 << 0
EXT_KEEP_ALIVE = 1 << 1


class Op(enum.IntEnum):
    HELLO = 1
    HEALTH = 2
    MODEL_METADATA = 3
    INFER = 4
    MODEL_LIST = 5
    MODEL_LOAD = 6
    MODEL_UNLOAD = 7
    MODEL_REGISTER = 8
    MODEL_UNREGISTER = 9
    SHM_REGISTER = 10
    SHM_UNREGISTER = 11
    SHM_STATUS = 12
    PEER_INFO = 13
    MODEL_GET = 14
    MODEL_SET_DEFAULT = 15
    MODEL_ROLLBACK = 16
    MODEL_SET_ALIAS = 17
    PLUGINS = 18
    SERVER_METADATA = 19
    MODEL_READY = 20
    AUTH = 21
    MODEL_PIN = 25
    MODEL_UNPIN = 26


def header(op: int, request_id: int, length: int, status: int = 0) -> bytes:
    return HEADER.pack(MAGIC, VERSION, op, request_id, status, length)


def parse_header(data: bytes | memoryview) -> tuple[int, int, int, int, int]:
    """(version, op, request_id, status, length); ValueError for a bad magic."""
    magic, version, op, request_id, status, length = HEADER.unpack(data)
    if magic != MAGIC:
        raise ValueError("bad frame magic (not an MLIP frame)")
    return version, op, request_id, status, length


def strings(*values: str) -> bytes:
    """str fields, each u32 length + UTF-8 bytes."""
    out = bytearray()
    for v in values:
        b = v.encode("utf-8")
        out += struct.pack("<I", len(b)) + b
    return bytes(out)


@dataclasses.dataclass
class WireTensor:
    """A tensor in an INFER frame: inline bytes (`data`) or a shared-memory reference."""
    name: str
    dtype: int
    shape: tuple[int, ...]
    placement: int = INLINE
    data: Any = b""                 # a bytes-like (inline)
    region: str = ""
    offset: int = 0
    byte_size: int = 0


@dataclasses.dataclass
class WireOutputSpec:
    name: str
    placement: int = INLINE
    region: str = ""
    offset: int = 0
    byte_size: int = 0


class _Gather:
    """Payload pieces: encoded fields in `meta`, inline tensor bytes as views."""

    def __init__(self) -> None:
        self.parts: list[Any] = []
        self.meta = bytearray()
        self.size = 0

    def raw(self, b: bytes) -> None:
        self.meta += b
        self.size += len(b)

    def data(self, view: Any) -> None:
        n = memoryview(view).nbytes
        self.flush()
        if n:
            self.parts.append(view)
        self.size += n

    def flush(self) -> None:
        if self.meta:
            self.parts.append(bytes(self.meta))
            self.meta = bytearray()


def _tensor(g: _Gather, t: WireTensor) -> None:
    g.raw(strings(t.name) + struct.pack("<BBH", t.dtype, t.placement, len(t.shape)))
    g.raw(struct.pack(f"<{len(t.shape)}q", *t.shape))
    if t.placement == SHM:
        g.raw(strings(t.region) + struct.pack("<QQ", t.offset, t.byte_size))
        return
    g.raw(struct.pack("<Q", memoryview(t.data).nbytes))
    g.raw(b"\0" * ((8 - g.size % 8) % 8))
    g.data(t.data)


def infer_request(model: str, version: str, timeout_us: int, inputs: list[WireTensor],
                  outputs: list[WireOutputSpec], priority: int | None = None,
                  keep_alive_ms: int | None = None) -> list[Any]:
    """The INFER payload in pieces (input bytes are not copied). The extension block is
    written only when priority or keep_alive is set (an older server refuses it)."""
    g = _Gather()
    g.raw(strings(model, version) + struct.pack("<QI", timeout_us, len(inputs)))
    for t in inputs:
        _tensor(g, t)
    g.raw(struct.pack("<I", len(outputs)))
    for o in outputs:
        g.raw(strings(o.name) + struct.pack("<B", o.placement))
        if o.placement == SHM:
            g.raw(strings(o.region) + struct.pack("<QQ", o.offset, o.byte_size))
    if priority or keep_alive_ms is not None:
        flags = (EXT_PRIORITY if priority else 0) | (
            EXT_KEEP_ALIVE if keep_alive_ms is not None else 0)
        g.raw(struct.pack("<B", flags))
        if priority:
            g.raw(struct.pack("<I", priority))
        if keep_alive_ms is not None:
            g.raw(struct.pack("<q", keep_alive_ms))
    g.flush()
    return g.parts


class Reader:
    """Bounds-checked little-endian reads from a payload (ValueError when it runs out)."""

    def __init__(self, buf: Any) -> None:
        self.buf = memoryview(buf).cast("B")
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError("truncated payload")
        v = self.buf[self.pos:self.pos + n]
        self.pos += n
        return v

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        s = struct.calcsize("<" + fmt)
        return struct.unpack("<" + fmt, self.take(s))

    def u8(self) -> int:
        return int(self.unpack("B")[0])

    def u32(self) -> int:
        return int(self.unpack("I")[0])

    def u64(self) -> int:
        return int(self.unpack("Q")[0])

    def str(self) -> str:
        return bytes(self.take(self.u32())).decode("utf-8", "replace")

    def align8(self) -> None:
        self.take((8 - self.pos % 8) % 8)

    def done(self) -> bool:
        return self.pos == len(self.buf)


@dataclasses.dataclass
class InferResponse:
    model_id: str
    queue_time_us: int
    inference_time_us: int
    outputs: list[WireTensor]


_U32 = struct.Struct("<I")
_U64x2 = struct.Struct("<QQ")
_TENSOR_HEAD = struct.Struct("<BBH")
_RESPONSE_HEAD = struct.Struct("<QQI")


def infer_response(payload: Any) -> InferResponse:
    """Decodes an INFER answer; inline `data` are (start, end) offsets into `payload`.
    (Flat, with struct.unpack_from: this runs once per request.)"""
    buf = memoryview(payload).cast("B")
    size = len(buf)

    def text(pos: int) -> tuple[str, int]:
        (n,) = _U32.unpack_from(buf, pos)
        end = pos + 4 + n
        if end > size:
            raise ValueError("truncated payload")
        return str(buf[pos + 4:end], "utf-8", "replace"), end

    try:
        model_id, pos = text(0)
        queue_us, infer_us, count = _RESPONSE_HEAD.unpack_from(buf, pos)
        pos += _RESPONSE_HEAD.size
        outputs: list[WireTensor] = []
        for _ in range(count):
            name, pos = text(pos)
            dtype, placement, rank = _TENSOR_HEAD.unpack_from(buf, pos)
            pos += 4
            shape = struct.unpack_from(f"<{rank}q", buf, pos) if rank else ()
            pos += 8 * rank
            t = WireTensor(name, dtype, shape, placement)
            if placement == SHM:
                t.region, pos = text(pos)
                t.offset, t.byte_size = _U64x2.unpack_from(buf, pos)
                pos += 16
            elif placement == INLINE:
                (n,) = struct.unpack_from("<Q", buf, pos)
                pos += 8
                pos += (8 - pos % 8) % 8
                if pos + n > size:
                    raise ValueError("truncated payload")
                t.data, t.byte_size = (pos, pos + n), n
                pos += n
            else:
                raise ValueError(f"bad placement {placement} of output {name}")
            outputs.append(t)
    except struct.error:
        raise ValueError("truncated payload") from None
    if pos != size:
        raise ValueError("trailing bytes after the infer response")
    return InferResponse(model_id, queue_us, infer_us, outputs)
