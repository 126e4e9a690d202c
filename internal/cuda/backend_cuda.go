//go:build cuda

package cuda

// Backend: ops.Backend on a GPU, every op a few kernel launches (the
// kernels of internal/cuda/kernels) and cuBLAS GEMMs queued on one stream.
// It talks to the GPU through the device interface, so the tests run the
// very same code on the kernels' CPU emulator with ops.Sgemm standing in
// for cuBLAS (backend_emu_cuda_test.go): what is left to a GPU host is the
// Context under it.

import (
	"errors"
	"fmt"
	"math"

	"github.com/ipt-go/ipt/internal/cuda/kernels"
	"github.com/ipt-go/ipt/internal/ops"
)

// device is what the backend needs of a GPU: ctxDevice over a Context, or
// the tests' emulator. Buffers are managed-memory slices (floats) or
// device memory (alloc, for the float64 statistics and partial sums); the
// work is queued in order and done at synchronize.
type device interface {
	floats(n int) ([]float32, error) // n zeroed float32s of managed memory
	freeFloats(s []float32) error    // s from floats, no longer used by queued work
	alloc(n int) (DevicePtr, error)  // n float32s of device memory
	free(p DevicePtr) error          // p from alloc, no longer used by queued work
	copyOut(dst []float32, src DevicePtr) error
	// launch queues kernel k on grid blocks of kernels.BlockSize threads;
	// args are in k.Params order: []float32, DevicePtr, int64, float32, float64.
	launch(k *kernels.Kernel, grid int64, args []any) error
	sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error
	sgemmBatched(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC, batch int) error
	synchronize() error
	close() error
}

// Backend runs the training network's ops on a GPU (ops.Backend). Its
// buffers are managed memory, readable from Go after Sync. Errors are
// sticky: the first one is kept, later ops do nothing, and Sync (or the
// float64 results, as NaN) reports it. A Backend is for one goroutine at
// a time, as its Context.
type Backend struct {
	dev    device
	ctx    *Context // the GPU's; nil on the tests' emulator
	err    error
	kern   map[string]*kernels.Kernel
	allocs map[DevicePtr][]float32 // Alloc's buffers by address: Free takes whole ones
	// One workspace of managed memory and one of device doubles, grown on
	// demand and shared by every op: ops run in stream order, so one op's
	// temporaries are dead before the next op's kernels run.
	ws      []float32
	dbl     DevicePtr
	dblN    int                         // doubles at dbl
	filled  map[*ops.AttentionCache]int // the batch of each cache's last forward
	closeFn func() error
}

var _ ops.Backend = (*Backend)(nil)

// NewBackend opens GPU index, compiles the kernels for it with NVRTC and
// returns the backend, its GEMMs in math. Close releases it.
func NewBackend(index int, math Math) (*Backend, error) {
	c, err := Open(index, Options{Source: kernels.Source, Name: "kernels.cu", Flags: kernelFlags(), Math: math})
	if err != nil {
		return nil, err
	}
	b, err := newBackend(&ctxDevice{c: c, funcs: map[string]*Function{}})
	if err != nil {
		c.Close()
		return nil, err
	}
	b.ctx = c
	registerBackend(index, b)
	b.closeFn = func() error { unregisterBackend(index, b); return nil }
	return b, nil
}

// kernelFlags are kernels.Options less those Open always gives NVRTC (a
// repeated option is an error to it).
func kernelFlags() []string {
	var f []string
	for _, o := range kernels.Options {
		dup := false
		for _, p := range nvrtcOptions {
			dup = dup || o == p
		}
		if !dup {
			f = append(f, o)
		}
	}
	return f
}

func newBackend(dev device) (*Backend, error) {
	b := &Backend{dev: dev, kern: map[string]*kernels.Kernel{}, allocs: map[DevicePtr][]float32{}, filled: map[*ops.AttentionCache]int{}}
	for i := range kernels.Kernels {
		k := &kernels.Kernels[i]
		b.kern[k.Name] = k
	}
	return b, nil
}

// Context is the GPU the backend runs on (nil on the tests' emulator), for
// the NCCL communicator of data-parallel training.
func (b *Backend) Context() *Context { return b.ctx }

// Close waits for the queued work, frees the workspaces and the buffers
// still allocated, and closes the GPU. It returns the sticky error if
// there was one, else the first error of closing.
func (b *Backend) Close() error {
	if b.dev == nil {
		return b.err
	}
	errs := []error{b.dev.synchronize()}
	for _, s := range b.allocs {
		errs = append(errs, b.dev.freeFloats(s))
	}
	clear(b.allocs)
	if len(b.ws) > 0 {
		errs = append(errs, b.dev.freeFloats(b.ws))
	}
	errs = append(errs, b.dev.free(b.dbl))
	if b.closeFn != nil {
		errs = append(errs, b.closeFn())
	}
	errs = append(errs, b.dev.close())
	b.dev, b.ws, b.dbl = nil, nil, 0
	for _, err := range errs {
		b.fail(err)
	}
	err := b.err
	b.fail(errClosed) // every later op does nothing
	return err
}

