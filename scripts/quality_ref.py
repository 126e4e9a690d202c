#!/usr/bin/python3
"""Reference PSNR and SSIM figures for internal/quality's tests.

Independent of the Go code: PSNR with numpy as the authors' utility.calc_psnr
computes it (Y of the difference, coefficients /256), SSIM with scikit-image's
structural_similarity on MATLAB's rgb2ycbcr luma (not rounded), Gaussian
window sigma 1.5, use_sample_covariance=False (Wang et al.'s definition).
The test images are integer formulas that quality_test.go builds the same way.

Run: /usr/bin/python3 scripts/quality_ref.py  (Debian's python3-skimage)
"""
import numpy as np
from skimage.metrics import structural_similarity


def pair(h, w):
    c, y, x = np.meshgrid(np.arange(3), np.arange(h), np.arange(w), indexing="ij")
    a = (7 * x + 3 * y + 40 * c) % 200 + 20
    b = np.clip(a + (13 * x * x + 7 * x * y + 3 * c) % 61 - 30, 0, 255)
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a, b, shave):
    if shave:
        a, b = a[:, shave:-shave, shave:-shave], b[:, shave:-shave, shave:-shave]
    rgb = 10 * np.log10(255.0 ** 2 / np.mean((a - b) ** 2))
    d = (a - b) / 255
    dy = (65.738 * d[0] + 129.057 * d[1] + 25.064 * d[2]) / 256
    return rgb, -10 * np.log10(np.mean(dy ** 2))


def luma(a):
    return 16 + (65.481 * a[0] + 128.553 * a[1] + 24.966 * a[2]) / 255


def ssim(a, b, shave):
    if shave:
        a, b = a[:, shave:-shave, shave:-shave], b[:, shave:-shave, shave:-shave]
    return structural_similarity(luma(a), luma(b), gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=255)


for h, w in [(40, 37), (23, 64)]:
    a, b = pair(h, w)
    for shave in (0, 3):
        rgb, y = psnr(a, b, shave)
        print(f"{h}x{w} shave {shave}: psnr_rgb {rgb:.12f} psnr_y {y:.12f} ssim {ssim(a, b, shave):.12f}")
    b = a // 2 + 60  # a contrast change
    for shave in (0,):
        rgb, y = psnr(a, b, shave)
        print(f"{h}x{w} contrast shave {shave}: psnr_rgb {rgb:.12f} psnr_y {y:.12f} ssim {ssim(a, b, shave):.12f}")
