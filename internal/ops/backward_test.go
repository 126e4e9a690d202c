package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Tests of the backward passes: finite-difference gradient checks of every
// op and gradient output on small shapes, the fast versions against their
// references on every CPU path (sizes around block edges and IPT's own),
// the accumulate convention, nil outputs, and bits that do not depend on
// the thread count.

// gradStep is the finite-difference step: a power of two, so x±h is exact
// for most x, and large since the ops checked are linear in each input
// (layer norm uses a smaller one).
const gradStep = 1.0 / 16

func zeros(n int) []float32 { return make([]float32, n) }

func TestConv2dBackwardGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 1))
	for _, tc := range []struct{ cin, cout, h, w, k int }{
		{1, 1, 1, 1, 1}, {3, 5, 2, 7, 1}, {3, 3, 5, 5, 1},
		{1, 3, 1, 1, 3}, {3, 5, 2, 5, 3}, {5, 3, 7, 2, 3}, {3, 1, 5, 7, 3},
		{1, 1, 1, 2, 5}, {3, 5, 5, 5, 5}, {5, 3, 7, 7, 5}, {3, 3, 2, 1, 5},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			cin, cout, h, w, k := tc.cin, tc.cout, tc.h, tc.w, tc.k
			in := randSlice(rng, cin*h*w)
			wt := randSlice(rng, cout*cin*k*k)
			bias := randSlice(rng, cout)
			dOut := randSlice(rng, cout*h*w)
			out := zeros(cout * h * w)
			loss := func() float64 {
				Conv2dRef(out, in, cin, h, w, wt, bias, cout, k)
				return weightedSum(dOut, out)
			}
			numIn := numericGrad(in, gradStep, loss)
			numW := numericGrad(wt, gradStep, loss)
			numB := numericGrad(bias, gradStep, loss)
			// The whole image in scratch, and bands of one row.
			for _, rows := range []int{h, 1} {
				dIn, dW, dB := zeros(len(in)), zeros(len(wt)), zeros(len(bias))
				scratch := zeros(cin * k * k * w * rows)
				Conv2dBackward(dIn, dW, dB, dOut, in, cin, h, w, wt, cout, k, scratch)
				name := fmt.Sprintf("band %d", rows)
				checkGrad(t, name+" dIn", dIn, numIn, 1e-3, 1e-3)
				checkGrad(t, name+" dWeight", dW, numW, 1e-3, 1e-3)
				checkGrad(t, name+" dBias", dB, numB, 1e-3, 1e-3)
			}
		})
	}
}

func TestLinearBackwardGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 2))
	for _, tc := range []struct{ m, in, out int }{{1, 1, 1}, {5, 7, 3}, {3, 1, 9}, {7, 13, 17}} {
		x, wt, bias := randSlice(rng, tc.m*tc.in), randSlice(rng, tc.out*tc.in), randSlice(rng, tc.out)
		dOut := randSlice(rng, tc.m*tc.out)
		out := zeros(tc.m * tc.out)
		loss := func() float64 {
			LinearRef(out, x, tc.m, tc.in, wt, bias, tc.out)
			return weightedSum(dOut, out)
		}
		dX, dW, dB := zeros(len(x)), zeros(len(wt)), zeros(len(bias))
		LinearBackward(dX, dW, dB, dOut, x, tc.m, tc.in, wt, tc.out)
		name := fmt.Sprint(tc)
		checkGrad(t, name+" dX", dX, numericGrad(x, gradStep, loss), 1e-3, 1e-3)
		checkGrad(t, name+" dWeight", dW, numericGrad(wt, gradStep, loss), 1e-3, 1e-3)
		checkGrad(t, name+" dBias", dB, numericGrad(bias, gradStep, loss), 1e-3, 1e-3)
	}
}

func TestReLUBackwardGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 3))
	x := randSlice(rng, 37)
	for i, v := range x { // keep every value a step away from the kink
		if math.Abs(float64(v)) < 0.1 {
			x[i] = 0.1 + v
		}
	}
	dOut := randSlice(rng, len(x))
	y := zeros(len(x))
	loss := func() float64 {
		copy(y, x)
		ReLU(y)
		return weightedSum(dOut, y)
	}
	num := numericGrad(x, 1.0/64, loss)
	loss()
	dX := zeros(len(x))
	ReLUBackward(dX, dOut, y)
	checkGrad(t, "dX", dX, num, 1e-5, 1e-5)
	// In place: the same gradient (and neither doubled nor added).
	inPlace := slices.Clone(dOut)
	ReLUBackward(inPlace, inPlace, y)
	if !slices.Equal(inPlace, dX) {
		t.Errorf("in place: %v, want %v", inPlace, dX)
	}
	// Accumulates into a non-zero dX; y = 0, -0 and NaN pass nothing.
	acc := []float32{1, 2, 3, 4}
	ReLUBackward(acc, []float32{10, 20, 30, 40}, []float32{0.5, 0, float32(math.Copysign(0, -1)), float32(math.NaN())})
	if want := []float32{11, 2, 3, 4}; !slices.Equal(acc, want) {
		t.Errorf("accumulate: %v, want %v", acc, want)
	}
}

func TestBiasSumsGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 4))
	for _, n := range []int{1, 5, 513, 1100} { // past SumRows' 512-column blocks
		rows := 3
		x := randSlice(rng, rows*n)
		bias := randSlice(rng, n)
		dOut := randSlice(rng, rows*n)
		y := zeros(len(x))
		loss := func() float64 {
			copy(y, x)
			AddRowBias(y, bias)
			return weightedSum(dOut, y)
		}
		dB := zeros(n)
		SumRows(dB, dOut)
		checkGrad(t, fmt.Sprintf("SumRows n=%d", n), dB, numericGrad(bias, gradStep, loss), 1e-4, 1e-4)
	}
	for _, tc := range []struct{ c, hw int }{{1, 1}, {3, 7}, {5, 49}} {
		x := randSlice(rng, tc.c*tc.hw)
		bias := randSlice(rng, tc.c)
		dOut := randSlice(rng, len(x))
		y := zeros(len(x))
		loss := func() float64 {
			copy(y, x)
			AddChannelBias(y, bias, tc.hw)
			return weightedSum(dOut, y)
		}
		dB := zeros(tc.c)
		SumChannels(dB, dOut, tc.hw)
		checkGrad(t, fmt.Sprintf("SumChannels %v", tc), dB, numericGrad(bias, gradStep, loss), 1e-4, 1e-4)
	}
}

func TestLayerNormBackwardGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 5))
	for _, tc := range []struct{ m, d int }{{1, 1}, {2, 2}, {3, 5}, {2, 8}, {3, 13}} {
		m, d := tc.m, tc.d
		x := randSlice(rng, m*d)
		for i := range x {
			x[i] = 2*x[i] + 3 // a mean away from zero
		}
		gamma, beta := randSlice(rng, d), randSlice(rng, d)
		dOut := randSlice(rng, m*d)
		out := zeros(m * d)
		loss := func() float64 {
			LayerNorm(out, x, m, d, gamma, beta, 1e-5)
			return weightedSum(dOut, out)
		}
		dX, dG, dB := zeros(m*d), zeros(d), zeros(d)
		LayerNormBackward(dX, dG, dB, dOut, x, m, d, gamma, 1e-5)
		name := fmt.Sprint(tc)
		checkGrad(t, name+" dX", dX, numericGrad(x, 1.0/1024, loss), 2e-3, 1e-2)
		checkGrad(t, name+" dGamma", dG, numericGrad(gamma, gradStep, loss), 1e-3, 1e-3)
		checkGrad(t, name+" dBeta", dB, numericGrad(beta, gradStep, loss), 1e-3, 1e-3)
		// The Jacobian-form reference agrees.
		rX, rG, rB := zeros(m*d), zeros(d), zeros(d)
		LayerNormBackwardRef(rX, rG, rB, dOut, x, m, d, gamma, 1e-5)
		checkGrad(t, name+" ref dX", rX, numericGrad(x, 1.0/1024, loss), 2e-3, 1e-2)
		checkGrad(t, name+" ref dGamma", rG, numericGrad(gamma, gradStep, loss), 1e-3, 1e-3)
		checkGrad(t, name+" ref dBeta", rB, numericGrad(beta, gradStep, loss), 1e-3, 1e-3)
	}
}

func TestReshapeBackwardGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 6))
	check := func(name string, x []float32, nOut int, fwd func(out []float32), bwd func(dX, dOut []float32)) {
		t.Helper()
		dOut := randSlice(rng, nOut)
		out := zeros(nOut)
		loss := func() float64 {
			fwd(out)
			return weightedSum(dOut, out)
		}
		dX := zeros(len(x))
		bwd(dX, dOut)
		checkGrad(t, name, dX, numericGrad(x, gradStep, loss), 1e-5, 1e-5)
	}
	for _, tc := range []struct{ c, h, w, r int }{{1, 1, 1, 2}, {2, 3, 5, 2}, {3, 2, 1, 3}} {
		n := tc.c * tc.r * tc.r * tc.h * tc.w
		x := randSlice(rng, n)
		check(fmt.Sprintf("PixelShuffle %v", tc), x, n,
			func(out []float32) { PixelShuffle(out, x, tc.c, tc.h, tc.w, tc.r) },
			func(dX, dOut []float32) { PixelShuffleBackward(dX, dOut, tc.c, tc.h, tc.w, tc.r) })
	}
	for _, tc := range []struct{ c, h, w, p int }{{1, 3, 3, 3}, {2, 6, 9, 3}, {3, 4, 2, 2}} {
		n := tc.c * tc.h * tc.w
		x := randSlice(rng, n)
		check(fmt.Sprintf("Unfold %v", tc), x, n,
			func(out []float32) { Unfold(out, x, tc.c, tc.h, tc.w, tc.p) },
			func(dX, dOut []float32) { UnfoldBackward(dX, dOut, tc.c, tc.h, tc.w, tc.p) })
		tok := randSlice(rng, n)
		check(fmt.Sprintf("Fold %v", tc), tok, n,
			func(out []float32) { Fold(out, tok, tc.c, tc.h, tc.w, tc.p) },
			func(dX, dOut []float32) { FoldBackward(dX, dOut, tc.c, tc.h, tc.w, tc.p) })
	}
}

// TestCol2imIsAdjoint checks ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩ for bands at
// the top, middle and bottom of the image, and that col2im adds.
func TestCol2imIsAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 7))
	for _, tc := range []struct{ cin, h, w, k, y0, rows int }{
		{1, 1, 1, 3, 0, 1}, {2, 5, 7, 3, 0, 5}, {3, 7, 5, 5, 2, 3}, {3, 7, 5, 5, 6, 1},
		{2, 4, 1, 5, 1, 2}, {1, 9, 2, 7, 0, 9}, {4, 6, 6, 1, 1, 4},
	} {
		n := tc.cin * tc.k * tc.k * tc.rows * tc.w
		x := randSlice(rng, tc.cin*tc.h*tc.w)
		y := randSlice(rng, n)
		cols := zeros(n)
		im2col(cols, x, tc.cin, tc.h, tc.w, tc.k, tc.y0, tc.rows)
		base := randSlice(rng, len(x))
		back := slices.Clone(base)
		col2im(back, y, tc.cin, tc.h, tc.w, tc.k, tc.y0, tc.rows)
		var lhs, rhs, mag float64
		for i := range cols {
			lhs += float64(cols[i]) * float64(y[i])
			mag += math.Abs(float64(cols[i]) * float64(y[i]))
		}
		for i := range x {
			rhs += float64(x[i]) * (float64(back[i]) - float64(base[i]))
		}
		if math.Abs(lhs-rhs) > 1e-6*(1+mag) {
			t.Errorf("%+v: ⟨im2col(x), y⟩ = %.9g, ⟨x, col2im(y)⟩ = %.9g", tc, lhs, rhs)
		}
	}
}

// convCase is one convolution with its inputs and the reference gradients.
type convCase struct {
	cin, cout, h, w, k int
	in, wt, dOut       []float32
	init               [3][]float32 // initial dIn, dWeight, dBias (non-zero)
	want               [3][]float32 // init + the reference gradients
}

func newConvCase(rng *rand.Rand, cin, cout, h, w, k int) *convCase {
	c := &convCase{cin: cin, cout: cout, h: h, w: w, k: k,
		in: randSlice(rng, cin*h*w), wt: randSlice(rng, cout*cin*k*k), dOut: randSlice(rng, cout*h*w)}
	for i, n := range []int{cin * h * w, cout * cin * k * k, cout} {
		c.init[i] = randSlice(rng, n)
		for j := range c.init[i] {
			c.init[i][j] += 4 // so that a missing initial value shows
		}
		c.want[i] = slices.Clone(c.init[i])
	}
	Conv2dBackwardRef(c.want[0], c.want[1], c.want[2], c.dOut, c.in, cin, h, w, c.wt, cout, k)
	return c
}