var errClosed = errors.New("the backend is closed")

// fail keeps the first error.
func (b *Backend) fail(err error) {
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("GPU: %w", err)
	}
}

// Err is the sticky error, without waiting for the queued work.
func (b *Backend) Err() error { return b.err }

// ---------------------------------------------------------------------------
// Memory.

// Alloc returns n zeroed values of managed memory. After an error it
// returns Go memory, so the host code around keeps running to the Sync
// that reports the error (no op touches it: they all do nothing by then).
func (b *Backend) Alloc(n int) []float32 {
	if n <= 0 {
		return []float32{}
	}
	if b.err != nil || b.dev == nil {
		return make([]float32, n)
	}
	s, err := b.dev.floats(n)
	if err != nil {
		b.fail(fmt.Errorf("allocating %d values: %w", n, err))
		return make([]float32, n)
	}
	b.allocs[Ptr(s)] = s
	return s
}

// Free returns a buffer of Alloc (the whole of it); any other slice (empty,
// or Go memory Alloc returned after an error) is left to the GC.
func (b *Backend) Free(buf []float32) {
	if len(buf) == 0 || b.dev == nil {
		return
	}
	p := Ptr(buf)
	if s, ok := b.allocs[p]; !ok || len(s) != len(buf) {
		return
	}
	delete(b.allocs, p)
	b.fail(b.dev.freeFloats(buf))
}

// Sync waits for the queued work and returns the sticky error.
func (b *Backend) Sync() error {
	if b.err == nil && b.dev != nil {
		b.fail(b.dev.synchronize())
	}
	return b.err
}

// scratch returns n values of the workspace (contents undefined).
func (b *Backend) scratch(n int) []float32 {
	if len(b.ws) < n && b.err == nil {
		if len(b.ws) > 0 {
			b.fail(b.dev.freeFloats(b.ws)) // waits for the work still using it
			b.ws = nil
		}
		// Grown by half again, so a few growing batches do not reallocate
		// at every step; n alone if the half more does not fit.
		ws, err := b.dev.floats(n + n/2)
		if err != nil {
			ws, err = b.dev.floats(n)
		}
		if err != nil {
			b.fail(fmt.Errorf("allocating %d values of workspace: %w", n, err))
		}
		b.ws = ws
	}
	if b.err != nil {
		return make([]float32, n) // never reaches the GPU: the ops do nothing now
	}
	return b.ws[:n:n]
}

// doubles returns n float64s of device memory (contents undefined).
func (b *Backend) doubles(n int) DevicePtr {
	if b.dblN < n && b.err == nil {
		b.fail(b.dev.free(b.dbl))
		b.dbl, b.dblN = 0, 0
		p, err := b.dev.alloc(2 * n) // two float32s a double
		if err != nil {
			b.fail(fmt.Errorf("allocating %d doubles: %w", n, err))
			return 0
		}
		b.dbl, b.dblN = p, n
	}
	return b.dbl
}

// readDouble waits for the queued work and returns the double at p (NaN
// after an error).
func (b *Backend) readDouble(p DevicePtr) float64 {
	if b.Sync() != nil {
		return math.NaN()
	}
	var h [2]float32
	if err := b.dev.copyOut(h[:], p); err != nil {
		b.fail(err)
		return math.NaN()
	}
	return math.Float64frombits(uint64(math.Float32bits(h[0])) | uint64(math.Float32bits(h[1]))<<32)
}

// at is the address of double i of p.
func at(p DevicePtr, i int) DevicePtr { return p + DevicePtr(8*i) }

// ---------------------------------------------------------------------------
// Launches.

// run queues kernel name on args in its parameter order: buffers as
// []float32 (nil: a null pointer) or DevicePtr (double*), sizes as int,
// float and double as float32 and float64. The types are checked against
// the kernel's parameters, since a C int where an i64 belongs would be
// read as garbage rather than refused. An empty grid is skipped.
func (b *Backend) run(name string, args ...any) {
	if b.err != nil {
		return
	}
	k := b.kern[name]
	if k == nil {
		b.fail(fmt.Errorf("no kernel %s", name))
		return
	}
	if err := kernelArgs(k, args); err != nil {
		b.fail(err)
		return
	}
	grid, err := k.Grid(args...)
	if err != nil {
		b.fail(err)
		return
	}
	if grid > 0 {
		b.fail(b.dev.launch(k, grid, args))
	}
}

