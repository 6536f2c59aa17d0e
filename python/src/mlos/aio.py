"""``mlos.AsyncClient``: the :class:`mlos.Client` API as coroutines.

How: each call runs the synchronous client in a thread pool (``loop.run_in_executor``); it is
not a native asyncio implementation. Concurrent calls really run at once: over ``unix://``
each one in flight has an IPC connection (and shared memory) of its own, taken from a pool of
up to `max_connections`; HTTP and gRPC share one thread-safe client (pooled keep-alive
connections, one multiplexed channel). A call cancelled while it waits for the server is
abandoned, not stopped: its request still completes (or times out) in its thread.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._url import parse_url
from .client import Client
from .types import ModelInfo, ModelMetadata, PluginInfo, ServerMetadata, ShmRegionInfo


class AsyncClient:
    """Args as :class:`mlos.Client`, plus `max_connections`: the calls that run at once."""

    def __init__(self, url: str, *, max_connections: int = 8, **client_args: Any) -> None:
        self.endpoint = parse_url(url)  # a bad URL fails here, not at the first call
        self._url = url
        self._args = client_args
        self._pooled = self.endpoint.scheme == "unix"
        self._executor = ThreadPoolExecutor(max_workers=max_connections,
                                            thread_name_prefix="mlos-aio")
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._idle: list[Client] = []
        self._all: list[Client] = []
        self._closed = False

    def _take(self) -> Client:
        with self._lock:
            if self._idle:
                return self._idle.pop() if self._pooled else self._idle[0]
        client = Client(self._url, **self._args)
        with self._lock:
            self._all.append(client)
            if not self._pooled:
                if self._idle:  # another thread made the shared one first
                    self._all.remove(client)
                    client.close()
                    return self._idle[0]
                self._idle.append(client)
        return client

    def _give(self, client: Client) -> None:
        if not self._pooled:
            return
        with self._lock:
            if self._closed:
                client.close()
            else:
                self._idle.append(client)

    def _run_sync(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self._slots:
            client = self._take()
            try:
                return getattr(client, method)(*args, **kwargs)
            finally:
                self._give(client)

    async def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._run_sync, method, args, kwargs))

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            clients, self._all, self._idle = self._all, [], []
        for c in clients:
            c.close()
        self._executor.shutdown(wait=False)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def live(self) -> bool:
        return bool(await self._run("live"))

    async def ready(self) -> bool:
        return bool(await self._run("ready"))

    async def health(self) -> dict[str, bool]:
        return dict(await self._run("health"))

    async def model_ready(self, model: str) -> bool:
        return bool(await self._run("model_ready", model))

    async def server_metadata(self) -> ServerMetadata:
        return await self._run("server_metadata")  # type: ignore[no-any-return]

    async def model_metadata(self, model: str) -> ModelMetadata:
        return await self._run("model_metadata", model)  # type: ignore[no-any-return]

    async def models(self) -> list[ModelInfo]:
        return list(await self._run("models"))

    async def get_model(self, model_id: str) -> ModelInfo:
        return await self._run("get_model", model_id)  # type: ignore[no-any-return]

    async def register(self, model_id: str, path: str, **kwargs: str) -> ModelInfo:
        return await self._run("register", model_id, path, **kwargs)  # type: ignore[no-any-return]

    async def load(self, model_id: str) -> ModelInfo:
        return await self._run("load", model_id)  # type: ignore[no-any-return]

    async def unload(self, model_id: str) -> ModelInfo:
        return await self._run("unload", model_id)  # type: ignore[no-any-return]

    async def set_default(self, model_id: str) -> ModelInfo:
        return await self._run("set_default", model_id)  # type: ignore[no-any-return]

    async def rollback(self, name: str) -> ModelInfo:
        return await self._run("rollback", name)  # type: ignore[no-any-return]

    async def set_alias(self, name: str, alias: str, version: str) -> ModelInfo:
        return await self._run("set_alias", name, alias, version)  # type: ignore[no-any-return]

    async def pin(self, model_id: str) -> ModelInfo:
        return await self._run("pin", model_id)  # type: ignore[no-any-return]

    async def unpin(self, model_id: str) -> ModelInfo:
        return await self._run("unpin", model_id)  # type: ignore[no-any-return]

    async def unregister(self, model_id: str) -> None:
        await self._run("unregister", model_id)

    async def plugins(self) -> list[PluginInfo]:
        return list(await self._run("plugins"))

    async def shared_memory_status(self, region: str = "") -> list[ShmRegionInfo]:
        return list(await self._run("shared_memory_status", region))

    async def infer(self, model: str, inputs: Mapping[str, Any],
                    outputs: Sequence[str] | None = None, **options: Any
                    ) -> dict[str, np.ndarray]:
        """As :meth:`mlos.Client.infer` (same keyword options)."""
        return dict(await self._run("infer", model, inputs, outputs, **options))
