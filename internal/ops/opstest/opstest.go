// Package opstest checks an ops.Backend against the Go references of
// internal/ops: every method on random inputs, in buffers from the
// backend's Alloc (sub-slices at an offset, with canaries around them that
// must survive), written and read from Go only after Sync, as the training
// code does. It is for tests: the CPU's in ops, another device's in its own
// package.
package opstest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ipt-go/ipt/internal/ops"
)

// canary fills the values around every buffer a case puts on the backend.
const canary = -7777.25

// pad is the canaries on each side of a buffer.
const pad = 5

// Check runs every method of b and compares the results with the
// references: bit for bit when tol is 0, else within tol relative to the
// larger of 1 and the largest reference value (1e-5 suits a device whose
// sums run in another order; the losses and the norm are compared the same
// way).
//
// The references are the package functions of ops (ops.Add, ops.Conv2d,
// ops.L1Loss, …) and, where there is none (the attention with its cache),
// ops.CPU with one thread.
func Check(t *testing.T, b ops.Backend, tol float64) {
	rng := rand.New(rand.NewPCG(1, 7))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &device{t: t, b: b, rng: rng, tol: tol}
			c.run(d)
			d.finish()
		})
	}
}

// device is one case's buffers on the backend under test.
type device struct {
	t    *testing.T
	b    ops.Backend
	rng  *rand.Rand
	tol  float64
	bufs [][]float32 // whole allocations: canaries, the buffer, canaries
}

// rand returns n values uniform in [-1, 1), on the host.
func (d *device) rand(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = d.rng.Float32()*2 - 1
	}
	return s
}

// put returns a buffer of the backend holding a copy of src.
func (d *device) put(src []float32) []float32 {
	whole := d.b.Alloc(len(src) + 2*pad)
	d.sync()
	for i := range whole {
		whole[i] = canary
	}
	x := whole[pad : pad+len(src) : pad+len(src)]
	copy(x, src)
	d.bufs = append(d.bufs, whole)
	return x
}

// get returns a host copy of a buffer of the backend, after a Sync.
func (d *device) get(x []float32) []float32 {
	d.sync()
	return slices.Clone(x)
}

func (d *device) sync() {
	d.t.Helper()
	if err := d.b.Sync(); err != nil {
		d.t.Fatalf("Sync: %v", err)
	}
}

// finish checks the canaries and frees the buffers.
func (d *device) finish() {
	d.sync()
	for _, whole := range d.bufs {
		for _, i := range []int{0, pad - 1, len(whole) - pad, len(whole) - 1} {
			if v := whole[i]; v != canary && !(math.IsNaN(float64(v)) && math.IsNaN(canary)) {
				d.t.Errorf("a write outside a buffer: canary %d of %d is %g", i, len(whole), v)
			}
		}
		d.b.Free(whole)
	}
}

// same compares a buffer of the backend with the reference values.
func (d *device) same(name string, got []float32, want []float32) {
	d.t.Helper()
	g := d.get(got)
	if len(g) != len(want) {
		d.t.Fatalf("%s: %d values, want %d", name, len(g), len(want))
	}
	var diff, scale float64
	at := -1
	for i := range want {
		gv, wv := float64(g[i]), float64(want[i])
		if math.IsNaN(gv) != math.IsNaN(wv) || (d.tol == 0 && math.Float32bits(g[i]) != math.Float32bits(want[i]) && !math.IsNaN(wv)) {
			d.t.Errorf("%s[%d] = %g, want %g", name, i, g[i], want[i])
			return
		}
		if e := math.Abs(gv - wv); e > diff {
			diff, at = e, i
		}
		scale = max(scale, math.Abs(wv))
	}
	if diff > d.tol*max(1, scale) {
		d.t.Errorf("%s: differs by %g at %d (%g, want %g; largest value %g, tolerance %g)", name, diff, at, g[at], want[at], scale, d.tol)
	}
}

// sameValue compares a float64 result.
func (d *device) sameValue(name string, got, want float64) {
	d.t.Helper()
	if d.tol == 0 && got != want || math.Abs(got-want) > d.tol*max(1, math.Abs(want)) || math.IsNaN(got) != math.IsNaN(want) {
		d.t.Errorf("%s = %.10g, want %.10g", name, got, want)
	}
}