// kernelArgs checks args against k's parameters, turning ints into the
// int64 of an i64.
func kernelArgs(k *kernels.Kernel, args []any) error {
	if len(args) != len(k.Params) {
		return fmt.Errorf("kernel %s: %d arguments for %d parameters", k.Name, len(args), len(k.Params))
	}
	for i, p := range k.Params {
		ok := false
		switch a := args[i].(type) {
		case int:
			if ok = p.Kind == kernels.I64; ok {
				args[i] = int64(a)
			}
		case int64:
			ok = p.Kind == kernels.I64
		case []float32:
			ok = p.Kind == kernels.PtrF32
		case DevicePtr:
			ok = p.Kind == kernels.PtrF64
		case float32:
			ok = p.Kind == kernels.F32
		case float64:
			ok = p.Kind == kernels.F64
		}
		if !ok {
			return fmt.Errorf("kernel %s: argument %s is a %T, the parameter a %s", k.Name, p.Name, args[i], p.Kind)
		}
	}
	return nil
}

// gemm queues an Sgemm (ops.Sgemm's meaning).
func (b *Backend) gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, x []float32, ldb int, beta float32, c []float32, ldc int) {
	if b.err == nil {
		b.fail(b.dev.sgemm(transA, transB, m, n, k, alpha, a, lda, x, ldb, beta, c, ldc))
	}
}

// gemmBatched queues batch Sgemms on matrices strideA, strideB and strideC
// apart.
func (b *Backend) gemmBatched(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, x []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC, batch int) {
	if b.err == nil {
		b.fail(b.dev.sgemmBatched(transA, transB, m, n, k, alpha, a, lda, strideA, x, ldb, strideB, beta, c, ldc, strideC, batch))
	}
}

// ---------------------------------------------------------------------------
// Element-wise.

// Zero is fill_f32 with 0.
func (b *Backend) Zero(x []float32) { b.run("fill_f32", x, len(x), float32(0)) }

// Copy is copy_f32.
func (b *Backend) Copy(dst, src []float32) { b.run("copy_f32", dst, src[:len(dst)], len(dst)) }

// Scale is scale_f32.
func (b *Backend) Scale(x []float32, f float32) { b.run("scale_f32", x, len(x), f) }

// Add is add_f32.
func (b *Backend) Add(dst, src []float32) { b.run("add_f32", dst, src[:len(dst)], len(dst)) }

// AddTo is add_to_f32.
func (b *Backend) AddTo(dst, a, c []float32) {
	n := len(dst)
	b.run("add_to_f32", dst, a[:n], c[:n], n)
}

// ReLU is relu_f32.
func (b *Backend) ReLU(x []float32) { b.run("relu_f32", x, len(x)) }

// AddBiasReLU is add_bias_relu over the whole rows of x.
func (b *Backend) AddBiasReLU(x, bias []float32) {
	if len(bias) == 0 {
		return
	}
	rows := len(x) / len(bias)
	b.run("add_bias_relu", x[:rows*len(bias)], bias, rows, len(bias))
}

// ReLUBackwardTo is relu_backward_to.
func (b *Backend) ReLUBackwardTo(dst, dOut, y []float32) {
	n := len(dst)
	b.run("relu_backward_to", dst, dOut[:n], y[:n], n)
}

// ---------------------------------------------------------------------------
// Convolution.

// Conv2dScratch is the whole unrolled image (cin·k·k·h·w; none for 1×1):
// one im2col and one GEMM per image, where the CPU bands to stay in cache.
// Conv2d and its backward band too when given less.
func (b *Backend) Conv2dScratch(cin, h, w, k int) int {
	if k == 1 {
		return 0
	}
	return cin * k * k * h * w
}

// Conv2d is Exec.Conv2d: per band of rows (the whole image with
// Conv2dScratch's scratch) im2col and out[:, band] = weight·cols, then the
// bias.
func (b *Backend) Conv2d(out, in []float32, cin, h, w int, weight, bias []float32, cout, k int, scratch []float32) {
	hw, kk := h*w, cin*k*k
	if b.err != nil || hw == 0 || cout == 0 {
		return
	}
	out, in, weight = out[:cout*hw], in[:cin*hw], weight[:cout*kk]
	if k == 1 {
		b.gemm(false, false, cout, hw, kk, 1, weight, kk, in, hw, 0, out, hw)
	} else {
		if len(scratch) < kk*w {
			b.fail(fmt.Errorf("Conv2d: scratch has %d values, want at least %d", len(scratch), kk*w))
			return
		}
		band := min(h, len(scratch)/(kk*w))
		for y0 := 0; y0 < h; y0 += band {
			rows := min(band, h-y0)
			n := rows * w
			cols := scratch[:kk*n]
			b.run("im2col", cols, in, 1, cin, h, w, k, y0, rows)
			b.gemm(false, false, cout, n, kk, 1, weight, kk, cols, n, 0, out[y0*w:], hw)
		}
	}
	if bias != nil {
		b.run("add_channel_bias", out, bias[:cout], 1, cout, hw)
	}
}

