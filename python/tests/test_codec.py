"""The pure pieces, pinned without a server: IPC frames byte for byte as docs/ipc.md lays
them out, URLs, dtypes, request options."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import mlos
from mlos import _dtypes
from mlos import _ipc_frames as f
from mlos._transport import InferOptions
from mlos._url import parse_url


def test_frame_header_layout() -> None:
    h = f.header(f.Op.INFER, 0x0102030405060708, 99)
    assert h == b"MLIP" + struct.pack("<HHQII", 1, 4, 0x0102030405060708, 0, 99)
    assert f.parse_header(h) == (1, 4, 0x0102030405060708, 0, 99)
    with pytest.raises(ValueError):
        f.parse_header(b"XXXX" + h[4:])


def test_infer_request_layout_with_padding_shm_and_extension() -> None:
    data = np.array([1.0, 2.0, 3.0], np.float32)
    parts = f.infer_request(
        "ns/m", "", 5000, [f.WireTensor("x", 1, (3,), data=memoryview(data).cast("B")),
                           f.WireTensor("y", 8, (2, 1), f.SHM, region="r", offset=64,
                                        byte_size=16)],
        [f.WireOutputSpec("z"), f.WireOutputSpec("w", f.SHM, "r", 128, 32)],
        priority=2, keep_alive_ms=-1)
    payload = b"".join(bytes(p) for p in parts)
    want = bytearray()
    want += struct.pack("<I", 4) + b"ns/m" + struct.pack("<I", 0) + struct.pack("<QI", 5000, 2)
    want += struct.pack("<I", 1) + b"x" + struct.pack("<BBHq", 1, 0, 1, 3) + struct.pack("<Q", 12)
    want += b"\0" * ((8 - len(want) % 8) % 8)  # pad8 from the start of the payload
    assert len(want) % 8 == 0
    want += data.tobytes()
    want += struct.pack("<I", 1) + b"y" + struct.pack("<BBHqq", 8, 1, 2, 2, 1)
    want += struct.pack("<I", 1) + b"r" + struct.pack("<QQ", 64, 16)
    want += struct.pack("<I", 2) + struct.pack("<I", 1) + b"z" + b"\0"
    want += struct.pack("<I", 1) + b"w" + b"\1" + struct.pack("<I", 1) + b"r"
    want += struct.pack("<QQ", 128, 32)
    want += struct.pack("<BIq", 3, 2, -1)
    assert payload == bytes(want)
    # The tensor bytes are not copied into the payload pieces.
    assert any(isinstance(p, memoryview) for p in parts)


def test_infer_request_without_options_has_no_extension() -> None:
    parts = f.infer_request("m", "v", 0, [], [])
    assert b"".join(bytes(p) for p in parts) == (
        struct.pack("<I", 1) + b"m" + struct.pack("<I", 1) + b"v" + struct.pack("<QII", 0, 0, 0))


def test_infer_response_decoding() -> None:
    body = bytearray(struct.pack("<I", 6) + b"a/b@1v" + struct.pack("<QQI", 3, 4, 2))
    body += struct.pack("<I", 3) + b"out" + struct.pack("<BBHq", 7, 0, 1, 2) + struct.pack("<Q", 8)
    body += b"\0" * ((8 - len(body) % 8) % 8)
    start = len(body)
    body += struct.pack("<ii", 5, -6)
    body += struct.pack("<I", 1) + b"s" + struct.pack("<BBH", 1, 1, 0)
    body += struct.pack("<I", 3) + b"reg" + struct.pack("<QQ", 256, 4)
    r = f.infer_response(bytes(body))
    assert (r.model_id, r.queue_time_us, r.inference_time_us) == ("a/b@1v", 3, 4)
    assert r.outputs[0].data == (start, start + 8) and r.outputs[0].shape == (2,)
    assert (r.outputs[1].region, r.outputs[1].offset, r.outputs[1].byte_size) == ("reg", 256, 4)
    with pytest.raises(ValueError):
        f.infer_response(bytes(body) + b"x")
    with pytest.raises(ValueError):
        f.infer_response(bytes(body[:-3]))


def test_urls() -> None:
    assert str(parse_url("localhost:1234")) == "http://localhost:1234"
    assert parse_url("grpc://h").port == 8081
    assert parse_url("http://[::1]:9/").host == "::1"
    assert parse_url("unix:///run/mlos.sock").path == "/run/mlos.sock"


def test_dtypes_and_bytes_codec() -> None:
    assert _dtypes.prepare("x", np.zeros(2, ">f4")).array.dtype == np.dtype("<f4")
    assert _dtypes.prepare("x", np.zeros(3, np.float16)).dtype.name == "float16"
    assert _dtypes.prepare("x", "text").dtype.name == "string"
    blob = _dtypes.encode_bytes(np.array(["ab", b"\x00"], object), "x")
    assert blob == struct.pack("<I", 2) + b"ab" + struct.pack("<I", 1) + b"\x00"
    assert _dtypes.decode_bytes(blob, (2,), "x").tolist() == [b"ab", b"\x00"]
    with pytest.raises(mlos.InvalidArgumentError, match="'x'"):
        _dtypes.encode_bytes(np.array([1, None], object), "x")
    with pytest.raises(mlos.InternalError):
        _dtypes.decode_bytes(blob[:-1], (2,), "x")


def test_keep_alive_and_option_checks() -> None:
    assert InferOptions(keep_alive=-3).keep_alive_text() == "-1"
    assert InferOptions(keep_alive=0).keep_alive_text() == "0"
    assert InferOptions(keep_alive=1.5).keep_alive_text() == "1500ms"
    assert InferOptions(keep_alive="5m").keep_alive_text() == "5m"
    assert InferOptions(keep_alive=-1).keep_alive_ms() == -1
    assert InferOptions(keep_alive=2).keep_alive_ms() == 2000
    with pytest.raises(mlos.InvalidArgumentError):
        InferOptions(priority=-1).check()


def test_errors_by_category() -> None:
    from mlos.errors import code_for_http, error_for
    assert isinstance(error_for(2, "m"), mlos.NotFoundError)
    assert isinstance(error_for(10, "m"), TimeoutError)
    assert code_for_http(409, "model a already registered") == mlos.StatusCode.ALREADY_EXISTS
    assert code_for_http(409, "no earlier default") == mlos.StatusCode.FAILED_PRECONDITION
    assert str(error_for(1, "bad")) == "INVALID_ARGUMENT: bad"


def test_grpc_stubs_coexist_with_other_kserve_protos(daemon) -> None:  # type: ignore
    # tritonclient registers its own "grpc_service.proto" (package inference) in protobuf's
    # default pool; mlos's stubs live in a pool of their own, so both work in one process.
    from google.protobuf import descriptor_pb2, descriptor_pool
    other = descriptor_pb2.FileDescriptorProto(name="grpc_service.proto", package="inference")
    msg = other.message_type.add(name="ModelInferRequest")
    msg.field.add(name="triton_only", number=99, type=9, label=1)
    descriptor_pool.Default().Add(other)
    with mlos.Client(daemon.urls["grpc"]) as c:
        out = c.infer("test/echo@1.0.0", {"input": np.arange(3, dtype=np.float32)})
    assert out["output"].tolist() == [0, 1, 2]
