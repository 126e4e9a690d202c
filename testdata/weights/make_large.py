#!/usr/bin/python3
"""Writes a ~460 MB checkpoint (115.6 M float32 values in 416 tensors) for
timing internal/weights; not committed. Usage (Debian's python3-torch):

    /usr/bin/python3 testdata/weights/make_large.py /tmp/big.pt [/tmp/big_legacy.pt]
"""
import collections
import sys

import torch

torch.manual_seed(0)
sd = collections.OrderedDict()
total, i = 0, 0
while total < 115_000_000:
    sd[f"layers.{i}.weight"] = torch.randn(576, 576 * 3 if i % 3 == 0 else 576)
    sd[f"layers.{i}.bias"] = torch.randn(576)
    total += sd[f"layers.{i}.weight"].numel() + 576
    i += 1
torch.save(sd, sys.argv[1])
if len(sys.argv) > 2:
    torch.save(sd, sys.argv[2], _use_new_zipfile_serialization=False)
