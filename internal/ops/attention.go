package ops

import (
	"math"
	"sync"
)

// AttentionScratch holds the buffers MultiHeadAttention needs for a batch of
// sequences; reuse it across calls to avoid allocation. The scores and sums
// grow to one set per thread the first time heads run in parallel.
type AttentionScratch struct {
	q, k, v, ctx, scores, sums []float32
}

// NewAttentionScratch sizes scratch for batch sequences of lq queries and lk
// keys with model width d.
func NewAttentionScratch(batch, lq, lk, d int) *AttentionScratch {
	return &AttentionScratch{
		q:      make([]float32, batch*lq*d),
		k:      make([]float32, batch*lk*d),
		v:      make([]float32, batch*lk*d),
		ctx:    make([]float32, batch*lq*d),
		scores: make([]float32, lq*lk),
		sums:   make([]float32, lq),
	}
}

// MultiHeadAttention computes PyTorch's nn.MultiheadAttention(d, heads,
// bias=False) for batch independent sequences:
//
//	Q = xq·Wqᵀ, K = xk·Wkᵀ, V = xv·Wvᵀ   (inProj = [Wq; Wk; Wv], each [d, d])
//	head h: softmax(Q_h·K_hᵀ / sqrt(d/heads)) · V_h over dims [h·d/heads, (h+1)·d/heads)
//	out = concat(heads)·Woutᵀ
//
// xq and out are [batch·lq, d]; xk and xv are [batch·lk, d]. out must not
// alias the inputs.
func MultiHeadAttention(out, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, s *AttentionScratch) {
	Exec{}.MultiHeadAttention(out, xq, xk, xv, batch, lq, lk, d, heads, inProj, outProj, s)
}

// MultiHeadAttention is MultiHeadAttention on e's threads.
func (e Exec) MultiHeadAttention(out, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, s *AttentionScratch) {
	dd := d * d
	q, k, v, ctx := s.q[:batch*lq*d], s.k[:batch*lk*d], s.v[:batch*lk*d], s.ctx[:batch*lq*d]
	e.Linear(q, xq, batch*lq, d, inProj[:dd], nil, d)
	e.Linear(k, xk, batch*lk, d, inProj[dd:2*dd], nil, d)
	e.Linear(v, xv, batch*lk, d, inProj[2*dd:3*dd], nil, d)
	dh := d / heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	T := pairThreads(e, batch*heads)
	if T > 1 {
		s.grow(T, lq, lk)
	}
	forPairs(e, T, batch*heads, func(g Exec, t, p int) {
		b, h := p/heads, p%heads
		off := h * dh
		attendHead(g, q[b*lq*d+off:], k[b*lk*d+off:], v[b*lk*d+off:], ctx[b*lq*d+off:],
			lq, lk, d, dh, scale, s.scores[t*lq*lk:(t+1)*lq*lk], s.sums[t*lq:(t+1)*lq])
	})
	e.Linear(out, ctx, batch*lq, d, outProj, nil, d)
}

// grow makes room for the scores and sums of threads heads at once.
func (s *AttentionScratch) grow(threads, lq, lk int) {
	if len(s.scores) < threads*lq*lk {
		s.scores = make([]float32, threads*lq*lk)
	}
	if len(s.sums) < threads*lq {
		s.sums = make([]float32, threads*lq)
	}
}

// attendHead computes one head of one sequence on g's threads: ctx =
// softmax(q·kᵀ·scale)·v, where q, k, v and ctx start at the head's first
// column of rows d apart. scores ([lq, lk]) is left holding the unnormalised
// exponentials and sums ([lq]) their row sums.
func attendHead(g Exec, q, k, v, ctx []float32, lq, lk, d, dh int, scale float32, scores, sums []float32) {
	expRow := activeKernel.Load().softmax
	g.Sgemm(false, true, lq, lk, dh, scale, q, d, k, d, 0, scores, lk)
	for r := 0; r < lq; r++ {
		sums[r] = expRow(scores[r*lk : (r+1)*lk])
	}
	g.Sgemm(false, false, lq, dh, lk, 1, scores, lk, v, d, 0, ctx, d)
	// Normalise the [lq, dh] result rather than the [lq, lk] weights.
	for r := 0; r < lq; r++ {
		inv := 1 / sums[r]
		row := ctx[r*d : r*d+dh]
		for j := range row {
			row[j] *= inv
		}
	}
}

