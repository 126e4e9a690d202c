#!/usr/bin/env python3
"""Independent reference for train.Adam: PyTorch's Adam update (torch.optim.Adam,
single-tensor, classic mul/add form) with every float32 operation emulated in
plain Python: each result is computed in float64 and rounded to float32, which
is exact for +, -, *, / and sqrt (53 >= 2*24+2 bits). Prints the float32 bits
of the parameters and moments after each step; adam_test.go holds its output.

Run: /usr/bin/python3 internal/train/testdata/adam_ref.py
"""
import math
import struct


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


N = 7
b1, b2, eps = 0.9, 0.999, 1e-8
p = [f32((i - 3) / 8) for i in range(N)]
m = [0.0] * N
v = [0.0] * N
lrs = [1e-3, 1e-3, 5e-4]
for t, lr in enumerate(lrs, start=1):
    g = [f32((((i * 7 + t * 3) % 11) - 5) / 16 * (1e-3 if i == 5 else 1)) for i in range(N)]
    step_size = f32(lr / (1 - b1 ** t))
    bc2 = f32(math.sqrt(1 - b2 ** t))
    fb1, fc1, fb2, fc2, feps = f32(b1), f32(1 - b1), f32(b2), f32(1 - b2), f32(eps)
    for i in range(N):
        m[i] = f32(f32(fb1 * m[i]) + f32(fc1 * g[i]))
        v[i] = f32(f32(fb2 * v[i]) + f32(f32(fc2 * g[i]) * g[i]))
        denom = f32(f32(f32(math.sqrt(v[i])) / bc2) + feps)
        p[i] = f32(p[i] - f32(f32(step_size * m[i]) / denom))
    print("step %d" % t)
    print("p", " ".join("%08x" % bits(x) for x in p))
    print("m", " ".join("%08x" % bits(x) for x in m))
    print("v", " ".join("%08x" % bits(x) for x in v))