func (c *convCase) String() string {
	return fmt.Sprintf("cin=%d cout=%d h=%d w=%d k=%d", c.cin, c.cout, c.h, c.w, c.k)
}

// run computes the gradients with e on copies of the initial values, with
// scratch for bands of rows rows.
func (c *convCase) run(e Exec, rows int) [3][]float32 {
	var g [3][]float32
	for i := range g {
		g[i] = slices.Clone(c.init[i])
	}
	scratch := zeros(max(Conv2dScratch(c.cin, min(rows, c.h), c.w, c.k), 1))
	if rows < c.h {
		scratch = zeros(c.cin * c.k * c.k * c.w * rows)
	}
	e.Conv2dBackward(g[0], g[1], g[2], c.dOut, c.in, c.cin, c.h, c.w, c.wt, c.cout, c.k, scratch)
	return g
}

var gradNames = [3]string{"dIn", "dWeight", "dBias"}

// TestConv2dBackwardPaths compares Conv2dBackward with the reference on
// every GEMM path (and its tiny-block variant), starting from non-zero
// gradients, on shapes around the micro-tile edges and IPT's own: the mean
// shift (k=1), the head (3→64), a ResBlock conv (64→64 5×5 at 48×48) and
// the tails (64→256, 64→3). IPT's shapes take seconds of reference and are
// left out by -short.
func TestConv2dBackwardPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 8))
	shapes := [][5]int{ // cin, cout, h, w, k
		{3, 3, 48, 48, 1}, {3, 64, 48, 48, 3}, {64, 64, 48, 48, 5}, {64, 3, 48, 48, 3}, {64, 256, 12, 12, 3},
		{7, 13, 9, 11, 3}, {2, 12, 16, 16, 3}, {1, 11, 5, 33, 5}, {5, 25, 3, 17, 1}, {4, 32, 8, 4, 3}, {1, 1, 1, 1, 5},
	}
	if testing.Short() {
		shapes = shapes[5:]
	}
	kernels := gemmKernels(t)
	var cases []*convCase
	for _, s := range shapes {
		if s[0]*s[1]*s[4]*s[4]*s[2]*s[3] > 1<<22 && !anyFastPath(kernels) {
			continue
		}
		cases = append(cases, newConvCase(rng, s[0], s[1], s[2], s[3], s[4]))
	}
	for _, kern := range kernels {
		t.Run(kern.name, func(t *testing.T) {
			defer activeKernel.Store(activeKernel.Swap(kern))
			for _, c := range cases {
				if slowPath(kern) && c.cin*c.cout*c.k*c.k*c.h*c.w > 1<<22 {
					continue
				}
				for _, rows := range []int{c.h, 5, 1} {
					if rows > c.h {
						continue
					}
					got := c.run(Exec{Threads: 2}, rows)
					for i := range got {
						if e := relErr(got[i], c.want[i]); e > 2e-5 {
							t.Errorf("%v band %d: %s: relative error %.3g", c, rows, gradNames[i], e)
						}
					}
				}
			}
		})
	}
}

// TestConv2dBackwardThreads: the same bits on any number of threads, with
// products and channel loops split as finely as they go (the forward's
// im2col too).
func TestConv2dBackwardThreads(t *testing.T) {
	defer func(g, c int) { gemmThreadWork, byChannelWork = g, c }(gemmThreadWork, byChannelWork)
	gemmThreadWork, byChannelWork = 1, 1
	rng := rand.New(rand.NewPCG(21, 9))
	cases := []*convCase{newConvCase(rng, 7, 13, 16, 20, 3), newConvCase(rng, 5, 9, 11, 7, 5), newConvCase(rng, 3, 19, 30, 30, 1)}
	for _, kern := range gemmKernels(t) {
		defer activeKernel.Store(activeKernel.Swap(kern))
		for _, c := range cases {
			fwd := func(threads int) []float32 {
				out := zeros(c.cout * c.h * c.w)
				Exec{Threads: threads}.Conv2d(out, c.in, c.cin, c.h, c.w, c.wt, c.init[2], c.cout, c.k, zeros(max(1, Conv2dScratch(c.cin, c.h, c.w, c.k))))
				return out
			}
			for _, threads := range []int{2, 5} {
				if !bitsEqual(fwd(threads), fwd(1)) {
					t.Errorf("%s: %v: forward on %d threads differs from 1", kern.name, c, threads)
				}
			}
			for _, rows := range []int{c.h, 3} {
				one := c.run(Exec{Threads: 1}, rows)
				for _, threads := range []int{2, 3, 5} {
					got := c.run(Exec{Threads: threads}, rows)
					for i := range got {
						if !bitsEqual(got[i], one[i]) {
							t.Errorf("%s: %v band %d: %s on %d threads differs from 1", kern.name, c, rows, gradNames[i], threads)
						}
					}
				}
			}
		}
	}
}

