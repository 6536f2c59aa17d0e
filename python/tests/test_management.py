"""Health, metadata and model management over every transport, with the same answers."""

from __future__ import annotations

import numpy as np
import pytest

import mlos
from conftest import MLP_IO, Models
from mlosd_harness import Daemon, onnx_package


def test_health_and_server_metadata(client: mlos.Client) -> None:
    assert client.live() is True
    assert client.ready() is True
    assert client.health() == {"live": True, "ready": True}
    meta = client.server_metadata()
    assert meta.name == "mlos"
    assert meta.version
    assert "binary_tensor_data" in meta.extensions


def test_model_metadata_and_ready(client: mlos.Client) -> None:
    assert client.model_ready(Models.mlp) is True
    meta = client.model_metadata(Models.mlp)
    assert meta.name == "test/mlp"
    assert "1.0.0" in meta.versions
    assert [(t.name, t.dtype, t.shape) for t in meta.inputs] == [("input", "float32", [-1, 16])]
    assert [t.name for t in meta.outputs] == ["logits", "probs"]
    with pytest.raises(mlos.NotFoundError):
        client.model_ready("test/never-registered")


def test_plugins(client: mlos.Client) -> None:
    names = {p.name for p in client.plugins()}
    assert {"onnx", "testing"} <= names


def test_model_lifecycle(daemon: Daemon, client: mlos.Client, transport: str) -> None:
    name = f"test/life_{transport}"
    dirs = {}
    for v in ("1.0.0", "2.0.0"):
        p = onnx_package(f"life_{transport}", "mlp.onnx", version=v, io_yaml=MLP_IO)
        dirs[v] = p.write(daemon.dir / "packages")

    m1 = client.register(f"{name}@1.0.0", dirs["1.0.0"], description="python sdk test")
    assert (m1.id, m1.name, m1.version) == (f"{name}@1.0.0", name, "1.0.0")
    assert m1.state == "REGISTERED"
    assert m1.description == "python sdk test"
    # Registering again from the same directory is a no-op; from another one, a conflict.
    assert client.register(f"{name}@1.0.0", dirs["1.0.0"]).id == m1.id
    with pytest.raises(mlos.AlreadyExistsError, match="already registered"):
        client.register(f"{name}@1.0.0", dirs["2.0.0"])
    assert client.model_ready(name) is False

    loaded = client.load(f"{name}@1.0.0")
    assert loaded.state == "READY"
    assert loaded.framework == "onnx"
    assert [t.name for t in loaded.inputs] == ["input"]
    assert client.model_ready(name) is True
    assert f"{name}@1.0.0" in {m.id for m in client.models()}
    assert client.get_model(name).version == "1.0.0"

    client.register(f"{name}@2.0.0", dirs["2.0.0"])
    with pytest.raises(mlos.FailedPreconditionError):
        client.rollback(name)  # no earlier default yet
    new_default = client.set_default(f"{name}@2.0.0")
    assert new_default.version == "2.0.0"
    assert new_default.is_default and new_default.state == "READY"
    assert client.get_model(name).version == "2.0.0"
    back = client.rollback(name)
    assert back.version == "1.0.0" and back.is_default

    aliased = client.set_alias(name, "stable", "2.0.0")
    assert aliased.version == "2.0.0"
    assert "stable" in aliased.aliases
    x = np.ones((1, 16), np.float32)
    assert client.infer(f"{name}@stable", {"input": x})["probs"].shape == (1, 4)
    removed = client.set_alias(name, "stable", "")
    assert removed.version == "1.0.0"
    with pytest.raises(mlos.NotFoundError):
        client.get_model(f"{name}@stable")

    assert client.pin(f"{name}@1.0.0").pinned is True
    assert client.unpin(f"{name}@1.0.0").pinned is False

    unloaded = client.unload(f"{name}@2.0.0")
    assert unloaded.state in ("UNLOADED", "REGISTERED")
    client.unregister(f"{name}@2.0.0")
    with pytest.raises(mlos.NotFoundError):
        client.get_model(f"{name}@2.0.0")
    assert f"{name}@2.0.0" not in {m.id for m in client.models()}
