package ops

// Backend is a device that runs the network's ops: every op internal/ipt's
// inference forward and internal/train's network, its losses and its
// optimiser use, on buffers that only the backend's Alloc makes. CPU (Exec) is the implementation in
// this package and the reference; a GPU implements the same methods by
// queueing kernels.
//
// Buffers are []float32 from Alloc, and sub-slices of them; on a GPU they
// lie in memory both the host and the device can address (CUDA managed
// memory). Methods may return before their work is done: the host reads or
// writes a buffer's values directly only after Sync, and never while
// queued work may use it. The methods returning a float64 (the losses, the
// norm) wait for their result. Argument order, aliasing rules and the
// accumulate-into-gradients convention of the backwards are those of the
// reference each line names; unless said otherwise a method's reference is
// the package function of the same name (Add: Add, …) or, for the
// multi-threaded ones, the Exec method. The opstest package checks an
// implementation against them.
type Backend interface {
	// Memory.
	Alloc(n int) []float32 // n zeroed values
	Free(buf []float32)    // returns a buffer from Alloc (the whole of it); the CPU's does nothing: the GC frees
	Sync() error           // waits for queued work; a device error, sticky once it happened (the CPU's: nil)

	// Element-wise.
	Zero(x []float32)                      // x[i] = 0 (clear)
	Copy(dst, src []float32)               // dst[i] = src[i] (copy; same lengths)
	Scale(x []float32, f float32)          // x[i] *= f (Scale)
	Add(dst, src []float32)                // dst[i] += src[i] (Add)
	AddTo(dst, a, b []float32)             // dst[i] = a[i] + b[i] (AddTo)
	ReLU(x []float32)                      // x[i] = max(x[i], 0) (ReLU)
	AddBiasReLU(x, bias []float32)         // rows of x += bias, then ReLU (AddBiasReLU)
	ReLUBackwardTo(dst, dOut, y []float32) // dst = dOut where y > 0, else 0 (ReLUBackwardTo)

	// Layers; the backwards add into their gradient outputs and skip nil ones.

	// scratch length of Conv2d and Conv2dBackward (Conv2dScratch)
	Conv2dScratch(cin, h, w, k int) int
	// k×k conv, padding k/2, + bias (Exec.Conv2d)
	Conv2d(out, in []float32, cin, h, w int, weight, bias []float32, cout, k int, scratch []float32)
	// Conv2d's backward (Exec.Conv2dBackward)
	Conv2dBackward(dIn, dWeight, dBias, dOut, in []float32, cin, h, w int, weight []float32, cout, k int, scratch []float32)
	// out = x·Wᵀ + bias (Exec.Linear)
	Linear(out, x []float32, m, in int, weight, bias []float32, outDim int)
	// Linear's backward (Exec.LinearBackward)
	LinearBackward(dX, dWeight, dBias, dOut, x []float32, m, in int, weight []float32, outDim int)
	// per row of d (LayerNorm)
	LayerNorm(out, x []float32, m, d int, gamma, beta []float32, eps float64)
	// LayerNorm's backward (LayerNormBackward)
	LayerNormBackward(dX, dGamma, dBeta, dOut, x []float32, m, d int, gamma []float32, eps float64)
	// the inference attention's scratch for up to batch sequences, from Alloc (NewAttentionScratchWith)
	NewAttentionScratch(batch, lq, lk, d, heads int) *AttentionScratch
	// nn.MultiheadAttention without biases, for inference (Exec.MultiHeadAttention)
	MultiHeadAttention(out, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, s *AttentionScratch)
	// what the attention's forward keeps for its backward, from Alloc (NewAttentionCacheWith)
	NewAttentionCache(batch, lq, lk, d, heads int) *AttentionCache
	// the attention backward's scratch, from Alloc (NewAttentionGradWith)
	NewAttentionGrad(batch, lq, lk, d int) *AttentionGrad
	// nn.MultiheadAttention without biases, filling c (Exec.MultiHeadAttentionTrain)
	MultiHeadAttentionTrain(out, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, c *AttentionCache)
	// MultiHeadAttentionTrain's backward, reading c; g scratch (Exec.MultiHeadAttentionBackward)
	MultiHeadAttentionBackward(dXq, dXk, dXv, dInProj, dOutProj, dOut, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, c *AttentionCache, g *AttentionGrad)

	// Reshapes (one image or token matrix a call).
	PixelShuffle(out, in []float32, c, h, w, r int)           // [c·r², h, w] → [c, h·r, w·r] (PixelShuffle)
	PixelShuffleBackward(dIn, dOut []float32, c, h, w, r int) // dIn += unshuffled dOut (PixelShuffleBackward)
	Unfold(out, in []float32, c, h, w, p int)                 // [c, h, w] → p×p patch tokens (Unfold)
	UnfoldBackward(dIn, dTokens []float32, c, h, w, p int)    // dIn += folded dTokens (UnfoldBackward)
	Fold(out, tokens []float32, c, h, w, p int)               // tokens → [c, h, w] (Fold)
	FoldBackward(dTokens, dOut []float32, c, h, w, p int)     // dTokens += unfolded dOut (FoldBackward)

	// Losses: the value, and weight × its gradient.
	L1Loss(out, target, dOut []float32, weight float64) float64                                    // mean |out − target|; sets dOut (L1Loss)
	ContrastiveLoss(x, dx []float32, N, L, d int, tau, weight float64, f, df, g []float32) float64 // IPT's Eq. 5 on tokens x [N·L, d]; adds into dx; f, df, g scratch (Exec.ContrastiveLoss)

	// Optimiser.
	L2Norm(x []float32) float64                   // √Σx², float64, blocks of 2¹⁴ summed in order (L2Norm)
	AdamUpdate(p, g, m, v []float32, c AdamCoefs) // one Adam update (AdamUpdate)
}

