package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// attnShape is one attention problem.
type attnShape struct{ batch, lq, lk, d, heads int }

func (s attnShape) String() string {
	return fmt.Sprintf("batch%d-lq%d-lk%d-d%d-h%d", s.batch, s.lq, s.lk, s.d, s.heads)
}

// attnCase is an attention problem with random inputs, weights and dOut.
type attnCase struct {
	attnShape
	xq, xk, xv, in, out, dOut []float32
}

// newAttnCase draws inputs and dOut from [-1, 1) and weights from
// [-1, 1)/sqrt(d), about as PyTorch initialises them: with unscaled
// weights the scores grow with d and the softmax saturates, which at d =
// 576 makes float32 results differ from float64 by the conditioning of the
// problem rather than by the implementation's arithmetic.
func newAttnCase(rng *rand.Rand, s attnShape) *attnCase {
	c := &attnCase{
		attnShape: s,
		xq:        randSlice(rng, s.batch*s.lq*s.d),
		xk:        randSlice(rng, s.batch*s.lk*s.d),
		xv:        randSlice(rng, s.batch*s.lk*s.d),
		in:        randSlice(rng, 3*s.d*s.d),
		out:       randSlice(rng, s.d*s.d),
		dOut:      randSlice(rng, s.batch*s.lq*s.d),
	}
	w := float32(1 / math.Sqrt(float64(s.d)))
	for _, x := range [][]float32{c.in, c.out} {
		for i := range x {
			x[i] *= w
		}
	}
	return c
}

// attnGrads are the five gradient outputs of one backward.
type attnGrads struct{ dXq, dXk, dXv, dIn, dOut []float32 }

func newAttnGrads(s attnShape) *attnGrads {
	return &attnGrads{
		dXq:  make([]float32, s.batch*s.lq*s.d),
		dXk:  make([]float32, s.batch*s.lk*s.d),
		dXv:  make([]float32, s.batch*s.lk*s.d),
		dIn:  make([]float32, 3*s.d*s.d),
		dOut: make([]float32, s.d*s.d),
	}
}

func (g *attnGrads) named() []struct {
	name string
	v    []float32
} {
	return []struct {
		name string
		v    []float32
	}{{"dXq", g.dXq}, {"dXk", g.dXk}, {"dXv", g.dXv}, {"dInProj", g.dIn}, {"dOutProj", g.dOut}}
}

func (g *attnGrads) equal(h *attnGrads) bool {
	for i, x := range g.named() {
		if !slices.Equal(x.v, h.named()[i].v) {
			return false
		}
	}
	return true
}

// backward runs the training forward and the backward on e, adding into g,
// and returns the forward's output.
func (c *attnCase) backward(e Exec, g *attnGrads, grad *AttentionGrad) []float32 {
	cache := NewAttentionCache(c.batch, c.lq, c.lk, c.d, c.heads)
	out := make([]float32, c.batch*c.lq*c.d)
	e.MultiHeadAttentionTrain(out, c.xq, c.xk, c.xv, c.batch, c.lq, c.lk, c.d, c.heads, c.in, c.out, cache)
	if grad == nil {
		grad = NewAttentionGrad(c.batch, c.lq, c.lk, c.d)
	}
	e.MultiHeadAttentionBackward(g.dXq, g.dXk, g.dXv, g.dIn, g.dOut, c.dOut, c.xq, c.xk, c.xv,
		c.batch, c.lq, c.lk, c.d, c.heads, c.in, c.out, cache, grad)
	return out
}

func (c *attnCase) backwardRef(g *attnGrads) {
	MultiHeadAttentionBackwardRef(g.dXq, g.dXk, g.dXv, g.dIn, g.dOut, c.dOut, c.xq, c.xk, c.xv,
		c.batch, c.lq, c.lk, c.d, c.heads, c.in, c.out)
}

