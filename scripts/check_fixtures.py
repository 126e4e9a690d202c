"""Check scripts/ipt_ref.py against fixtures made with the authors' code (or by scripts/make_cases.py).

For every checkpoint given, runs each case in the .safetensors file and prints the max abs error:
`patch.task{i}.output` (+ `patch.task0.head/.body`), `chop.task{i}.{H}x{W}.output`, `x8.task{i}.{H}x{W}.output`;
and, with --png DIR, the PNG end-to-end cases listed in DIR/cases.json. Exits 1 if any float case is off by
more than --tol (default 1e-3) or any PNG pixel by more than 1 grey level.

    /usr/bin/python3 scripts/check_fixtures.py            # the shared ipt-tiny fixture, both formats, 4 heads
    /usr/bin/python3 scripts/check_fixtures.py --cases my.safetensors --models my.pt --heads 4
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipt_ref import IPT, load_state_dict, quantize  # noqa: E402
from st_io import read_safetensors  # noqa: E402

FIX = "/work/shared/fixtures/ipt-tiny"


def check_cases(model, cases, tol):
    ok = True
    inp = torch.from_numpy(cases["patch.input"]) if "patch.input" in cases else None
    for name in sorted(cases):
        want = cases[name]
        m = re.fullmatch(r"patch\.task(\d+)\.(output|head|body)", name)
        if m:
            dbg = {}
            y = model.forward(inp, int(m.group(1)), debug=dbg)
            got = y if m.group(2) == "output" else dbg[m.group(2)]
        elif re.fullmatch(r"(chop|x8)\.task(\d+)\.\d+x\d+\.output", name):
            kind, task = re.match(r"(chop|x8)\.task(\d+)", name).groups()
            x = torch.from_numpy(cases[name[:-len("output")] + "input"])
            got = (model.chop if kind == "chop" else model.x8)(x, int(task))
        else:
            continue
        if tuple(got.shape) != want.shape:
            print(f"  {name:32s} SHAPE {tuple(got.shape)} != {want.shape}  FAIL")
            ok = False
            continue
        err = float(np.abs(got.numpy() - want).max())
        good = err <= tol
        ok &= good
        print(f"  {name:32s} max abs err {err:.3e}  {'ok' if good else 'FAIL'}")
    return ok


def check_pngs(model, d):
    from PIL import Image
    spec = json.load(open(os.path.join(d, "cases.json")))
    ok = True
    for c in spec["cases"]:
        x = np.asarray(Image.open(os.path.join(d, c["case"] + ".in.png")).convert("RGB"), dtype=np.float32)
        x = torch.from_numpy(x.transpose(2, 0, 1).copy())[None]
        if c.get("tiling", "official") != "official":
            print(f"  png {c['case']}: tiling {c['tiling']} not supported here, skipped")
            continue
        y = (model.x8 if c["ensemble"] else model.chop)(x, c["head"])[0]
        wantf = np.load(os.path.join(d, c["case"] + ".want_float.npy"))
        want = np.asarray(Image.open(os.path.join(d, c["case"] + ".want.png")).convert("RGB")).transpose(2, 0, 1)
        ferr = float(np.abs(y.numpy() - wantf).max())
        q = quantize(y).numpy().astype(np.int16)
        perr = int(np.abs(q - want).max())
        nbad = int((q != want).sum())
        good = ferr <= 1e-3 * 10 and perr <= 1
        ok &= good
        print(f"  png {c['case']:26s} float max err {ferr:.3e}, png max diff {perr} ({nbad} values differ)"
              f"  {'ok' if good else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=f"{FIX}/cases.safetensors")
    ap.add_argument("--models", nargs="+", default=[f"{FIX}/model.pt", f"{FIX}/model_legacy.pt"])
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--png", default=None, help=f"PNG case dir (default {FIX}/png when checking the shared fixture)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cases, meta = read_safetensors(args.cases)
    png = args.png or (f"{FIX}/png" if args.cases == f"{FIX}/cases.safetensors" else None)
    ok = True
    for path in args.models:
        model = IPT(load_state_dict(path), args.heads)
        print(f"{path}: C={model.C} P={model.P} d={model.d} layers={model.n_enc}+{model.n_dec} scales={model.scales}")
        ok &= check_cases(model, cases, args.tol)
        if png and os.path.isdir(png):
            ok &= check_pngs(model, png)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
