"""Write test cases (inputs + scripts/ipt_ref.py outputs) for a checkpoint, named like the shared fixture.

Float cases go to one .safetensors file (fp32, NCHW, 0..255 scale; metadata: config JSON, seed, checkpoint):
  patch.input [N,3,P,P]; patch.task{i}.output (and patch.task{i}.head/.body for the first task);
  chop.task{i}.{H}x{W}.input/.output (the authors' tiler); x8.task{i}.{H}x{W}.input/.output (self-ensemble).
Inputs are uniform random 0..255 floats (seeded). Every case is made for every task in --tasks.

With --png-dir, also PNG end-to-end cases: an integer-valued input saved as 8-bit RGB `NAME.in.png`,
`NAME.want.png` (float output clamped to 0..255, rounded half to even) and `NAME.want_float.npy` ([3,H,W]
float32), listed in DIR/cases.json in the shared fixture's format.

    /usr/bin/python3 scripts/make_cases.py /tmp/tiny.pt --heads 4 --tasks 0,2 --patch 2 \
        --chop 41x30,24x24 --x8 29x33 -o /tmp/cases.safetensors \
        --png-dir /tmp/png --png 35x40,30x27:x8
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipt_ref import IPT, load_state_dict, quantize  # noqa: E402
from st_io import write_safetensors  # noqa: E402


def sizes(s):
    return [tuple(int(v) for v in item.split("x")) for item in s.split(",") if item] if s else []


def write_png(path, arr):
    """arr: [H,W,3] uint8."""
    from PIL import Image
    Image.fromarray(arr, "RGB").save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("-o", "--out", help="output .safetensors")
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--tasks", default="0", help="comma-separated task indices")
    ap.add_argument("--patch", type=int, default=2, help="number of P×P tiles in patch.input (0: none)")
    ap.add_argument("--chop", default="", help="HxW sizes for the tiler, e.g. 41x30,24x24")
    ap.add_argument("--x8", default="", help="HxW sizes for the self-ensemble")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--png-dir", help="also write PNG end-to-end cases here")
    ap.add_argument("--png", default="", help="HxW[:x8] list for PNG cases, e.g. 35x40,30x27:x8")
    a = ap.parse_args()
    model = IPT(load_state_dict(a.checkpoint), a.heads)
    tasks = [int(t) for t in a.tasks.split(",")]
    g = torch.Generator().manual_seed(a.seed)
    rand = lambda *shape: torch.rand(*shape, generator=g) * 255
    cfg = {"n_feats": model.C, "patch_size": model.P, "patch_dim": model.p, "num_heads": model.heads,
           "num_layers": model.n_enc, "num_queries": model.n_tasks, "scale": model.scales}

    if a.out:
        out = {}
        if a.patch:
            x = rand(a.patch, 3, model.P, model.P)
            out["patch.input"] = x
            for k, t in enumerate(tasks):
                dbg = {}
                out[f"patch.task{t}.output"] = model.forward(x, t, debug=dbg)
                if k == 0:
                    out[f"patch.task{t}.head"], out[f"patch.task{t}.body"] = dbg["head"], dbg["body"]
        for kind, fn in (("chop", model.chop), ("x8", model.x8)):
            for h, w in sizes(getattr(a, kind)):
                for t in tasks:
                    x = rand(1, 3, h, w)
                    out[f"{kind}.task{t}.{h}x{w}.input"] = x
                    out[f"{kind}.task{t}.{h}x{w}.output"] = fn(x, t)
        meta = {"config": json.dumps(cfg), "seed": a.seed, "checkpoint": os.path.basename(a.checkpoint),
                "made_by": "scripts/make_cases.py (scripts/ipt_ref.py reference)"}
        write_safetensors(a.out, {k: v.contiguous().numpy().astype(np.float32) for k, v in out.items()}, meta)
        for k, v in out.items():
            print(f"  {k:32s} {list(v.shape)}")
        print(f"wrote {a.out}")

    if a.png_dir:
        os.makedirs(a.png_dir, exist_ok=True)
        cases = []
        for item in a.png.split(","):
            if not item:
                continue
            size, _, ens = item.partition(":")
            h, w = (int(v) for v in size.split("x"))
            for t in tasks:
                name = f"{'x8' if ens else 'chop'}_task{t}_{h}x{w}"
                img = torch.randint(0, 256, (h, w, 3), generator=g, dtype=torch.int64).to(torch.uint8).numpy()
                x = torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32))[None]
                y = (model.x8 if ens else model.chop)(x, t)[0]
                write_png(os.path.join(a.png_dir, name + ".in.png"), img)
                want = quantize(y).numpy().astype(np.uint8).transpose(1, 2, 0)
                write_png(os.path.join(a.png_dir, name + ".want.png"), np.ascontiguousarray(want))
                np.save(os.path.join(a.png_dir, name + ".want_float.npy"), y.numpy().astype(np.float32))
                cases.append({"case": name, "head": t, "scale": model.scales[t], "size": [h, w],
                              "ensemble": bool(ens), "tiling": "official"})
                print(f"  png {name}: {h}x{w} -> {list(y.shape[1:])}")
        with open(os.path.join(a.png_dir, "cases.json"), "w") as f:
            json.dump({"config": cfg, "seed": a.seed, "weights": os.path.basename(a.checkpoint), "cases": cases}, f, indent=1)
        print(f"wrote {a.png_dir}/cases.json")


if __name__ == "__main__":
    main()