// slowPath reports whether the large shapes skip kern: the plain-Go GEMM
// takes seconds on them, and the tiny-block variants meet no edge there
// that the small shapes miss. Both run every small shape.
func slowPath(kern *gemmKernel) bool {
	return kern.name == genericKernel.name || strings.HasSuffix(kern.name, "-tinyblocks")
}

// anyFastPath reports whether some kernel runs the large shapes (so their
// reference is worth computing).
func anyFastPath(kernels []*gemmKernel) bool {
	return slices.ContainsFunc(kernels, func(k *gemmKernel) bool { return !slowPath(k) })
}

func bitsEqual(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// TestConv2dBackwardNil: a nil output is skipped, and what it alone needs
// (the input for dWeight, the weights for dIn, scratch for either) may be
// nil too; the other outputs get the same bits as with all three.
func TestConv2dBackwardNil(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 10))
	for _, k := range []int{1, 3} {
		c := newConvCase(rng, 3, 5, 6, 7, k)
		all := c.run(Exec{}, c.h)
		scratch := zeros(max(1, Conv2dScratch(c.cin, c.h, c.w, c.k)))
		canary := slices.Clone(scratch)
		for i := range canary {
			canary[i] = -1234
		}
		only := func(i int) []float32 { return slices.Clone(c.init[i]) }

		dB := only(2)
		copy(scratch, canary)
		Conv2dBackward(nil, nil, dB, c.dOut, nil, c.cin, c.h, c.w, nil, c.cout, c.k, nil)
		if !bitsEqual(dB, all[2]) {
			t.Errorf("k=%d: dBias alone differs", k)
		}
		dIn := only(0)
		Conv2dBackward(dIn, nil, nil, c.dOut, nil, c.cin, c.h, c.w, c.wt, c.cout, c.k, scratch)
		if !bitsEqual(dIn, all[0]) {
			t.Errorf("k=%d: dIn alone differs", k)
		}
		dW := only(1)
		Conv2dBackward(nil, dW, nil, c.dOut, c.in, c.cin, c.h, c.w, nil, c.cout, c.k, scratch)
		if !bitsEqual(dW, all[1]) {
			t.Errorf("k=%d: dWeight alone differs", k)
		}
	}
}

// TestLinearBackwardPaths compares LinearBackward with the reference on
// every path, starting from non-zero gradients, on shapes around the
// micro-tile edges and IPT's linear layers (the released FFN:
// 2048 rows, 576 → 2304, outside -short).
func TestLinearBackwardPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 11))
	shapes := [][3]int{{1, 1, 1}, {5, 7, 3}, {13, 33, 65}, {257, 31, 129}, {12, 32, 6}, {11, 17, 31}, {300, 576, 48}, {2048, 576, 2304}}
	if testing.Short() {
		shapes = shapes[:len(shapes)-1]
	}
	type linCase struct {
		m, in, out  int
		x, wt, dOut []float32
		init, want  [3][]float32
		large       bool
	}
	kernels := gemmKernels(t)
	var cases []*linCase
	for _, s := range shapes {
		if s[0]*s[1]*s[2] > 1<<22 && !anyFastPath(kernels) {
			continue
		}
		c := &linCase{m: s[0], in: s[1], out: s[2]}
		c.x, c.wt, c.dOut = randSlice(rng, c.m*c.in), randSlice(rng, c.out*c.in), randSlice(rng, c.m*c.out)
		for i, n := range []int{c.m * c.in, c.out * c.in, c.out} {
			c.init[i] = randSlice(rng, n)
			for j := range c.init[i] {
				c.init[i][j] += 4
			}
			c.want[i] = slices.Clone(c.init[i])
		}
		LinearBackwardRef(c.want[0], c.want[1], c.want[2], c.dOut, c.x, c.m, c.in, c.wt, c.out)
		cases = append(cases, c)
	}
	names := [3]string{"dX", "dWeight", "dBias"}
	for _, kern := range kernels {
		t.Run(kern.name, func(t *testing.T) {
			defer activeKernel.Store(activeKernel.Swap(kern))
			for _, c := range cases {
				if slowPath(kern) && c.m*c.in*c.out > 1<<22 {
					continue
				}
				var g [3][]float32
				for i := range g {
					g[i] = slices.Clone(c.init[i])
				}
				Exec{Threads: 2}.LinearBackward(g[0], g[1], g[2], c.dOut, c.x, c.m, c.in, c.wt, c.out)
				for i := range g {
					if e := relErr(g[i], c.want[i]); e > 2e-5 {
						t.Errorf("m=%d in=%d out=%d: %s: relative error %.3g", c.m, c.in, c.out, names[i], e)
					}
				}
			}
		})
	}
}

