"""PyTorch CPU peer for `ipt train`: samples/s of one IPT training step (forward, L1 + λ·contrastive loss,
backward, Adam), written from SPEC.md over scripts/ipt_ref.py. One JSON line per (config, threads).

The step is the one `ipt train` takes: a batch of N P×P inputs of one task, targets (P·s)×(P·s), loss =
mean |out − target| + λ·(paper Eq. 5 on the decoder's output tokens, cosine similarity / τ), gradients of
every parameter but the fixed mean shifts, global-norm clipping at 1.0, then torch.optim.Adam (0.9, 0.999,
1e-8). Random weights (make_checkpoint.py) and random data: speed does not depend on them.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/bench_train_torch.py \\
        --config 16,48,3,4,1 --scale 2 --batch 8 --threads 1,2 -r 5

On a GPU: --device cuda [--precision fp32|tf32|bf16] (bf16: torch.autocast; the loss in fp32).

--config is n_feats,patch,patch_dim,heads,layers (layers = encoder = decoder); several with ';'.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_torch.py
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import precision, set_threads  # noqa: E402
from ipt_ref import IPT  # noqa: E402
from make_checkpoint import make  # noqa: E402


def contrastive(t, tau):
    """Paper Eq. 5: for image j, patches a and b: −log(exp(s_jj(a,b)) / Σ_{k≠j} exp(s_jk(a,b))), s = cos/τ,
    averaged over j, a, b. t: [B, L, d] decoder output tokens."""
    B = t.shape[0]
    f = torch.nn.functional.normalize(t, dim=-1)
    s = torch.einsum("jad,kbd->jkab", f, f) / tau  # [B, B, L, L]
    eye = torch.eye(B, dtype=torch.bool, device=t.device).reshape(B, B, 1, 1)
    pos = s.diagonal(dim1=0, dim2=1).permute(2, 0, 1)  # [B, L, L]: s_jj(a, b)
    neg = torch.logsumexp(s.masked_fill(eye, float("-inf")), dim=1)  # [B, L, L]
    return (neg - pos).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="64,48,3,12,12")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--tau", type=float, default=0.07)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("-r", "--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"], help="GEMM precision on cuda")
    a = ap.parse_args()
    dev = torch.device(a.device)
    sync, autocast = precision(dev, a.precision)
    for cfg in a.config.split(";"):
        C, P, p, heads, layers = (int(v) for v in cfg.split(","))
        sd = {k: v.to(dev) for k, v in make(C, P, p, layers, [a.scale], seed=0).items()}
        params = []
        for k, v in sd.items():
            if not k.startswith(("sub_mean", "add_mean")) and v.is_floating_point():
                v.requires_grad_(True)
                params.append(v)
        model = IPT(sd, heads)
        opt = torch.optim.Adam(params, lr=5e-5, betas=(0.9, 0.999), eps=1e-8)
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(a.batch, 3, P, P, generator=g) * 255).to(dev)
        y = (torch.rand(a.batch, 3, P * a.scale, P * a.scale, generator=g) * 255).to(dev)

        def step():
            opt.zero_grad(set_to_none=True)
            dbg = {}
            with autocast:
                out = model.forward_grad(x, 0, dbg)
                loss = (out.float() - y).abs().mean()
                if a.lam > 0:
                    loss = loss + a.lam * contrastive(dbg["decoder"].float(), a.tau)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()

        for T in [int(t) for t in a.threads.split(",")]:
            blas_threads = set_threads(T)
            for _ in range(a.warmup):
                step()
            rates = []
            for _ in range(a.runs):
                sync()
                t0 = time.perf_counter()
                step()
                sync()
                rates.append(a.batch / (time.perf_counter() - t0))
            print(json.dumps({"device": a.device, "precision": a.precision, "config": cfg, "scale": a.scale, "batch": a.batch, "lambda": a.lam, "threads": T,
                              "blas_threads": blas_threads, "samples_per_s": round(statistics.median(rates), 3),
                              "runs": [round(r, 3) for r in rates]}), flush=True)


if __name__ == "__main__":
    main()