// pairThreads is how many of e's threads take part when pairs (sequence,
// head) products run side by side.
func pairThreads(e Exec, pairs int) int { return max(1, min(e.threads(), pairs)) }

// forPairs runs f for every pair in [0, pairs). With T > 1 threads, whole
// pairs run side by side, thread t taking t, t+T, …, each product on one
// thread: a head's 256×256×48 products are too small to split well. With
// one thread, f gets e itself, whose Sgemm may still split a product. The
// result is the same either way, as long as pairs write disjoint memory.
func forPairs(e Exec, T, pairs int, f func(g Exec, t, p int)) {
	if T <= 1 {
		for p := range pairs {
			f(e, 0, p)
		}
		return
	}
	var wg sync.WaitGroup
	for t := range T {
		wg.Go(func() {
			for p := t; p < pairs; p += T {
				f(Exec{Threads: 1}, t, p)
			}
		})
	}
	wg.Wait()
}

// SoftmaxRow replaces x by exp(x - max) / Σ exp(x - max).
func SoftmaxRow(x []float32) {
	if len(x) == 0 {
		return
	}
	inv := 1 / activeKernel.Load().softmax(x)
	for i := range x {
		x[i] *= inv
	}
}

// softmaxUnnormalised replaces x by exp(x - max) and returns the sum, which
// is ≥ 1 (the maximum contributes 1). Four partial sums keep the additions
// independent. It is the plain-Go row kernel of the softmax (see
// gemmKernel.softmax) and the oracle for the vector ones.
func softmaxUnnormalised(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		e0, e1, e2, e3 := expNeg(x[i]-m), expNeg(x[i+1]-m), expNeg(x[i+2]-m), expNeg(x[i+3]-m)
		x[i], x[i+1], x[i+2], x[i+3] = e0, e1, e2, e3
		s0, s1, s2, s3 = s0+e0, s1+e1, s2+e2, s3+e3
	}
	for ; i < len(x); i++ {
		e := expNeg(x[i] - m)
		x[i] = e
		s0 += e
	}
	return (s0 + s1) + (s2 + s3)
}

// MultiHeadAttentionRef is the float64 oracle for MultiHeadAttention.
func MultiHeadAttentionRef(out, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32) {
	proj := func(x []float32, rows int, w []float32) []float64 {
		y := make([]float64, rows*d)
		for i := 0; i < rows; i++ {
			for o := 0; o < d; o++ {
				var s float64
				for j := 0; j < d; j++ {
					s += float64(x[i*d+j]) * float64(w[o*d+j])
				}
				y[i*d+o] = s
			}
		}
		return y
	}
	dd := d * d
	dh := d / heads
	ctx := make([]float32, batch*lq*d)
	for b := 0; b < batch; b++ {
		q := proj(xq[b*lq*d:], lq, inProj[:dd])
		k := proj(xk[b*lk*d:], lk, inProj[dd:2*dd])
		v := proj(xv[b*lk*d:], lk, inProj[2*dd:])
		sc := make([]float64, lk)
		for h := 0; h < heads; h++ {
			for i := 0; i < lq; i++ {
				m := math.Inf(-1)
				for j := 0; j < lk; j++ {
					var s float64
					for t := h * dh; t < (h+1)*dh; t++ {
						s += q[i*d+t] * k[j*d+t]
					}
					sc[j] = s / math.Sqrt(float64(dh))
					m = math.Max(m, sc[j])
				}
				var z float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - m)
					z += sc[j]
				}
				for t := h * dh; t < (h+1)*dh; t++ {
					var s float64
					for j := range sc {
						s += sc[j] * v[j*d+t]
					}
					ctx[(b*lq+i)*d+t] = float32(s / z)
				}
			}
		}
	}
	LinearRef(out, ctx, batch*lq, d, outProj, nil, d)
}
