#!/usr/bin/python3
"""Generates the small checkpoints that internal/weights tests read.

Run with Debian's python3-torch (1.13): /usr/bin/python3 testdata/weights/make.py
from the repository root. The values are exact in every dtype used, so the Go
tests recompute them instead of reading a reference file: base(n)[i] = i/4 - 3.
"""
import collections
import os

import torch

OUT = os.path.dirname(os.path.abspath(__file__))


def base(n, dtype):
    return (torch.arange(n, dtype=torch.float64) * 0.25 - 3).to(dtype)


def state_dict():
    sd = collections.OrderedDict()
    sd["f32"] = base(24, torch.float32).reshape(2, 3, 4)
    sd["f16"] = base(24, torch.float16).reshape(4, 6)
    sd["bf16"] = base(24, torch.bfloat16).reshape(6, 4)
    sd["f64"] = base(10, torch.float64)
    sd["i64"] = torch.arange(-5, 5, dtype=torch.int64)
    sd["i32"] = torch.arange(-5, 5, dtype=torch.int32).reshape(2, 5)
    sd["i16"] = torch.arange(-3, 3, dtype=torch.int16)
    sd["i8"] = torch.arange(-3, 3, dtype=torch.int8)
    sd["u8"] = torch.arange(250, 256, dtype=torch.int64).to(torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    # Not contiguous: stride (1, 4).
    sd["transposed"] = base(12, torch.float32).reshape(3, 4).t()
    # Three views of one 20-element storage: a slice at offset 2, a strided
    # block at offset 6 with stride (5, 1), and the whole of it.
    shared = base(20, torch.float32)
    sd["view_slice"] = shared[2:8]
    sd["view_block"] = shared.view(4, 5)[1:, 1:3]
    sd["view_whole"] = shared.view(4, 5)
    # Stride 0: a broadcast of a 3-element storage.
    sd["expanded"] = torch.tensor([1.0, 2.0, 3.0]).expand(4, 3)
    # An nn.Parameter pickles through torch._utils._rebuild_parameter.
    sd["param"] = torch.nn.Parameter(base(6, torch.float32).reshape(2, 3))
    return sd


def main():
    sd = state_dict()
    torch.save(sd, os.path.join(OUT, "dtypes.pt"))
    torch.save(sd, os.path.join(OUT, "dtypes_legacy.pt"), _use_new_zipfile_serialization=False)
    # Protocol 4 brings FRAME, SHORT_BINUNICODE, MEMOIZE and STACK_GLOBAL.
    torch.save(sd, os.path.join(OUT, "dtypes_p4.pt"), pickle_protocol=4)
    torch.save(sd, os.path.join(OUT, "dtypes_legacy_p4.pt"), _use_new_zipfile_serialization=False, pickle_protocol=4)
    # A bare Parameter, not a dict: must be refused with a clear error.
    torch.save(torch.nn.Parameter(base(6, torch.float32)), os.path.join(OUT, "bare_param.pt"))
    # Saved from a "cuda:0" location: storage location strings are ignored.
    # (Written by rewriting the location in the pickle, since there is no GPU here.)
    cuda = collections.OrderedDict(w=base(4, torch.float32))
    path = os.path.join(OUT, "cuda_location_legacy.pt")
    torch.save(cuda, path, _use_new_zipfile_serialization=False)
    with open(path, "rb") as f:
        data = f.read()
    old = b"X\x03\x00\x00\x00cpu"
    assert data.count(old) == 1
    data = data.replace(old, b"X\x06\x00\x00\x00cuda:0")
    with open(path, "wb") as f:
        f.write(data)
    assert torch.load(path, map_location="cpu")["w"].tolist() == base(4, torch.float32).tolist()


if __name__ == "__main__":
    main()
