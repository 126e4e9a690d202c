// CUDA C kernels of ipt's GPU backend, compiled at run time by NVRTC (see
// kernels.go for the launch list). Each kernel is the GPU form of a plain-Go
// reference in internal/ops or internal/train, which stays the oracle; the
// comment over each names it and says whether the result is the same bits.
//
// Rules, so that results are deterministic and the CPU emulator
// (emu/cuda_emu.h) can run this file unchanged:
//   - no atomics and no warp intrinsics: reductions are __shared__ trees over
//     a block of exactly IPT_BLOCK threads, with __syncthreads between steps;
//   - every float operation whose rounding matters is an __f*_rn / __d*_rn
//     intrinsic, so no multiply and add is contracted into an FMA (the
//     runtime also compiles with --fmad=false);
//   - grid-stride loops everywhere, so any grid size gives the same result
//     (the runtime may cap the grid);
//   - no early return before a __syncthreads; 64-bit indices throughout;
//   - no #include: NVRTC has no standard headers.

#define IPT_BLOCK 256
// IPT_CHUNK is the fixed partition of the two-pass global sums (sum of
// squares, L1 loss): one partial per chunk, whatever the grid, then the
// partials added in order. 1<<14, train.GradNorm's normChunk, so the chunk
// boundaries and the order of the second pass are the CPU's.
#define IPT_CHUNK 16384

typedef long long i64;

