"""Write a random-weight IPT checkpoint with the released key layout (SPEC §2), for tests and benchmarks.

Default shapes are the released ones (n_feats 64, patch 48, patch_dim 3, 12+12 layers); --tiny gives the
fixture's reduced config (n_feats 16, patch 24, 2+2 layers). --scales picks the tasks: "4" is a one-task ×4
file like IPT_sr4.pt (115,608,155 params, asserted), "2,3,4,1,1,1" the IPT_pretrain.pt layout.
Every tensor is random (seeded), biases and LayerNorms included, scaled so activations stay O(1) in the body
and outputs land roughly in 0..255 (see init()). The state dict is an OrderedDict with a `_metadata`
attribute like nn.Module.state_dict() gives, saved with torch.save in the zip or legacy format;
optionally with body.position_encoding.position_ids ([1, L] int64) and with storages tagged 'cuda:0'.

    /usr/bin/python3 scripts/make_checkpoint.py --scales 4 -o /tmp/ipt_x4.pt
    /usr/bin/python3 scripts/make_checkpoint.py --scales 1 --format legacy --position-ids -o /tmp/ipt_x1.pt
    /usr/bin/python3 scripts/make_checkpoint.py --tiny --scales 3,1 --seed 7 -o testdata/x.pt
"""
import argparse
import collections
import math

import torch

MEAN = (0.4488, 0.4371, 0.4040)


