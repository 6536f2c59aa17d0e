"""IPC transport: MLOS frames (docs/ipc.md) over mlosd's Unix socket, one connection per client
(requests are answered in order; a lock serialises them). Management and metadata answers are
the same JSON documents HTTP sends.

Zero copy (the default): tensors travel in memfd regions of the client's :class:`Arena`
(registered with SHM_REGISTER and SCM_RIGHTS), referenced from the INFER frame by (region,
offset, size). Inputs are copied into a block once (not at all when the array already lives
in the arena: :meth:`IpcTransport.allocate`); outputs are written there by the model and come
back as arrays that view the region. A window needs the output's size before the request:
static shapes come from the model's metadata (fetched once per model); an output with a
dynamic shape travels inline the first time for a given input signature (still no copy: a view
of the receive buffer), and in shared memory from then on, with the size it had. String
tensors always travel inline (mlosd takes BYTES inline only).

A timed-out or broken connection is closed (the stream cannot be resynchronised) and the next
call reconnects; the regions a failed request used are retired, never reused, because mlosd
may still be reading or writing them.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import threading
from typing import Any

import numpy as np

from . import _dtypes
from . import _ipc_frames as f
from ._dtypes import Prepared
from ._transport import InferOptions, Transport
from ._url import Endpoint
from .errors import (DeadlineExceededError, InternalError, InvalidArgumentError, MlosError,
                     StatusCode, UnavailableError, error_for)
from .shm import Arena, Block, Region
from .types import (ModelInfo, ModelMetadata, PluginInfo, ServerMetadata, ShmRegionInfo,
                    TensorInfo)

_MODEL_OPS = {"get": f.Op.MODEL_GET, "load": f.Op.MODEL_LOAD, "unload": f.Op.MODEL_UNLOAD,
              "default": f.Op.MODEL_SET_DEFAULT, "rollback": f.Op.MODEL_ROLLBACK,
              "pin": f.Op.MODEL_PIN, "unpin": f.Op.MODEL_UNPIN}
_SOCKET_BUFFER = 4 << 20
_NO_FIT = "do not fit its shared memory window"


class _Broken(Exception):
    """The connection failed mid-request; carries the error to raise."""

    def __init__(self, error: MlosError) -> None:
        super().__init__(str(error))
        self.error = error


class IpcTransport(Transport):
    def __init__(self, endpoint: Endpoint, timeout: float, connect_timeout: float,
                 token: str | None, zero_copy: bool = True) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._token = token
        self.zero_copy = zero_copy
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._gen = 0
        self._next_id = 0
        self.arena = Arena()
        self._outputs_meta: dict[tuple[str, str], list[TensorInfo]] = {}
        self._sizes: dict[tuple[Any, ...], int] = {}
        with self._lock:
            self._connect()

    # ---- connection ----

    def _connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
            s.settimeout(self._connect_timeout)
            s.connect(self.endpoint.path)
            s.settimeout(self._timeout)
        except OSError as e:
            s.close()
            raise UnavailableError(f"cannot reach mlosd at {self.endpoint}: "
                                   f"{e.strerror or e}") from None
        self._sock = s
        self._gen += 1
        try:
            hello = self._roundtrip(f.Op.HELLO, [struct.pack("<HH", 1, 1)])
            r = f.Reader(hello)
            r.unpack("HI")
            r.str()
        except MlosError as e:
            self._drop()
            if e.code == StatusCode.FAILED_PRECONDITION:  # no common protocol version
                raise
            raise UnavailableError(f"ipc handshake with {self.endpoint} failed: "
                                   f"{e.message}") from None
        except (_Broken, ValueError) as e:
            self._drop()
            raise UnavailableError(f"ipc handshake with {self.endpoint} failed: {e}") from None
        if self._token:
            self._authenticate(self._token)

    def _authenticate(self, token: str) -> None:
        """AUTH: the connection's bearer token. mlosd keeps it even when it does not
        authenticate, and each later call fails or passes as over HTTP and gRPC, so that
        refusal is no error here; a server that predates AUTH is."""
        try:
            self._roundtrip(f.Op.AUTH, [f.strings(token)])
        except _Broken as b:
            raise b.error from None
        except MlosError as e:
            if e.code == StatusCode.UNIMPLEMENTED:
                self._drop()
                raise
    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        with self._lock:
            self._drop()
            for region in self.arena.regions:
                region.memory.close()

    def _send(self, op: int, parts: list[Any], fd: int | None = None) -> int:
        assert self._sock is not None
        self._next_id += 1
        views = [memoryview(p).cast("B") for p in parts]
        views = [v for v in views if v.nbytes]
        total = sum(v.nbytes for v in views)
        if total > f.MAX_PAYLOAD:
            raise InvalidArgumentError(f"ipc: frame payload of {total} bytes exceeds the limit "
                                       f"of {f.MAX_PAYLOAD}")
        views.insert(0, memoryview(f.header(op, self._next_id, total)))
        first = True
        while views:
            if first and fd is not None:  # the descriptor rides on the frame's first bytes
                n = socket.send_fds(self._sock, views[:1024], [fd])
            else:
                n = self._sock.sendmsg(views[:1024])
            first = False
            while views and n >= views[0].nbytes:
                n -= views[0].nbytes
                views.pop(0)
            if n:
                views[0] = views[0][n:]
        return self._next_id

    def _recv_into(self, view: memoryview) -> None:
        assert self._sock is not None
        got = 0
        while got < len(view):
            n = self._sock.recv_into(view[got:])
            if n == 0:
                raise ConnectionError("connection closed by mlosd")
            got += n

    def _roundtrip(self, op: int, parts: list[Any], fd: int | None = None,
                   timeout: float | None = None) -> np.ndarray:
        """One request and its answer's payload (uint8, uninitialised then filled), with the
        lock held, waiting at most `timeout` (default: the client's) for each read. A server
        error raises its MlosError; a transport failure drops the connection and raises
        _Broken."""
        if self._sock is None:
            self._connect()
        assert self._sock is not None
        wait = timeout or self._timeout
        self._sock.settimeout(wait)
        try:
            rid = self._send(op, parts, fd)
            head = bytearray(f.HEADER_SIZE)
            self._recv_into(memoryview(head))
            _, _, answer_id, status, length = f.parse_header(head)
            payload = np.empty(length, dtype=np.uint8)
            self._recv_into(memoryview(payload))
        except socket.timeout:
            self._drop()
            raise _Broken(DeadlineExceededError(
                f"no answer from {self.endpoint} within {wait:g} s")) from None
        except (OSError, ValueError) as e:
            self._drop()
            raise _Broken(UnavailableError(
                f"ipc: connection to {self.endpoint.path} lost: {e}")) from None
        if answer_id != rid:
            self._drop()
            raise _Broken(InternalError(f"ipc: answer for request {answer_id}, expected {rid}"))
        if status:
            raise error_for(status, payload.tobytes().decode("utf-8", "replace"))
        return payload

    def _call(self, op: int, parts: list[Any] | None = None) -> np.ndarray:
        with self._lock:
            try:
                return self._roundtrip(op, parts or [])
            except _Broken as b:
                raise b.error from None

    def _json(self, op: int, parts: list[Any] | None = None) -> Any:
        payload = self._call(op, parts)
        try:
            return json.loads(payload.tobytes())
        except ValueError:
            raise InternalError("ipc: server sent malformed JSON") from None

    # ---- health, metadata, management ----

    def live(self) -> bool:
        return bool(self._call(f.Op.HEALTH)[0])

    def ready(self) -> bool:
        return bool(self._call(f.Op.HEALTH)[1])

    def model_ready(self, model: str) -> bool:
        return bool(self._call(f.Op.MODEL_READY, [f.strings(model, "")])[0])

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata.from_source(self._json(f.Op.SERVER_METADATA))

    def model_metadata(self, model: str) -> ModelMetadata:
        return ModelMetadata.from_source(self._json(f.Op.MODEL_METADATA, [f.strings(model, "")]))

    def list_models(self) -> list[ModelInfo]:
        j = self._json(f.Op.MODEL_LIST)
        if not isinstance(j, dict) or not isinstance(j.get("models"), list):
            raise InternalError("server's model list has no 'models' array")
        return [ModelInfo.from_source(m) for m in j["models"]]

    def model_call(self, op: str, model_id: str) -> ModelInfo:
        return ModelInfo.from_source(self._json(_MODEL_OPS[op], [f.strings(model_id)]))

    def register(self, body: dict[str, Any]) -> ModelInfo:
        j = self._json(f.Op.MODEL_REGISTER, [json.dumps(body).encode()])
        return ModelInfo.from_source(j.get("model", j))

    def set_alias(self, name: str, alias: str, version: str) -> ModelInfo:
        return ModelInfo.from_source(
            self._json(f.Op.MODEL_SET_ALIAS, [f.strings(name, alias, version)]))

    def unregister(self, model_id: str) -> None:
        self._call(f.Op.MODEL_UNREGISTER, [f.strings(model_id)])

    def plugins(self) -> list[PluginInfo]:
        j = self._json(f.Op.PLUGINS)
        if not isinstance(j, dict) or not isinstance(j.get("plugins"), list):
            raise InternalError("server's plugin list has no 'plugins' array")
        return [PluginInfo.from_source(p) for p in j["plugins"]]

    def shm_status(self, region: str) -> list[ShmRegionInfo]:
        j = self._json(f.Op.SHM_STATUS, [f.strings(region)])
        return [ShmRegionInfo.from_source(r) for r in j if isinstance(r, dict)]

    # ---- shared memory ----

    def allocate(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """An uninitialised array in the arena: fill it and pass it as an input, and it is
        not copied again."""
        dt = np.dtype(dtype)
        n = dt.itemsize * math.prod(shape)
        with self._lock:
            block = self.arena.allocate(n, n)
        return np.frombuffer(self.arena.lease(block, n), dtype=dt).reshape(shape)

    def _ensure_registered(self, region: Region) -> None:
        if region.registered_gen == self._gen:
            return
        size = region.memory.size
        self._roundtrip(f.Op.SHM_REGISTER,
                        [f.strings(region.name) + struct.pack("<QQ", 0, size)],
                        fd=region.memory.fd)
        region.registered_gen = self._gen

    def _drop_idle_regions(self) -> None:
        for region in self.arena.droppable():
            if region.registered_gen == self._gen and self._sock is not None:
                try:
                    self._roundtrip(f.Op.SHM_UNREGISTER, [f.strings(region.name)])
                except MlosError:
                    pass
            region.memory.close()

    # ---- inference ----

    def infer(self, model: str, inputs: list[Prepared], outputs: list[str] | None,
              options: InferOptions) -> dict[str, np.ndarray]:
        with self._lock:
            try:
                try:
                    return self._infer(model, inputs, outputs, options, use_shm=self.zero_copy)
                except InvalidArgumentError as e:
                    if not self.zero_copy or _NO_FIT not in e.message:
                        raise
                # A window from stale metadata (the model changed): learn again, inline.
                self._outputs_meta.pop((model, options.version), None)
                self._sizes.clear()
                return self._infer(model, inputs, outputs, options, use_shm=False)
            except _Broken as b:
                raise b.error from None

    def _output_plan(self, model: str, version: str, inputs: list[Prepared],
                     outputs: list[str] | None) -> list[tuple[str, int | None]]:
        """(name, window bytes or None for inline) for each output to ask for."""
        key = (model, version)
        meta = self._outputs_meta.get(key)
        if meta is None:
            try:
                j = json.loads(self._roundtrip(f.Op.MODEL_METADATA,
                                               [f.strings(model, version)]).tobytes())
                meta = ModelMetadata.from_source(j).outputs
            except (MlosError, ValueError):
                return [(n, None) for n in outputs or []]  # INFER gives the real error
            if len(self._outputs_meta) > 256:
                self._outputs_meta.clear()
            self._outputs_meta[key] = meta
        by_name = {t.name: t for t in meta}
        signature = tuple((t.name, t.dtype.code, t.shape) for t in inputs)
        plan: list[tuple[str, int | None]] = []
        for name in outputs if outputs is not None else [t.name for t in meta]:
            info = by_name.get(name)
            d = _dtypes.by_name(info.dtype) if info else None
            size: int | None = None
            if info is not None and d is not None and d.size:
                if all(x >= 0 for x in info.shape):
                    size = d.size * math.prod(info.shape)
                else:
                    size = self._sizes.get((model, version, name, signature))
            plan.append((name, size or None))
        return plan

    def _infer(self, model: str, inputs: list[Prepared], outputs: list[str] | None,
               options: InferOptions, use_shm: bool) -> dict[str, np.ndarray]:
        if self._sock is None:
            self._connect()
        if use_shm:
            self._drop_idle_regions()
            plan = self._output_plan(model, options.version, inputs, outputs)
        else:
            plan = [(n, None) for n in outputs or []]
        call_bytes = sum(t.nbytes for t in inputs if t.array is not None) + sum(
            s or 0 for _, s in plan)
        temporary: list[Block] = []   # input copies: free once answered
        windows: dict[str, Block] = {}
        wire_inputs: list[f.WireTensor] = []
        wire_outputs: list[f.WireOutputSpec] = []
        ok = False
        try:
            for t in inputs:
                w = f.WireTensor(t.name, t.dtype.code, t.shape)
                located = None
                if use_shm and t.array is not None and t.nbytes:
                    located = self.arena.locate(t.array)
                    if located is None:
                        block = self.arena.allocate(t.nbytes, call_bytes)
                        temporary.append(block)
                        dst = block.region.memory.array[block.offset:block.offset + t.nbytes]
                        np.copyto(dst, t.array.reshape(-1).view(np.uint8))
                        located = (block.region, block.offset)
                if located:
                    self._ensure_registered(located[0])
                    w.placement, w.region, w.offset = f.SHM, located[0].name, located[1]
                    w.byte_size = t.nbytes
                else:
                    w.data = t.data()
                wire_inputs.append(w)
            for name, size in plan:
                spec = f.WireOutputSpec(name)
                if size:
                    block = self.arena.allocate(size, call_bytes)
                    windows[name] = block
                    self._ensure_registered(block.region)
                    spec.placement, spec.region = f.SHM, block.region.name
                    spec.offset, spec.byte_size = block.offset, size
                wire_outputs.append(spec)
            timeout = self._timeout
            if options.timeout and options.timeout < timeout:
                timeout = options.timeout
            parts = f.infer_request(model, options.version, int(timeout * 1e6), wire_inputs,
                                    wire_outputs, options.priority or None,
                                    options.keep_alive_ms())
            # The wait is bounded by the request's timeout too: mlosd checks it before the model
            # runs, and does not stop a model that is running past it.
            payload = self._roundtrip(f.Op.INFER, parts, timeout=timeout)
            result = self._decode(payload, windows, model, options.version, inputs)
            ok = True
            return result
        except _Broken:
            # mlosd may still use these blocks: their regions are never allocated from again.
            for b in temporary + list(windows.values()):
                self.arena.retire(b.region)
            raise
        finally:
            for b in temporary:
                self.arena.free(b)
            if not ok:
                for b in windows.values():
                    self.arena.free(b)

    def _decode(self, payload: np.ndarray, windows: dict[str, Block], model: str, version: str,
                inputs: list[Prepared]) -> dict[str, np.ndarray]:
        try:
            resp = f.infer_response(payload)
        except ValueError as e:
            raise InternalError(f"ipc: bad INFER answer: {e}") from None
        signature = tuple((t.name, t.dtype.code, t.shape) for t in inputs)
        result: dict[str, np.ndarray] = {}
        for w in resp.outputs:
            d = _dtypes.by_code(w.dtype)
            if d is None:
                raise InternalError(f"output '{w.name}': unknown dtype {w.dtype}")
            if w.placement == f.SHM:
                block = windows.pop(w.name, None)
                if block is None or w.region != block.region.name or w.offset != block.offset \
                        or w.byte_size > block.size:
                    raise InternalError(f"output '{w.name}': written outside its window")
                buf = self.arena.lease(block, w.byte_size)
                result[w.name] = _dtypes.output_array(buf, d, w.shape, w.name, aligned=True)
            else:
                start, end = w.data
                result[w.name] = _dtypes.output_array(payload[start:end], d, w.shape, w.name,
                                                      aligned=True)  # 8-aligned in the frame
                if d.size and end > start:
                    if len(self._sizes) > 4096:
                        self._sizes.clear()
                    self._sizes[(model, version, w.name, signature)] = end - start
        for block in windows.values():  # asked for, not answered
            self.arena.free(block)
        windows.clear()
        return result