// attentionLoss64 is Σ w·MultiHeadAttention(xq, xk, xv) computed wholly in
// float64 (written apart from both oracles), so that central differences
// of it are limited by their step alone.
func attentionLoss64(w, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32) float64 {
	dh := d / heads
	proj := func(x []float32, row int, w []float32, o int) float64 {
		var s float64
		for j := range d {
			s += float64(x[row*d+j]) * float64(w[o*d+j])
		}
		return s
	}
	var loss float64
	for b := range batch {
		q, k, v := make([]float64, lq*d), make([]float64, lk*d), make([]float64, lk*d)
		for o := range d {
			for i := range lq {
				q[i*d+o] = proj(xq, b*lq+i, inProj, o)
			}
			for j := range lk {
				k[j*d+o] = proj(xk, b*lk+j, inProj, d+o)
				v[j*d+o] = proj(xv, b*lk+j, inProj, 2*d+o)
			}
		}
		for i := range lq {
			ctx := make([]float64, d)
			for h := range heads {
				e := make([]float64, lk)
				var z float64
				for j := range lk {
					var s float64
					for t := h * dh; t < (h+1)*dh; t++ {
						s += q[i*d+t] * k[j*d+t]
					}
					e[j] = math.Exp(s / math.Sqrt(float64(dh))) // small inputs: no overflow
					z += e[j]
				}
				for j := range lk {
					for t := h * dh; t < (h+1)*dh; t++ {
						ctx[t] += e[j] / z * v[j*d+t]
					}
				}
			}
			for o := range d {
				var s float64
				for t := range d {
					s += ctx[t] * float64(outProj[o*d+t])
				}
				loss += float64(w[(b*lq+i)*d+o]) * s
			}
		}
	}
	return loss
}