__device__ __forceinline__ i64 gtid() { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ i64 gstride() { return (i64)gridDim.x * blockDim.x; }

// Every thread of the grid over [0, n).
#define FOR_EACH(i, n) for (i64 i = gtid(); i < (n); i += gstride())
// Every block of the grid over [0, n); uniform within a block, so the body
// may call __syncthreads.
#define FOR_EACH_BLOCK(r, n) for (i64 r = blockIdx.x; r < (n); r += gridDim.x)
// This thread's share of [0, n) within its block.
#define FOR_THREAD(j, n) for (i64 j = threadIdx.x; j < (n); j += IPT_BLOCK)

__device__ __forceinline__ double neg_inf_f64() { return __longlong_as_double(0xfff0000000000000LL); }
__device__ __forceinline__ float neg_inf_f32() { return __int_as_float(0xff800000); }
__device__ __forceinline__ i64 min64(i64 a, i64 b) { return a < b ? a : b; }

// block_sum_f64 returns the sum of v over the block's IPT_BLOCK threads to
// every thread: a fixed pairwise tree, so the same inputs give the same bits
// on any GPU (and in the emulator). The CPU sums in index order instead:
// kernels that use it say so, with their tolerance.
__device__ double block_sum_f64(double v) {
  __shared__ double buf[IPT_BLOCK];
  unsigned t = threadIdx.x;
  buf[t] = v;
  __syncthreads();
  for (unsigned s = IPT_BLOCK / 2; s > 0; s >>= 1) {
    if (t < s) buf[t] = __dadd_rn(buf[t], buf[t + s]);
    __syncthreads();
  }
  double r = buf[0];
  __syncthreads();  // buf is reused by the next call
  return r;
}

// block_max_f32 returns the maximum of v over the block (order-free for
// numbers; NaN inputs are not handled as the CPU's loop does).
__device__ float block_max_f32(float v) {
  __shared__ float buf[IPT_BLOCK];
  unsigned t = threadIdx.x;
  buf[t] = v;
  __syncthreads();
  for (unsigned s = IPT_BLOCK / 2; s > 0; s >>= 1) {
    if (t < s && buf[t + s] > buf[t]) buf[t] = buf[t + s];
    __syncthreads();
  }
  float r = buf[0];
  __syncthreads();
  return r;
}

// exp_neg is ops.expNeg bit for bit: e^x for x ≤ 0 by Cody–Waite reduction
// and a degree-6 polynomial, every operation rounded to float32 on its own.
// The constants are the float32 bits of the Go ones.
__device__ __forceinline__ float exp_neg(float x) {
  if (x < -87.0f) return 0.0f;
  const float log2e = __int_as_float(0x3fb8aa3b), ln2hi = __int_as_float(0x3f318000),
              ln2lo = __int_as_float(0xb95e8083);
  int ni = __float2int_rz(__fsub_rn(__fmul_rn(x, log2e), 0.5f));
  float n = (float)ni;
  float f = __fsub_rn(__fsub_rn(x, __fmul_rn(n, ln2hi)), __fmul_rn(n, ln2lo));
  float p = __int_as_float(0x3ab60b61);                      // 1/720
  p = __fadd_rn(__fmul_rn(p, f), __int_as_float(0x3c088889));  // 1/120
  p = __fadd_rn(__fmul_rn(p, f), __int_as_float(0x3d2aaaab));  // 1/24
  p = __fadd_rn(__fmul_rn(p, f), __int_as_float(0x3e2aaaab));  // 1/6
  p = __fadd_rn(__fmul_rn(p, f), 0.5f);
  p = __fadd_rn(__fmul_rn(p, f), 1.0f);
  p = __fadd_rn(__fmul_rn(p, f), 1.0f);
  return __uint_as_float(__float_as_uint(p) + ((unsigned)ni << 23));
}

// ---------------------------------------------------------------------------
// Utilities. One thread per element; same bits as the Go loops.

// x[i] = v (zeroing is v = 0).
extern "C" __global__ void fill_f32(float* x, i64 n, float v) {
  FOR_EACH(i, n) x[i] = v;
}

// dst[i] = src[i] (Backend.Copy; a kernel rather than a copy call so it
// queues on the stream like the rest). The same bits, signed zeros and
// NaNs included.
extern "C" __global__ void copy_f32(float* dst, const float* src, i64 n) {
  FOR_EACH(i, n) dst[i] = src[i];
}

// x[i] *= f: ClipGrads' scaling, and any scale by a float32 factor.
extern "C" __global__ void scale_f32(float* x, i64 n, float f) {
  FOR_EACH(i, n) x[i] = __fmul_rn(x[i], f);
}

// ops.Add: dst[i] += src[i].
extern "C" __global__ void add_f32(float* dst, const float* src, i64 n) {
  FOR_EACH(i, n) dst[i] = __fadd_rn(dst[i], src[i]);
}

// ops.AddTo: dst[i] = a[i] + b[i]. dst may be a or b.
extern "C" __global__ void add_to_f32(float* dst, const float* a, const float* b, i64 n) {
  FOR_EACH(i, n) dst[i] = __fadd_rn(a[i], b[i]);
}

// relu_bits is ops.ReLU's sign-bit clear: −0 and negative NaNs become +0.
__device__ __forceinline__ float relu_bits(float v) {
  int b = __float_as_int(v);
  return __int_as_float(b & ~(b >> 31));
}

// ops.ReLU in place.
extern "C" __global__ void relu_f32(float* x, i64 n) {
  FOR_EACH(i, n) x[i] = relu_bits(x[i]);
}

// ops.AddRowBias: x ([rows, cols]) += bias ([cols]) on every row.
extern "C" __global__ void add_row_bias(float* x, const float* bias, i64 rows, i64 cols) {
  FOR_EACH(i, rows * cols) x[i] = __fadd_rn(x[i], bias[i % cols]);
}

// ops.AddBiasReLU: AddRowBias then ReLU, in one pass.
extern "C" __global__ void add_bias_relu(float* x, const float* bias, i64 rows, i64 cols) {
  FOR_EACH(i, rows * cols) x[i] = relu_bits(__fadd_rn(x[i], bias[i % cols]));
}

// ops.ReLUBackward: dX[i] += dOut[i] where y[i] > 0; with dX == dOut (the
// same buffer) the gradient is masked in place instead, as on the CPU.
extern "C" __global__ void relu_backward(float* dX, const float* dOut, const float* y, i64 n) {
  bool inPlace = dX == dOut;
  FOR_EACH(i, n) {
    if (inPlace) {
      if (!(y[i] > 0.0f)) dX[i] = 0.0f;
    } else if (y[i] > 0.0f) {
      dX[i] = __fadd_rn(dX[i], dOut[i]);
    }
  }
}

// ops.ReLUBackwardTo: dst[i] = 0 + dOut[i] where y[i] > 0, else 0 (0 + x,
// not x: it turns −0 into +0 as the CPU does). dst may be dOut.
extern "C" __global__ void relu_backward_to(float* dst, const float* dOut, const float* y, i64 n) {
  FOR_EACH(i, n) dst[i] = y[i] > 0.0f ? __fadd_rn(0.0f, dOut[i]) : 0.0f;
}

// ops.AddChannelBias over nimg images: x ([nimg, c, hw]) += bias[ch] on
// plane ch of every image.
extern "C" __global__ void add_channel_bias(float* x, const float* bias, i64 nimg, i64 c, i64 hw) {
  FOR_EACH(i, nimg * c * hw) x[i] = __fadd_rn(x[i], bias[(i / hw) % c]);
}

// The model's sub_mean/add_mean (MeanShift: a 1×1 conv whose weight is the
// identity and whose bias is ∓rgb_range·mean, frozen): out = in + bias[ch],
// out-of-place over [nimg, c, hw]. The same bits as ops.Conv2d with that
// identity weight (one non-zero term per output) followed by
// AddChannelBias; a checkpoint whose weight is not the identity must take
// the GEMM path instead. out may be in.
extern "C" __global__ void mean_shift(float* out, const float* in, const float* bias, i64 nimg, i64 c, i64 hw) {
  FOR_EACH(i, nimg * c * hw) out[i] = __fadd_rn(in[i], bias[(i / hw) % c]);
}

// ops.AdamUpdate (PyTorch's update) bit for bit: each operation rounded to
// float32, none fused; the square root correctly rounded as the CPU's.
extern "C" __global__ void adam_update(float* p, const float* g, float* m, float* v, i64 n, float b1, float c1,
                                       float b2, float c2, float bc2, float eps, float step) {
  FOR_EACH(i, n) {
    float gi = g[i];
    float mi = __fadd_rn(__fmul_rn(b1, m[i]), __fmul_rn(c1, gi));
    float vi = __fadd_rn(__fmul_rn(b2, v[i]), __fmul_rn(__fmul_rn(c2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2), eps);
    p[i] = __fsub_rn(p[i], __fdiv_rn(__fmul_rn(step, mi), denom));
  }
}

// ---------------------------------------------------------------------------
// Convolution: the GEMMs are cuBLAS's; these are the unrolling and its adjoint.

// ops.im2col over nimg images: cols ([nimg, cin·k·k, rows·w]) gets, for each
// image, row (c, ky, kx) = output rows y0..y0+rows of input plane c shifted
// by (ky−k/2, kx−k/2), zero outside. in is [nimg, cin, h, w].
extern "C" __global__ void im2col(float* cols, const float* in, i64 nimg, i64 cin, i64 h, i64 w, i64 k, i64 y0,
                                  i64 rows) {
  i64 pad = k / 2;
  FOR_EACH(i, nimg * cin * k * k * rows * w) {
    i64 x = i % w, t = i / w;
    i64 y = t % rows;
    t /= rows;
    i64 kx = t % k;
    t /= k;
    i64 ky = t % k;
    t /= k;  // t = img·cin + c
    i64 sy = y0 + y + ky - pad, sx = x + kx - pad;
    cols[i] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? in[(t * h + sy) * w + sx] : 0.0f;
  }
}

// ops.col2im over nimg images, gathered: each value of dIn ([nimg, cin, h, w])
// adds its k·k terms of cols ([nimg, cin·k·k, rows·w]) in (ky, kx) order,
// each rounded in turn, as the CPU's scatter adds them: the same bits, with
// no atomics. Pixels no term reaches are rewritten unchanged.
extern "C" __global__ void col2im(float* dIn, const float* cols, i64 nimg, i64 cin, i64 h, i64 w, i64 k, i64 y0,
                                  i64 rows) {
  i64 pad = k / 2, n = rows * w;
  FOR_EACH(i, nimg * cin * h * w) {
    i64 sx = i % w, t = i / w;
    i64 sy = t % h;
    t /= h;  // t = img·cin + c: its k·k rows of cols start at row t·k·k
    float acc = dIn[i];
    for (i64 ky = 0; ky < k; ky++) {
      i64 y = sy - ky + pad - y0;
      if (y < 0 || y >= rows) continue;
      for (i64 kx = 0; kx < k; kx++) {
        i64 x = sx - kx + pad;
        if (x < 0 || x >= w) continue;
        acc = __fadd_rn(acc, cols[((t * k + ky) * k + kx) * n + y * w + x]);
      }
    }
    dIn[i] = acc;
  }
}

// ops.SumChannels over nimg images, as Conv2dBackward calls it once per
// image: dBias[ch] += float32(Σ plane ch of image 0), then image 1, … One
// block per channel. Each image's sum is a float64 tree (the CPU's is in
// index order): after rounding to float32 it nearly always has the same
// bits; the test allows 2 float32 ulps of the result's magnitude per image.
extern "C" __global__ void sum_channels(float* dBias, const float* x, i64 nimg, i64 c, i64 hw) {
  FOR_EACH_BLOCK(ch, c) {
    float acc = dBias[ch];
    for (i64 img = 0; img < nimg; img++) {
      const float* p = x + (img * c + ch) * hw;
      double s = 0;
      FOR_THREAD(j, hw) s = __dadd_rn(s, (double)p[j]);
      s = block_sum_f64(s);
      acc = __fadd_rn(acc, (float)s);
    }
    if (threadIdx.x == 0) dBias[ch] = acc;
  }
}

// ---------------------------------------------------------------------------
// Linear layers: the bias gradient.

// ops.SumRows bit for bit: dBias ([cols]) += column sums of x ([rows, cols]),
// each column summing groups of 16 rows in float32, the groups in float64,
// in row order. One thread per column, reading rows coalesced.
extern "C" __global__ void sum_rows(float* dBias, const float* x, i64 rows, i64 cols) {
  FOR_EACH(j, cols) {
    double a = 0;
    for (i64 r0 = 0; r0 < rows; r0 += 16) {
      float p = x[r0 * cols + j];
      for (i64 r = r0 + 1; r < min64(rows, r0 + 16); r++) p = __fadd_rn(p, x[r * cols + j]);
      a = __dadd_rn(a, (double)p);
    }
    dBias[j] = __fadd_rn(dBias[j], (float)a);
  }
}

// ---------------------------------------------------------------------------
// Layer norm. Row statistics in float64 as on the CPU; the forward keeps
// them (mean and 1/std, [rows] doubles each) for the backward, which on the
// CPU recomputes the same values.

// ops.LayerNorm: out = float32((x−mean)·rstd)·gamma + beta per row of x
// ([rows, d]); also writes mean[r] and rstd[r] = 1/sqrt(var+eps). One block
// per row; out may be x. The row sums are float64 trees, the CPU's in index
// order: the statistics agree to about 1e-16 relative, so outputs nearly
// always have the same bits; the test allows 2 ulps of |x̂·gamma| + |beta|.
extern "C" __global__ void layernorm_forward(float* out, double* mean, double* rstd, const float* x,
                                             const float* gamma, const float* beta, i64 rows, i64 d, double eps) {
  FOR_EACH_BLOCK(r, rows) {
    const float* xr = x + r * d;
    float* o = out + r * d;
    double s = 0;
    FOR_THREAD(j, d) s = __dadd_rn(s, (double)xr[j]);
    double mu = __ddiv_rn(block_sum_f64(s), (double)d);
    double ss = 0;
    FOR_THREAD(j, d) {
      double dv = __dsub_rn((double)xr[j], mu);
      ss = __dadd_rn(ss, __dmul_rn(dv, dv));
    }
    ss = block_sum_f64(ss);
    double inv = __ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(__ddiv_rn(ss, (double)d), eps)));
    if (threadIdx.x == 0) {
      mean[r] = mu;
      rstd[r] = inv;
    }
    FOR_THREAD(j, d) {
      float xh = (float)__dmul_rn(__dsub_rn((double)xr[j], mu), inv);
      o[j] = __fadd_rn(__fmul_rn(xh, gamma[j]), beta[j]);
    }
  }
}

