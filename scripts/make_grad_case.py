"""PyTorch-autograd reference for one training step of a small IPT (llm.c's test_gpt2 idea): writes a
checkpoint and a case file holding the batch, the losses and every parameter's gradient, which
internal/train's TestGradientsMatchPyTorch compares with Net.ForwardBackward.

The loss is `ipt train`'s: mean |out − target| + λ·(paper Eq. 5 on the decoder's output tokens, cosine
similarity / τ) — bench_train_torch.contrastive — with autograd through scripts/ipt_ref.py (written from
SPEC.md, independently of the Go code). Computed in float64 (stored as float32), so the reference carries no rounding of its own.

    /usr/bin/python3 scripts/make_grad_case.py -o testdata/grad-case
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train_torch import contrastive  # noqa: E402
from ipt_ref import IPT  # noqa: E402
from make_checkpoint import make, save  # noqa: E402
from st_io import write_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", required=True, help="directory for model.pt and case.safetensors")
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--tau", type=float, default=0.07)
    a = ap.parse_args()
    C, P, p, heads, layers, scales, task, N = 8, 12, 3, 2, 1, [3, 1], 0, 3
    sd = make(C, P, p, layers, scales, seed=5)
    os.makedirs(a.out, exist_ok=True)
    save(sd, os.path.join(a.out, "model.pt"))
    sd64 = {k: v.double().requires_grad_(not k.startswith(("sub_mean", "add_mean"))) for k, v in sd.items()}
    model = IPT(sd64, heads)
    model.sd = sd64  # IPT.__init__ copies with .float(): train the float64 leaves themselves
    g = torch.Generator().manual_seed(11)
    s = scales[task]
    x = (torch.rand(N, 3, P, P, generator=g) * 255).round().double()
    y = (torch.rand(N, 3, P * s, P * s, generator=g) * 255).round().double()
    dbg = {}
    out = model.forward_grad(x, task, dbg)
    l1 = (out - y).abs().mean()
    con = contrastive(dbg["decoder"], a.tau)
    (l1 + a.lam * con).backward()
    tensors = {"input": x.float().numpy(), "target": y.float().numpy(), "output": out.detach().float().numpy()}
    for k, v in sd64.items():
        if v.grad is not None:
            tensors["grad." + k] = v.grad.float().numpy()
    meta = {"heads": str(heads), "task": str(task), "lambda": repr(a.lam), "tau": repr(a.tau),
            "l1": repr(l1.item()), "contrastive": repr(con.item())}
    write_safetensors(os.path.join(a.out, "case.safetensors"), tensors, meta)
    print(f"{a.out}: l1 {l1.item():.6f} contrastive {con.item():.6f}, {sum(k.startswith('grad.') for k in tensors)} gradients")


if __name__ == "__main__":
    main()
