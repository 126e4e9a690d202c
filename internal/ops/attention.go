package ops

import (
	"fmt"
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
	return NewAttentionScratchWith(CPU{}.Alloc, batch, lq, lk, d, 1)
}

// NewAttentionScratchWith is NewAttentionScratch with the buffers from alloc
// (a Backend's Alloc, which zeroes them): Q, K, V and the context [batch·lq
// or lk, d], and the scores [sets·lq·lk] and softmax sums [sets·lq] of sets
// (sequence, head) pairs at once (Buffers returns them). The CPU's takes
// one set and adds those of further threads on first use; a device that
// runs every pair of a call at once takes batch·heads.
func NewAttentionScratchWith(alloc func(n int) []float32, batch, lq, lk, d, sets int) *AttentionScratch {
	return &AttentionScratch{
		q:      alloc(batch * lq * d),
		k:      alloc(batch * lk * d),
		v:      alloc(batch * lk * d),
		ctx:    alloc(batch * lq * d),
		scores: alloc(sets * lq * lk),
		sums:   alloc(sets * lq),
	}
}

// Buffers returns the scratch's buffers, for a Backend that runs the
// attention itself (see AttentionCache.Buffers). The CPU's may replace
// scores and sums by larger Go slices on first use with more threads.
func (s *AttentionScratch) Buffers() (q, k, v, ctx, scores, sums []float32) {
	return s.q, s.k, s.v, s.ctx, s.scores, s.sums
}