// ops.LayerNormBackward's dX: with x̂ = (x−mean)·rstd and g = dOut·gamma (in
// float64), dX += float32((g − mean(g) − x̂·mean(g·x̂))·rstd) per row. One block
// per row; the two means are float64 trees (tolerance as the forward's, of
// the row's largest term).
extern "C" __global__ void layernorm_backward_dx(float* dX, const float* dOut, const float* x, const float* gamma,
                                                 const double* mean, const double* rstd, i64 rows, i64 d) {
  FOR_EACH_BLOCK(r, rows) {
    const float *xr = x + r * d, *dy = dOut + r * d;
    float* dx = dX + r * d;
    double mu = mean[r], inv = rstd[r];
    double m1 = 0, m2 = 0;
    FOR_THREAD(j, d) {
      double g = __dmul_rn((double)dy[j], (double)gamma[j]);
      double xh = __dmul_rn(__dsub_rn((double)xr[j], mu), inv);
      m1 = __dadd_rn(m1, g);
      m2 = __dadd_rn(m2, __dmul_rn(g, xh));
    }
    m1 = __ddiv_rn(block_sum_f64(m1), (double)d);
    m2 = __ddiv_rn(block_sum_f64(m2), (double)d);
    FOR_THREAD(j, d) {
      double g = __dmul_rn((double)dy[j], (double)gamma[j]);
      double xh = __dmul_rn(__dsub_rn((double)xr[j], mu), inv);
      double v = __dmul_rn(__dsub_rn(__dsub_rn(g, m1), __dmul_rn(xh, m2)), inv);
      dx[j] = __fadd_rn(dx[j], (float)v);
    }
  }
}

