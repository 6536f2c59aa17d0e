"""What every transport implements (HTTP, gRPC, IPC), and the per-request options they share."""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any

import numpy as np

from ._dtypes import Prepared
from ._url import Endpoint
from .errors import InvalidArgumentError
from .types import ModelInfo, ModelMetadata, PluginInfo, ServerMetadata, ShmRegionInfo


@dataclasses.dataclass
class InferOptions:
    """Per-request options (the C++ SDK's InferOptions).

    version: a version for a bare model name ("" = the id's own or the default).
    timeout: this request's limit in seconds, counted by the server from when it has the
        request (the earlier of it and the client's timeout applies); None = the client's.
    priority: 1 = most urgent, larger = less; 0 = the model's default.
    keep_alive: how long the model stays loaded afterwards: seconds (negative = forever,
        0 = unload right after) or a duration string ("5m", "1h30m"); None = the model's own.
    request_id: echoed back by HTTP and gRPC (not carried by IPC).
    """
    version: str = ""
    timeout: float | None = None
    priority: int = 0
    keep_alive: float | str | None = None
    request_id: str = ""

    def check(self) -> None:
        if self.priority < 0:
            raise InvalidArgumentError(f"priority {self.priority} must be >= 0 (1 = most "
                                       "urgent, 0 = the model's default)")
        if self.timeout is not None and (self.timeout < 0 or math.isnan(self.timeout)):
            raise InvalidArgumentError(f"timeout {self.timeout} s must be >= 0")

    def timeout_us(self) -> int:
        return int(round((self.timeout or 0) * 1e6))

    def keep_alive_ms(self) -> int | None:
        """keep_alive in milliseconds (-1 = forever), for IPC; None when unset."""
        if self.keep_alive is None:
            return None
        if isinstance(self.keep_alive, str):
            raise InvalidArgumentError("keep_alive over unix:// takes seconds, not a string")
        ms = int(round(self.keep_alive * 1000))
        return -1 if self.keep_alive < 0 else ms

    def keep_alive_text(self) -> str | None:
        """keep_alive as the KServe parameter carries it ("-1", "0", "1500ms", "5m")."""
        if self.keep_alive is None or isinstance(self.keep_alive, str):
            return self.keep_alive
        if self.keep_alive < 0:
            return "-1"
        ms = int(round(self.keep_alive * 1000))
        return "0" if ms == 0 else f"{ms}ms"


class Transport(abc.ABC):
    """One connection (or pool of them) to mlosd. Thread-safe."""

    endpoint: Endpoint

    # Health and metadata.
    @abc.abstractmethod
    def live(self) -> bool: ...
    @abc.abstractmethod
    def ready(self) -> bool: ...
    @abc.abstractmethod
    def model_ready(self, model: str) -> bool: ...
    @abc.abstractmethod
    def server_metadata(self) -> ServerMetadata: ...
    @abc.abstractmethod
    def model_metadata(self, model: str) -> ModelMetadata: ...

    # Management (each answers the model's status afterwards).
    @abc.abstractmethod
    def list_models(self) -> list[ModelInfo]: ...
    @abc.abstractmethod
    def model_call(self, op: str, model_id: str) -> ModelInfo:
        """op: get, load, unload, default, rollback, pin, unpin."""
    @abc.abstractmethod
    def register(self, body: dict[str, Any]) -> ModelInfo: ...
    @abc.abstractmethod
    def set_alias(self, name: str, alias: str, version: str) -> ModelInfo: ...
    @abc.abstractmethod
    def unregister(self, model_id: str) -> None: ...
    @abc.abstractmethod
    def plugins(self) -> list[PluginInfo]: ...
    @abc.abstractmethod
    def shm_status(self, region: str) -> list[ShmRegionInfo]: ...

    # Inference.
    @abc.abstractmethod
    def infer(self, model: str, inputs: list[Prepared], outputs: list[str] | None,
              options: InferOptions) -> dict[str, np.ndarray]: ...

    @abc.abstractmethod
    def close(self) -> None: ...


MODEL_OPS = ("get", "load", "unload", "default", "rollback", "pin", "unpin")