def shapes(C=64, P=48, p=3, layers=12, scales=(4,)):
    """Ordered (key, shape) list in the order the authors' nn.Module emits its state dict."""
    d, L, n = C * p * p, (P // p) ** 2, len(scales)
    out = [("sub_mean.weight", (3, 3, 1, 1)), ("sub_mean.bias", (3,)),
           ("add_mean.weight", (3, 3, 1, 1)), ("add_mean.bias", (3,))]
    for t in range(n):
        out += [(f"head.{t}.0.weight", (C, 3, 3, 3)), (f"head.{t}.0.bias", (C,))]
        for r in (1, 2):
            for c in (0, 2):
                out += [(f"head.{t}.{r}.body.{c}.weight", (C, C, 5, 5)), (f"head.{t}.{r}.body.{c}.bias", (C,))]
    out += [("body.linear_encoding.weight", (d, d)), ("body.linear_encoding.bias", (d,)),
            ("body.mlp_head.0.weight", (4 * d, d)), ("body.mlp_head.0.bias", (4 * d,)),
            ("body.mlp_head.3.weight", (d, 4 * d)), ("body.mlp_head.3.bias", (d,)),
            ("body.query_embed.weight", (n, L * d))]
    for stack, attns, norms in (("encoder", ("self_attn",), 2), ("decoder", ("self_attn", "multihead_attn"), 3)):
        for i in range(layers):
            pre = f"body.{stack}.layers.{i}."
            for a in attns:
                out += [(pre + a + ".in_proj_weight", (3 * d, d)), (pre + a + ".out_proj.weight", (d, d))]
            out += [(pre + "linear1.weight", (4 * d, d)), (pre + "linear1.bias", (4 * d,)),
                    (pre + "linear2.weight", (d, 4 * d)), (pre + "linear2.bias", (d,))]
            for j in range(1, norms + 1):
                out += [(pre + f"norm{j}.weight", (d,)), (pre + f"norm{j}.bias", (d,))]
    out += [("body.position_encoding.position_ids", (1, L)), ("body.position_encoding.pe.weight", (L, d))]
    for t, s in enumerate(scales):
        ups = {1: [], 2: [(0, 4)], 3: [(0, 9)], 4: [(0, 4), (2, 4)]}[s]
        for idx, mult in ups:
            out += [(f"tail.{t}.0.{idx}.weight", (mult * C, C, 3, 3)), (f"tail.{t}.0.{idx}.bias", (mult * C,))]
        out += [(f"tail.{t}.1.weight", (3, C, 3, 3)), (f"tail.{t}.1.bias", (3,))]
    return out


def init(key, shape, g, C):
    """Random tensor for one key. Weights ~ N(0, gain²/fan_in); gains chosen so the head maps 0..255 input to
    O(1) features, residual branches are damped (0.5), and the last tail conv brings O(1) back to ±~50."""
    r = lambda *s: torch.randn(*s, generator=g)
    if key.endswith("position_ids"):
        return torch.arange(shape[1], dtype=torch.int64).reshape(shape)
    if key.startswith(("sub_mean", "add_mean")):  # meanshift, perturbed so nobody can hard-code it
        if key.endswith("weight"):
            return (torch.eye(3) + 0.02 * r(3, 3)).reshape(3, 3, 1, 1)
        sign = -1 if key.startswith("sub") else 1
        return sign * 255 * torch.tensor(MEAN) + 2 * r(3)
    if ".norm" in key:
        return 1 + 0.2 * r(*shape) if key.endswith("weight") else 0.1 * r(*shape)
    if key.endswith("bias"):
        return (2.0 if key.startswith("tail") and key.count(".") == 3 else 0.05) * r(*shape)
    if key.endswith(("pe.weight", "query_embed.weight")):
        return 0.5 * r(*shape)
    fan_in = math.prod(shape[1:])
    gain = 1.0
    if key.endswith(("body.2.weight", "linear2.weight", "out_proj.weight", "mlp_head.3.weight")):
        gain = 0.5  # residual branches
    if key.startswith("head.") and key.endswith(".0.weight") and key.count(".") == 3:
        gain = 1 / 64  # first conv: input is ±128
    if key.startswith("tail.") and key.endswith(".1.weight"):
        gain = 10.0  # last conv: back to the 0..255 scale
    return gain / math.sqrt(fan_in) * r(*shape)


def make(C, P, p, layers, scales, seed=0, position_ids=False):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    for k, shp in shapes(C, P, p, layers, scales):
        if k.endswith("position_ids") and not position_ids:
            continue
        sd[k] = init(k, shp, g, C).float() if not k.endswith("position_ids") else init(k, shp, g, C)
    # like nn.Module.state_dict(): _metadata lists every module path (here: every key prefix)
    md = collections.OrderedDict([("", {"version": 1})])
    for k in sd:
        parts = k.split(".")[:-1]
        for i in range(1, len(parts) + 1):
            md.setdefault(".".join(parts[:i]), {"version": 1})
    sd._metadata = md
    return sd


def save(sd, path, legacy=False, cuda_location=False):
    import torch.serialization as ser
    orig = ser.location_tag
    if cuda_location:  # pretend the storages were on a GPU, as in checkpoints saved from CUDA models
        ser.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
    finally:
        ser.location_tag = orig


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--scales", default="4", help="comma-separated scale per task, e.g. 2,3,4,1,1,1")
    ap.add_argument("--tiny", action="store_true", help="n_feats 16, patch 24, 2+2 layers")
    ap.add_argument("--n-feats", type=int)
    ap.add_argument("--patch", type=int)
    ap.add_argument("--patch-dim", type=int, default=3)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=["zip", "legacy"], default="zip")
    ap.add_argument("--position-ids", action="store_true", help="include body.position_encoding.position_ids")
    ap.add_argument("--cuda-location", action="store_true", help="tag storages 'cuda:0' in the pickle")
    a = ap.parse_args()
    C = a.n_feats or (16 if a.tiny else 64)
    P = a.patch or (24 if a.tiny else 48)
    layers = a.layers or (2 if a.tiny else 12)
    scales = [int(s) for s in a.scales.split(",")]
    sd = make(C, P, a.patch_dim, layers, scales, a.seed, a.position_ids)
    n = sum(v.numel() for k, v in sd.items() if not k.endswith("position_ids"))
    print(f"n_feats={C} patch={P} patch_dim={a.patch_dim} layers={layers}+{layers} scales={scales} params={n:,}")
    if (C, P, a.patch_dim, layers, scales) == (64, 48, 3, 12, [4]):
        assert n == 115_608_155, n
    save(sd, a.out, a.format == "legacy", a.cuda_location)
    print(f"wrote {a.out} ({a.format}{', position_ids' if a.position_ids else ''}"
          f"{', cuda:0 locations' if a.cuda_location else ''}, seed {a.seed})")


if __name__ == "__main__":
    main()
