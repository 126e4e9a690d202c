"""PyTorch CPU peer figures for IPT at the released size (scripts/ipt_ref.py; one JSON line per result).

Tile mode (default): direct forward of a batch of N P×P tiles (N default 8) under torch.no_grad(), for each
thread count T in --threads (torch.set_num_threads(T) and OpenBLAS's thread count, see set_threads; OMP_WAIT_POLICY=PASSIVE
unless set): --warmup runs, then the median of R runs.
    {"threads": T, "ms_per_tile": ..., "n": N, "runs": R, "ms_runs": [...]}

Restore mode (--restore HxW): one tiled restore of a random HxW image with the authors' tiler (forward_chop,
tiles run in batches of --batch), for the peak-RSS figure; wrap it in /usr/bin/time -v. The top/left strips'
tiles are the grid's first row/column, so they run once (tiles_run); the authors run them twice (tiles_authors).
    {"restore": "512x512", "threads": T, "tiles_run": n, "tiles_authors": n2, "seconds": ..., "maxrss_mb": ...}

The model is the released-size ×1 (denoise) layout with random weights, made in memory unless --checkpoint
is given (e.g. from scripts/make_checkpoint.py --scales 1 -o /tmp/ipt_x1.pt).

    /usr/bin/python3 scripts/bench_torch.py --threads 1,2 -n 8 -r 5
    /usr/bin/time -v /usr/bin/python3 scripts/bench_torch.py --checkpoint /tmp/ipt_x1.pt --restore 512x512 --threads 2

On a GPU (tile mode): --device cuda [--precision fp32|tf32|bf16] (bf16: torch.autocast), e.g.
    python3 scripts/bench_torch.py --device cuda -n 64 -r 10 --threads 1
"""
import argparse
import ctypes
import json
import os
import resource
import statistics
import sys
import time

# Debian's torch runs GEMMs in OpenBLAS's own pthreads; libgomp's default spin-waiting threads then fight
# them for the cores (2 threads measured 1.9x slower than with passive waiting). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipt_ref import IPT, load_state_dict  # noqa: E402


def set_threads(T):
    """torch.set_num_threads covers OpenMP/oneDNN only; Debian's torch does its GEMMs in OpenBLAS
    (pthreads), which otherwise uses every core whatever T is. Set both."""
    torch.set_num_threads(T)
    try:
        blas = ctypes.CDLL("libopenblas.so.0")
        blas.openblas_set_num_threads(T)
        return blas.openblas_get_num_threads()
    except OSError:
        return None


def precision(dev, prec):
    """The sync function that makes GPU timings honest, and the context of the chosen GEMM precision."""
    import contextlib
    if dev.type != "cuda":
        return (lambda: None), contextlib.nullcontext()
    torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
    torch.backends.cudnn.allow_tf32 = prec == "tf32"
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if prec == "bf16" else contextlib.nullcontext()
    return torch.cuda.synchronize, ctx


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint")
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--task", type=int, default=0)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("-n", type=int, default=8, help="tiles per forward (tile mode)")
    ap.add_argument("-r", "--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--restore", help="HxW: time one tiled restore instead")
    ap.add_argument("--batch", type=int, default=8, help="tiles per forward in restore mode")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (tile mode)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"], help="GEMM precision on cuda")
    a = ap.parse_args()
    dev = torch.device(a.device)
    sync, autocast = precision(dev, a.precision)
    if a.checkpoint:
        sd = load_state_dict(a.checkpoint)
    else:
        from make_checkpoint import make
        sd = make(64, 48, 3, 12, [1], seed=0)
    model = IPT({k: v.to(dev) for k, v in sd.items()}, a.heads)
    g = torch.Generator().manual_seed(0)
    for T in [int(t) for t in a.threads.split(",")]:
        blas_threads = set_threads(T)
        if a.restore:
            h, w = (int(v) for v in a.restore.split("x"))
            x = torch.rand(1, 3, h, w, generator=g) * 255
            n = model.P
            t = n // 4
            ni, nj = (h - n) // t + 1, (w - n) // t + 1
            t0 = time.perf_counter()
            y = model.chop(x, a.task, batch=a.batch)
            dt = time.perf_counter() - t0
            print(json.dumps({"restore": a.restore, "threads": T, "blas_threads": blas_threads, "batch": a.batch,
                              "tiles_run": ni * nj + ni + nj + 1, "tiles_authors": ni * nj + 2 * (ni + nj) + 1, "out": list(y.shape),
                              "seconds": round(dt, 2), "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}),
                  flush=True)
            continue
        x = (torch.rand(a.n, 3, model.P, model.P, generator=g) * 255).to(dev)
        with autocast:
            for _ in range(a.warmup):
                model.forward(x, a.task)
            ms = []
            for _ in range(a.runs):
                sync()
                t0 = time.perf_counter()
                model.forward(x, a.task)
                sync()
                ms.append((time.perf_counter() - t0) * 1000 / a.n)
        print(json.dumps({"device": a.device, "precision": a.precision, "threads": T, "blas_threads": blas_threads,
                          "omp_wait": os.environ["OMP_WAIT_POLICY"], "ms_per_tile": round(statistics.median(ms), 1), "n": a.n, "runs": a.runs,
                          "ms_runs": [round(m, 1) for m in ms]}), flush=True)


if __name__ == "__main__":
    main()
