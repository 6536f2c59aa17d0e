"""What the server answers, as plain dataclasses (the C++ SDK's structs, in Python names).

Every transport fills the same fields: HTTP and IPC from the server's JSON documents, gRPC from
the mlos.v1 / KServe protobuf messages. A field the server did not send keeps its default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _get(source: Any) -> Callable[[str], Any]:
    """A field reader over a JSON object (dict) or a protobuf message."""
    if isinstance(source, dict):
        return source.get
    return lambda name: getattr(source, name, None)


def _fill(cls: type[T], source: Any, **overrides: Any) -> T:
    get = _get(source)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in overrides:
            values[f.name] = overrides[f.name]
            continue
        v = get(f.name)
        if v is None:
            continue
        if isinstance(f.default, bool):
            v = bool(v)
        elif isinstance(f.default, int):
            v = int(v)
        elif isinstance(f.default, float):
            v = float(v)
        elif isinstance(f.default, str):
            v = str(v)
        elif f.default_factory is list:  # type: ignore[misc]
            v = list(v)
        values[f.name] = v
    return cls(**values)


@dataclasses.dataclass
class TensorInfo:
    name: str = ""
    dtype: str = ""                      # "float32", "int64", "string", ...
    shape: list[int] = dataclasses.field(default_factory=list)  # -1 = dynamic

    @classmethod
    def from_source(cls, source: Any) -> TensorInfo:
        from . import _dtypes  # dtype names: the KServe name when "dtype" is absent
        get = _get(source)
        dtype = get("dtype") or ""
        if not dtype:
            kserve = get("datatype") or ""
            d = _dtypes.by_kserve(kserve)
            dtype = d.name if d else kserve
        return cls(name=str(get("name") or ""), dtype=str(dtype),
                   shape=[int(x) for x in (get("shape") or [])])


@dataclasses.dataclass
class ServerMetadata:
    name: str = ""
    version: str = ""
    extensions: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def from_source(cls, source: Any) -> ServerMetadata:
        return _fill(cls, source)


@dataclasses.dataclass
class ModelMetadata:
    """KServe v2 model metadata."""
    name: str = ""
    versions: list[str] = dataclasses.field(default_factory=list)
    platform: str = ""
    inputs: list[TensorInfo] = dataclasses.field(default_factory=list)
    outputs: list[TensorInfo] = dataclasses.field(default_factory=list)

    @classmethod
    def from_source(cls, source: Any) -> ModelMetadata:
        get = _get(source)
        return _fill(cls, source,
                     inputs=[TensorInfo.from_source(t) for t in (get("inputs") or [])],
                     outputs=[TensorInfo.from_source(t) for t in (get("outputs") or [])])


@dataclasses.dataclass
class ModelInfo:
    """A registered model version, as ``GET /models/{id}`` describes it."""
    id: str = ""                  # ns/name@version
    name: str = ""
    version: str = ""
    state: str = ""               # READY, REGISTERED, LOADING, UNLOADED, FAILED, ...
    reason: str = ""
    framework: str = ""
    execution_format: str = ""
    plugin: str = ""
    path: str = ""
    description: str = ""
    is_default: bool = False
    aliases: list[str] = dataclasses.field(default_factory=list)
    desired_loaded: bool = False
    memory_bytes: int = 0
    shared_memory_bytes: int = 0
    memory_estimate_bytes: int = 0
    load_time_ms: float = 0.0
    load_kind: str = ""
    pinned: bool = False
    keep_alive_ms: int = -1
    priority: int = 0
    last_used_unix_ms: int = 0
    evictions: int = 0
    unload_reason: str = ""
    isolation: str = "in_process"
    worker_pid: int = 0
    worker_state: str = ""
    worker_restarts: int = 0
    last_crash: str = ""
    inputs: list[TensorInfo] = dataclasses.field(default_factory=list)
    outputs: list[TensorInfo] = dataclasses.field(default_factory=list)
    dependencies: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def from_source(cls, source: Any) -> ModelInfo:
        get = _get(source)
        info = _fill(cls, source,
                     inputs=[TensorInfo.from_source(t) for t in (get("inputs") or [])],
                     outputs=[TensorInfo.from_source(t) for t in (get("outputs") or [])])
        if not info.id:
            info.id = str(get("model_id") or "")
        if not info.isolation:  # a server that predates isolation (gRPC sends "")
            info.isolation = "in_process"
        return info


@dataclasses.dataclass
class PluginInfo:
    name: str = ""
    version: str = ""
    framework: str = ""
    execution_formats: list[str] = dataclasses.field(default_factory=list)
    capabilities: list[str] = dataclasses.field(default_factory=list)
    path: str = ""

    @classmethod
    def from_source(cls, source: Any) -> PluginInfo:
        return _fill(cls, source)


@dataclasses.dataclass
class ShmRegionInfo:
    name: str = ""
    key: str = ""                 # the POSIX shm key; "memfd" for an IPC memfd region
    offset: int = 0
    byte_size: int = 0

    @classmethod
    def from_source(cls, source: Any) -> ShmRegionInfo:
        return _fill(cls, source)