// relErrMax is max|got−want| / max|want|: relative to the largest value
// however small (relErr floors the scale at 1, too lenient for gradients).
func relErrMax(got, want []float32) float64 {
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

// withKernels runs f on every GEMM path this machine can run, each also
// with tiny cache blocks (see gemmKernels), restoring the active one.
func withKernels(t *testing.T, f func(t *testing.T, kern *gemmKernel)) {
	old := activeKernel.Load()
	defer activeKernel.Store(old)
	for _, kern := range gemmKernels(t) {
		activeKernel.Store(kern)
		t.Run(kern.name, func(t *testing.T) { f(t, kern) })
	}
}

// TestMultiHeadAttentionBackwardGradCheck compares the gradients of every
// input and both weights, from the fast path and the float64 oracle, with
// central differences of a float64 forward: cross-attention (lq ≠ lk), the
// encoder's self-attention (one x and one dX for q, k and v) and the
// decoder's (xq == xk, dXq == dXk).
func TestMultiHeadAttentionBackwardGradCheck(t *testing.T) {
	const h = 1e-3
	s := attnShape{batch: 2, lq: 5, lk: 7, d: 8, heads: 2}
	c := newAttnCase(rand.New(rand.NewPCG(1, 2)), s)
	loss := func() float64 {
		return attentionLoss64(c.dOut, c.xq, c.xk, c.xv, s.batch, s.lq, s.lk, s.d, s.heads, c.in, c.out)
	}
	num := map[string][]float64{
		"dXq": numericGrad(c.xq, h, loss), "dXk": numericGrad(c.xk, h, loss), "dXv": numericGrad(c.xv, h, loss),
		"dInProj": numericGrad(c.in, h, loss), "dOutProj": numericGrad(c.out, h, loss),
	}
	ref := newAttnGrads(s)
	c.backwardRef(ref)
	for _, g := range ref.named() {
		checkGrad(t, "ref "+g.name, g.v, num[g.name], 1e-6, 1e-5)
	}
	withKernels(t, func(t *testing.T, _ *gemmKernel) {
		g := newAttnGrads(s)
		c.backward(Exec{}, g, nil)
		for _, x := range g.named() {
			checkGrad(t, x.name, x.v, num[x.name], 2e-5, 1e-4)
		}
	})

	// Self-attention with shared inputs: the gradient of x is the sum of
	// its three (or two) uses.
	for _, decoder := range []bool{false, true} {
		name := "encoder"
		if decoder {
			name = "decoder"
		}
		t.Run(name, func(t *testing.T) {
			s := attnShape{batch: 2, lq: 6, lk: 6, d: 8, heads: 2}
			rng := rand.New(rand.NewPCG(3, 4))
			c := newAttnCase(rng, s)
			x := c.xq
			c.xk = x
			if decoder {
				c.xv = randSlice(rng, len(x))
			} else {
				c.xv = x
			}
			loss := func() float64 {
				return attentionLoss64(c.dOut, c.xq, c.xk, c.xv, s.batch, s.lq, s.lk, s.d, s.heads, c.in, c.out)
			}
			numX, numIn, numOut := numericGrad(x, h, loss), numericGrad(c.in, h, loss), numericGrad(c.out, h, loss)
			var numV []float64
			if decoder {
				numV = numericGrad(c.xv, h, loss)
			}
			aliased := func(g *attnGrads) *attnGrads {
				g.dXk = g.dXq
				if !decoder {
					g.dXv = g.dXq
				}
				return g
			}
			check := func(t *testing.T, g *attnGrads, atol, rtol float64) {
				checkGrad(t, "dX", g.dXq, numX, atol, rtol)
				if decoder {
					checkGrad(t, "dXv", g.dXv, numV, atol, rtol)
				}
				checkGrad(t, "dInProj", g.dIn, numIn, atol, rtol)
				checkGrad(t, "dOutProj", g.dOut, numOut, atol, rtol)
			}
			ref := aliased(newAttnGrads(s))
			c.backwardRef(ref)
			check(t, ref, 1e-6, 1e-5)
			withKernels(t, func(t *testing.T, _ *gemmKernel) {
				g := aliased(newAttnGrads(s))
				c.backward(Exec{}, g, nil)
				check(t, g, 2e-5, 1e-4)
			})
		})
	}
}

// TestMultiHeadAttentionBackwardMatchesRef compares the fast path with the
// float64 oracle by relative error on every path, on shapes that cross the
// GEMM blocks and, without -short, on IPT's released size (batch 2).
func TestMultiHeadAttentionBackwardMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := []attnShape{{2, 16, 16, 24, 4}, {1, 5, 7, 12, 3}, {3, 1, 1, 8, 1}, {2, 33, 17, 40, 5}, {1, 40, 70, 48, 2}}
	if !testing.Short() {
		shapes = append(shapes, attnShape{2, 256, 256, 576, 12})
	}
	for _, s := range shapes {
		c := newAttnCase(rng, s)
		ref := newAttnGrads(s)
		start := time.Now()
		c.backwardRef(ref)
		t.Logf("%v: oracle took %v", s, time.Since(start).Round(time.Millisecond))
		big := s.d >= 576
		t.Run(s.String(), func(t *testing.T) {
			withKernels(t, func(t *testing.T, kern *gemmKernel) {
				if big && (kern.mc < 4*kern.mr || kern == genericKernel) {
					// The tiny-block variants and plain Go take seconds
					// here; their arithmetic is the same at every size,
					// and the small shapes cover it.
					return
				}
				g := newAttnGrads(s)
				c.backward(Exec{}, g, nil)
				for i, x := range g.named() {
					if e := relErrMax(x.v, ref.named()[i].v); e > 1e-5 || math.IsNaN(e) {
						t.Errorf("%v: %s: relative error %.3g", s, x.name, e)
					} else if big {
						t.Logf("%v: %s: relative error %.3g", s, x.name, e)
					}
				}
			})
		})
	}
}

