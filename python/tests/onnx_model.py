"""A minimal ONNX model writer (protobuf wire format by hand, no onnx package), for the models
the tests need beyond build/fixtures: an Identity on a tensor of a static shape.

ModelProto{ir_version=7, producer_name, graph{node{Identity}, name, input, output},
opset_import{"" 13}}: the same layout tests/fixtures/make_models.py writes with onnx.
"""

from __future__ import annotations

# ONNX TensorProto.DataType values for the dtypes used here.
ELEM_TYPE = {"float32": 1, "uint8": 2, "int8": 3, "int32": 6, "int64": 7, "float64": 11}


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _int_field(num: int, value: int) -> bytes:
    return _varint(num << 3 | 0) + _varint(value)


def _value_info(name: str, elem_type: int, shape: list[int]) -> bytes:
    dims = b"".join(_len_field(1, _int_field(1, d)) for d in shape)  # Dimension.dim_value
    tensor = _int_field(1, elem_type) + _len_field(2, dims)          # TypeProto.Tensor
    return _len_field(1, name.encode()) + _len_field(2, _len_field(1, tensor))


def identity(shape: list[int], dtype: str = "float32", input_name: str = "input",
             output_name: str = "output") -> bytes:
    """The bytes of an ONNX model: output = Identity(input), both `dtype` of `shape`."""
    elem = ELEM_TYPE[dtype]
    node = (_len_field(1, input_name.encode()) + _len_field(2, output_name.encode()) +
            _len_field(3, b"identity") + _len_field(4, b"Identity"))
    graph = (_len_field(1, node) + _len_field(2, b"identity") +
             _len_field(11, _value_info(input_name, elem, shape)) +
             _len_field(12, _value_info(output_name, elem, shape)))
    opset = _len_field(1, b"") + _int_field(2, 13)
    return (_int_field(1, 7) + _len_field(2, b"mlos-python-tests") + _len_field(7, graph) +
            _len_field(8, opset))