// Conv2dBackward is Exec.Conv2dBackward: sum_channels for the bias; per
// band, dWeight += dOut[:, band]·colsᵀ straight into dWeight (GEMM beta 1:
// the CPU adds a transposed product instead, the same sum rounded
// otherwise), and dCols = weightᵀ·dOut[:, band] scattered by col2im.
func (b *Backend) Conv2dBackward(dIn, dWeight, dBias, dOut, in []float32, cin, h, w int, weight []float32, cout, k int, scratch []float32) {
	hw, kk := h*w, cin*k*k
	if b.err != nil || cout == 0 {
		return
	}
	dOut = dOut[:cout*hw]
	if dBias != nil {
		b.run("sum_channels", dBias[:cout], dOut, 1, cout, hw)
	}
	if dIn == nil && dWeight == nil || hw == 0 || cin == 0 {
		return
	}
	in, weight = in[:cin*hw], weight[:cout*kk]
	if dIn != nil {
		dIn = dIn[:cin*hw]
	}
	if dWeight != nil {
		dWeight = dWeight[:cout*kk]
	}
	if k == 1 {
		if dWeight != nil {
			b.gemm(false, true, cout, cin, hw, 1, dOut, hw, in, hw, 1, dWeight, cin)
		}
		if dIn != nil {
			b.gemm(true, false, cin, hw, cout, 1, weight, cin, dOut, hw, 1, dIn, hw)
		}
		return
	}
	if len(scratch) < kk*w {
		b.fail(fmt.Errorf("Conv2dBackward: scratch has %d values, want at least %d", len(scratch), kk*w))
		return
	}
	band := min(h, len(scratch)/(kk*w))
	for y0 := 0; y0 < h; y0 += band {
		rows := min(band, h-y0)
		n := rows * w
		cols := scratch[:kk*n]
		if dWeight != nil {
			b.run("im2col", cols, in, 1, cin, h, w, k, y0, rows)
			b.gemm(false, true, cout, kk, n, 1, dOut[y0*w:], hw, cols, n, 1, dWeight, kk)
		}
		if dIn != nil {
			b.gemm(true, false, kk, n, cout, 1, weight, kk, dOut[y0*w:], hw, 0, cols, n)
			b.run("col2im", dIn, cols, 1, cin, h, w, k, y0, rows)
		}
	}
}

// ---------------------------------------------------------------------------
// Linear layers and layer norm.

// Linear is Exec.Linear: a GEMM and add_row_bias.
func (b *Backend) Linear(out, x []float32, m, in int, weight, bias []float32, outDim int) {
	if m == 0 || outDim == 0 {
		return
	}
	out = out[:m*outDim]
	b.gemm(false, true, m, outDim, in, 1, x[:m*in], in, weight[:outDim*in], in, 0, out, outDim)
	if bias != nil {
		b.run("add_row_bias", out, bias[:outDim], m, outDim)
	}
}

// LinearBackward is Exec.LinearBackward: two GEMMs (beta 1) and sum_rows,
// which is ops.SumRows bit for bit.
func (b *Backend) LinearBackward(dX, dWeight, dBias, dOut, x []float32, m, in int, weight []float32, outDim int) {
	if m == 0 || outDim == 0 {
		return
	}
	dOut = dOut[:m*outDim]
	if dX != nil && in > 0 {
		b.gemm(false, false, m, in, outDim, 1, dOut, outDim, weight[:outDim*in], in, 1, dX[:m*in], in)
	}
	if dWeight != nil && in > 0 {
		b.gemm(true, false, outDim, in, m, 1, dOut, outDim, x[:m*in], in, 1, dWeight[:outDim*in], in)
	}
	if dBias != nil {
		b.run("sum_rows", dBias[:outDim], dOut, m, outDim)
	}
}

// LayerNorm is layernorm_forward, its row statistics kept in the doubles
// workspace (the backward recomputes them, as the CPU does).
func (b *Backend) LayerNorm(out, x []float32, m, d int, gamma, beta []float32, eps float64) {
	if m == 0 || d == 0 {
		return
	}
	st := b.doubles(2 * m)
	b.run("layernorm_forward", out[:m*d], st, at(st, m), x[:m*d], gamma[:d], beta[:d], m, d, eps)
}

