package ops

import (
	"math"
	"sync"
)

// L1Loss returns mean |out − target| (PyTorch's L1Loss, mean reduction) and
// sets dOut to weight times its gradient, weight·sign(out − target)/len(out)
// (0 where they are equal, as torch.sign). The sum is in float64, in index
// order.
func L1Loss(out, target, dOut []float32, weight float64) float64 {
	var sum float64
	g := float32(weight / float64(len(out)))
	target, dOut = target[:len(out)], dOut[:len(out)]
	for i, o := range out {
		diff := float64(o) - float64(target[i])
		sum += math.Abs(diff)
		switch {
		case diff > 0:
			dOut[i] = g
		case diff < 0:
			dOut[i] = -g
		default:
			dOut[i] = 0
		}
	}
	return sum / float64(len(out))
}

// normEps bounds the norm a token is divided by (as torch's cosine
// similarity bounds it), so an all-zero token gives zeros, not NaN.
const normEps = 1e-8

// ContrastiveLoss is Exec{}.ContrastiveLoss.
func ContrastiveLoss(x, dx []float32, N, L, d int, tau, weight float64, f, df, g []float32) float64 {
	return Exec{}.ContrastiveLoss(x, dx, N, L, d, tau, weight, f, df, g)
}

// ContrastiveLoss computes the IPT paper's Eq. 5 on the tokens x ([N·L, d],
// N images of L patch features each, image-major):
//
//	l(j, i1, i2) = −log( exp(s(j i1, j i2)) / Σ_{k≠j} exp(s(j i1, k i2)) )
//	loss = 1/(N·L²) Σ_j Σ_i1 Σ_i2 l(j, i1, i2)
//
// with s the cosine similarity divided by tau, and returns it. It adds
// weight times the gradient with respect to x into dx. N must be at least 2
// (the sum over k ≠ j is empty otherwise).
//
// The tokens are normalised into F (rows f = x/|x|, the norm in float64);
// every similarity is an entry of G = F·Fᵀ, one GEMM; the gradient with
// respect to G (softmax over k, minus one at k = j) becomes dF = (dG +
// dGᵀ)·F, a second GEMM, then goes through the normalisation: dx = (df −
// f·(f·df))/|x|. f, df ([N·L, d]) and g ([N·L, N·L]) are scratch; the
// softmaxes are taken in float64. The result is the same on any e.Threads.
func (e Exec) ContrastiveLoss(x, dx []float32, N, L, d int, tau, weight float64, f, df, g []float32) float64 {
	rows := N * L
	f, df, g = f[:rows*d], df[:rows*d], g[:rows*rows]
	threads := e.threads()
	norms := make([]float64, rows)
	parallelChunks(rows, chunkRows(d), threads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := x[i*d : (i+1)*d]
			var ss float64
			for _, v := range row {
				ss += float64(v) * float64(v)
			}
			nrm := max(math.Sqrt(ss), normEps)
			norms[i] = nrm
			inv := 1 / nrm
			for j, v := range row {
				f[i*d+j] = float32(float64(v) * inv)
			}
		}
	})
	e.Sgemm(false, true, rows, rows, d, 1, f, d, f, d, 0, g, rows)

	// Each (j, i1, i2) is a softmax over the other images k ≠ j of the
	// logits g[j·L+i1, k·L+i2]/tau. The gradients overwrite g entry by
	// entry once read: every entry belongs to exactly one (j, i1, i2). The
	// L softmaxes of a row of g are taken together, image by image, so the
	// row is read in order (a softmax alone strides L through it); each
	// still sums its terms over k in order. Rows of g are independent, so
	// they are shared out between threads; each loss term is kept and the
	// terms are added in (j, i1, i2) order at the end, so the sum's bits do
	// not depend on the threads.
	w := weight / (tau * float64(N*L*L))
	tp := lossTermsPool.Get().(*[]float64)
	defer lossTermsPool.Put(tp)
	if cap(*tp) < N*L*L {
		*tp = make([]float64, N*L*L)
	}
	terms := (*tp)[:N*L*L]
	parallelChunks(rows, chunkRows(rows), threads, func(lo, hi int) {
		z := make([]float64, N*L) // z[k·L+i2]: logit, then its exponential
		mx := make([]float64, L)  // the softmaxes' maxima over k ≠ j
		den := make([]float64, L) // and their denominators
		for r := lo; r < hi; r++ {
			j := r / L
			grow := g[r*rows : (r+1)*rows]
			for i2 := range mx {
				mx[i2] = math.Inf(-1)
			}
			for k := range N {
				zk, gk := z[k*L:(k+1)*L], grow[k*L:(k+1)*L]
				for i2, v := range gk {
					zk[i2] = float64(v) / tau
				}
				if k != j {
					for i2, v := range zk {
						mx[i2] = max(mx[i2], v)
					}
				}
			}
			clear(den)
			for k := range N {
				if k == j {
					continue
				}
				zk := z[k*L : (k+1)*L]
				for i2, v := range zk {
					ez := math.Exp(v - mx[i2])
					zk[i2] = ez
					den[i2] += ez
				}
			}
			zj, tr := z[j*L:(j+1)*L], terms[r*L:(r+1)*L]
			for i2, m := range mx {
				tr[i2] = m + math.Log(den[i2]) - zj[i2]
			}
			for k := range N {
				gk := grow[k*L : (k+1)*L]
				if k == j {
					for i2 := range gk {
						gk[i2] = float32(-w)
					}
					continue
				}
				zk := z[k*L : (k+1)*L]
				for i2, ez := range zk {
					gk[i2] = float32(w * ez / den[i2])
				}
			}
		}
	})
	var sum float64
	for _, t := range terms {
		sum += t
	}
	// G was symmetric, so dF = (dG + dGᵀ)·F; symmetrise dG in place, in
	// blocks so that the transposed reads stay in cache (each pair is
	// touched once, by the thread of its row block: the order does not
	// matter).
	const blk = 64
	parallelChunks((rows+blk-1)/blk, 1, threads, func(b0, b1 int) {
		for ib := b0 * blk; ib < min(b1*blk, rows); ib += blk {
			for kb := ib; kb < rows; kb += blk {
				for i := ib; i < min(ib+blk, rows); i++ {
					for k := max(kb, i+1); k < min(kb+blk, rows); k++ {
						s := g[i*rows+k] + g[k*rows+i]
						g[i*rows+k], g[k*rows+i] = s, s
					}
				}
			}
		}
	})
	for i := range rows {
		g[i*rows+i] *= 2
	}
	e.Sgemm(false, false, rows, d, rows, 1, g, rows, f, d, 0, df, d)
	parallelChunks(rows, chunkRows(d), threads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			fr, dr, out := f[i*d:(i+1)*d], df[i*d:(i+1)*d], dx[i*d:(i+1)*d]
			var dot float64
			for j, v := range fr {
				dot += float64(v) * float64(dr[j])
			}
			inv := 1 / norms[i]
			for j, v := range fr {
				out[j] += float32((float64(dr[j]) - float64(v)*dot) * inv)
			}
		}
	})
	return sum / float64(N*L*L)
}

// lossTermsPool keeps ContrastiveLoss's terms (4 MB at the small config)
// from one call to the next: fresh pages would fault in on every step.
var lossTermsPool = sync.Pool{New: func() any { return new([]float64) }}

// lossChunk is about how many values a thread takes at a time in the
// losses and layer norms: large enough that a chunk outweighs handing it
// out, small enough to share a row block between 2 threads.
const lossChunk = 1 << 15

// chunkRows is how many rows of width d make a chunk of about lossChunk
// values (at least one).
func chunkRows(d int) int { return max(1, lossChunk/max(d, 1)) }
