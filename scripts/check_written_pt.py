"""Check that PyTorch loads a .pt written by ipt (weights.WritePyTorch, `ipt convert IN OUT.pt`) as it should.

The Go tests run it with Debian's python3-torch (1.13); it prints a line per file and exits 0 when every
check passes, 1 at the first failure. It takes pairs, checked in one run since importing torch is slow:

    /usr/bin/python3 scripts/check_written_pt.py [--module] OUT.pt REF.pt|M.json [OUT.pt REF.pt|M.json ...]

OUT.pt is read with torch.load(weights_only=True), PyTorch's restricted unpickler, so it may name nothing
but tensors, storages and OrderedDict. It must be an OrderedDict of contiguous float32 and int64 tensors.
REF.pt (a file torch.save wrote): OUT has the same keys in the same order, each tensor equal to REF's
converted to float32 (floating dtypes) or int64 (the others). --module also builds a module tree with
REF's keys and shapes (parameters for float tensors, buffers for the others: what an nn.Module whose
state_dict REF is looks like) and loads OUT into it with load_state_dict(strict=True).
M.json is {"raw": FILE, "tensors": [[key, "F32"|"I64", shape, byte offset in FILE], ...]} in the
expected order; FILE holds the expected values, little-endian. Floats are compared bit for bit.
"""
import argparse
import collections
import json
import sys

import torch


def fail(msg):
    print(f"check_written_pt: {msg}")
    sys.exit(1)


def same_bits(a, b):
    """Equal element for element, NaN payloads and signed zeros included."""
    if a.dtype == torch.float32:
        a, b = a.contiguous().view(torch.int32), b.contiguous().view(torch.int32)
    return torch.equal(a, b)


def module_tree(sd):
    root = torch.nn.Module()
    for key, v in sd.items():
        *path, leaf = key.split(".")
        m = root
        for name in path:
            if not hasattr(m, name):
                m.add_module(name, torch.nn.Module())
            m = getattr(m, name)
        if v.is_floating_point():
            m.register_parameter(leaf, torch.nn.Parameter(torch.zeros(v.shape, dtype=torch.float32)))
        else:
            m.register_buffer(leaf, torch.zeros(v.shape, dtype=torch.int64))
    return root


def check(out, expect, module):
    sd = torch.load(out, map_location="cpu", weights_only=True)
    if type(sd) is not collections.OrderedDict:
        fail(f"{out}: loads as {type(sd).__name__}, want OrderedDict")
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor) or v.dtype not in (torch.float32, torch.int64) or not v.is_contiguous():
            fail(f"{out}: {k}: {type(v).__name__} {getattr(v, 'dtype', '')}, want a contiguous float32 or int64 tensor")

    if not expect.endswith(".json"):
        ref = torch.load(expect, map_location="cpu")
        if list(sd) != list(ref):
            fail(f"{out}: keys {list(sd)[:8]}... differ from {expect}'s {list(ref)[:8]}...")
        for k, r in ref.items():
            want = r.to(torch.float32 if r.is_floating_point() else torch.int64)
            if sd[k].dtype != want.dtype or sd[k].shape != want.shape or not same_bits(sd[k], want):
                fail(f"{out}: {k}: {sd[k].dtype} {tuple(sd[k].shape)} differs from {expect}'s {want.dtype} {tuple(want.shape)}")
        if module:
            m = module_tree(ref)
            m.load_state_dict(sd, strict=True)
            for k, v in m.state_dict().items():
                if not same_bits(v, sd[k]):
                    fail(f"{out}: {k}: load_state_dict did not copy the values")
    else:
        with open(expect) as f:
            man = json.load(f)
        with open(man["raw"], "rb") as f:
            raw = f.read()
        if list(sd) != [t[0] for t in man["tensors"]]:
            fail(f"{out}: keys differ from {expect}'s")
        for key, dtype, shape, offset in man["tensors"]:
            dt, size = (torch.float32, 4) if dtype == "F32" else (torch.int64, 8)
            n = 1
            for d in shape:
                n *= d
            want = torch.frombuffer(bytearray(raw[offset:offset + size * n]), dtype=dt) if n else torch.zeros(0, dtype=dt)
            want = want.reshape(shape)
            if sd[key].dtype != dt or list(sd[key].shape) != shape or not same_bits(sd[key], want):
                fail(f"{out}: {key}: {sd[key].dtype} {list(sd[key].shape)} differs from {expect}'s {dtype} {shape}")
    print(f"check_written_pt: {out}: {len(sd)} tensors ok{' (load_state_dict strict)' if module and not expect.endswith('.json') else ''}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--module", action="store_true")
    ap.add_argument("pairs", nargs="+", metavar="OUT.pt REF.pt|M.json")
    a = ap.parse_args()
    if len(a.pairs) % 2:
        ap.error("want pairs: OUT.pt REF.pt|M.json ...")
    for out, expect in zip(a.pairs[::2], a.pairs[1::2]):
        check(out, expect, a.module)


if __name__ == "__main__":
    main()