// LayerNormBackward is ops.LayerNormBackward: the statistics of x again
// (layernorm_forward into the workspace: the same bits as the forward's),
// then layernorm_backward_dx and layernorm_backward_params, a nil output
// skipped.
func (b *Backend) LayerNormBackward(dX, dGamma, dBeta, dOut, x []float32, m, d int, gamma []float32, eps float64) {
	if m == 0 || d == 0 || dX == nil && dGamma == nil && dBeta == nil {
		return
	}
	x, dOut, gamma = x[:m*d], dOut[:m*d], gamma[:d]
	st := b.doubles(2 * m)
	mean, rstd := st, at(st, m)
	// beta is not read for the statistics; gamma stands in for it.
	b.run("layernorm_forward", b.scratch(m*d), mean, rstd, x, gamma, gamma, m, d, eps)
	if dX != nil {
		b.run("layernorm_backward_dx", dX[:m*d], dOut, x, gamma, mean, rstd, m, d)
	}
	if dGamma != nil || dBeta != nil {
		var dg, db []float32 // nil: a null pointer, skipped by the kernel
		if dGamma != nil {
			dg = dGamma[:d]
		}
		if dBeta != nil {
			db = dBeta[:d]
		}
		b.run("layernorm_backward_params", dg, db, dOut, x, mean, rstd, m, d)
	}
}

// ---------------------------------------------------------------------------
// Attention.
//
// The cache's buffers, in this backend's layout: Q, K and V head by head
// ([batch, heads, L, d/heads], heads_split of the projections, so every
// (sequence, head) is one contiguous matrix for the strided-batched
// GEMMs), the probabilities [batch·heads, lq, lk] normalised, and the
// context [batch·lq, d] with the heads merged (what the output projection
// and its weight gradient read). The cache's sums and the AttentionGrad's
// dP are not used: the softmax sums and the backward's temporaries live in
// the workspace, sized for every head at once.

// NewAttentionCache is ops.NewAttentionCacheWith on Alloc.
func (b *Backend) NewAttentionCache(batch, lq, lk, d, heads int) *ops.AttentionCache {
	return ops.NewAttentionCacheWith(b.Alloc, batch, lq, lk, d, heads)
}

// NewAttentionGrad is ops.NewAttentionGradWith on Alloc; its dCtx and its
// dQKVT (as [dQ; dK; dV] with the heads merged) are used.
func (b *Backend) NewAttentionGrad(batch, lq, lk, d int) *ops.AttentionGrad {
	return ops.NewAttentionGradWith(b.Alloc, batch, lq, lk, d)
}

// attentionShape checks a call against the cache's sizes (ops' own check
// is not exported).
func attentionShape(op string, c *ops.AttentionCache, batch, lq, lk, d, heads int) error {
	q, k, _, p, ctx, _ := c.Buffers()
	switch {
	case heads <= 0 || d%heads != 0:
		return fmt.Errorf("%s: %d heads do not divide d = %d", op, heads, d)
	case batch < 0 || len(q) < batch*lq*d || len(k) < batch*lk*d || len(p) < batch*heads*lq*lk || len(ctx) < batch*lq*d:
		return fmt.Errorf("%s: batch %d, lq %d, lk %d, d %d, heads %d on a smaller cache", op, batch, lq, lk, d, heads)
	}
	return nil
}

// MultiHeadAttentionTrain is Exec.MultiHeadAttentionTrain: the three input
// projections (GEMMs), split into heads; the scaled scores of every head
// in one strided-batched GEMM, softmax_rows (unnormalised, as the CPU's
// context product uses them), the context product, then the context and
// the probabilities normalised by scale_rows_inv; the heads merged and the
// output projection.
func (b *Backend) MultiHeadAttentionTrain(out, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, c *ops.AttentionCache) {
	if b.err != nil {
		return
	}
	if err := attentionShape("MultiHeadAttentionTrain", c, batch, lq, lk, d, heads); err != nil {
		b.fail(err)
		return
	}
	b.filled[c] = batch
	q, k, v, p, ctx, _ := c.Buffers()
	b.attend(out, xq, xk, xv, batch, lq, lk, d, heads, inProj, outProj, q, k, v, p, ctx, true)
}

// NewAttentionScratch is ops.NewAttentionScratchWith on Alloc, with scores
// for every (sequence, head) pair at once.
func (b *Backend) NewAttentionScratch(batch, lq, lk, d, heads int) *ops.AttentionScratch {
	return ops.NewAttentionScratchWith(b.Alloc, batch, lq, lk, d, batch*heads)
}

