package ops

import (
	"math"
	"sync"
)

// AdamCoefs are the float32 constants of one Adam update (see AdamUpdate):
// β1, 1−β1, β2, 1−β2, √(1−β2ᵗ), ε and the step lr/(1−β1ᵗ), in the order
// the assembly kernels read them.
type AdamCoefs struct {
	B1, C1, B2, C2, BC2, Eps, Step float32
}

// AdamUpdate makes one Adam update of p from the gradients g and the moments
// m and v (all of len(p)), each operation rounded to float32 and none fused:
//
//	m[i] = β1·m[i] + (1−β1)·g[i]
//	v[i] = β2·v[i] + ((1−β2)·g[i])·g[i]
//	p[i] -= (step·m[i]) / (√v[i]/√(1−β2ᵗ) + ε)
//
// The vector kernels give the same bits as adamUpdateGo, the reference.
func AdamUpdate(p, g, m, v []float32, c AdamCoefs) { activeKernel.Load().adam(p, g, m, v, c) }

// adamUpdateGo is AdamUpdate in Go. The explicit conversions stop Go fusing
// a multiply and an add into one FMA (which it does on arm64). The square
// root is taken in float64 and rounded: for a float32 x that equals the
// correctly rounded float32 square root (53 ≥ 2·24+2 bits, so the double
// rounding is innocuous), which is what VSQRTPS computes.
func adamUpdateGo(p, g, m, v []float32, c AdamCoefs) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i := range p {
		gi := g[i]
		mi := float32(c.B1*m[i]) + float32(c.C1*gi)
		vi := float32(c.B2*v[i]) + float32(float32(c.C2*gi)*gi)
		m[i], v[i] = mi, vi
		denom := float32(float32(math.Sqrt(float64(vi)))/c.BC2) + c.Eps
		p[i] -= float32(float32(c.Step*mi) / denom)
	}
}

// adamChunk is the slice of parameters one goroutine updates at a time
// (Exec.AdamUpdate, Exec.Scale).
const adamChunk = 1 << 16

// AdamUpdate is AdamUpdate on up to e.Threads goroutines, in chunks of 2¹⁶
// values: elements are independent, so the bits do not depend on threads.
func (e Exec) AdamUpdate(p, g, m, v []float32, c AdamCoefs) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	parallelChunks(len(p), adamChunk, e.threads(), func(lo, hi int) {
		AdamUpdate(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], c)
	})
}

// normChunk is the block whose squares are summed on their own before the
// block sums are added in order: the norm is the same for any threads.
const normChunk = 1 << 14

// L2Norm is √Σ x[i]², the squares summed in float64: in blocks of 2¹⁴
// values, each summed in index order, then the block sums in order.
func L2Norm(x []float32) float64 { return Exec{Threads: 1}.L2Norm(x) }

// L2Norm is L2Norm with the blocks on up to e.Threads goroutines (the same
// bits on any number). A block's sum is a chain of dependent adds, so four
// blocks are summed side by side where four whole ones are at hand.
func (e Exec) L2Norm(x []float32) float64 {
	sums := make([]float64, (len(x)+normChunk-1)/normChunk)
	parallelChunks(len(x), 4*normChunk, e.threads(), func(lo, hi int) {
		if hi-lo == 4*normChunk {
			b := x[lo:hi]
			s := sumSquares4(b[:normChunk], b[normChunk:2*normChunk], b[2*normChunk:3*normChunk], b[3*normChunk:])
			copy(sums[lo/normChunk:], s[:])
			return
		}
		for ; lo < hi; lo += normChunk {
			s := 0.0
			for _, v := range x[lo:min(hi, lo+normChunk)] {
				s += float64(v) * float64(v)
			}
			sums[lo/normChunk] = s
		}
	})
	total := 0.0
	for _, s := range sums {
		total += s
	}
	return math.Sqrt(total)
}

// sumSquares4 returns Σ v² of each of four blocks of one length, each
// summed in index order as L2Norm's one-block loop does.
func sumSquares4(x0, x1, x2, x3 []float32) [4]float64 {
	x1, x2, x3 = x1[:len(x0)], x2[:len(x0)], x3[:len(x0)]
	var s0, s1, s2, s3 float64
	for j, v := range x0 {
		s0 += float64(v) * float64(v)
		s1 += float64(x1[j]) * float64(x1[j])
		s2 += float64(x2[j]) * float64(x2[j])
		s3 += float64(x3[j]) * float64(x3[j])
	}
	return [4]float64{s0, s1, s2, s3}
}

// Scale computes x[i] *= f (in the kernel's scale).
func Scale(x []float32, f float32) { activeKernel.Load().scale(x, f) }

// scaleGo is Scale in Go, the reference for the kernels' scale.
func scaleGo(x []float32, f float32) {
	for i := range x {
		x[i] *= f
	}
}

// Scale is Scale on up to e.Threads goroutines.
func (e Exec) Scale(x []float32, f float32) {
	parallelChunks(len(x), adamChunk, e.threads(), func(lo, hi int) { Scale(x[lo:hi], f) })
}

// parallelChunks runs f over [0, n) in chunks of size on up to threads
// goroutines.
func parallelChunks(n, size, threads int, f func(lo, hi int)) {
	chunks := (n + size - 1) / size
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