// TestMultiHeadAttentionTrainMatchesForward checks that the training
// forward gives MultiHeadAttention's output bit for bit on every path and
// thread count, and caches normalised probabilities.
func TestMultiHeadAttentionTrainMatchesForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range []attnShape{{2, 16, 16, 24, 4}, {1, 5, 7, 12, 3}, {3, 9, 20, 40, 5}} {
		c := newAttnCase(rng, s)
		t.Run(s.String(), func(t *testing.T) {
			withKernels(t, func(t *testing.T, _ *gemmKernel) {
				scratch := NewAttentionScratch(s.batch, s.lq, s.lk, s.d)
				cache := NewAttentionCache(s.batch, s.lq, s.lk, s.d, s.heads)
				for _, threads := range []int{1, 2, 3, 5} {
					e := Exec{Threads: threads}
					want := make([]float32, s.batch*s.lq*s.d)
					e.MultiHeadAttention(want, c.xq, c.xk, c.xv, s.batch, s.lq, s.lk, s.d, s.heads, c.in, c.out, scratch)
					got := make([]float32, len(want))
					e.MultiHeadAttentionTrain(got, c.xq, c.xk, c.xv, s.batch, s.lq, s.lk, s.d, s.heads, c.in, c.out, cache)
					if !slices.Equal(got, want) {
						t.Errorf("%v, %d threads: training forward differs from MultiHeadAttention", s, threads)
					}
					for r := 0; r < len(cache.p); r += s.lk {
						var sum float64
						for _, v := range cache.p[r : r+s.lk] {
							sum += float64(v)
						}
						if math.Abs(sum-1) > 1e-5 {
							t.Fatalf("%v: cached probabilities of row %d sum to %v", s, r/s.lk, sum)
						}
					}
				}
			})
		})
	}
}

// TestMultiHeadAttentionBackwardSemantics checks that the backward (and
// the oracle) add into their outputs, skip nil ones without changing the
// others, give the sums of separate outputs when outputs alias, and give
// the same bits on any number of threads, products split or not.
func TestMultiHeadAttentionBackwardSemantics(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	s := attnShape{batch: 2, lq: 12, lk: 12, d: 24, heads: 3}
	c := newAttnCase(rng, s)
	withKernels(t, func(t *testing.T, _ *gemmKernel) {
		base := newAttnGrads(s)
		c.backward(Exec{}, base, nil)

		// Accumulation: outputs holding g0 end up holding g0 + gradient.
		for _, oracle := range []bool{false, true} {
			zero, acc := newAttnGrads(s), newAttnGrads(s)
			start := newAttnGrads(s)
			for i, x := range acc.named() {
				copy(x.v, randSlice(rng, len(x.v)))
				copy(start.named()[i].v, x.v)
			}
			if oracle {
				c.backwardRef(zero)
				c.backwardRef(acc)
			} else {
				c.backward(Exec{}, zero, nil)
				c.backward(Exec{}, acc, nil)
			}
			for i, x := range acc.named() {
				want := slices.Clone(start.named()[i].v)
				for j, v := range zero.named()[i].v {
					want[j] += v
				}
				if e := relErr(x.v, want); e > 1e-6 {
					t.Errorf("oracle %v: %s does not accumulate: relative error %.3g from start + gradient", oracle, x.name, e)
				}
			}
		}

		// Nil outputs: each output alone is what it is among all five.
		for i := range 5 {
			only := newAttnGrads(s)
			ptrs := []*[]float32{&only.dXq, &only.dXk, &only.dXv, &only.dIn, &only.dOut}
			for j, p := range ptrs {
				if j != i {
					*p = nil
				}
			}
			c.backward(Exec{}, only, nil)
			if got, want := *ptrs[i], base.named()[i].v; !slices.Equal(got, want) {
				t.Errorf("%s alone differs from %s among all outputs", base.named()[i].name, base.named()[i].name)
			}
		}
		none := &attnGrads{}
		c.backward(Exec{}, none, nil) // must neither panic nor write

		// Aliased outputs hold the sum of the separate ones.
		alias := newAttnGrads(s)
		alias.dXk, alias.dXv = alias.dXq, alias.dXq
		c.backward(Exec{}, alias, nil)
		sum := slices.Clone(base.dXq)
		for j := range sum {
			sum[j] += base.dXk[j]
			sum[j] += base.dXv[j]
		}
		if e := relErr(alias.dXq, sum); e > 1e-6 {
			t.Errorf("aliased dXq = dXk = dXv: relative error %.3g from the sum of separate outputs", e)
		}

		// Threads: the same bits, with one AttentionGrad reused (so it
		// grows) and products split between threads.
		defer func(w int) { gemmThreadWork = w }(gemmThreadWork)
		gemmThreadWork = 1
		grad := NewAttentionGrad(s.batch, s.lq, s.lk, s.d)
		for _, threads := range []int{1, 2, 3, 5} {
			g := newAttnGrads(s)
			c.backward(Exec{Threads: threads}, g, grad)
			if !g.equal(base) {
				t.Errorf("%d threads differ from the default", threads)
			}
		}
	})
}