// MultiHeadAttention is Exec.MultiHeadAttention: MultiHeadAttentionTrain's
// forward in the scratch's buffers (the same layout), the probabilities
// left unnormalised since no backward reads them.
func (b *Backend) MultiHeadAttention(out, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, s *ops.AttentionScratch) {
	if b.err != nil {
		return
	}
	q, k, v, ctx, scores, _ := s.Buffers()
	switch {
	case heads <= 0 || d%heads != 0:
		b.fail(fmt.Errorf("MultiHeadAttention: %d heads do not divide d = %d", heads, d))
		return
	case batch < 0 || len(q) < batch*lq*d || len(k) < batch*lk*d || len(v) < batch*lk*d || len(ctx) < batch*lq*d || len(scores) < batch*heads*lq*lk:
		b.fail(fmt.Errorf("MultiHeadAttention: batch %d, lq %d, lk %d, d %d, heads %d on a smaller scratch", batch, lq, lk, d, heads))
		return
	}
	b.attend(out, xq, xk, xv, batch, lq, lk, d, heads, inProj, outProj, q, k, v, scores, ctx, false)
}

// attend is the attention's forward: q, k, v get the heads of the
// projections, p the probabilities (normalised if normP, else the
// unnormalised exponentials), ctx the merged context.
func (b *Backend) attend(out, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj, q, k, v, p, ctx []float32, normP bool) {
	nq, nk, dd, dh, bh := batch*lq, batch*lk, d*d, d/heads, batch*heads
	if nq == 0 || d == 0 {
		return
	}
	qh, kh, vh, P, ctx := q[:nq*d], k[:nk*d], v[:nk*d], p[:bh*lq*lk], ctx[:nq*d]
	scale := float32(1 / math.Sqrt(float64(dh)))
	big := max(nq, nk) * d
	ws := b.scratch(big + bh*lq)
	tmp, sums := ws[:big], ws[big:]
	for _, pr := range []struct {
		dst, x []float32
		L      int
		w      []float32
	}{{qh, xq, lq, inProj[:dd]}, {kh, xk, lk, inProj[dd : 2*dd]}, {vh, xv, lk, inProj[2*dd : 3*dd]}} {
		n := batch * pr.L
		b.gemm(false, true, n, d, d, 1, pr.x[:n*d], d, pr.w, d, 0, tmp[:n*d], d)
		b.run("heads_split", pr.dst, tmp[:n*d], batch, pr.L, heads, dh)
	}
	b.gemmBatched(false, true, lq, lk, dh, scale, qh, dh, lq*dh, kh, dh, lk*dh, 0, P, lk, lq*lk, bh)
	b.run("softmax_rows", P, sums, bh*lq, lk)
	ctxh := tmp[:nq*d] // the projections are split: tmp is free
	b.gemmBatched(false, false, lq, dh, lk, 1, P, lk, lq*lk, vh, dh, lk*dh, 0, ctxh, dh, lq*dh, bh)
	b.run("scale_rows_inv", ctxh, sums, bh*lq, dh)
	if normP {
		b.run("scale_rows_inv", P, sums, bh*lq, lk)
	}
	b.run("heads_merge", ctx, ctxh, batch, lq, heads, dh)
	b.gemm(false, true, nq, d, d, 1, ctx, d, outProj[:dd], d, 0, out[:nq*d], d)
}