// ops.LayerNormBackward's dGamma += Σ_rows dOut·x̂ and dBeta += Σ_rows dOut,
// summed in float64 in row order as the CPU does (one thread per column);
// either output may be null (0) to skip it. The same bits as the CPU given
// the same statistics.
extern "C" __global__ void layernorm_backward_params(float* dGamma, float* dBeta, const float* dOut, const float* x,
                                                     const double* mean, const double* rstd, i64 rows, i64 d) {
  FOR_EACH(j, d) {
    double sg = 0, sb = 0;
    for (i64 r = 0; r < rows; r++) {
      double dy = (double)dOut[r * d + j];
      sb = __dadd_rn(sb, dy);
      if (dGamma) sg = __dadd_rn(sg, __dmul_rn(dy, __dmul_rn(__dsub_rn((double)x[r * d + j], mean[r]), rstd[r])));
    }
    if (dGamma) dGamma[j] = __fadd_rn(dGamma[j], (float)sg);
    if (dBeta) dBeta[j] = __fadd_rn(dBeta[j], (float)sb);
  }
}

// ---------------------------------------------------------------------------
// Attention. The products are cuBLAS (strided-batched) GEMMs; the scale
// 1/sqrt(dh) rides on their alpha as on the CPU. These are the softmax and
// the head layout.