// Bytes is the memory the scratch holds.
func (s *AttentionScratch) Bytes() int64 {
	return 4 * int64(len(s.q)+len(s.k)+len(s.v)+len(s.ctx)+len(s.scores)+len(s.sums))
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
	q, k, v, ctx := s.q[:batch*lq*d], s.k[:batch*lk*d], s.v[:batch*lk*d], s.ctx[:batch*lq*d]
	e.projectQKV(q, k, v, xq, xk, xv, batch, lq, lk, d, inProj)
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

// projectQKV computes the input projections of attention: Q = xq·Wqᵀ,
// K = xk·Wkᵀ, V = xv·Wvᵀ with inProj = [Wq; Wk; Wv]. The inference and the
// training forward share it, so their outputs are the same bit for bit.
func (e Exec) projectQKV(q, k, v, xq, xk, xv []float32, batch, lq, lk, d int, inProj []float32) {
	dd := d * d
	e.Linear(q, xq, batch*lq, d, inProj[:dd], nil, d)
	e.Linear(k, xk, batch*lk, d, inProj[dd:2*dd], nil, d)
	e.Linear(v, xv, batch*lk, d, inProj[2*dd:3*dd], nil, d)
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
	kern := activeKernel.Load()
	g.Sgemm(false, true, lq, lk, dh, scale, q, d, k, d, 0, scores, lk)
	for r := 0; r < lq; r++ {
		sums[r] = kern.softmax(scores[r*lk : (r+1)*lk])
	}
	g.Sgemm(false, false, lq, dh, lk, 1, scores, lk, v, d, 0, ctx, d)
	// Normalise the [lq, dh] result rather than the [lq, lk] weights.
	for r := 0; r < lq; r++ {
		kern.scale(ctx[r*d:r*d+dh], 1/sums[r])
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
	kern := activeKernel.Load()
	kern.scale(x, 1/kern.softmax(x))
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

// AttentionCache keeps what MultiHeadAttentionBackward needs from one
// MultiHeadAttentionTrain: Q ([batch·lq, d]), K and V ([batch·lk, d]), the
// softmax probabilities ([batch, heads, lq, lk], normalised) and the heads'
// concatenated context ([batch·lq, d]), plus one row of softmax sums per
// thread while the forward runs. That is 4·(2·lq·d + 2·lk·d + heads·lq·lk)
// bytes per sequence: 5,505,024 (5.25 MiB) at IPT's released size (d 576,
// 12 heads, lq = lk = 256), 57% of it the probabilities; 36 attention layers
// at batch 8 keep 1.48 GiB.
type AttentionCache struct {
	batch, lq, lk, d, heads int
	q, k, v, p, ctx, sums   []float32
	filled                  int // the batch of the last forward; -1 before the first
}

// NewAttentionCache sizes a cache for up to batch sequences of lq queries
// and lk keys, model width d, heads heads.
func NewAttentionCache(batch, lq, lk, d, heads int) *AttentionCache {
	return NewAttentionCacheWith(CPU{}.Alloc, batch, lq, lk, d, heads)
}

// NewAttentionCacheWith is NewAttentionCache with the buffers from alloc
// (a Backend's Alloc, which zeroes them): Q, K, V and the context [batch·lq
// or lk, d], the probabilities [batch·heads·lq·lk] and one row of softmax
// sums [lq] (Buffers returns them).
func NewAttentionCacheWith(alloc func(n int) []float32, batch, lq, lk, d, heads int) *AttentionCache {
	return &AttentionCache{
		batch: batch, lq: lq, lk: lk, d: d, heads: heads, filled: -1,
		q:    alloc(batch * lq * d),
		k:    alloc(batch * lk * d),
		v:    alloc(batch * lk * d),
		p:    alloc(batch * heads * lq * lk),
		ctx:  alloc(batch * lq * d),
		sums: alloc(lq),
	}
}

// Buffers returns the cache's buffers, for a Backend that runs the
// attention itself (its MultiHeadAttentionTrain fills them, its
// MultiHeadAttentionBackward reads them; the layout within each is its
// own). The CPU's may replace sums by a larger Go slice on first use with
// more threads.
func (c *AttentionCache) Buffers() (q, k, v, p, ctx, sums []float32) {
	return c.q, c.k, c.v, c.p, c.ctx, c.sums
}

// Bytes is the memory the cache holds.
func (c *AttentionCache) Bytes() int64 {
	return 4 * int64(len(c.q)+len(c.k)+len(c.v)+len(c.p)+len(c.ctx)+len(c.sums))
}

// check panics unless the cache was sized for at least this call, and heads
// divides d.
func (c *AttentionCache) check(op string, batch, lq, lk, d, heads int) {
	if heads <= 0 || d%heads != 0 {
		panic(fmt.Sprintf("ops.%s: %d heads do not divide d = %d", op, heads, d))
	}
	if lq != c.lq || lk != c.lk || d != c.d || heads != c.heads || batch < 0 || batch > c.batch {
		panic(fmt.Sprintf("ops.%s: batch %d, lq %d, lk %d, d %d, heads %d on a cache for batch ≤ %d, lq %d, lk %d, d %d, heads %d",
			op, batch, lq, lk, d, heads, c.batch, c.lq, c.lk, c.d, c.heads))
	}
}

// MultiHeadAttentionTrain is MultiHeadAttention (same products in the same
// order, so the same out bit for bit), keeping in c what
// MultiHeadAttentionBackward needs. c must have been made for these lq, lk,
// d and heads and at least this batch.
func (e Exec) MultiHeadAttentionTrain(out, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, c *AttentionCache) {
	c.check("MultiHeadAttentionTrain", batch, lq, lk, d, heads)
	c.filled = batch
	q, k, v, ctx := c.q[:batch*lq*d], c.k[:batch*lk*d], c.v[:batch*lk*d], c.ctx[:batch*lq*d]
	e.projectQKV(q, k, v, xq, xk, xv, batch, lq, lk, d, inProj)
	dh := d / heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	T := pairThreads(e, batch*heads)
	if len(c.sums) < T*lq {
		c.sums = make([]float32, T*lq)
	}
	forPairs(e, T, batch*heads, func(g Exec, t, pair int) {
		b, h := pair/heads, pair%heads
		off := h * dh
		// The pair's probabilities are its scores, normalised after they
		// served (unnormalised) in the context product as in the forward.
		p, sums := c.p[pair*lq*lk:(pair+1)*lq*lk], c.sums[t*lq:(t+1)*lq]
		attendHead(g, q[b*lq*d+off:], k[b*lk*d+off:], v[b*lk*d+off:], ctx[b*lq*d+off:],
			lq, lk, d, dh, scale, p, sums)
		normalise := activeKernel.Load().scale
		for r := range lq {
			normalise(p[r*lk:(r+1)*lk], 1/sums[r])
		}
	})
	e.Linear(out, ctx, batch*lq, d, outProj, nil, d)
}

// AttentionGrad is MultiHeadAttentionBackward's scratch: dCtx ([batch·lq,
// d]), the gradients of Q, K and V stored transposed (dQᵀ [d, batch·lq],
// dKᵀ and dVᵀ [d, batch·lk], one after the other) and one [lq, lk] dP per
// thread. One serves every layer of the same shape and any smaller batch.
type AttentionGrad struct {
	dCtx, dQKVT, dP []float32
}

// NewAttentionGrad sizes the scratch for up to batch sequences of lq queries
// and lk keys, model width d; the dP of further threads is added on first
// use.
func NewAttentionGrad(batch, lq, lk, d int) *AttentionGrad {
	return NewAttentionGradWith(CPU{}.Alloc, batch, lq, lk, d)
}

// NewAttentionGradWith is NewAttentionGrad with the buffers from alloc (a
// Backend's Alloc).
func NewAttentionGradWith(alloc func(n int) []float32, batch, lq, lk, d int) *AttentionGrad {
	return &AttentionGrad{
		dCtx:  alloc(batch * lq * d),
		dQKVT: alloc(d * (gradLD(batch*lq) + 2*gradLD(batch*lk))),
		dP:    alloc(lq * lk),
	}
}

// Buffers returns the scratch's buffers (see AttentionCache.Buffers).
func (g *AttentionGrad) Buffers() (dCtx, dQKVT, dP []float32) { return g.dCtx, g.dQKVT, g.dP }

// MultiHeadAttentionBackward is the backward of MultiHeadAttentionTrain,
// whose cache c it reads, with the same arguments (it panics if c's last
// forward had another batch, or g is too small). Given dOut ([batch·lq,
// d]) it adds the gradients to dXq ([batch·lq, d]), dXk and dXv ([batch·lk,
// d]), dInProj ([3d, d]) and dOutProj ([d, d]); a nil one is skipped (and
// what only it needs is not computed). The outputs may alias each other
// (the encoder passes one slice for all three dX, the decoder's
// self-attention one for dXq and dXk): each gets the sum of its
// gradients. They must not alias the inputs.
//
// With P the probabilities, for each sequence and head h (scale =
// 1/sqrt(d/heads)):
//
//	dCtx = dOut·Wout                 dWout += dOutᵀ·ctx
//	dP = dCtx_h·V_hᵀ                 dV_h = Pᵀ·dCtx_h
//	dS = P ⊙ (dP − rowsum(dP ⊙ P))   (the softmax backward)
//	dQ_h = scale·dS·K_h              dK_h = scale·dSᵀ·Q_h
//	dXq += dQ·Wq, dWq += dQᵀ·xq, and the same for k and v.
//
// The scale rides on the alpha of the dQ and dK products, where it costs
// nothing. rowsum(dP ⊙ P) is taken as the row of dCtx_h · ctx_h, which is the same
// sum (ctx_h = P·V_h) at dh rather than lk products per row. dQ, dK and dV
// are computed transposed (dV_hᵀ = dCtx_hᵀ·P, …): products dh = 48 rows
// tall fill the micro-tiles where 48 columns wide would not (a third
// faster on AVX-512), and dWq += dQᵀ·xq then needs no transposition.
// Where the inputs are one slice (the encoder: xq = xk = xv) the three
// weight gradients are one product, [dQ dK dV]ᵀ·x, and where the dX are one
// slice so are their updates, dX += [dQ dK dV]·[Wq; Wk; Wv]. Heads run side
// by side as in the forward; every product writes its own block, so the
// result is the same on any number of threads.
func (e Exec) MultiHeadAttentionBackward(dXq, dXk, dXv, dInProj, dOutProj, dOut, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, c *AttentionCache, g *AttentionGrad) {
	c.check("MultiHeadAttentionBackward", batch, lq, lk, d, heads)
	if batch != c.filled {
		panic(fmt.Sprintf("ops.MultiHeadAttentionBackward: batch %d on a cache filled by a forward of batch %d (-1: none)", batch, c.filled))
	}
	nq, nk, dd := batch*lq, batch*lk, d*d
	q, k, v, ctx := c.q[:nq*d], c.k[:nk*d], c.v[:nk*d], c.ctx[:nq*d]
	if need := d * (gradLD(nq) + 2*gradLD(nk)); len(g.dCtx) < nq*d || len(g.dQKVT) < need {
		panic(fmt.Sprintf("ops.MultiHeadAttentionBackward: batch %d, lq %d, lk %d, d %d on an AttentionGrad of %d and %d floats, want %d and %d",
			batch, lq, lk, d, len(g.dCtx), len(g.dQKVT), nq*d, need))
	}
	dCtx := g.dCtx[:nq*d]
	// The transposed gradients, [d, n] with leading dimension n + gradPad.
	ldq, ldk := gradLD(nq), gradLD(nk)
	dQT, dKT, dVT := g.dQKVT[:d*ldq], g.dQKVT[d*ldq:d*(ldq+ldk)], g.dQKVT[d*(ldq+ldk):d*(ldq+2*ldk)]
	if dOutProj != nil {
		e.Sgemm(true, false, d, d, nq, 1, dOut, d, ctx, d, 1, dOutProj, d)
	}
	needQ, needK, needV := dXq != nil || dInProj != nil, dXk != nil || dInProj != nil, dXv != nil || dInProj != nil
	if !needQ && !needK && !needV {
		return
	}
	e.Sgemm(false, false, nq, d, d, 1, dOut, d, outProj, d, 0, dCtx, d)

	dh := d / heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	T := pairThreads(e, batch*heads)
	softmaxBackward := activeKernel.Load().softmaxBackward
	if len(g.dP) < T*lq*lk {
		g.dP = make([]float32, T*lq*lk)
	}
	forPairs(e, T, batch*heads, func(ge Exec, t, pair int) {
		b, h := pair/heads, pair%heads
		qo, ko := b*lq*d+h*dh, b*lk*d+h*dh     // the head's first element in Q and K
		qt, kt := h*dh*ldq+b*lq, h*dh*ldk+b*lk // and in dQᵀ and dKᵀ
		p := c.p[pair*lq*lk : (pair+1)*lq*lk]
		dc := dCtx[qo:]
		if needV {
			ge.Sgemm(true, false, dh, lk, lq, 1, dc, d, p, lk, 0, dVT[kt:], ldk)
		}
		if !needQ && !needK {
			return
		}
		ds := g.dP[t*lq*lk : (t+1)*lq*lk]
		ge.Sgemm(false, true, lq, lk, dh, 1, dc, d, v[ko:], d, 0, ds, lk)
		for r := 0; r < lq; r += 4 {
			dots := rowDots4(dc, ctx[qo:], d, dh, r, min(4, lq-r))
			for i := range min(4, lq-r) {
				softmaxBackward(ds[(r+i)*lk:(r+i+1)*lk], p[(r+i)*lk:(r+i+1)*lk], float32(dots[i]))
			}
		}
		if needQ {
			ge.Sgemm(true, true, dh, lq, lk, scale, k[ko:], d, ds, lk, 0, dQT[qt:], ldq)
		}
		if needK {
			ge.Sgemm(true, false, dh, lk, lq, scale, q[qo:], d, ds, lk, 0, dKT[kt:], ldk)
		}
	})

	// The projections, in runs of consecutive ones that share an operand
	// (when nq = nk the transposed gradients form one [3d, n] matrix).
	parts := [3]struct {
		dX, dYT, x []float32
		n, ld      int
	}{{dXq, g.dQKVT, xq, nq, ldq}, {dXk, g.dQKVT[d*ldq:], xk, nk, ldk}, {dXv, dVT, xv, nk, ldk}}
	for i := 0; i < 3; {
		j := i + 1
		for j < 3 && parts[j].n == parts[i].n && sameSlice(parts[j].dX, parts[i].dX) {
			j++
		}
		if x := parts[i]; x.dX != nil {
			e.Sgemm(true, false, x.n, d, (j-i)*d, 1, x.dYT, x.ld, inProj[i*dd:], d, 1, x.dX, d)
		}
		i = j
	}
	if dInProj != nil {
		for i := 0; i < 3; {
			j := i + 1
			for j < 3 && parts[j].n == parts[i].n && sameSlice(parts[j].x, parts[i].x) {
				j++
			}
			x := parts[i]
			e.Sgemm(false, false, (j-i)*d, d, x.n, 1, x.dYT, x.ld, x.x, d, 1, dInProj[i*dd:], d)
			i = j
		}
	}
}

// gradLD is the leading dimension of a transposed gradient of n rows: padded,
// because n = batch·L is often a power of two, and rows that many floats
// apart fall in the same cache sets.
func gradLD(n int) int { return n + 16 }

// sameSlice reports whether a and b are the same non-empty slice.
func sameSlice(a, b []float32) bool {
	return len(a) > 0 && len(a) == len(b) && &a[0] == &b[0]
}

// rowDots4 returns dotF64 of rows r … r+g−1 (g ≤ 4) of a and b (row
// stride ld, n columns), the sums of four rows side by side: a dot of 48 is
// a chain of dependent adds, and four chains overlap. Each sum is taken in
// dotF64's order, so it has its bits; rows past g repeat row r+g−1.
func rowDots4(a, b []float32, ld, n, r, g int) (dots [4]float64) {
	var x, y [4][]float32
	for i := range 4 {
		o := (r + min(i, g-1)) * ld
		x[i], y[i] = a[o:o+n], b[o:o+n]
	}
	x1, x2, x3 := x[1][:n], x[2][:n], x[3][:n]
	y0, y1, y2, y3 := y[0][:n], y[1][:n], y[2][:n], y[3][:n]
	var s0, s1, s2, s3 float64
	for j, v := range x[0] {
		s0 += float64(v) * float64(y0[j])
		s1 += float64(x1[j]) * float64(y1[j])
		s2 += float64(x2[j]) * float64(y2[j])
		s3 += float64(x3[j]) * float64(y3[j])
	}
	return [4]float64{s0, s1, s2, s3}
}

// dotF64 is Σ a[i]·b[i], summed in float64: the softmax backward subtracts
// it from values of the same size, so its rounding is what survives.
func dotF64(a, b []float32) float64 {
	b = b[:len(a)]
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return s
}

// SoftmaxBackwardRow turns dy, the gradient with respect to p = softmax(x)
// (one row), into the gradient with respect to x, in place:
// dy[j] = p[j]·(dy[j] − Σ_k dy[k]·p[k]). The sum is taken in float64.
func SoftmaxBackwardRow(dy, p []float32) {
	activeKernel.Load().softmaxBackward(dy, p, float32(dotF64(dy, p)))
}

// softmaxBackwardRowDot is SoftmaxBackwardRow with the sum s given:
// dy[j] = p[j]·(dy[j] − s). Four elements a trip keep the loads and
// multiplies independent.
func softmaxBackwardRowDot(dy, p []float32, s float32) {
	p = p[:len(dy)]
	j := 0
	for ; j+4 <= len(dy); j += 4 {
		d, q := dy[j:j+4:j+4], p[j:j+4:j+4]
		d[0], d[1], d[2], d[3] = q[0]*(d[0]-s), q[1]*(d[1]-s), q[2]*(d[2]-s), q[3]*(d[3]-s)
	}
	for ; j < len(dy); j++ {
		dy[j] = p[j] * (dy[j] - s)
	}
}

// SoftmaxBackwardRowRef is the float64 oracle for SoftmaxBackwardRow.
func SoftmaxBackwardRowRef(dy, p []float32) {
	var s float64
	for j := range dy {
		s += float64(dy[j]) * float64(p[j])
	}
	for j := range dy {
		dy[j] = float32(float64(p[j]) * (float64(dy[j]) - s))
	}
}

// MultiHeadAttentionBackwardRef is the float64 oracle for
// MultiHeadAttentionBackward: it recomputes the forward in float64 from the
// inputs and follows the chain rule literally (the softmax backward with
// its own row sums), then adds each gradient to its output in turn,
// skipping nil ones.
func MultiHeadAttentionBackwardRef(dXq, dXk, dXv, dInProj, dOutProj, dOut, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32) {
	nq, nk, dd, dh := batch*lq, batch*lk, d*d, d/heads
	f64 := func(x []float32) []float64 {
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = float64(v)
		}
		return y
	}
	// matmul returns the rows×cols product a·b with a [rows, inner] and b
	// [inner, cols], element (i, j) read at a[i*ars+l*acs], b[l*brs+j*bcs].
	matmul := func(rows, cols, inner int, a []float64, ars, acs int, b []float64, brs, bcs int) []float64 {
		// Copy a's rows and b's columns out contiguously for the dot products.
		ac, bc := make([]float64, rows*inner), make([]float64, cols*inner)
		for l := range inner {
			for i := range rows {
				ac[i*inner+l] = a[i*ars+l*acs]
			}
			for j := range cols {
				bc[j*inner+l] = b[l*brs+j*bcs]
			}
		}
		y := make([]float64, rows*cols)
		for i := range rows {
			ar := ac[i*inner : (i+1)*inner]
			for j := range cols {
				var s float64
				for l, bv := range bc[j*inner : (j+1)*inner] {
					s += ar[l] * bv
				}
				y[i*cols+j] = s
			}
		}
		return y
	}
	wq, wk, wv, wo := f64(inProj[:dd]), f64(inProj[dd:2*dd]), f64(inProj[2*dd:3*dd]), f64(outProj[:dd])
	x64q, x64k, x64v, g := f64(xq[:nq*d]), f64(xk[:nk*d]), f64(xv[:nk*d]), f64(dOut[:nq*d])
	// Forward: Q = xq·Wqᵀ etc., then per head P and ctx.
	q := matmul(nq, d, d, x64q, d, 1, wq, 1, d)
	k := matmul(nk, d, d, x64k, d, 1, wk, 1, d)
	v := matmul(nk, d, d, x64v, d, 1, wv, 1, d)
	ctx := make([]float64, nq*d)
	dq, dk, dv := make([]float64, nq*d), make([]float64, nk*d), make([]float64, nk*d)
	dctx := matmul(nq, d, d, g, d, 1, wo, d, 1) // dOut·Wout
	scale := 1 / math.Sqrt(float64(dh))
	for b := range batch {
		for h := range heads {
			// Row i of the head's Q, ctx and dctx starts at qr(i); row j of
			// its K and V at kr(j).
			qr := func(i int) int { return (b*lq+i)*d + h*dh }
			kr := func(j int) int { return (b*lk+j)*d + h*dh }
			p, dp := make([]float64, lk), make([]float64, lk)
			for i := range lq {
				qi := q[qr(i) : qr(i)+dh]
				m := math.Inf(-1)
				for j := range lk {
					var s float64
					for t, kv := range k[kr(j) : kr(j)+dh] {
						s += qi[t] * kv
					}
					p[j] = s * scale
					m = math.Max(m, p[j])
				}
				var z float64
				for j := range p {
					p[j] = math.Exp(p[j] - m)
					z += p[j]
				}
				ci, dci := ctx[qr(i):qr(i)+dh], dctx[qr(i):qr(i)+dh]
				for j := range p {
					p[j] /= z
					for t, vv := range v[kr(j) : kr(j)+dh] {
						ci[t] += p[j] * vv
					}
				}
				// Backward through the head for query i: dP, the softmax
				// backward with its own row sum, then dV, dQ and dK.
				var rowsum float64
				for j := range dp {
					var s float64
					for t, vv := range v[kr(j) : kr(j)+dh] {
						s += dci[t] * vv
					}
					dp[j] = s
					rowsum += s * p[j]
				}
				dqi := dq[qr(i) : qr(i)+dh]
				for j := range dp {
					ds := p[j] * (dp[j] - rowsum) * scale
					dvj, dkj, kj := dv[kr(j):kr(j)+dh], dk[kr(j):kr(j)+dh], k[kr(j):kr(j)+dh]
					for t := range dh {
						dvj[t] += p[j] * dci[t]
						dqi[t] += ds * kj[t]
						dkj[t] += ds * qi[t]
					}
				}
			}
		}
	}
	add := func(dst []float32, src []float64) {
		if dst == nil {
			return
		}
		for i, s := range src {
			dst[i] += float32(s)
		}
	}
	add(dOutProj, matmul(d, d, nq, g, 1, d, ctx, d, 1)) // dOutᵀ·ctx
	add(dXq, matmul(nq, d, d, dq, d, 1, wq, d, 1))
	add(dXk, matmul(nk, d, d, dk, d, 1, wk, d, 1))
	add(dXv, matmul(nk, d, d, dv, d, 1, wv, d, 1))
	if dInProj != nil {
		add(dInProj[:dd], matmul(d, d, nq, dq, 1, d, x64q, d, 1))
		add(dInProj[dd:2*dd], matmul(d, d, nk, dk, 1, d, x64k, d, 1))
		add(dInProj[2*dd:3*dd], matmul(d, d, nk, dv, 1, d, x64v, d, 1))
	}
}
