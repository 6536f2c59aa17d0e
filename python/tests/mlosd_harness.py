"""Starts the real mlosd for the tests (as tests/integration/mlosd_harness.h does): HTTP, gRPC
and IPC on free loopback ports / a socket in a temporary directory, a state dir, and model
packages (manifest.yaml + model file) registered and loaded through plain HTTP, so the SDK is
not needed to set the tests up.

The build directory is $MLOS_BUILD_DIR (the ctest sets it), else <repo>/build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import select
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MLOS_BUILD_DIR", REPO / "build"))
MLOSD = BUILD / "bin" / "mlosd"
FIXTURES = BUILD / "fixtures"
PLUGINS = BUILD / "lib" / "mlos" / "plugins"

CONFIG = """\
http:
  max_body_bytes: 1073741824
grpc:
  max_message_bytes: 1073741824
plugins:
  onnx:
    intra_op_threads: 1
    inter_op_threads: 1
"""


def missing_prerequisites() -> list[str]:
    need = [MLOSD, FIXTURES / "mlp.onnx", FIXTURES / "dtypes.onnx",
            PLUGINS / "libmlos_onnx.so", PLUGINS / "libmlos_testing.so"]
    return [str(p) for p in need if not p.exists()]


@dataclasses.dataclass
class Package:
    """A model package: manifest.yaml plus one model file."""
    name: str
    contents: bytes
    version: str = "1.0.0"
    ns: str = "test"
    framework: str = "onnx"
    file_name: str = "model.onnx"
    io_yaml: str = ""  # lines under spec.io, indented 4 spaces

    @property
    def id(self) -> str:
        return f"{self.ns}/{self.name}@{self.version}"

    def write(self, root: pathlib.Path) -> pathlib.Path:
        d = root / f"{self.ns}-{self.name}-{self.version}"
        d.mkdir(parents=True, exist_ok=True)
        (d / self.file_name).write_bytes(self.contents)
        sha = hashlib.sha256(self.contents).hexdigest()
        y = (f"apiVersion: axon.mlos.io/v1\nkind: Model\nmetadata:\n  name: {self.name}\n"
             f"  namespace: {self.ns}\n  version: {self.version}\nspec:\n  framework:\n"
             f"    name: {self.framework}\n  format:\n    type: {self.framework}\n"
             f"    execution_format: {self.framework}\n    files:\n"
             f"      - path: {self.file_name}\n        size: {len(self.contents)}\n"
             f"        sha256: {sha}\n    execution_files:\n      - path: {self.file_name}\n"
             f"        format: {self.framework}\n        type: single\n")
        if self.io_yaml:
            y += "  io:\n" + self.io_yaml
        (d / "manifest.yaml").write_text(y)
        return d


def onnx_package(name: str, fixture: str, **kw: str) -> Package:
    return Package(name, (FIXTURES / fixture).read_bytes(), **kw)


def testing_package(name: str, config: dict[str, object], **kw: str) -> Package:
    return Package(name, json.dumps(config).encode(), framework="testing",
                   file_name="testing.json", **kw)


class Daemon:
    """mlosd with every front-end; stop() kills it. Its stderr goes to <dir>/mlosd.log."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.dir = directory
        self.socket = directory / "mlosd.sock"
        self.log = directory / "mlosd.log"
        (directory / "mlosd.yaml").write_text(CONFIG)
        self.proc: subprocess.Popen[bytes] | None = None
        self.http_port = self.grpc_port = 0

    def start(self, timeout: float = 60.0) -> None:
        args = [str(MLOSD), "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0",
                "--ipc", str(self.socket), "--threads", "4", "--state-dir", str(self.dir / "state"),
                "--model-root", str(self.dir), "--config", str(self.dir / "mlosd.yaml")]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log)
        assert self.proc.stdout is not None
        out = b""
        deadline = time.monotonic() + timeout
        while b"mlosd listening on http://" not in out or not out.endswith(b"\n"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"mlosd did not start; stdout: {out!r}\nlog:\n"
                                   + self.log.read_text(errors="replace"))
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                out += os.read(self.proc.stdout.fileno(), 4096)
        for line in out.decode().splitlines():
            if line.startswith("mlosd grpc listening on "):
                self.grpc_port = int(line.rsplit(":", 1)[1])
            elif line.startswith("mlosd listening on http://"):
                self.http_port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def urls(self) -> dict[str, str]:
        return {"http": f"http://127.0.0.1:{self.http_port}",
                "grpc": f"grpc://127.0.0.1:{self.grpc_port}",
                "unix": f"unix://{self.socket}"}

    def http(self, method: str, path: str, body: object = None) -> object:
        """A plain HTTP call (setup only); raises RuntimeError with the server's answer."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.urls["http"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read()!r}") from None

    def install(self, package: Package, load: bool = True) -> str:
        directory = package.write(self.dir / "packages")
        self.http("POST", "/models/register", {"model_id": package.id, "path": str(directory)})
        if load:
            self.http("POST", f"/models/{urllib.parse.quote(package.id, safe='')}/load")
        return package.id
