package train

import (
	"fmt"
	"math"
	"sync"

	"github.com/ipt-go/ipt/internal/ops"
)

// Adam is torch.optim.Adam (no weight decay, no amsgrad) over one flat
// parameter block: M and V are the first and second moments, T the number
// of updates taken.
type Adam struct {
	Beta1, Beta2, Eps float64
	M, V              []float32
	T                 int
}

// NewAdam returns Adam with β 0.9/0.999 and ε 1e-8 for n parameters.
func NewAdam(n int) *Adam {
	return &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, M: make([]float32, n), V: make([]float32, n)}
}

// adamChunk is the slice of parameters one goroutine updates at a time.
const adamChunk = 1 << 16

// Step makes update T+1 with learning rate lr. The bias corrections are
// computed in float64 and rounded to float32 once, as PyTorch passes them
// as Python floats to float32 kernels; then per element, each operation
// rounded to float32 and none fused (ops.AdamUpdate, vectorised where the
// CPU allows, with the same bits as its Go loop):
//
//	m = β1·m + (1−β1)·g
//	v = β2·v + ((1−β2)·g)·g
//	p = p − (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + ε)
//
// Elements are independent, so the result does not depend on threads.
func (a *Adam) Step(params, grads []float32, lr float64, threads int) error {
	if len(params) != len(grads) || len(params) != len(a.M) || len(params) != len(a.V) {
		return fmt.Errorf("adam: %d params, %d grads, %d/%d moments", len(params), len(grads), len(a.M), len(a.V))
	}
	a.T++
	t := float64(a.T)
	c := ops.AdamCoefs{
		B1: float32(a.Beta1), C1: float32(1 - a.Beta1),
		B2: float32(a.Beta2), C2: float32(1 - a.Beta2),
		BC2:  float32(math.Sqrt(1 - math.Pow(a.Beta2, t))),
		Eps:  float32(a.Eps),
		Step: float32(lr / (1 - math.Pow(a.Beta1, t))),
	}
	parallelChunks(len(params), adamChunk, threads, func(lo, hi int) {
		ops.AdamUpdate(params[lo:hi], grads[lo:hi], a.M[lo:hi], a.V[lo:hi], c)
	})
	return nil
}

// parallelChunks runs f over [0, n) in chunks of size on up to threads
// goroutines (0: one per chunk up to 8).
func parallelChunks(n, size, threads int, f func(lo, hi int)) {
	chunks := (n + size - 1) / size
	if threads <= 0 {
		threads = 8
	}
	threads = min(threads, chunks)
	if threads <= 1 {
		for lo := 0; lo < n; lo += size {
			f(lo, min(n, lo+size))
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, chunks)
	for c := range chunks {
		next <- c
	}
	close(next)
	for range threads {
		wg.Go(func() {
			for c := range next {
				f(c*size, min(n, (c+1)*size))
			}
		})
	}
	wg.Wait()
}

// normChunk is the block whose squares are summed on their own before the
// block sums are added in order: the global norm is the same for any threads.
const normChunk = 1 << 14

// GradNorm is the global L2 norm of g, summed in float64.
func GradNorm(g []float32, threads int) float64 {
	sums := make([]float64, (len(g)+normChunk-1)/normChunk)
	parallelChunks(len(g), normChunk, threads, func(lo, hi int) {
		s := 0.0
		for _, v := range g[lo:hi] {
			s += float64(v) * float64(v)
		}
		sums[lo/normChunk] = s
	})
	total := 0.0
	for _, s := range sums {
		total += s
	}
	return math.Sqrt(total)
}

// ClipGrads scales g so that its global norm is at most maxNorm, as the
// authors' MindSpore code (ClipByGlobalNorm) does: g·maxNorm/max(norm,
// maxNorm), the factor rounded to float32 once. maxNorm 0 disables it. It
// returns the norm before clipping.
func ClipGrads(g []float32, maxNorm float64, threads int) float64 {
	norm := GradNorm(g, threads)
	if maxNorm <= 0 || norm <= maxNorm {
		return norm
	}
	f := float32(maxNorm / norm)
	parallelChunks(len(g), adamChunk, threads, func(lo, hi int) {
		for i := range g[lo:hi] {
			g[lo+i] *= f
		}
	})
	return norm
}