type testCase struct {
	name string
	run  func(d *device)
}

// elementwise makes a case of an op on n-value buffers: op runs it on the
// backend, ref on host copies; every argument is an output compared after.
func elementwise(name string, args int, op func(b ops.Backend, x [][]float32), ref func(x [][]float32)) testCase {
	return testCase{name, func(d *device) {
		for _, n := range []int{1, 7, 64, 1000, 4099} {
			host := make([][]float32, args)
			dev := make([][]float32, args)
			for i := range host {
				host[i] = d.rand(n)
				dev[i] = d.put(host[i])
			}
			op(d.b, dev)
			ref(host)
			for i := range host {
				d.same(fmt.Sprintf("n %d: argument %d", n, i), dev[i], host[i])
			}
		}
	}}
}

// withZeros sets about a quarter of x to ±0, for the ops that branch on
// the sign or equality.
func withZeros(rng *rand.Rand, x []float32) {
	for i := range x {
		switch rng.IntN(8) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(math.Copysign(0, -1))
		}
	}
}

var cases = []testCase{
	{"Alloc", func(d *device) {
		for _, n := range []int{1, 5, 1 << 16} {
			x := d.b.Alloc(n)
			d.sync()
			if len(x) != n || slices.ContainsFunc(x, func(v float32) bool { return v != 0 }) {
				d.t.Errorf("Alloc(%d): %d values, not all zero", n, len(x))
			}
			d.b.Free(x)
		}
	}},
	elementwise("Zero", 1, func(b ops.Backend, x [][]float32) { b.Zero(x[0]) }, func(x [][]float32) { clear(x[0]) }),
	elementwise("Copy", 2, func(b ops.Backend, x [][]float32) { b.Copy(x[0], x[1]) }, func(x [][]float32) { copy(x[0], x[1]) }),
	elementwise("Scale", 1, func(b ops.Backend, x [][]float32) { b.Scale(x[0], 0.3) }, func(x [][]float32) { ops.Scale(x[0], 0.3) }),
	elementwise("Add", 2, func(b ops.Backend, x [][]float32) { b.Add(x[0], x[1]) }, func(x [][]float32) { ops.Add(x[0], x[1]) }),
	elementwise("AddTo", 3, func(b ops.Backend, x [][]float32) { b.AddTo(x[0], x[1], x[2]) }, func(x [][]float32) { ops.AddTo(x[0], x[1], x[2]) }),
	elementwise("ReLU", 1, func(b ops.Backend, x [][]float32) { b.ReLU(x[0]) }, func(x [][]float32) { ops.ReLU(x[0]) }),
	elementwise("ReLUBackwardTo", 3, func(b ops.Backend, x [][]float32) { b.ReLUBackwardTo(x[0], x[1], x[2]) }, func(x [][]float32) { ops.ReLUBackwardTo(x[0], x[1], x[2]) }),
	{"AddBiasReLU", func(d *device) {
		for _, s := range [][2]int{{1, 1}, {7, 5}, {64, 48}, {33, 192}} {
			x, bias := d.rand(s[0]*s[1]), d.rand(s[1])
			dx, db := d.put(x), d.put(bias)
			d.b.AddBiasReLU(dx, db)
			ops.AddBiasReLU(x, bias)
			d.same(fmt.Sprint(s), dx, x)
		}
	}},
	{"Conv2d", func(d *device) {
		for _, s := range []struct{ cin, cout, h, w, k int }{{3, 16, 24, 24, 3}, {5, 7, 9, 11, 5}, {3, 3, 6, 4, 1}, {4, 8, 13, 1, 3}} {
			in, wt, bias := d.rand(s.cin*s.h*s.w), d.rand(s.cout*s.cin*s.k*s.k), d.rand(s.cout)
			want := make([]float32, s.cout*s.h*s.w)
			ops.Conv2d(want, in, s.cin, s.h, s.w, wt, bias, s.cout, s.k, make([]float32, ops.Conv2dScratch(s.cin, s.h, s.w, s.k)))
			out := d.put(make([]float32, len(want)))
			scratch := d.put(make([]float32, d.b.Conv2dScratch(s.cin, s.h, s.w, s.k)))
			d.b.Conv2d(out, d.put(in), s.cin, s.h, s.w, d.put(wt), d.put(bias), s.cout, s.k, scratch)
			d.same(fmt.Sprint(s), out, want)
		}
	}},
	{"Conv2dBackward", func(d *device) {
		for _, s := range []struct{ cin, cout, h, w, k int }{{3, 16, 24, 24, 3}, {5, 7, 9, 11, 5}, {3, 3, 6, 4, 1}, {4, 8, 13, 1, 3}} {
			in, wt, dOut := d.rand(s.cin*s.h*s.w), d.rand(s.cout*s.cin*s.k*s.k), d.rand(s.cout*s.h*s.w)
			dIn, dW, dB := d.rand(len(in)), d.rand(len(wt)), d.rand(s.cout) // the backward adds
			gIn, gW, gB := d.put(dIn), d.put(dW), d.put(dB)
			scratch := d.put(make([]float32, d.b.Conv2dScratch(s.cin, s.h, s.w, s.k)))
			d.b.Conv2dBackward(gIn, gW, gB, d.put(dOut), d.put(in), s.cin, s.h, s.w, d.put(wt), s.cout, s.k, scratch)
			ops.Conv2dBackward(dIn, dW, dB, dOut, in, s.cin, s.h, s.w, wt, s.cout, s.k, make([]float32, ops.Conv2dScratch(s.cin, s.h, s.w, s.k)))
			d.same(fmt.Sprint(s, " dIn"), gIn, dIn)
			d.same(fmt.Sprint(s, " dWeight"), gW, dW)
			d.same(fmt.Sprint(s, " dBias"), gB, dB)
			// nil outputs are skipped
			gIn = d.put(dIn)
			d.b.Conv2dBackward(gIn, nil, nil, d.put(dOut), d.put(in), s.cin, s.h, s.w, d.put(wt), s.cout, s.k, scratch)
			ops.Conv2dBackward(dIn, nil, nil, dOut, in, s.cin, s.h, s.w, wt, s.cout, s.k, make([]float32, ops.Conv2dScratch(s.cin, s.h, s.w, s.k)))
			d.same(fmt.Sprint(s, " dIn alone"), gIn, dIn)
		}
	}},
	{"Linear", func(d *device) {
		for _, s := range [][3]int{{1, 1, 1}, {7, 5, 3}, {64, 48, 192}, {33, 192, 48}} {
			m, in, od := s[0], s[1], s[2]
			x, wt, bias := d.rand(m*in), d.rand(od*in), d.rand(od)
			for _, withBias := range []bool{true, false} {
				b, gb := bias, d.put(bias)
				if !withBias {
					b, gb = nil, nil
				}
				want := make([]float32, m*od)
				ops.Linear(want, x, m, in, wt, b, od)
				out := d.put(make([]float32, m*od))
				d.b.Linear(out, d.put(x), m, in, d.put(wt), gb, od)
				d.same(fmt.Sprint(s, " bias ", withBias), out, want)
			}
		}
	}},
	{"LinearBackward", func(d *device) {
		for _, s := range [][3]int{{1, 1, 1}, {7, 5, 3}, {64, 48, 192}, {33, 192, 48}} {
			m, in, od := s[0], s[1], s[2]
			x, wt, dOut := d.rand(m*in), d.rand(od*in), d.rand(m*od)
			dX, dW, dB := d.rand(m*in), d.rand(od*in), d.rand(od)
			gX, gW, gB := d.put(dX), d.put(dW), d.put(dB)
			d.b.LinearBackward(gX, gW, gB, d.put(dOut), d.put(x), m, in, d.put(wt), od)
			ops.LinearBackward(dX, dW, dB, dOut, x, m, in, wt, od)
			d.same(fmt.Sprint(s, " dX"), gX, dX)
			d.same(fmt.Sprint(s, " dWeight"), gW, dW)
			d.same(fmt.Sprint(s, " dBias"), gB, dB)
		}
	}},
	{"LayerNorm", func(d *device) {
		for _, s := range [][2]int{{1, 1}, {7, 5}, {64, 48}, {33, 432}} {
			m, dm := s[0], s[1]
			x, gamma, beta := d.rand(m*dm), d.rand(dm), d.rand(dm)
			want := make([]float32, m*dm)
			ops.LayerNorm(want, x, m, dm, gamma, beta, 1e-5)
			out := d.put(make([]float32, m*dm))
			d.b.LayerNorm(out, d.put(x), m, dm, d.put(gamma), d.put(beta), 1e-5)
			d.same(fmt.Sprint(s), out, want)
		}
	}},
	{"LayerNormBackward", func(d *device) {
		for _, s := range [][2]int{{1, 1}, {7, 5}, {64, 48}, {33, 432}} {
			m, dm := s[0], s[1]
			x, gamma, dOut := d.rand(m*dm), d.rand(dm), d.rand(m*dm)
			dX, dG, dB := d.rand(m*dm), d.rand(dm), d.rand(dm)
			gX, gG, gB := d.put(dX), d.put(dG), d.put(dB)
			d.b.LayerNormBackward(gX, gG, gB, d.put(dOut), d.put(x), m, dm, d.put(gamma), 1e-5)
			ops.LayerNormBackward(dX, dG, dB, dOut, x, m, dm, gamma, 1e-5)
			d.same(fmt.Sprint(s, " dX"), gX, dX)
			d.same(fmt.Sprint(s, " dGamma"), gG, dG)
			d.same(fmt.Sprint(s, " dBeta"), gB, dB)
		}
	}},
	{"MultiHeadAttention", inferenceAttentionCase},
	{"MultiHeadAttentionTrain", attentionCase},
	{"PixelShuffle", reshapeCase(func(b ops.Backend, out, in []float32, c, h, w, r int) { b.PixelShuffle(out, in, c, h, w, r) }, ops.PixelShuffle, false)},
	{"PixelShuffleBackward", reshapeCase(func(b ops.Backend, dIn, dOut []float32, c, h, w, r int) {
		b.PixelShuffleBackward(dIn, dOut, c, h, w, r)
	}, ops.PixelShuffleBackward, false)},
	{"Unfold", reshapeCase(func(b ops.Backend, out, in []float32, c, h, w, p int) { b.Unfold(out, in, c, h, w, p) }, ops.Unfold, true)},
	{"UnfoldBackward", reshapeCase(func(b ops.Backend, dIn, dTok []float32, c, h, w, p int) { b.UnfoldBackward(dIn, dTok, c, h, w, p) }, ops.UnfoldBackward, true)},
	{"Fold", reshapeCase(func(b ops.Backend, out, tok []float32, c, h, w, p int) { b.Fold(out, tok, c, h, w, p) }, ops.Fold, true)},
	{"FoldBackward", reshapeCase(func(b ops.Backend, dTok, dOut []float32, c, h, w, p int) { b.FoldBackward(dTok, dOut, c, h, w, p) }, ops.FoldBackward, true)},
	{"L1Loss", func(d *device) {
		for _, n := range []int{1, 7, 4099, 3 * 96 * 96 * 8} {
			out, target, dOut := d.rand(n), d.rand(n), d.rand(n)
			copy(target[:n/3], out[:n/3]) // equal values: a zero gradient
			gOut := d.put(dOut)
			got := d.b.L1Loss(d.put(out), d.put(target), gOut, 0.7)
			want := ops.L1Loss(out, target, dOut, 0.7)
			d.sameValue(fmt.Sprint(n, " loss"), got, want)
			d.same(fmt.Sprint(n, " dOut"), gOut, dOut)
		}
	}},
	{"ContrastiveLoss", func(d *device) {
		for _, s := range [][3]int{{2, 3, 5}, {3, 4, 6}, {4, 64, 48}, {8, 64, 144}} {
			N, L, dm := s[0], s[1], s[2]
			rows := N * L
			x, dx := d.rand(rows*dm), d.rand(rows*dm)
			gx := d.put(dx)
			got := d.b.ContrastiveLoss(d.put(x), gx, N, L, dm, 0.07, 0.1,
				d.put(make([]float32, rows*dm)), d.put(make([]float32, rows*dm)), d.put(make([]float32, rows*rows)))
			want := ops.ContrastiveLoss(x, dx, N, L, dm, 0.07, 0.1, make([]float32, rows*dm), make([]float32, rows*dm), make([]float32, rows*rows))
			d.sameValue(fmt.Sprint(s, " loss"), got, want)
			d.same(fmt.Sprint(s, " dx"), gx, dx)
		}
	}},
	{"L2Norm", func(d *device) {
		for _, n := range []int{1, 7, 1<<14 + 1, 5<<14 + 3, 1 << 20} {
			x := d.rand(n)
			d.sameValue(fmt.Sprint(n), d.b.L2Norm(d.put(x)), ops.L2Norm(x))
		}
	}},
	{"AdamUpdate", func(d *device) {
		c := ops.AdamCoefs{B1: 0.9, C1: 0.1, B2: 0.999, C2: 1 - float32(0.999), BC2: 0.05, Eps: 1e-8, Step: 1e-3}
		for _, n := range []int{1, 7, 1<<16 + 5, 3<<16 + 17} {
			p, g, m, v := d.rand(n), d.rand(n), d.rand(n), d.rand(n)
			for i := range v {
				v[i] = v[i] * v[i]
			}
			gp, gm, gv := d.put(p), d.put(m), d.put(v)
			d.b.AdamUpdate(gp, d.put(g), gm, gv, c)
			ops.AdamUpdate(p, g, m, v, c)
			d.same(fmt.Sprint(n, " p"), gp, p)
			d.same(fmt.Sprint(n, " m"), gm, m)
			d.same(fmt.Sprint(n, " v"), gv, v)
		}
	}},
}