// MultiHeadAttentionBackward is Exec.MultiHeadAttentionBackward, head by
// head in strided-batched GEMMs on the cache's split Q, K, V and P:
//
//	dOutProj += dOutᵀ·ctx, dCtx = dOut·Wout, split into heads
//	dV_h = P_hᵀ·dCtx_h
//	dS_h = dCtx_h·V_hᵀ, then softmax_backward_rows with rowsum(dCtx_h ⊙ ctx_h)
//	dQ_h = scale·dS_h·K_h, dK_h = scale·dS_hᵀ·Q_h
//	merged, then dX += dY·W and dW += dYᵀ·x for each of q, k, v
//
// Outputs that alias (one slice for all three dX in the encoder) each get
// their own accumulating GEMM, in stream order, so each adds its part; a
// nil output is skipped, with what only it needs.
func (b *Backend) MultiHeadAttentionBackward(dXq, dXk, dXv, dInProj, dOutProj, dOut, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, c *ops.AttentionCache, g *ops.AttentionGrad) {
	if b.err != nil {
		return
	}
	if err := attentionShape("MultiHeadAttentionBackward", c, batch, lq, lk, d, heads); err != nil {
		b.fail(err)
		return
	}
	if f, ok := b.filled[c]; !ok || f != batch {
		b.fail(fmt.Errorf("MultiHeadAttentionBackward: batch %d on a cache not filled by a forward of that batch", batch))
		return
	}
	nq, nk, dd, dh, bh := batch*lq, batch*lk, d*d, d/heads, batch*heads
	if nq == 0 || d == 0 {
		return
	}
	q, k, v, p, ctx, _ := c.Buffers()
	qh, kh, vh, P, ctx := q[:nq*d], k[:nk*d], v[:nk*d], p[:bh*lq*lk], ctx[:nq*d]
	dOut = dOut[:nq*d]
	if dOutProj != nil {
		b.gemm(true, false, d, d, nq, 1, dOut, d, ctx, d, 1, dOutProj[:dd], d)
	}
	needQ, needK, needV := dXq != nil || dInProj != nil, dXk != nil || dInProj != nil, dXv != nil || dInProj != nil
	if !needQ && !needK && !needV {
		return
	}
	gCtx, gQKV, _ := g.Buffers()
	if len(gCtx) < nq*d || len(gQKV) < (nq+2*nk)*d {
		b.fail(fmt.Errorf("MultiHeadAttentionBackward: batch %d, lq %d, lk %d, d %d on a smaller AttentionGrad", batch, lq, lk, d))
		return
	}
	dCtx := gCtx[:nq*d]
	b.gemm(false, false, nq, d, d, 1, dOut, d, outProj[:dd], d, 0, dCtx, d)

	scale := float32(1 / math.Sqrt(float64(dh)))
	ws := b.scratch(3*nq*d + 2*nk*d + bh*lq*lk)
	cut := func(n int) []float32 { s := ws[:n:n]; ws = ws[n:]; return s }
	dCtxh, ctxh, dQh, dKh, dVh, dS := cut(nq*d), cut(nq*d), cut(nq*d), cut(nk*d), cut(nk*d), cut(bh*lq*lk)
	b.run("heads_split", dCtxh, dCtx, batch, lq, heads, dh)
	if needV {
		b.gemmBatched(true, false, lk, dh, lq, 1, P, lk, lq*lk, dCtxh, dh, lq*dh, 0, dVh, dh, lk*dh, bh)
	}
	if needQ || needK {
		b.run("heads_split", ctxh, ctx, batch, lq, heads, dh)
		b.gemmBatched(false, true, lq, lk, dh, 1, dCtxh, dh, lq*dh, vh, dh, lk*dh, 0, dS, lk, lq*lk, bh)
		b.run("softmax_backward_rows", dS, P, dCtxh, ctxh, bh*lq, lk, dh)
		if needQ {
			b.gemmBatched(false, false, lq, dh, lk, scale, dS, lk, lq*lk, kh, dh, lk*dh, 0, dQh, dh, lq*dh, bh)
		}
		if needK {
			b.gemmBatched(true, false, lk, dh, lq, scale, dS, lk, lq*lk, qh, dh, lq*dh, 0, dKh, dh, lk*dh, bh)
		}
	}
	merged := gQKV[:(nq+2*nk)*d]
	for i, pt := range []struct {
		need   bool
		dX, x  []float32
		split  []float32
		L      int
		merged []float32
	}{
		{needQ, dXq, xq, dQh, lq, merged[:nq*d]},
		{needK, dXk, xk, dKh, lk, merged[nq*d : (nq+nk)*d]},
		{needV, dXv, xv, dVh, lk, merged[(nq+nk)*d:]},
	} {
		if !pt.need {
			continue
		}
		n := batch * pt.L
		b.run("heads_merge", pt.merged, pt.split, batch, pt.L, heads, dh)
		w := inProj[i*dd : (i+1)*dd]
		if pt.dX != nil {
			b.gemm(false, false, n, d, d, 1, pt.merged, d, w, d, 1, pt.dX[:n*d], d)
		}
		if dInProj != nil {
			b.gemm(true, false, d, d, n, 1, pt.merged, d, pt.x[:n*d], d, 1, dInProj[i*dd:(i+1)*dd], d)
		}
	}
}

// ---------------------------------------------------------------------------
// Reshapes: one image (or its tokens) a call.

// PixelShuffle is pixel_shuffle.
func (b *Backend) PixelShuffle(out, in []float32, c, h, w, r int) {
	n := c * r * r * h * w
	b.run("pixel_shuffle", out[:n], in[:n], 1, c, h, w, r)
}

// PixelShuffleBackward is pixel_shuffle_backward.
func (b *Backend) PixelShuffleBackward(dIn, dOut []float32, c, h, w, r int) {
	n := c * r * r * h * w
	b.run("pixel_shuffle_backward", dIn[:n], dOut[:n], 1, c, h, w, r)
}