// TestLinearBackwardThreadsAndNil: the same bits on any number of threads,
// and each output alone (with what only the others need passed as nil)
// gets the bits it gets with all three.
func TestLinearBackwardThreadsAndNil(t *testing.T) {
	defer func(g int) { gemmThreadWork = g }(gemmThreadWork)
	gemmThreadWork = 1
	rng := rand.New(rand.NewPCG(21, 12))
	m, in, out := 70, 45, 99
	x, wt, dOut := randSlice(rng, m*in), randSlice(rng, out*in), randSlice(rng, m*out)
	for _, kern := range gemmKernels(t) {
		defer activeKernel.Store(activeKernel.Swap(kern))
		run := func(threads int) [3][]float32 {
			g := [3][]float32{zeros(m * in), zeros(out * in), zeros(out)}
			Exec{Threads: threads}.LinearBackward(g[0], g[1], g[2], dOut, x, m, in, wt, out)
			return g
		}
		one := run(1)
		for _, threads := range []int{2, 3, 5} {
			got := run(threads)
			for i := range got {
				if !bitsEqual(got[i], one[i]) {
					t.Errorf("%s: output %d on %d threads differs from 1", kern.name, i, threads)
				}
			}
		}
		dX, dW, dB := zeros(m*in), zeros(out*in), zeros(out)
		LinearBackward(dX, nil, nil, dOut, nil, m, in, wt, out)
		LinearBackward(nil, dW, nil, dOut, x, m, in, nil, out)
		LinearBackward(nil, nil, dB, dOut, nil, m, in, nil, out)
		if !bitsEqual(dX, one[0]) || !bitsEqual(dW, one[1]) || !bitsEqual(dB, one[2]) {
			t.Errorf("%s: an output computed alone differs", kern.name)
		}
	}
}

// TestLayerNormBackwardMatchesRef: the O(d) form against the Jacobian on
// IPT's width and odd ones, rows with large means, accumulating into
// non-zero outputs; each output alone gives the same bits.
func TestLayerNormBackwardMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 13))
	for _, tc := range []struct{ m, d int }{{1, 1}, {4, 7}, {9, 33}, {5, 576}} {
		m, d := tc.m, tc.d
		x := randSlice(rng, m*d)
		for r := 0; r < m; r++ {
			for j := 0; j < d; j++ {
				x[r*d+j] = x[r*d+j]*float32(r+1) + 50*float32(r) // spreads and means vary by row
			}
		}
		gamma, dOut := randSlice(rng, d), randSlice(rng, m*d)
		init := [3][]float32{randSlice(rng, m*d), randSlice(rng, d), randSlice(rng, d)}
		var got, want [3][]float32
		for i := range init {
			got[i], want[i] = slices.Clone(init[i]), slices.Clone(init[i])
		}
		LayerNormBackward(got[0], got[1], got[2], dOut, x, m, d, gamma, 1e-5)
		LayerNormBackwardRef(want[0], want[1], want[2], dOut, x, m, d, gamma, 1e-5)
		for i, name := range []string{"dX", "dGamma", "dBeta"} {
			if e := relErr(got[i], want[i]); e > 1e-6 {
				t.Errorf("%v: %s: relative error %.3g", tc, name, e)
			}
		}
		dX, dG, dB := slices.Clone(init[0]), slices.Clone(init[1]), slices.Clone(init[2])
		LayerNormBackward(dX, nil, nil, dOut, x, m, d, gamma, 1e-5)
		LayerNormBackward(nil, dG, nil, dOut, x, m, d, nil, 1e-5)
		LayerNormBackward(nil, nil, dB, dOut, nil, m, d, nil, 1e-5)
		if !bitsEqual(dX, got[0]) || !bitsEqual(dG, got[1]) || !bitsEqual(dB, got[2]) {
			t.Errorf("%v: an output computed alone differs", tc)
		}
	}
}

