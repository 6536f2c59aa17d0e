"""MLOS Python SDK: ``mlos.Client`` / ``mlos.AsyncClient`` over ``http://``, ``grpc://`` and
``unix://`` (zero-copy shared memory), as the C++ SDK. See docs/python.md."""

from ._dtypes import Tensor
from .aio import AsyncClient
from .client import Client
from .errors import (AlreadyExistsError, CancelledError, DataLossError, DeadlineExceededError,
                     FailedPreconditionError, InternalError, InvalidArgumentError, MlosError,
                     NotFoundError, PermissionDeniedError, ResourceExhaustedError, StatusCode,
                     UnauthenticatedError, UnavailableError, UnimplementedError)
from .shm import SharedMemory
from .types import (ModelInfo, ModelMetadata, PluginInfo, ServerMetadata, ShmRegionInfo,
                    TensorInfo)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError", "AsyncClient", "CancelledError", "Client", "DataLossError",
    "DeadlineExceededError", "FailedPreconditionError", "InternalError", "InvalidArgumentError",
    "MlosError", "ModelInfo", "ModelMetadata", "NotFoundError", "PermissionDeniedError",
    "PluginInfo", "ResourceExhaustedError", "ServerMetadata", "SharedMemory", "ShmRegionInfo",
    "StatusCode", "Tensor", "TensorInfo", "UnauthenticatedError", "UnavailableError",
    "UnimplementedError", "__version__",
]