// reshapeCase tests a reshape op, op(b, dst, src, c, h, w, f) against
// ref(dst, src, c, h, w, f), on c·h·w·f² values (f the shuffle or patch
// factor; for the patch ops, patch, h and w are the image's, multiples of
// f). dst starts random: the backwards add into it, the others overwrite it.
func reshapeCase(op func(b ops.Backend, dst, src []float32, c, h, w, f int), ref func(dst, src []float32, c, h, w, f int), patch bool) func(d *device) {
	return func(d *device) {
		for _, s := range [][4]int{{1, 1, 1, 2}, {3, 2, 5, 3}, {16, 8, 8, 2}, {16, 24, 24, 3}} {
			c, h, w, f := s[0], s[1], s[2], s[3]
			n := c * h * w * f * f // every one of these ops moves n values
			if patch {
				h, w = h*f, w*f // Unfold and Fold take the image size, multiples of p
			}
			src, dst := d.rand(n), d.rand(n)
			gd := d.put(dst)
			op(d.b, gd, d.put(src), c, h, w, f)
			ref(dst, src, c, h, w, f)
			d.same(fmt.Sprint(s), gd, dst)
		}
	}
}

// inferenceAttentionCase runs the inference attention with a scratch from
// the backend, on encoder-like (one input for q, k and v), decoder
// self-attention-like and cross-attention shapes, at the scratch's batch and
// then a smaller one into the same scratch, against ops.CPU with one
// thread.
func inferenceAttentionCase(d *device) {
	ref := ops.CPU{Threads: 1}
	for _, s := range []struct {
		batch, lq, lk, d, heads int
		alias                   string
	}{{1, 3, 3, 4, 2, "qkv"}, {2, 5, 7, 12, 3, ""}, {3, 64, 64, 48, 4, "qk"}, {3, 64, 64, 144, 12, "qkv"}} {
		B, lq, lk, dm, H := s.batch, s.lq, s.lk, s.d, s.heads
		scratch := d.b.NewAttentionScratch(B, lq, lk, dm, H)
		rs := ops.NewAttentionScratch(B, lq, lk, dm)
		for _, n := range []int{B, max(1, B-1)} {
			name := fmt.Sprintf("%+v batch %d", s, n)
			xq, xk, xv := d.rand(n*lq*dm), d.rand(n*lk*dm), d.rand(n*lk*dm)
			switch s.alias {
			case "qkv":
				xk, xv = xq, xq
			case "qk":
				xk = xq
			}
			inProj, outProj := d.rand(3*dm*dm), d.rand(dm*dm)
			gq := d.put(xq)
			gk, gv := gq, gq
			switch s.alias {
			case "":
				gk, gv = d.put(xk), d.put(xv)
			case "qk":
				gv = d.put(xv)
			}
			out := d.put(d.rand(n * lq * dm)) // overwritten
			d.b.MultiHeadAttention(out, gq, gk, gv, n, lq, lk, dm, H, d.put(inProj), d.put(outProj), scratch)
			want := make([]float32, n*lq*dm)
			ref.MultiHeadAttention(want, xq, xk, xv, n, lq, lk, dm, H, inProj, outProj, rs)
			d.same(name, out, want)
		}
		d.sync()
		q, k, v, ctx, scores, sums := scratch.Buffers()
		for _, buf := range [][]float32{q, k, v, ctx, scores, sums} {
			d.b.Free(buf)
		}
	}
}

