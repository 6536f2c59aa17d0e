"""HTTP transport (stdlib http.client): the original MLOS API for management, KServe v2 REST for
health, metadata and inference with the binary tensor data extension both ways. Connections are
kept alive and pooled, so a client may be used from several threads at once.

Inputs go out from the arrays (the request is written in pieces, never joined); the answer is
read into one uninitialised numpy buffer and binary outputs are views of it (an output that
would start unaligned for its type is copied, as in the C++ SDK).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any
from urllib.parse import quote

import numpy as np

from . import _dtypes
from ._dtypes import Prepared
from ._transport import MODEL_OPS, InferOptions, Transport
from ._url import Endpoint
from .errors import (DeadlineExceededError, InternalError, InvalidArgumentError, MlosError,
                     UnavailableError, code_for_http, error_for)
from .types import ModelInfo, ModelMetadata, PluginInfo, ServerMetadata, ShmRegionInfo

_SMALL_BODY = 64 * 1024  # bodies below this go out with the header in one send


def _segment(value: str, what: str = "model id") -> str:
    if not value:
        raise InvalidArgumentError(f"{what} is empty")
    return quote(value, safe="")


class _Reply:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: np.ndarray) -> None:
        self.status = status
        self.headers = headers
        self.body = body  # uint8

    def text(self) -> str:
        return self.body.tobytes().decode("utf-8", "replace")

    def json(self) -> Any:
        if not self.body.size:
            return {}
        try:
            return json.loads(self.body.tobytes())
        except ValueError:
            raise InternalError("server sent malformed JSON: " + self.text()[:200]) from None

    def error(self) -> MlosError | None:
        if 200 <= self.status < 300:
            return None
        message = ""
        try:
            j = json.loads(self.body.tobytes())
            if isinstance(j, dict) and isinstance(j.get("error"), str):
                message = j["error"]
        except ValueError:
            pass
        if not message:
            body = self.text()
            message = f"HTTP {self.status}" + (": " + body[:200] if body else "")
        retry = self.headers.get("Retry-After")
        retry_after = float(retry) if retry and retry.strip().isdigit() else None
        return error_for(code_for_http(self.status, message), message, retry_after)


class HttpTransport(Transport):
    def __init__(self, endpoint: Endpoint, timeout: float, connect_timeout: float,
                 token: str | None) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._token = token
        self._lock = threading.Lock()
        self._pool: list[http.client.HTTPConnection] = []
        self._closed = False

    # ---- connections ----

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._pool:
                return self._pool.pop(), True
        conn = http.client.HTTPConnection(self.endpoint.host, self.endpoint.port,
                                          timeout=self._connect_timeout)
        try:
            conn.connect()
        except socket.timeout:
            raise UnavailableError(f"cannot reach mlosd at {self.endpoint}: connect timed out") \
                from None
        except OSError as e:
            raise UnavailableError(f"cannot reach mlosd at {self.endpoint}: {e}") from None
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock.settimeout(self._timeout)
        return conn, False

    def _give(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                self._pool.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, []
        for c in pool:
            c.close()

    def _exchange(self, method: str, path: str, parts: list[Any] | None = None,
                  headers: dict[str, str] | None = None,
                  timeout: float | None = None) -> _Reply:
        """One request (body in pieces) and its whole answer, waiting at most `timeout` (default:
        the client's) for each read. A kept-alive connection the server has closed meanwhile is
        replaced once."""
        parts = parts or []
        wait = timeout or self._timeout
        total = sum(memoryview(p).nbytes for p in parts)
        for attempt in range(2):
            conn, reused = self._take()
            try:
                assert conn.sock is not None
                conn.sock.settimeout(wait)
                conn.putrequest(method, path, skip_accept_encoding=True)
                for k, v in (headers or {}).items():
                    conn.putheader(k, v)
                if self._token:
                    conn.putheader("Authorization", "Bearer " + self._token)
                if method in ("POST", "PUT") or parts:
                    conn.putheader("Content-Length", str(total))
                if total < _SMALL_BODY:
                    conn.endheaders(b"".join(bytes(p) for p in parts) if parts else None)
                else:
                    conn.endheaders()
                    for p in parts:
                        conn.send(p)
                resp = conn.getresponse()
                body = self._read_body(resp)
            except socket.timeout:
                conn.close()
                raise DeadlineExceededError(
                    f"no answer from {self.endpoint} within {wait:g} s") from None
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                stale = isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError,
                                       ConnectionResetError))
                if reused and stale and attempt == 0:
                    continue
                raise UnavailableError(f"cannot reach mlosd at {self.endpoint}: {e}") from None
            if resp.will_close:
                conn.close()
            else:
                self._give(conn)
            return _Reply(resp.status, resp.headers, body)
        raise AssertionError("unreachable")

    @staticmethod
    def _read_body(resp: http.client.HTTPResponse) -> np.ndarray:
        length = resp.length
        if length is None:  # chunked or until EOF
            return np.frombuffer(bytearray(resp.read()), dtype=np.uint8)
        body = np.empty(length, dtype=np.uint8)  # not initialised: filled by the socket
        view = memoryview(body)
        got = 0
        while got < length:
            n = resp.readinto(view[got:])
            if not n:
                raise http.client.IncompleteRead(bytes(view[:got]), length - got)
            got += n
        return body

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        parts = [json.dumps(body).encode()] if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else None
        reply = self._exchange(method, path, parts, headers)
        err = reply.error()
        if err:
            raise err
        return reply.json()

    # ---- health, metadata ----

    def live(self) -> bool:
        return bool(self._call("GET", "/v2/health/live").get("live", False))

    def ready(self) -> bool:
        # 503 {"ready": false} while the registry is restored: an answer, not an error.
        reply = self._exchange("GET", "/v2/health/ready")
        if reply.status == 503:
            j = reply.json()
            if isinstance(j, dict) and isinstance(j.get("ready"), bool):
                return j["ready"]
        err = reply.error()
        if err:
            raise err
        return bool(reply.json().get("ready", False))

    def model_ready(self, model: str) -> bool:
        reply = self._exchange("GET", f"/v2/models/{_segment(model, 'model name')}/ready")
        if reply.status == 503:
            return False
        err = reply.error()
        if err:
            raise err
        return bool(reply.json().get("ready", False))

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata.from_source(self._call("GET", "/v2"))

    def model_metadata(self, model: str) -> ModelMetadata:
        return ModelMetadata.from_source(
            self._call("GET", f"/v2/models/{_segment(model, 'model name')}"))

    # ---- management ----

    def list_models(self) -> list[ModelInfo]:
        j = self._call("GET", "/models")
        if not isinstance(j, dict) or not isinstance(j.get("models"), list):
            raise InternalError("server's model list has no 'models' array")
        return [ModelInfo.from_source(m) for m in j["models"]]

    def model_call(self, op: str, model_id: str) -> ModelInfo:
        assert op in MODEL_OPS
        seg = _segment(model_id)
        if op == "get":
            return ModelInfo.from_source(self._call("GET", f"/models/{seg}"))
        return ModelInfo.from_source(self._call("POST", f"/models/{seg}/{op}"))

    def register(self, body: dict[str, Any]) -> ModelInfo:
        j = self._call("POST", "/models/register", body)
        return ModelInfo.from_source(j.get("model", j))

    def set_alias(self, name: str, alias: str, version: str) -> ModelInfo:
        return ModelInfo.from_source(self._call(
            "POST", f"/models/{_segment(name, 'model name')}/alias",
            {"alias": alias, "version": version}))

    def unregister(self, model_id: str) -> None:
        self._call("DELETE", f"/models/{_segment(model_id)}")

    def plugins(self) -> list[PluginInfo]:
        j = self._call("GET", "/plugins")
        if not isinstance(j, dict) or not isinstance(j.get("plugins"), list):
            raise InternalError("server's plugin list has no 'plugins' array")
        return [PluginInfo.from_source(p) for p in j["plugins"]]

    def shm_status(self, region: str) -> list[ShmRegionInfo]:
        path = ("/v2/systemsharedmemory/status" if not region
                else f"/v2/systemsharedmemory/region/{_segment(region, 'region')}/status")
        j = self._call("GET", path)
        if isinstance(j, dict):
            j = j.get("regions", [j])
        return [ShmRegionInfo.from_source(r) for r in j if isinstance(r, dict)]

    # ---- inference ----

    def infer(self, model: str, inputs: list[Prepared], outputs: list[str] | None,
              options: InferOptions) -> dict[str, np.ndarray]:
        params: dict[str, Any] = {"binary_data_output": True}
        if options.priority > 0:
            params["priority"] = options.priority
        if options.timeout:
            params["timeout"] = options.timeout_us()
        keep_alive = options.keep_alive_text()
        if keep_alive is not None:
            params["keep_alive"] = keep_alive
        header: dict[str, Any] = {"parameters": params, "inputs": [
            {"name": t.name, "datatype": t.dtype.kserve, "shape": list(t.shape),
             "parameters": {"binary_data_size": t.nbytes}} for t in inputs]}
        if options.request_id:
            header["id"] = options.request_id
        if outputs:
            header["outputs"] = [{"name": n, "parameters": {"binary_data": True}}
                                 for n in outputs]
        head = json.dumps(header).encode()
        path = f"/v2/models/{_segment(model, 'model name')}"
        if options.version:
            path += f"/versions/{_segment(options.version, 'version')}"
        # The request's own timeout also bounds the wait here: mlosd checks it before the model
        # runs, and does not stop a model that is running past it.
        wait = min(self._timeout, options.timeout) if options.timeout else self._timeout
        reply = self._exchange("POST", path + "/infer", [head] + [t.data() for t in inputs], {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(head))}, timeout=wait)
        err = reply.error()
        if err:
            raise err
        return self._outputs(reply)

    @staticmethod
    def _outputs(reply: _Reply) -> dict[str, np.ndarray]:
        body = reply.body
        hlen = reply.headers.get("Inference-Header-Content-Length")
        n = int(hlen) if hlen is not None else body.size
        if n > body.size:
            raise InternalError("Inference-Header-Content-Length exceeds the response body")
        try:
            j = json.loads(body[:n].tobytes())
        except ValueError:
            raise InternalError("server sent a malformed infer response") from None
        if not isinstance(j, dict) or not isinstance(j.get("outputs"), list):
            raise InternalError("infer response has no outputs array")
        result: dict[str, np.ndarray] = {}
        pos = n
        for o in j["outputs"]:
            name = o.get("name", "")
            d = _dtypes.by_kserve(o.get("datatype", ""))
            if d is None:
                raise InternalError(f"output '{name}': unknown datatype {o.get('datatype')}")
            shape = tuple(int(x) for x in o.get("shape", []))
            p = o.get("parameters") or {}
            if "binary_data_size" in p:
                size = int(p["binary_data_size"])
                if pos + size > body.size:
                    raise InternalError("binary output data truncated")
                result[name] = _dtypes.output_array(body[pos:pos + size], d, shape, name)
                pos += size
            elif "data" in o:
                result[name] = _json_output(o["data"], d, shape)
            else:
                raise InternalError(f"output '{name}' has neither data nor binary data")
        return result


def _json_output(data: Any, d: _dtypes.Dtype, shape: tuple[int, ...]) -> np.ndarray:
    if d.name == "string":
        flat = [v.encode() if isinstance(v, str) else bytes(v) for v in np.ravel(data)]
        return np.array(flat + [b""], dtype=object)[:-1].reshape(shape)
    if d.name == "bfloat16":
        return np.asarray(data, dtype="<u2").reshape(shape)
    return np.asarray(data, dtype=d.numpy).reshape(shape)
