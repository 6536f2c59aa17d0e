#!/usr/bin/python3
"""Copies a llama GGUF with the output rows of its byte tokens (<0x00>..<0xFF>) set to zero.

    ban_byte_tokens.py IN.gguf OUT.gguf

Why: a random-weight model's greedy text is random tokens, byte tokens among them, and a lone
byte is not UTF-8. llama-server (this release) runs a chat-output parser over every completion
(/v1/completions and /completion alike) that fails on such text ("The model produced output
that does not match the expected Content-only format", HTTP 500 in the middle of the stream), so
about a third of its requests would end early. With the rows zeroed, a byte token's logit is 0,
below the largest of 32000 random logits, so greedy decoding never picks one; everything else
(shapes, size, speed) is unchanged. Run with /usr/bin/python3 (numpy); gguf-py comes from
third_party/llama/src/gguf-py. Supports F32, F16 and Q8_0 output matrices (a zero Q8_0 block is a
zero scale and zero quants).
"""
import os
import shutil
import sys

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "third_party", "llama", "src", "gguf-py"))
import gguf  # noqa: E402

BYTE = 6  # llama_token_type LLAMA_TOKEN_TYPE_BYTE


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = argv
    tmp = dst + ".tmp"
    shutil.copyfile(src, tmp)
    reader = gguf.GGUFReader(tmp, "r+")
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    byte_ids = [i for i, t in enumerate(types) if t == BYTE]
    tensors = {t.name: t for t in reader.tensors}
    out = tensors.get("output.weight") or tensors["token_embd.weight"]
    if out.name != "output.weight":
        print("ban_byte_tokens.py: output is tied to token_embd; refusing", file=sys.stderr)
        return 1
    if out.tensor_type not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16,
                               gguf.GGMLQuantizationType.Q8_0):
        print(f"ban_byte_tokens.py: unsupported type {out.tensor_type.name}", file=sys.stderr)
        return 1
    data = out.data  # rows = vocabulary (numpy view into the file, writable)
    n_rows = data.shape[0]
    for i in byte_ids:
        if i < n_rows:
            data[i] = np.zeros_like(data[i])
    reader.data.flush()
    del reader
    os.replace(tmp, dst)
    print(f"ban_byte_tokens.py: zeroed {len(byte_ids)} byte-token rows of {out.name} -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