// TestRowDots4: the four-row dots have each row's dotF64 bits, for groups
// of one to four rows.
func TestRowDots4(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const ld, n = 13, 11
	a, b := randSlice(rng, 6*ld), randSlice(rng, 6*ld)
	for g := 1; g <= 4; g++ {
		dots := rowDots4(a, b, ld, n, 2, g)
		for i := range g {
			o := (2 + i) * ld
			if want := dotF64(a[o:o+n], b[o:o+n]); math.Float64bits(dots[i]) != math.Float64bits(want) {
				t.Errorf("g=%d row %d: %v, want %v", g, i, dots[i], want)
			}
		}
	}
}

// TestSoftmaxBackwardRow checks the row helper against its oracle and the
// oracle against central differences of a float64 softmax.
func TestSoftmaxBackwardRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 33, 256} {
		x, w := randSlice(rng, n), randSlice(rng, n)
		for i := range x {
			x[i] *= 4
		}
		softmax64 := func() []float64 {
			m := math.Inf(-1)
			for _, v := range x {
				m = math.Max(m, float64(v))
			}
			p := make([]float64, n)
			var z float64
			for i, v := range x {
				p[i] = math.Exp(float64(v) - m)
				z += p[i]
			}
			for i := range p {
				p[i] /= z
			}
			return p
		}
		p := make([]float32, n)
		for i, v := range softmax64() {
			p[i] = float32(v)
		}
		num := numericGrad(x, 1e-3, func() float64 {
			var s float64
			for i, v := range softmax64() {
				s += float64(w[i]) * v
			}
			return s
		})
		ref := slices.Clone(w)
		SoftmaxBackwardRowRef(ref, p)
		checkGrad(t, fmt.Sprintf("n=%d oracle", n), ref, num, 1e-6, 1e-5)
		got := append(slices.Clone(w), 42) // a canary past the row
		SoftmaxBackwardRow(got[:n], p)
		if e := relErr(got[:n], ref); e > 1e-6 || got[n] != 42 {
			t.Errorf("n=%d: relative error %.3g from the oracle, canary %v", n, e, got[n])
		}
	}
	SoftmaxBackwardRow(nil, nil)
}

// BenchmarkMultiHeadAttentionBackward times the training forward and the
// backward at IPT's released size (d 576, 12 heads, 256 tokens) on the
// active path and the default threads, reporting GFLOP/s and the
// percentage of the FMA peak (one core's times the threads). For
// comparison, "forward" is the inference forward, MultiHeadAttention.
func BenchmarkMultiHeadAttentionBackward(b *testing.B) {
	const l, d, heads = 256, 576, 12
	peak := PeakGFLOPS(20*time.Millisecond) * float64(Threads())
	for _, batch := range []int{1, 8} {
		s := attnShape{batch, l, l, d, heads}
		c := newAttnCase(rand.New(rand.NewPCG(1, 1)), s)
		n := float64(batch * l)
		// Four d×d projections and two lq×lk×d products forward; eight
		// projection-sized products and four head products backward.
		fwdFlops := 2*4*n*d*d + 2*2*n*l*d
		bwdFlops := 2*8*n*d*d + 2*4*n*l*d
		cache := NewAttentionCache(batch, l, l, d, heads)
		scratch := NewAttentionScratch(batch, l, l, d)
		grad := NewAttentionGrad(batch, l, l, d)
		g := newAttnGrads(s)
		out := make([]float32, batch*l*d)
		report := func(b *testing.B, flops float64) {
			gf := flops * float64(b.N) / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(gf, "GFLOP/s")
			b.ReportMetric(100*gf/peak, "%peak")
		}
		b.Run(fmt.Sprintf("%s/forward/batch%d", Kernel(), batch), func(b *testing.B) {
			for range b.N {
				MultiHeadAttention(out, c.xq, c.xk, c.xv, batch, l, l, d, heads, c.in, c.out, scratch)
			}
			report(b, fwdFlops)
		})
		b.Run(fmt.Sprintf("%s/train-forward/batch%d", Kernel(), batch), func(b *testing.B) {
			for range b.N {
				Exec{}.MultiHeadAttentionTrain(out, c.xq, c.xk, c.xv, batch, l, l, d, heads, c.in, c.out, cache)
			}
			report(b, fwdFlops)
		})
		b.Run(fmt.Sprintf("%s/backward/batch%d", Kernel(), batch), func(b *testing.B) {
			Exec{}.MultiHeadAttentionTrain(out, c.xq, c.xk, c.xv, batch, l, l, d, heads, c.in, c.out, cache)
			for range b.N {
				Exec{}.MultiHeadAttentionBackward(g.dXq, g.dXk, g.dXv, g.dIn, g.dOut, c.dOut, c.xq, c.xk, c.xv,
					batch, l, l, d, heads, c.in, c.out, cache, grad)
			}
			report(b, bwdFlops)
		})
	}
}