// CPU is the CPU backend: an Exec, whose Threads sets the goroutines of the
// multi-threaded ops. Its buffers are Go slices; its ops are done when they
// return.
type CPU = Exec

var _ Backend = CPU{}

// Alloc returns make([]float32, n), on huge pages where the OS takes the
// hint and n is at least hugeAllocFloats.
func (Exec) Alloc(n int) []float32 {
	s := make([]float32, n)
	if n >= hugeAllocFloats {
		adviseHugePages(s)
	}
	return s
}

// hugeAllocFloats is the least Alloc asks huge pages for: 4 MiB, so that at
// least one whole 2 MiB page lies inside whatever the alignment.
const hugeAllocFloats = 1 << 20

// Free does nothing: the garbage collector frees.
func (Exec) Free([]float32) {}

// Sync returns nil: the CPU's ops are done when they return.
func (Exec) Sync() error { return nil }

// Zero is clear(x).
func (Exec) Zero(x []float32) { clear(x) }

// Copy is copy(dst, src).
func (Exec) Copy(dst, src []float32) { copy(dst, src) }

// Add is Add.
func (Exec) Add(dst, src []float32) { Add(dst, src) }

// AddTo is AddTo.
func (Exec) AddTo(dst, a, b []float32) { AddTo(dst, a, b) }

// ReLU is ReLU.
func (Exec) ReLU(x []float32) { ReLU(x) }

// AddBiasReLU is AddBiasReLU.
func (Exec) AddBiasReLU(x, bias []float32) { AddBiasReLU(x, bias) }

// ReLUBackwardTo is ReLUBackwardTo.
func (Exec) ReLUBackwardTo(dst, dOut, y []float32) { ReLUBackwardTo(dst, dOut, y) }

// Conv2dScratch is Conv2dScratch.
func (Exec) Conv2dScratch(cin, h, w, k int) int { return Conv2dScratch(cin, h, w, k) }

// NewAttentionScratch is NewAttentionScratch (heads does not change it:
// the CPU's runs one pair per thread at a time).
func (Exec) NewAttentionScratch(batch, lq, lk, d, heads int) *AttentionScratch {
	return NewAttentionScratch(batch, lq, lk, d)
}

// NewAttentionCache is NewAttentionCache.
func (Exec) NewAttentionCache(batch, lq, lk, d, heads int) *AttentionCache {
	return NewAttentionCache(batch, lq, lk, d, heads)
}

// NewAttentionGrad is NewAttentionGrad.
func (Exec) NewAttentionGrad(batch, lq, lk, d int) *AttentionGrad {
	return NewAttentionGrad(batch, lq, lk, d)
}

// PixelShuffle is PixelShuffle.
func (Exec) PixelShuffle(out, in []float32, c, h, w, r int) { PixelShuffle(out, in, c, h, w, r) }

// PixelShuffleBackward is PixelShuffleBackward.
func (Exec) PixelShuffleBackward(dIn, dOut []float32, c, h, w, r int) {
	PixelShuffleBackward(dIn, dOut, c, h, w, r)
}

// Unfold is Unfold.
func (Exec) Unfold(out, in []float32, c, h, w, p int) { Unfold(out, in, c, h, w, p) }

// UnfoldBackward is UnfoldBackward.
func (Exec) UnfoldBackward(dIn, dTokens []float32, c, h, w, p int) {
	UnfoldBackward(dIn, dTokens, c, h, w, p)
}

// Fold is Fold.
func (Exec) Fold(out, tokens []float32, c, h, w, p int) { Fold(out, tokens, c, h, w, p) }

// FoldBackward is FoldBackward.
func (Exec) FoldBackward(dTokens, dOut []float32, c, h, w, p int) {
	FoldBackward(dTokens, dOut, c, h, w, p)
}

// L1Loss is L1Loss.
func (Exec) L1Loss(out, target, dOut []float32, weight float64) float64 {
	return L1Loss(out, target, dOut, weight)
}