// The softmax of ops.attendHead (softmaxUnnormalised): each row of x
// ([rows, cols]) becomes exp(x − max) by ops.expNeg, the same bits, and
// sums[r] its sum. The CPU sums in float32 (four partial sums, or the
// vector kernel's lanes); here a float64 tree rounded once, which is closer
// to exact: the two differ by at most the CPU's rounding error, (cols/4+2)
// float32 ulps of the sum, the test's bound. The context or probabilities
// are then normalised by scale_rows_inv.
extern "C" __global__ void softmax_rows(float* x, float* sums, i64 rows, i64 cols) {
  FOR_EACH_BLOCK(r, rows) {
    float* row = x + r * cols;
    float m = neg_inf_f32();
    FOR_THREAD(j, cols) if (row[j] > m) m = row[j];
    m = block_max_f32(m);
    double s = 0;
    FOR_THREAD(j, cols) {
      float e = exp_neg(__fsub_rn(row[j], m));
      row[j] = e;
      s = __dadd_rn(s, (double)e);
    }
    s = block_sum_f64(s);
    if (threadIdx.x == 0) sums[r] = (float)s;
  }
}

// x[r, j] *= 1/sums[r] for x [rows, cols]: the normalisation of the
// softmax's context (ctx of a head, rows of dh) and probabilities, as
// attendHead and MultiHeadAttentionTrain do it (the reciprocal rounded
// first). The same bits given the same sums.
extern "C" __global__ void scale_rows_inv(float* x, const float* sums, i64 rows, i64 cols) {
  FOR_EACH(i, rows * cols) x[i] = __fmul_rn(x[i], __fdiv_rn(1.0f, sums[i / cols]));
}

// ops.SoftmaxBackwardRow generalised as the attention backward uses it: per
// row r of dy and p ([rows, cols]), s = float32(Σ_t a[r,t]·b[r,t]) over rows
// of k values summed in float64, then dy = p·(dy − s). SoftmaxBackwardRow is
// a = dy, b = p, k = cols; MultiHeadAttentionBackward takes s from the
// head's dCtx and ctx (a, b [rows, dh], k = dh). One block per row; the dot
// is a float64 tree (the CPU's in index order), rounded to float32, so
// nearly always the same bits (test: 2 ulps of p·(|dy|+|s|)).
extern "C" __global__ void softmax_backward_rows(float* dy, const float* p, const float* a, const float* b, i64 rows,
                                                 i64 cols, i64 k) {
  FOR_EACH_BLOCK(r, rows) {
    double s = 0;
    FOR_THREAD(t, k) s = __dadd_rn(s, __dmul_rn((double)a[r * k + t], (double)b[r * k + t]));
    float sf = (float)block_sum_f64(s);  // every read of dy (a may be dy) precedes the writes
    FOR_THREAD(j, cols) dy[r * cols + j] = __fmul_rn(p[r * cols + j], __fsub_rn(dy[r * cols + j], sf));
  }
}