// TestAttentionTimings prints the median GFLOP/s, and GFLOP per CPU-second
// (which other processes on a shared machine disturb less), of the
// inference forward, the training forward and the backward at the released
// size, on the active path with 1 and 2 threads. It runs only with
// IPT_ATTN_TIMINGS=1 (IPT_ATTN_REPS=n repetitions, default 11).
func TestAttentionTimings(t *testing.T) {
	if os.Getenv("IPT_ATTN_TIMINGS") == "" {
		t.Skip("set IPT_ATTN_TIMINGS=1")
	}
	reps := 11
	if r, err := strconv.Atoi(os.Getenv("IPT_ATTN_REPS")); err == nil && r > 0 {
		reps = r
	}
	const l, d, heads = 256, 576, 12
	peak := PeakGFLOPS(50 * time.Millisecond)
	t.Logf("path %s, FMA peak %.1f GFLOP/s per core", Kernel(), peak)
	for _, batch := range []int{1, 8} {
		s := attnShape{batch, l, l, d, heads}
		c := newAttnCase(rand.New(rand.NewPCG(1, 1)), s)
		n := float64(batch * l)
		fwdFlops := 2*4*n*d*d + 2*2*n*l*d
		bwdFlops := 2*8*n*d*d + 2*4*n*l*d
		cache := NewAttentionCache(batch, l, l, d, heads)
		scratch := NewAttentionScratch(batch, l, l, d)
		grad := NewAttentionGrad(batch, l, l, d)
		g := newAttnGrads(s)
		out := make([]float32, batch*l*d)
		for _, threads := range []int{1, 2} {
			e := Exec{Threads: threads}
			for _, op := range []struct {
				name  string
				flops float64
				run   func()
			}{
				{"forward", fwdFlops, func() {
					e.MultiHeadAttention(out, c.xq, c.xk, c.xv, batch, l, l, d, heads, c.in, c.out, scratch)
				}},
				{"train-forward", fwdFlops, func() {
					e.MultiHeadAttentionTrain(out, c.xq, c.xk, c.xv, batch, l, l, d, heads, c.in, c.out, cache)
				}},
				{"backward", bwdFlops, func() {
					e.MultiHeadAttentionBackward(g.dXq, g.dXk, g.dXv, g.dIn, g.dOut, c.dOut, c.xq, c.xk, c.xv,
						batch, l, l, d, heads, c.in, c.out, cache, grad)
				}},
			} {
				op.run()
				var gf []float64
				cpu0 := cpuTime()
				for range reps {
					start := time.Now()
					op.run()
					gf = append(gf, op.flops/time.Since(start).Seconds()/1e9)
				}
				perCPU := op.flops * float64(reps) / max(1e-9, (cpuTime()-cpu0).Seconds()) / 1e9
				slices.Sort(gf)
				med := gf[len(gf)/2]
				t.Logf("batch %d, %d threads, %-13s median %6.1f GFLOP/s (%4.1f%% of peak), best %6.1f, per CPU-second %6.1f (%4.1f%%)",
					batch, threads, op.name, med, 100*med/(peak*float64(threads)), gf[len(gf)-1], perCPU, 100*perCPU/peak)
			}
		}
	}
}

