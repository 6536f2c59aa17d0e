"""One real mlosd for the session (HTTP and gRPC on free loopback ports, started by
python/tests/mlosd_harness.py), its models, and Triton's own clients for it.

Models: `local/cls` (tests/fixtures add.onnx: "a" + "b" -> "sum", FP32 [-1, 3]; the model
name with a slash that tritonclient sends unescaped), `test/dtypes` (dtypes.onnx: one
Identity per dtype, all inputs required) and `test/id_<dtype>` (Identity "in" -> "out" of
shape [n], one per Triton datatype, written by onnx_identity.py).

Nothing here skips: a missing build or a missing tritonclient fails the session.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "python" / "tests"))  # mlosd_harness (stdlib only)

import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402

from mlosd_harness import Daemon, Package, missing_prerequisites, onnx_package  # noqa: E402
from onnx_identity import ONNX_ELEM, identity  # noqa: E402

CLS = "local/cls"
DTYPES = list(ONNX_ELEM)  # every Triton datatype tritonclient 2.73 maps to numpy, BF16 included


def identity_model(datatype: str) -> str:
    return f"test/id_{datatype.lower()}"


def pytest_configure(config: pytest.Config) -> None:
    missing = missing_prerequisites()
    if missing:
        raise pytest.UsageError("the MLOS build is missing " + ", ".join(missing) +
                                " (build first; MLOS_BUILD_DIR names the build directory)")


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(pathlib.Path(tmp_path_factory.mktemp("mlosd")))
    d.start()
    try:
        d.install(onnx_package("cls", "add.onnx", ns="local"))
        d.install(onnx_package("dtypes", "dtypes.onnx"))
        for dt in DTYPES:
            d.install(Package(f"id_{dt.lower()}", identity(dt, ["n"])))
        yield d
    finally:
        d.stop()


@pytest.fixture(params=["http", "grpc"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Triton:
    """tritonclient's module (tritonclient.http or .grpc) and a client of it for mlosd."""

    def __init__(self, protocol: str, daemon: Daemon, verbose: bool = False) -> None:
        self.protocol = protocol
        self.mod: Any = httpclient if protocol == "http" else grpcclient
        port = daemon.http_port if protocol == "http" else daemon.grpc_port
        self.client: Any = self.mod.InferenceServerClient(f"127.0.0.1:{port}", verbose=verbose)

    @property
    def http(self) -> bool:
        return self.protocol == "http"

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def triton(protocol: str, daemon: Daemon) -> Iterator[Triton]:
    t = Triton(protocol, daemon)
    yield t
    t.close()