// Unfold is unfold.
func (b *Backend) Unfold(out, in []float32, c, h, w, p int) {
	n := c * h * w
	b.run("unfold", out[:n], in[:n], 1, c, h, w, p)
}

// UnfoldBackward is unfold_backward.
func (b *Backend) UnfoldBackward(dIn, dTokens []float32, c, h, w, p int) {
	n := c * h * w
	b.run("unfold_backward", dIn[:n], dTokens[:n], 1, c, h, w, p)
}

// Fold is fold.
func (b *Backend) Fold(out, tokens []float32, c, h, w, p int) {
	n := c * h * w
	b.run("fold", out[:n], tokens[:n], 1, c, h, w, p)
}

// FoldBackward is fold_backward.
func (b *Backend) FoldBackward(dTokens, dOut []float32, c, h, w, p int) {
	n := c * h * w
	b.run("fold_backward", dTokens[:n], dOut[:n], 1, c, h, w, p)
}

// ---------------------------------------------------------------------------
// Losses and the optimiser. The global sums are two passes (a float64
// partial per chunk, then the partials in order), so they do not depend on
// the grid; the result is read after a Sync.

// L1Loss is l1_loss and sum_f64_ordered.
func (b *Backend) L1Loss(out, target, dOut []float32, weight float64) float64 {
	n := len(out)
	chunks := (n + kernels.Chunk - 1) / kernels.Chunk
	part := b.doubles(chunks + 1)
	sum := at(part, chunks)
	b.run("l1_loss", dOut[:n], part, out, target[:n], n, float32(weight/float64(n)))
	b.run("sum_f64_ordered", sum, part, chunks)
	return b.readDouble(sum) / float64(n)
}

// ContrastiveLoss is Exec.ContrastiveLoss: l2_normalize_rows, G = F·Fᵀ,
// contrastive_softmax (the gradient with respect to G, in place, and each
// row's loss), symmetrize_grad, dF = dG·F and l2_normalize_rows_backward
// into dx; the loss is the rows' sum in order.
func (b *Backend) ContrastiveLoss(x, dx []float32, N, L, d int, tau, weight float64, f, df, g []float32) float64 {
	rows := N * L
	if N < 2 || L == 0 {
		b.fail(fmt.Errorf("ContrastiveLoss: %d images of %d tokens: want at least 2 and 1", N, L))
		return math.NaN()
	}
	x, dx, f, df, g = x[:rows*d], dx[:rows*d], f[:rows*d], df[:rows*d], g[:rows*rows]
	norms := b.doubles(2*rows + 1)
	rowLoss, sum := at(norms, rows), at(norms, 2*rows)
	b.run("l2_normalize_rows", f, norms, x, rows, d)
	b.gemm(false, true, rows, rows, d, 1, f, d, f, d, 0, g, rows)
	b.run("contrastive_softmax", g, rowLoss, N, L, tau, weight/(tau*float64(N*L*L)))
	b.run("symmetrize_grad", g, rows)
	b.gemm(false, false, rows, d, rows, 1, g, rows, f, d, 0, df, d)
	b.run("l2_normalize_rows_backward", dx, f, df, norms, rows, d)
	b.run("sum_f64_ordered", sum, rowLoss, rows)
	return b.readDouble(sum) / float64(N*L*L)
}

// L2Norm is sum_squares and sum_f64_ordered: ops.L2Norm's chunks, each
// summed as a tree rather than in order (about 1e-15 relative apart).
func (b *Backend) L2Norm(x []float32) float64 {
	n := len(x)
	chunks := (n + kernels.Chunk - 1) / kernels.Chunk
	part := b.doubles(chunks + 1)
	sum := at(part, chunks)
	b.run("sum_squares", part, x, n)
	b.run("sum_f64_ordered", sum, part, chunks)
	return math.Sqrt(b.readDouble(sum))
}

// AdamUpdate is adam_update, ops.AdamUpdate bit for bit.
func (b *Backend) AdamUpdate(p, g, m, v []float32, c ops.AdamCoefs) {
	n := len(p)
	b.run("adam_update", p, g[:n], m[:n], v[:n], n, c.B1, c.C1, c.B2, c.C2, c.BC2, c.Eps, c.Step)
}

// owns reports whether buf lies within one of Alloc's buffers (memory the
// GPU addresses).
func (b *Backend) owns(buf []float32) bool {
	p, end := Ptr(buf), Ptr(buf)+DevicePtr(4*len(buf))
	for start, s := range b.allocs {
		if start <= p && end <= start+DevicePtr(4*len(s)) {
			return true
		}
	}
	return false
}