// TestLayerNormBackwardRowGroups: rows go through the backward four at a
// time, and a row's dX has the same bits whatever group it falls in (a last
// group of one to three rows included) as when it is alone.
func TestLayerNormBackwardRowGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 15))
	for _, tc := range []struct{ m, d int }{{5, 33}, {6, 576}, {7, 8}, {9, 576}} {
		m, d := tc.m, tc.d
		x, gamma, dOut := randSlice(rng, m*d), randSlice(rng, d), randSlice(rng, m*d)
		for i := range x {
			x[i] = x[i]*3 + float32(i/d) // the rows' means differ
		}
		init := randSlice(rng, m*d)
		whole := slices.Clone(init)
		LayerNormBackward(whole, nil, nil, dOut, x, m, d, gamma, 1e-5)
		for r := range m {
			alone := slices.Clone(init[r*d : (r+1)*d])
			LayerNormBackward(alone, nil, nil, dOut[r*d:(r+1)*d], x[r*d:(r+1)*d], 1, d, gamma, 1e-5)
			if !bitsEqual(alone, whole[r*d:(r+1)*d]) {
				t.Errorf("%v: row %d differs from the row alone", tc, r)
			}
		}
	}
}

// TestReshapeBackwardAccumulates: the permutation backwards add to what is
// there, and undo their forward: forward(backward(dOut)) = dOut.
func TestReshapeBackwardAccumulates(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 14))
	c, h, w, p := 2, 6, 9, 3
	n := c * h * w
	dOut, init := randSlice(rng, n), randSlice(rng, n)
	for _, tc := range []struct {
		name string
		bwd  func(d, dOut []float32)
		fwd  func(out, in []float32)
	}{
		{"PixelShuffle", func(d, dOut []float32) { PixelShuffleBackward(d, dOut, 3, 4, 1, 3) }, func(out, in []float32) { PixelShuffle(out, in, 3, 4, 1, 3) }},
		{"Unfold", func(d, dOut []float32) { UnfoldBackward(d, dOut, c, h, w, p) }, func(out, in []float32) { Unfold(out, in, c, h, w, p) }},
		{"Fold", func(d, dOut []float32) { FoldBackward(d, dOut, c, h, w, p) }, func(out, in []float32) { Fold(out, in, c, h, w, p) }},
	} {
		moved := zeros(n)
		tc.bwd(moved, dOut)
		round := zeros(n)
		tc.fwd(round, moved)
		if !slices.Equal(round, dOut) {
			t.Errorf("%s(%sBackward(dOut)) differs from dOut", tc.name, tc.name)
		}
		got := slices.Clone(init)
		tc.bwd(got, dOut)
		for i := range got {
			if got[i] != init[i]+moved[i] {
				t.Fatalf("%sBackward: [%d] = %v, want %v + %v", tc.name, i, got[i], init[i], moved[i])
			}
		}
	}
}

// TestSumRowsPaths checks SumRows on every path's vector Add against float64
// column sums, with row counts around its 16-row groups and widths around
// its 512-column blocks and the 8-lane vectors.
func TestSumRowsPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 15))
	defer activeKernel.Store(activeKernel.Load())
	for _, c := range kernelTable {
		if c.missing != "" {
			continue
		}
		activeKernel.Store(c.k)
		for _, rows := range []int{1, 15, 16, 17, 40} {
			for _, n := range []int{1, 7, 9, 511, 513, 600} {
				x := randSlice(rng, rows*n+(n-1)/2) // a partial last row is not a row
				init := randSlice(rng, n)
				got := slices.Clone(init)
				SumRows(got, x)
				want := make([]float32, n)
				for j := range want {
					s := float64(init[j])
					for r := 0; r < rows; r++ {
						s += float64(x[r*n+j])
					}
					want[j] = float32(s)
				}
				if e := relErr(got, want); e > 1e-6 {
					t.Errorf("%s: rows=%d n=%d: relative error %.3g", c.k.name, rows, n, e)
				}
			}
		}
	}
}
