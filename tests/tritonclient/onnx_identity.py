"""ONNX Identity models for every tensor type, written as protobuf bytes by hand (no onnx
package: the tritonclient venv has none), in the layout of tests/fixtures/make_models.py:
ModelProto{ir_version 7, producer, graph{node Identity, input, output}, opset_import{"" 13}}.
"""

from __future__ import annotations

# Triton/KServe datatype -> ONNX TensorProto.DataType.
ONNX_ELEM = {
    "FP32": 1, "UINT8": 2, "INT8": 3, "UINT16": 4, "INT16": 5, "INT32": 6, "INT64": 7,
    "BYTES": 8, "BOOL": 9, "FP16": 10, "FP64": 11, "UINT32": 12, "UINT64": 13, "BF16": 16,
}


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def _len(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _int(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value)


def _value_info(name: str, elem: int, shape: list[int | str]) -> bytes:
    dims = b"".join(_len(1, _len(2, d.encode()) if isinstance(d, str) else _int(1, d))
                    for d in shape)  # Dimension: dim_param (2) or dim_value (1)
    tensor = _int(1, elem) + _len(2, dims)
    return _len(1, name.encode()) + _len(2, _len(1, tensor))


def identity(datatype: str, shape: list[int | str]) -> bytes:
    """output "out" = Identity(input "in"), both `datatype` of `shape` (a str is a dim_param)."""
    elem = ONNX_ELEM[datatype]
    node = _len(1, b"in") + _len(2, b"out") + _len(3, b"identity") + _len(4, b"Identity")
    graph = (_len(1, node) + _len(2, b"identity") + _len(11, _value_info("in", elem, shape)) +
             _len(12, _value_info("out", elem, shape)))
    opset = _len(1, b"") + _int(2, 13)
    return _int(1, 7) + _len(2, b"mlos-tritonclient-tests") + _len(7, graph) + _len(8, opset)