// Head split: in ([nseq, L, heads·dh], the projections' layout) to out
// ([nseq, heads, L, dh]), so each (sequence, head) is one contiguous [L, dh]
// matrix for strided-batched GEMMs (stride L·dh). The CPU needs no copy: it
// addresses the head in place with leading dimension d.
extern "C" __global__ void heads_split(float* out, const float* in, i64 nseq, i64 L, i64 heads, i64 dh) {
  FOR_EACH(i, nseq * heads * L * dh) {
    i64 t = i % dh, r = i / dh;
    i64 l = r % L;
    r /= L;
    i64 h = r % heads, b = r / heads;
    out[i] = in[((b * L + l) * heads + h) * dh + t];
  }
}

// Head merge, the inverse of heads_split: in ([nseq, heads, L, dh]) to out
// ([nseq, L, heads·dh]), the concatenated heads the output projection reads.
// Each is the other's backward.
extern "C" __global__ void heads_merge(float* out, const float* in, i64 nseq, i64 L, i64 heads, i64 dh) {
  FOR_EACH(i, nseq * L * heads * dh) {
    i64 t = i % dh, r = i / dh;
    i64 h = r % heads;
    r /= heads;
    i64 l = r % L, b = r / L;
    out[i] = in[((b * heads + h) * L + l) * dh + t];
  }
}

// ---------------------------------------------------------------------------
// Reshapes: permutations, gathered per output value. The backwards add, as
// the CPU's do. All the same bits.

// ops.PixelShuffle over nimg images: in [nimg, c·r², h, w] → out
// [nimg, c, h·r, w·r].
extern "C" __global__ void pixel_shuffle(float* out, const float* in, i64 nimg, i64 c, i64 h, i64 w, i64 r) {
  i64 ow = w * r, oh = h * r;
  FOR_EACH(i, nimg * c * oh * ow) {
    i64 X = i % ow, t = i / ow;
    i64 Y = t % oh;
    t /= oh;  // t = img·c + ch
    i64 y = Y / r, ii = Y % r, x = X / r, jj = X % r;
    out[i] = in[(((t * r + ii) * r + jj) * h + y) * w + x];
  }
}

// ops.PixelShuffleBackward: dIn ([nimg, c·r², h, w]) += the inverse shuffle
// of dOut ([nimg, c, h·r, w·r]).
extern "C" __global__ void pixel_shuffle_backward(float* dIn, const float* dOut, i64 nimg, i64 c, i64 h, i64 w,
                                                  i64 r) {
  i64 ow = w * r, oh = h * r;
  FOR_EACH(i, nimg * c * r * r * h * w) {
    i64 x = i % w, t = i / w;
    i64 y = t % h;
    t /= h;
    i64 jj = t % r;
    t /= r;
    i64 ii = t % r;
    t /= r;  // t = img·c + ch
    dIn[i] = __fadd_rn(dIn[i], dOut[(t * oh + y * r + ii) * ow + x * r + jj]);
  }
}

// token_src maps element i of the tokens of nimg images ([nimg,
// (h/p)·(w/p), c·p²], as ops.Unfold lays them out) to its index in the
// images ([nimg, c, h, w]).
__device__ __forceinline__ i64 token_src(i64 i, i64 c, i64 h, i64 w, i64 p) {
  i64 d = c * p * p, gw = w / p, ntok = (h / p) * gw;
  i64 f = i % d, t = i / d;
  i64 n = t % ntok, img = t / ntok;
  i64 ch = f / (p * p), ky = (f / p) % p, kx = f % p;
  i64 y = (n / gw) * p + ky, x = (n % gw) * p + kx;
  return ((img * c + ch) * h + y) * w + x;
}

// image_dst maps element i of nimg images ([nimg, c, h, w]) to its index in
// their tokens.
__device__ __forceinline__ i64 image_dst(i64 i, i64 c, i64 h, i64 w, i64 p) {
  i64 d = c * p * p, gw = w / p, ntok = (h / p) * gw;
  i64 x = i % w, t = i / w;
  i64 y = t % h;
  t /= h;
  i64 ch = t % c, img = t / c;
  return (img * ntok + (y / p) * gw + x / p) * d + ch * p * p + (y % p) * p + x % p;
}

// ops.Unfold over nimg images: in [nimg, c, h, w] → out [nimg, (h/p)·(w/p), c·p²].
extern "C" __global__ void unfold(float* out, const float* in, i64 nimg, i64 c, i64 h, i64 w, i64 p) {
  FOR_EACH(i, nimg * c * h * w) out[i] = in[token_src(i, c, h, w, p)];
}

// ops.Fold over nimg images: tokens [nimg, (h/p)·(w/p), c·p²] → out [nimg, c, h, w].
extern "C" __global__ void fold(float* out, const float* tokens, i64 nimg, i64 c, i64 h, i64 w, i64 p) {
  FOR_EACH(i, nimg * c * h * w) out[i] = tokens[image_dst(i, c, h, w, p)];
}

