"""Build step of the mlos package: generates the gRPC stubs from the repository's proto/*.proto
with grpcio-tools into the built package (``mlos/_proto``), so no generated code is committed.

The protos are looked for in $MLOS_PROTO_DIR, then ../proto (this folder's place in the
repository). Their imports are made package-relative (``from . import grpc_service_pb2``).
Metadata lives in pyproject.toml.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
PROTOS = ("grpc_service.proto", "mlos_management.proto")
POOL_MODULE = '''"""The descriptor pool of mlos's generated messages (not protobuf's default pool, so that
another package's KServe protos, e.g. tritonclient's, can be imported in the same process)."""
from google.protobuf import descriptor_pool
from google.protobuf import wrappers_pb2

POOL = descriptor_pool.DescriptorPool()
POOL.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
'''


def _proto_dir() -> pathlib.Path:
    for candidate in (os.environ.get("MLOS_PROTO_DIR"), HERE.parent / "proto", HERE / "proto"):
        if candidate and all((pathlib.Path(candidate) / p).is_file() for p in PROTOS):
            return pathlib.Path(candidate)
    raise SystemExit("mlos: proto/grpc_service.proto not found (build from the MLOS repository, "
                     "or set MLOS_PROTO_DIR)")


def generate_stubs(out: pathlib.Path) -> None:
    import grpc_tools
    from grpc_tools import protoc

    src = _proto_dir()
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        rc = protoc.main(["grpc_tools.protoc", f"-I{src}", f"-I{well_known}",
                          f"--python_out={tmp}", f"--grpc_python_out={tmp}",
                          *[str(src / p) for p in PROTOS]])
        if rc != 0:
            raise SystemExit(f"mlos: protoc failed ({rc}) on {src}")
        for generated in sorted(pathlib.Path(tmp).glob("*.py")):
            text = generated.read_text()
            # `import grpc_service_pb2 as x` -> `from . import grpc_service_pb2 as x`
            text = re.sub(r"^import (\w+_pb2) as ", r"from . import \1 as ", text, flags=re.M)
            # A descriptor pool of the package's own: the process-wide default pool refuses a
            # second "grpc_service.proto" / "inference.*" (tritonclient registers its own).
            text = text.replace("_descriptor_pool.Default()", "_pool.POOL")
            text = text.replace("from google.protobuf import descriptor_pool as _descriptor_pool",
                                "from . import _pool")
            (out / generated.name).write_text(text)
    (out / "_pool.py").write_text(POOL_MODULE)
    (out / "__init__.py").write_text(
        f"# Generated from {', '.join(PROTOS)} by grpcio-tools at build time.\n")


class BuildPyWithStubs(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            target = HERE / "src" / "mlos" / "_proto"  # ignored by git
        else:
            target = pathlib.Path(self.build_lib) / "mlos" / "_proto"
        shutil.rmtree(target, ignore_errors=True)
        generate_stubs(target)


setup(cmdclass={"build_py": BuildPyWithStubs})