// attentionCase runs the attention forward with a cache from the backend,
// then its backward, on encoder-like (one input for q, k and v; one slice
// for the three input gradients), decoder self-attention-like and
// cross-attention shapes, against ops.CPU with one thread.
func attentionCase(d *device) {
	ref := ops.CPU{Threads: 1}
	for _, s := range []struct {
		batch, lq, lk, d, heads int
		alias                   string
	}{{1, 3, 3, 4, 2, "qkv"}, {2, 5, 7, 12, 3, ""}, {3, 64, 64, 48, 4, "qk"}, {2, 64, 64, 144, 12, "qkv"}} {
		name := fmt.Sprintf("%+v", s)
		B, lq, lk, dm, H := s.batch, s.lq, s.lk, s.d, s.heads
		xq, xk, xv := d.rand(B*lq*dm), d.rand(B*lk*dm), d.rand(B*lk*dm)
		switch s.alias {
		case "qkv":
			xk, xv = xq, xq
		case "qk":
			xk = xq
		}
		inProj, outProj := d.rand(3*dm*dm), d.rand(dm*dm)
		gq := d.put(xq)
		gk, gv := gq, gq
		if s.alias == "" {
			gk, gv = d.put(xk), d.put(xv)
		} else if s.alias == "qk" {
			gk, gv = gq, d.put(xv)
		}
		gIn, gOutP := d.put(inProj), d.put(outProj)

		cache := d.b.NewAttentionCache(B, lq, lk, dm, H)
		grad := d.b.NewAttentionGrad(B, lq, lk, dm)
		out := d.put(make([]float32, B*lq*dm))
		d.b.MultiHeadAttentionTrain(out, gq, gk, gv, B, lq, lk, dm, H, gIn, gOutP, cache)
		rc := ref.NewAttentionCache(B, lq, lk, dm, H)
		want := make([]float32, B*lq*dm)
		ref.MultiHeadAttentionTrain(want, xq, xk, xv, B, lq, lk, dm, H, inProj, outProj, rc)
		d.same(name+" out", out, want)

		dOut := d.rand(B * lq * dm)
		dq, dk, dv := d.rand(B*lq*dm), d.rand(B*lk*dm), d.rand(B*lk*dm)
		dIn, dOutP := d.rand(3*dm*dm), d.rand(dm*dm)
		gdq := d.put(dq)
		gdk, gdv := gdq, gdq
		switch s.alias {
		case "qkv":
			dk, dv = dq, dq
		case "qk":
			dk = dq
			gdv = d.put(dv)
		default:
			gdk, gdv = d.put(dk), d.put(dv)
		}
		gdIn, gdOutP := d.put(dIn), d.put(dOutP)
		d.b.MultiHeadAttentionBackward(gdq, gdk, gdv, gdIn, gdOutP, d.put(dOut), gq, gk, gv, B, lq, lk, dm, H, gIn, gOutP, cache, grad)
		ref.MultiHeadAttentionBackward(dq, dk, dv, dIn, dOutP, dOut, xq, xk, xv, B, lq, lk, dm, H, inProj, outProj, rc, ref.NewAttentionGrad(B, lq, lk, dm))
		d.same(name+" dXq", gdq, dq)
		d.same(name+" dXk", gdk, dk)
		d.same(name+" dXv", gdv, dv)
		d.same(name+" dInProj", gdIn, dIn)
		d.same(name+" dOutProj", gdOutP, dOutP)
		freeAttention(d.b, cache, grad)
	}
}

func freeAttention(b ops.Backend, c *ops.AttentionCache, g *ops.AttentionGrad) {
	q, k, v, p, ctx, sums := c.Buffers()
	dCtx, dQKVT, dP := g.Buffers()
	for _, buf := range [][]float32{q, k, v, p, ctx, sums, dCtx, dQKVT, dP} {
		b.Free(buf)
	}
}