// ops.UnfoldBackward: dIn ([nimg, c, h, w]) += Fold(dTokens).
extern "C" __global__ void unfold_backward(float* dIn, const float* dTokens, i64 nimg, i64 c, i64 h, i64 w, i64 p) {
  FOR_EACH(i, nimg * c * h * w) dIn[i] = __fadd_rn(dIn[i], dTokens[image_dst(i, c, h, w, p)]);
}

// ops.FoldBackward: dTokens ([nimg, (h/p)·(w/p), c·p²]) += Unfold(dOut).
extern "C" __global__ void fold_backward(float* dTokens, const float* dOut, i64 nimg, i64 c, i64 h, i64 w, i64 p) {
  FOR_EACH(i, nimg * c * h * w) dTokens[i] = __fadd_rn(dTokens[i], dOut[token_src(i, c, h, w, p)]);
}

// ---------------------------------------------------------------------------
// Global sums, deterministic in two passes: a partial per IPT_CHUNK values
// (a float64 tree within the chunk), then sum_f64_ordered adds the partials
// in order on one thread, as train.GradNorm adds its chunks' sums.

// partial[c] = Σ x[i]² over chunk c of x ([n]), in float64: the first pass of
// the gradient norm (train.GradNorm, for ClipGrads). Within a chunk the CPU
// sums in index order: the norm agrees to about 1e-15 relative.
extern "C" __global__ void sum_squares(double* partial, const float* x, i64 n) {
  FOR_EACH_BLOCK(c, (n + IPT_CHUNK - 1) / IPT_CHUNK) {
    i64 lo = c * IPT_CHUNK, hi = min64(n, lo + IPT_CHUNK);
    double s = 0;
    for (i64 i = lo + threadIdx.x; i < hi; i += IPT_BLOCK) s = __dadd_rn(s, __dmul_rn((double)x[i], (double)x[i]));
    s = block_sum_f64(s);
    if (threadIdx.x == 0) partial[c] = s;
  }
}

// out[0] = Σ x[i] in index order on one thread: the second pass of the
// global sums (n is a few thousand partials). Launch with one block.
extern "C" __global__ void sum_f64_ordered(double* out, const double* x, i64 n) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    double s = 0;
    for (i64 i = 0; i < n; i++) s = __dadd_rn(s, x[i]);
    out[0] = s;
  }
}

// ---------------------------------------------------------------------------
// Losses (internal/train/loss.go).

// train.l1Loss's gradient and the first pass of its sum: dOut[i] = ±g (0
// where out[i] = target[i]), g = float32(weight/n) computed by the caller,
// and partial[c] = Σ |out − target| in float64 over chunk c. The loss is
// sum_f64_ordered(partial)/n; the CPU sums in index order (about 1e-15
// relative apart). dOut is the same bits.
extern "C" __global__ void l1_loss(float* dOut, double* partial, const float* out, const float* target, i64 n,
                                   float g) {
  FOR_EACH_BLOCK(c, (n + IPT_CHUNK - 1) / IPT_CHUNK) {
    i64 lo = c * IPT_CHUNK, hi = min64(n, lo + IPT_CHUNK);
    double s = 0;
    for (i64 i = lo + threadIdx.x; i < hi; i += IPT_BLOCK) {
      double diff = __dsub_rn((double)out[i], (double)target[i]);
      s = __dadd_rn(s, fabs(diff));
      dOut[i] = diff > 0 ? g : diff < 0 ? -g : 0.0f;
    }
    s = block_sum_f64(s);
    if (threadIdx.x == 0) partial[c] = s;
  }
}

// The contrastive loss's first step (train.contrastiveLoss): each token row
// of x ([rows, d]) divided by its norm, f = float32(x·(1/max(|x|, 1e-8))),
// the norm kept in norms ([rows] doubles). One block per row; |x|² is a
// float64 tree (the CPU's in index order): nearly always the same bits.
// Then G = F·Fᵀ is a cuBLAS GEMM.
extern "C" __global__ void l2_normalize_rows(float* f, double* norms, const float* x, i64 rows, i64 d) {
  FOR_EACH_BLOCK(r, rows) {
    const float* xr = x + r * d;
    double ss = 0;
    FOR_THREAD(j, d) ss = __dadd_rn(ss, __dmul_rn((double)xr[j], (double)xr[j]));
    double nrm = __dsqrt_rn(block_sum_f64(ss));
    if (nrm < 1e-8) nrm = 1e-8;  // normEps: an all-zero token gives zeros
    if (threadIdx.x == 0) norms[r] = nrm;
    double inv = __ddiv_rn(1.0, nrm);
    FOR_THREAD(j, d) f[r * d + j] = (float)__dmul_rn((double)xr[j], inv);
  }
}

