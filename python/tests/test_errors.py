"""Errors: the server's category as a typed exception with the server's message, identical on
every transport; timeouts (the server's deadline and the client's own); unreachable servers."""

from __future__ import annotations

import os
import socket
import time

import numpy as np
import pytest

import mlos
from conftest import TRANSPORTS, Models
from mlosd_harness import Daemon


def _error(client: mlos.Client, model: str, inputs: dict[str, object]) -> mlos.MlosError:
    with pytest.raises(mlos.MlosError) as info:
        client.infer(model, inputs)
    return info.value


def test_unknown_model_is_not_found(client: mlos.Client) -> None:
    e = _error(client, "test/no-such-model", {"input": np.zeros((1, 16), np.float32)})
    assert isinstance(e, mlos.NotFoundError) and isinstance(e, LookupError)
    assert e.code == mlos.StatusCode.NOT_FOUND
    assert "test/no-such-model" in e.message
    with pytest.raises(mlos.NotFoundError):
        client.get_model("test/no-such-model")


@pytest.mark.parametrize("inputs,tensor", [
    ({"input": np.zeros((1, 16), np.int32)}, "input"),          # wrong dtype
    ({"input": np.zeros((1, 15), np.float32)}, "input"),        # wrong shape
    ({"nonsense": np.zeros((1, 16), np.float32)}, "input"),     # the model's input missing
], ids=["dtype", "shape", "missing"])
def test_bad_input_is_invalid_argument_naming_the_tensor(client: mlos.Client,
                                                         inputs: dict[str, object],
                                                         tensor: str) -> None:
    e = _error(client, Models.mlp, inputs)
    assert isinstance(e, mlos.InvalidArgumentError) and isinstance(e, ValueError)
    assert e.code == mlos.StatusCode.INVALID_ARGUMENT
    assert tensor in e.message


def test_errors_are_identical_on_every_transport(daemon: Daemon) -> None:
    cases = [("test/no-such-model", {"input": np.zeros((1, 16), np.float32)}),
             (Models.mlp, {"input": np.zeros((1, 16), np.int32)}),
             (Models.mlp, {"input": np.zeros((2, 15), np.float32)})]
    for model, inputs in cases:
        seen = set()
        for url in daemon.urls.values():
            with mlos.Client(url) as c:
                e = _error(c, model, inputs)
                seen.add((type(e), e.code, e.message))
        assert len(seen) == 1, seen


def test_client_side_checks(client: mlos.Client) -> None:
    with pytest.raises(mlos.InvalidArgumentError, match="weird"):
        client.infer(Models.mlp, {"weird": np.zeros(2, np.complex64)})
    with pytest.raises(mlos.InvalidArgumentError, match="timeout"):
        client.infer(Models.mlp, {"input": np.zeros((1, 16), np.float32)}, timeout=-1)


def test_request_timeout_is_deadline_exceeded(client: mlos.Client) -> None:
    # test/slow sleeps 2 s; the request's own timeout ends the call after 0.3 s.
    start = time.monotonic()
    with pytest.raises(mlos.DeadlineExceededError) as info:
        client.infer(Models.slow, {"input": np.ones(2, np.float32)}, timeout=0.3)
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - start < 1.5
    _wait_until(start + 2.2)  # mlosd's HTTP accept may wait for the io thread still sleeping
    out = client.infer(Models.echo, {"input": np.ones(3, np.float32)})
    assert out["output"].tolist() == [1, 1, 1]


def test_client_timeout_is_deadline_exceeded(url: str) -> None:
    # The client's own timeout (no per-request one): it stops waiting, and the client works
    # afterwards (over unix:// on a new connection, its shared memory registered again).
    with mlos.Client(url, timeout=0.3) as c:
        start = time.monotonic()
        with pytest.raises(mlos.DeadlineExceededError):
            c.infer(Models.slow, {"input": np.ones(2, np.float32)})
        assert time.monotonic() - start < 1.5
        _wait_until(start + 2.2)
        # (over unix:// the input travels in the client's region, registered again)
        out = c.infer(Models.echo, {"input": np.arange(4, dtype=np.float32)})["output"]
        assert out.tolist() == [0, 1, 2, 3]


def _wait_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unreachable_server_is_unavailable(tmp_path, transport: str) -> None:  # type: ignore
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = {"http": f"http://127.0.0.1:{port}", "grpc": f"grpc://127.0.0.1:{port}",
           "unix": f"unix://{tmp_path}/none.sock"}[transport]
    with pytest.raises(mlos.UnavailableError) as info:
        with mlos.Client(url, timeout=3, connect_timeout=1) as c:
            c.live()
    assert isinstance(info.value, ConnectionError)
    assert info.value.code == mlos.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("url", ["", "ftp://x", "unix://relative.sock", "http://h:99999",
                                 "http://h:1/path", "https://h:1"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(mlos.InvalidArgumentError):
        mlos.Client(url)


def test_token_from_environment_is_sent(daemon: Daemon, monkeypatch) -> None:  # type: ignore
    # A daemon with auth off takes any token; the IPC AUTH exchange must not break a connection.
    monkeypatch.setenv("MLOS_TOKEN", "mlos_not_a_real_token")
    for url in daemon.urls.values():
        with mlos.Client(url) as c:
            assert os.environ["MLOS_TOKEN"]
            assert c.live()
            assert c.infer(Models.echo, {"input": np.ones(1, np.float32)})["output"][0] == 1