// TestAttentionCacheSizes checks Bytes against the documented size and that
// a cache or scratch of the wrong shape is refused with a message naming
// the shapes, not an index error deep inside.
func TestAttentionCacheSizes(t *testing.T) {
	// 4·(2·256·576 + 2·256·576 + 12·256·256) = 5,505,024 bytes a sequence,
	// plus one row of 256 sums.
	if got, want := NewAttentionCache(2, 256, 256, 576, 12).Bytes(), int64(2*5_505_024+4*256); got != want {
		t.Errorf("Bytes() = %d, want %d", got, want)
	}
	s := attnShape{batch: 2, lq: 5, lk: 7, d: 8, heads: 2}
	c := newAttnCase(rand.New(rand.NewPCG(13, 14)), s)
	g := newAttnGrads(s)
	out := make([]float32, s.batch*s.lq*s.d)
	mustPanic := func(name, want string, f func()) {
		t.Helper()
		defer func() {
			t.Helper()
			r := recover()
			if msg, _ := r.(string); !strings.Contains(msg, want) {
				t.Errorf("%s: panic %v, want one containing %q", name, r, want)
			}
		}()
		f()
	}
	mustPanic("cache for lq 6", "on a cache for batch ≤ 2, lq 6", func() {
		Exec{}.MultiHeadAttentionTrain(out, c.xq, c.xk, c.xv, s.batch, s.lq, s.lk, s.d, s.heads, c.in, c.out, NewAttentionCache(2, 6, 7, 8, 2))
	})
	mustPanic("batch 3 on a cache for 2", "batch 3", func() {
		Exec{}.MultiHeadAttentionTrain(out, c.xq, c.xk, c.xv, 3, s.lq, s.lk, s.d, s.heads, c.in, c.out, NewAttentionCache(2, 5, 7, 8, 2))
	})
	mustPanic("3 heads of 8", "3 heads do not divide d = 8", func() {
		Exec{}.MultiHeadAttentionTrain(out, c.xq, c.xk, c.xv, s.batch, s.lq, s.lk, s.d, 3, c.in, c.out, NewAttentionCache(2, 5, 7, 8, 3))
	})
	cache := NewAttentionCache(s.batch, s.lq, s.lk, s.d, s.heads)
	mustPanic("backward before forward", "forward of batch -1", func() {
		Exec{}.MultiHeadAttentionBackward(g.dXq, g.dXk, g.dXv, g.dIn, g.dOut, c.dOut, c.xq, c.xk, c.xv,
			s.batch, s.lq, s.lk, s.d, s.heads, c.in, c.out, cache, NewAttentionGrad(s.batch, s.lq, s.lk, s.d))
	})
	Exec{}.MultiHeadAttentionTrain(out, c.xq, c.xk, c.xv, 1, s.lq, s.lk, s.d, s.heads, c.in, c.out, cache)
	mustPanic("backward of another batch", "batch 2 on a cache filled by a forward of batch 1", func() {
		Exec{}.MultiHeadAttentionBackward(g.dXq, g.dXk, g.dXv, g.dIn, g.dOut, c.dOut, c.xq, c.xk, c.xv,
			s.batch, s.lq, s.lk, s.d, s.heads, c.in, c.out, cache, NewAttentionGrad(s.batch, s.lq, s.lk, s.d))
	})
	Exec{}.MultiHeadAttentionTrain(out, c.xq, c.xk, c.xv, s.batch, s.lq, s.lk, s.d, s.heads, c.in, c.out, cache)
	mustPanic("grad for batch 1", "AttentionGrad", func() {
		Exec{}.MultiHeadAttentionBackward(g.dXq, g.dXk, g.dXv, g.dIn, g.dOut, c.dOut, c.xq, c.xk, c.xv,
			s.batch, s.lq, s.lk, s.d, s.heads, c.in, c.out, cache, NewAttentionGrad(1, s.lq, s.lk, s.d))
	})
}
