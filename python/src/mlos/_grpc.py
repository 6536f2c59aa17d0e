"""gRPC transport (grpcio): KServe v2 GRPCInferenceService for health, metadata, inference (raw
tensor contents both ways) and shared-memory status; mlos.v1.Management for the rest. The
stubs are generated from proto/*.proto when the package is built (setup.py) into
``mlos._proto``. Needs the ``grpc`` extra: ``pip install './python[grpc]'``.

One channel per client (HTTP/2 multiplexes concurrent calls), so a client may be used from
several threads at once. Inputs are copied once into the request message (protobuf takes
bytes); outputs are read-only views of the answer's raw contents (``.copy()`` to modify).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _dtypes
from ._dtypes import Prepared
from ._transport import InferOptions, Transport
from ._url import Endpoint
from .errors import (InternalError, MlosError, StatusCode, UnavailableError, error_for)
from .types import ModelInfo, ModelMetadata, PluginInfo, ServerMetadata, ShmRegionInfo

try:
    import grpc
    from ._proto import grpc_service_pb2 as pb
    from ._proto import grpc_service_pb2_grpc as pb_grpc
    from ._proto import mlos_management_pb2 as mpb
    from ._proto import mlos_management_pb2_grpc as mpb_grpc
    _IMPORT_ERROR: ImportError | None = None
except ImportError as e:  # pragma: no cover - depends on the installation
    _IMPORT_ERROR = e

_METHODS = {"get": "Get", "load": "Load", "unload": "Unload", "default": "SetDefault",
            "rollback": "Rollback", "pin": "Pin", "unpin": "Unpin"}


def _split_id(model_id: str) -> tuple[str, str]:
    at = model_id.rfind("@")
    return (model_id, "") if at < 0 else (model_id[:at], model_id[at + 1:])


class GrpcTransport(Transport):
    def __init__(self, endpoint: Endpoint, timeout: float, connect_timeout: float,
                 token: str | None) -> None:
        if _IMPORT_ERROR is not None:
            raise UnavailableError(
                "grpc:// needs grpcio and protobuf and the generated stubs: install "
                f"'mlos[grpc]' ({_IMPORT_ERROR})")
        self.endpoint = endpoint
        self._timeout = timeout
        self._metadata = (("authorization", "Bearer " + token),) if token else ()
        self._channel = grpc.insecure_channel(
            f"{endpoint.host}:{endpoint.port}" if ":" not in endpoint.host
            else f"[{endpoint.host}]:{endpoint.port}",
            options=[("grpc.max_receive_message_length", -1),
                     ("grpc.max_send_message_length", -1),
                     ("grpc.enable_retries", 0)])
        self._infer_stub = pb_grpc.GRPCInferenceServiceStub(self._channel)
        self._mgmt = mpb_grpc.ManagementStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _rpc(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        try:
            return method(request, timeout=timeout or self._timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise self._error(e) from None

    def _error(self, e: Any) -> MlosError:
        code = e.code() if hasattr(e, "code") else None
        message = (e.details() if hasattr(e, "details") else "") or str(e)
        status = StatusCode.INTERNAL
        if code is not None and code.name in StatusCode.__members__:
            status = StatusCode[code.name]
        if status == StatusCode.UNAVAILABLE and any(
                w in message for w in ("connect", "Socket closed", "DNS")):
            message = f"cannot reach mlosd at {self.endpoint}: {message}"
        retry = None
        try:
            for k, v in e.trailing_metadata() or ():
                if k == "retry-after" and str(v).isdigit():
                    retry = float(v)
        except Exception:  # noqa: BLE001 - not every RpcError carries trailers
            pass
        return error_for(status, message, retry)

    # ---- health, metadata ----

    def live(self) -> bool:
        return bool(self._rpc(self._infer_stub.ServerLive, pb.ServerLiveRequest()).live)

    def ready(self) -> bool:
        return bool(self._rpc(self._infer_stub.ServerReady, pb.ServerReadyRequest()).ready)

    def model_ready(self, model: str) -> bool:
        name, version = _split_id(model)
        return bool(self._rpc(self._infer_stub.ModelReady,
                              pb.ModelReadyRequest(name=name, version=version)).ready)

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata.from_source(
            self._rpc(self._infer_stub.ServerMetadata, pb.ServerMetadataRequest()))

    def model_metadata(self, model: str) -> ModelMetadata:
        name, version = _split_id(model)
        return ModelMetadata.from_source(self._rpc(
            self._infer_stub.ModelMetadata, pb.ModelMetadataRequest(name=name, version=version)))

    # ---- management ----

    def list_models(self) -> list[ModelInfo]:
        res = self._rpc(self._mgmt.List, mpb.ListRequest())
        return [ModelInfo.from_source(m) for m in res.models]

    def model_call(self, op: str, model_id: str) -> ModelInfo:
        method = getattr(self._mgmt, _METHODS[op])
        return ModelInfo.from_source(self._rpc(method, mpb.ModelRequest(id=model_id)))

    def register(self, body: dict[str, Any]) -> ModelInfo:
        res = self._rpc(self._mgmt.Register, mpb.RegisterRequest(**body))
        return ModelInfo.from_source(res.model)

    def set_alias(self, name: str, alias: str, version: str) -> ModelInfo:
        return ModelInfo.from_source(self._rpc(
            self._mgmt.SetAlias, mpb.AliasRequest(name=name, alias=alias, version=version)))

    def unregister(self, model_id: str) -> None:
        self._rpc(self._mgmt.Unregister, mpb.ModelRequest(id=model_id))

    def plugins(self) -> list[PluginInfo]:
        res = self._rpc(self._mgmt.Plugins, mpb.PluginsRequest())
        return [PluginInfo.from_source(p) for p in res.plugins]

    def shm_status(self, region: str) -> list[ShmRegionInfo]:
        res = self._rpc(self._infer_stub.SystemSharedMemoryStatus,
                        pb.SystemSharedMemoryStatusRequest(name=region))
        out = []
        for name, s in res.regions.items():
            info = ShmRegionInfo.from_source(s)
            info.name = info.name or name
            out.append(info)
        return out

    # ---- inference ----

    def infer(self, model: str, inputs: list[Prepared], outputs: list[str] | None,
              options: InferOptions) -> dict[str, np.ndarray]:
        req = pb.ModelInferRequest(id=options.request_id)
        if options.version:
            req.model_name, req.model_version = model, options.version
        else:
            req.model_name, req.model_version = _split_id(model)
        if options.priority > 0:
            req.parameters["priority"].int64_param = options.priority
        if options.timeout:
            req.parameters["timeout"].int64_param = options.timeout_us()
        keep_alive = options.keep_alive_text()
        if keep_alive is not None:
            req.parameters["keep_alive"].string_param = keep_alive
        for t in inputs:
            req.inputs.add(name=t.name, datatype=t.dtype.kserve, shape=list(t.shape))
            req.raw_input_contents.append(t.data().tobytes())
        for name in outputs or []:
            req.outputs.add(name=name)
        deadline = self._timeout
        if options.timeout and options.timeout < deadline:
            deadline = options.timeout
        res = self._rpc(self._infer_stub.ModelInfer, req, timeout=deadline)
        raw = res.raw_output_contents
        if raw and len(raw) != len(res.outputs):
            raise InternalError(f"gRPC infer response: {len(raw)} raw contents for "
                                f"{len(res.outputs)} outputs")
        result: dict[str, np.ndarray] = {}
        for i, o in enumerate(res.outputs):
            d = _dtypes.by_kserve(o.datatype)
            if d is None:
                raise InternalError(f"output '{o.name}': unknown datatype {o.datatype}")
            shape = tuple(int(x) for x in o.shape)
            if raw:
                result[o.name] = _dtypes.output_array(raw[i], d, shape, o.name)
            else:
                result[o.name] = _from_contents(o.contents, d, shape)
        return result


def _from_contents(c: Any, d: _dtypes.Dtype, shape: tuple[int, ...]) -> np.ndarray:
    field = {"float32": "fp32_contents", "float64": "fp64_contents", "bool": "bool_contents",
             "int8": "int_contents", "int16": "int_contents", "int32": "int_contents",
             "int64": "int64_contents", "uint8": "uint_contents", "uint16": "uint_contents",
             "uint32": "uint_contents", "uint64": "uint64_contents",
             "string": "bytes_contents"}.get(d.name)
    if field is None:
        raise InternalError(f"typed contents cannot carry {d.name}")
    values = list(getattr(c, field))
    if d.name == "string":
        out = np.empty(len(values), dtype=object)
        out[:] = [bytes(v) for v in values]
        return out.reshape(shape)
    return np.asarray(values, dtype=d.numpy).reshape(shape)
