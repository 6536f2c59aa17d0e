"""Fixtures: one real mlosd for the session with every front-end, the models the tests use,
and a client per transport (tests taking `client` run once over http, grpc and unix).

Nothing here skips: a missing build (mlosd, plugins, fixtures) fails the session, so a test
command that cannot run the suite does not pass.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

import mlos
from mlosd_harness import (Daemon, missing_prerequisites, onnx_package, testing_package,
                           Package)
from onnx_model import identity

TRANSPORTS = ["http", "grpc", "unix"]
MLP_IO = ("    inputs:\n      - name: input\n        dtype: float32\n        shape: [-1, 16]\n"
          "    outputs:\n      - name: logits\n        dtype: float32\n        shape: [-1, 4]\n"
          "      - name: probs\n        dtype: float32\n        shape: [-1, 4]\n")
BIG_ELEMENTS = 16 << 20  # float32: 64 MiB


class Models:
    mlp = "test/mlp@1.0.0"
    dtypes = "test/dtypes@1.0.0"
    scalar_empty = "test/scalar_empty@1.0.0"
    add = "test/add@1.0.0"
    echo = "test/echo@1.0.0"        # testing plugin: identity, dynamic shapes
    multi = "test/multi@1.0.0"      # testing plugin: identity on int8, float32, uint8 [-1]
    slow = "test/slow@1.0.0"        # testing plugin: sleeps 2 s (cancellable)
    nap = "test/nap@1.0.0"          # testing plugin: sleeps 0.5 s
    big = "test/ident64m@1.0.0"     # ONNX Identity, float32 [16 Mi] = 64 MiB


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
        d.install(onnx_package("mlp", "mlp.onnx", io_yaml=MLP_IO))
        d.install(onnx_package("dtypes", "dtypes.onnx"))
        d.install(onnx_package("scalar_empty", "scalar_and_empty.onnx"))
        d.install(onnx_package("add", "add.onnx"))
        d.install(testing_package("echo", {"behavior": "identity"}))
        d.install(testing_package("multi", {"behavior": "identity", "inputs": [
            {"name": "odd", "dtype": "int8", "shape": [-1]},
            {"name": "big", "dtype": "float32", "shape": [-1]},
            {"name": "tail", "dtype": "uint8", "shape": [-1]}]}))
        d.install(testing_package("slow", {"behavior": "sleep", "sleep_ms": 2000}))
        d.install(testing_package("nap", {"behavior": "sleep", "sleep_ms": 500}))
        d.install(Package("ident64m", identity([BIG_ELEMENTS])))
        yield d
    finally:
        d.stop()


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(daemon: Daemon, transport: str) -> str:
    return daemon.urls[transport]


@pytest.fixture
def client(url: str) -> Iterator[mlos.Client]:
    with mlos.Client(url) as c:
        yield c


@pytest.fixture
def unix_client(daemon: Daemon) -> Iterator[mlos.Client]:
    with mlos.Client(daemon.urls["unix"]) as c:
        yield c