// The contrastive loss's softmaxes, in place on G ([N·L, N·L] = F·Fᵀ): for
// row (j, i1) and each i2, the softmax over images k ≠ j of the logits
// G[j·L+i1, k·L+i2]/tau, in float64, its terms summed over k in order as on
// the CPU. The row's entries become the loss's gradient with respect to G,
// w·e_k/den for k ≠ j and −w at k = j (w = weight/(tau·N·L²), from the
// caller), and rowloss[row] = Σ_i2 (max + log den − z_j) (a float64 tree;
// the loss is sum_f64_ordered(rowloss)/(N·L²), about 1e-15 relative from
// the CPU's ordered sum). One block per row, a thread per i2. exp and log
// are the GPU's (within 1 ulp of float64, not Go's bits), so a gradient
// entry may differ by one float32 ulp where its value falls near a rounding
// boundary. Then symmetrize_grad and the GEMM dF = dG·F.
extern "C" __global__ void contrastive_softmax(float* g, double* rowloss, i64 N, i64 L, double tau, double w) {
  i64 n = N * L;
  FOR_EACH_BLOCK(r, n) {
    float* gr = g + r * n;
    i64 j = r / L;
    double part = 0;
    FOR_THREAD(i2, L) {
      double mx = neg_inf_f64();
      for (i64 k = 0; k < N; k++) {
        if (k == j) continue;
        double z = __ddiv_rn((double)gr[k * L + i2], tau);
        if (z > mx) mx = z;
      }
      double den = 0;
      for (i64 k = 0; k < N; k++) {
        if (k == j) continue;
        den = __dadd_rn(den, exp(__dsub_rn(__ddiv_rn((double)gr[k * L + i2], tau), mx)));
      }
      double zj = __ddiv_rn((double)gr[j * L + i2], tau);
      part = __dadd_rn(part, __dsub_rn(__dadd_rn(mx, log(den)), zj));
      for (i64 k = 0; k < N; k++) {
        float* e = gr + k * L + i2;
        if (k == j) {
          *e = (float)(-w);
        } else {
          double ez = exp(__dsub_rn(__ddiv_rn((double)*e, tau), mx));
          *e = (float)__ddiv_rn(__dmul_rn(w, ez), den);
        }
      }
    }
    part = block_sum_f64(part);
    if (threadIdx.x == 0) rowloss[r] = part;
  }
}

// dG + dGᵀ in place for the square g ([n, n]), the diagonal doubled: G was
// symmetric, so dF = (dG + dGᵀ)·F is one GEMM. One thread per entry; the one
// with i < k writes the pair. The same bits as the CPU.
extern "C" __global__ void symmetrize_grad(float* g, i64 n) {
  FOR_EACH(idx, n * n) {
    i64 i = idx / n, k = idx % n;
    if (i < k) {
      float s = __fadd_rn(g[i * n + k], g[k * n + i]);
      g[i * n + k] = s;
      g[k * n + i] = s;
    } else if (i == k) {
      g[idx] = __fmul_rn(g[idx], 2.0f);
    }
  }
}

// The normalisation's backward: dx += float32((df − f·(f·df))/|x|) per row
// of f and df ([rows, d], f from l2_normalize_rows, df = dG·F), norms from
// l2_normalize_rows. One block per row; f·df is a float64 tree (the CPU's
// in index order).
extern "C" __global__ void l2_normalize_rows_backward(float* dx, const float* f, const float* df,
                                                      const double* norms, i64 rows, i64 d) {
  FOR_EACH_BLOCK(r, rows) {
    const float *fr = f + r * d, *dr = df + r * d;
    double dot = 0;
    FOR_THREAD(j, d) dot = __dadd_rn(dot, __dmul_rn((double)fr[j], (double)dr[j]));
    dot = block_sum_f64(dot);
    double inv = __ddiv_rn(1.0, norms[r]);
    FOR_THREAD(j, d) {
      double v = __dmul_rn(__dsub_rn((double)dr[j], __dmul_rn((double)fr[j], dot)), inv);
      dx[r * d + j] = __fadd_rn(dx[r * d + j], (float)v);
    }
  }
}
