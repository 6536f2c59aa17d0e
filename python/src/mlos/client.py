"""``mlos.Client``: one API over ``http://``, ``grpc://`` and ``unix://`` (the C++ SDK's
``mlos::client::Client``), picked by the URL.

Every call answers the same value, or raises the same :class:`~mlos.errors.MlosError`
subclass with the server's message, whatever the transport. Model ids are ``ns/name`` (its
default version), ``ns/name@version`` or ``ns/name@alias``.

Threading: a Client may be used from several threads at once (HTTP pools connections, gRPC
multiplexes one channel, IPC serialises requests on its one connection).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import _dtypes
from ._transport import InferOptions, Transport
from ._url import Endpoint, parse_url
from .errors import InvalidArgumentError, UnimplementedError
from .types import ModelInfo, ModelMetadata, PluginInfo, ServerMetadata, ShmRegionInfo


class Client:
    """A connection to mlosd.

    Args:
        url: ``http://host:port``, ``grpc://host:port`` or ``unix:///path/mlosd.sock``
            (a bare ``host:port`` is http).
        timeout: seconds to wait for each answer (60 by default); past it the call raises
            :class:`~mlos.errors.DeadlineExceededError` (over IPC mlosd is told the same
            deadline, and stops the request).
        connect_timeout: seconds to wait for a connection.
        token: a bearer token (default: ``$MLOS_TOKEN``), sent on every HTTP request and gRPC
            call, and once per IPC connection (AUTH).
        zero_copy: over ``unix://``, tensors travel through shared memory the client owns and
            outputs are views of it (default True); False sends them inline in the frames.

    Over ``unix://`` the socket is connected now (UnavailableError when nothing listens);
    HTTP and gRPC connect on the first call.
    """

    def __init__(self, url: str, *, timeout: float = 60.0, connect_timeout: float = 5.0,
                 token: str | None = None, zero_copy: bool = True) -> None:
        self.endpoint: Endpoint = parse_url(url)
        if token is None:
            token = os.environ.get("MLOS_TOKEN") or None
        if timeout <= 0 or connect_timeout <= 0:
            raise InvalidArgumentError("timeouts must be positive")
        self.timeout = timeout
        self._transport: Transport
        if self.endpoint.scheme == "http":
            from ._http import HttpTransport
            self._transport = HttpTransport(self.endpoint, timeout, connect_timeout, token)
        elif self.endpoint.scheme == "grpc":
            from ._grpc import GrpcTransport
            self._transport = GrpcTransport(self.endpoint, timeout, connect_timeout, token)
        else:
            from ._ipc import IpcTransport
            self._transport = IpcTransport(self.endpoint, timeout, connect_timeout, token,
                                           zero_copy=zero_copy)

    def __repr__(self) -> str:
        return f"mlos.Client({str(self.endpoint)!r})"

    def close(self) -> None:
        """Closes the connections. Output arrays stay valid (they own their memory)."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- health and metadata ----

    def live(self) -> bool:
        return self._transport.live()

    def ready(self) -> bool:
        """False (not an error) while the daemon is still restoring its registry."""
        return self._transport.ready()

    def health(self) -> dict[str, bool]:
        """``{"live": ..., "ready": ...}``."""
        return {"live": self.live(), "ready": self.ready()}

    def model_ready(self, model: str) -> bool:
        """True when READY, False when registered but not (yet) ready; NotFoundError for an
        unknown model."""
        return self._transport.model_ready(model)

    def server_metadata(self) -> ServerMetadata:
        return self._transport.server_metadata()

    def model_metadata(self, model: str) -> ModelMetadata:
        return self._transport.model_metadata(model)

    # ---- management: calls that change a model answer its status afterwards ----

    def models(self) -> list[ModelInfo]:
        """Every registered model version."""
        return self._transport.list_models()

    list_models = models

    def get_model(self, model_id: str) -> ModelInfo:
        return self._transport.model_call("get", model_id)

    def register(self, model_id: str, path: str | os.PathLike[str], *, name: str = "",
                 framework: str = "", execution_format: str = "", description: str = "",
                 manifest_path: str = "") -> ModelInfo:
        """Registers the package directory `path` (under one of the server's model roots) as
        `model_id` ("ns/name@version")."""
        body: dict[str, Any] = {"model_id": model_id, "path": os.fspath(path)}
        for key, value in (("name", name), ("framework", framework),
                           ("execution_format", execution_format),
                           ("description", description), ("manifest_path", manifest_path)):
            if value:
                body[key] = value
        return self._transport.register(body)

    def load(self, model_id: str) -> ModelInfo:
        return self._transport.model_call("load", model_id)

    def unload(self, model_id: str) -> ModelInfo:
        return self._transport.model_call("unload", model_id)

    def set_default(self, model_id: str) -> ModelInfo:
        """Makes `model_id` ("ns/name@version") its name's default once it is READY."""
        return self._transport.model_call("default", model_id)

    def rollback(self, name: str) -> ModelInfo:
        """Returns `name`'s default to the one before it (FailedPreconditionError when there is
        none)."""
        return self._transport.model_call("rollback", name)

    def set_alias(self, name: str, alias: str, version: str) -> ModelInfo:
        """Points `alias` of `name` ("ns/name") at `version`; "" removes it. Answers the version
        the alias now names (after a removal: the default)."""
        return self._transport.set_alias(name, alias, version)

    def pin(self, model_id: str) -> ModelInfo:
        return self._transport.model_call("pin", model_id)

    def unpin(self, model_id: str) -> ModelInfo:
        return self._transport.model_call("unpin", model_id)

    def unregister(self, model_id: str) -> None:
        self._transport.unregister(model_id)

    def plugins(self) -> list[PluginInfo]:
        return self._transport.plugins()

    def shared_memory_status(self, region: str = "") -> list[ShmRegionInfo]:
        """The shared-memory regions this client may use ("" = all of them)."""
        return self._transport.shm_status(region)

    # ---- inference ----

    def infer(self, model: str, inputs: Mapping[str, Any],
              outputs: Sequence[str] | None = None, *, version: str = "",
              timeout: float | None = None, priority: int = 0,
              keep_alive: float | str | None = None,
              request_id: str = "") -> dict[str, np.ndarray]:
        """Runs `model` on `inputs` ({name: array}) and answers {name: array} for `outputs`
        (None = every output).

        Values are numpy arrays (or anything np.asarray takes, or :class:`mlos.Tensor` to name
        the dtype). Strings: object/``S``/``U`` arrays in, object arrays of bytes out. Over
        ``unix://`` (zero copy) the numeric outputs are views of the client's shared memory;
        over HTTP views of the received body, over gRPC read-only views of the message.

        timeout: this request's own limit in seconds (the server stops it and the call raises
            DeadlineExceededError). priority: 1 = most urgent; 0 = the model's default.
            keep_alive: seconds the model stays loaded afterwards (negative = forever) or a
            duration string ("5m"; not over unix://).
        """
        options = InferOptions(version=version, timeout=timeout, priority=priority,
                               keep_alive=keep_alive, request_id=request_id)
        options.check()
        if not isinstance(inputs, Mapping):
            raise InvalidArgumentError("inputs must be a mapping {name: array}")
        prepared = [_dtypes.prepare(str(name), value) for name, value in inputs.items()]
        if isinstance(outputs, str):
            outputs = [outputs]
        names = list(outputs) if outputs is not None else None
        return self._transport.infer(model, prepared, names, options)

    # ---- shared memory (unix://) ----

    def allocate(self, shape: Sequence[int] | int, dtype: Any = np.float32) -> np.ndarray:
        """An uninitialised array for an input. Over ``unix://`` it lives in the client's
        shared memory, so passing it to :meth:`infer` copies nothing; it is reused once it and
        its views are gone. Over HTTP and gRPC a plain ``np.empty``."""
        shape_t = (int(shape),) if isinstance(shape, int) else tuple(int(d) for d in shape)
        from ._ipc import IpcTransport
        if isinstance(self._transport, IpcTransport):
            return self._transport.allocate(shape_t, dtype)
        return np.empty(shape_t, dtype=dtype)

    @property
    def shared_memory(self) -> list[Any]:
        """The client's shared-memory regions (:class:`mlos.shm.SharedMemory`), unix:// only."""
        from ._ipc import IpcTransport
        if not isinstance(self._transport, IpcTransport):
            raise UnimplementedError("client-owned shared memory needs a unix:// URL")
        return [r.memory for r in self._transport.arena.regions]
