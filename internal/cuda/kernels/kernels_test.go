package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipt-go/ipt/internal/cuda/kernels/emu"
	"github.com/ipt-go/ipt/internal/ops"
	"github.com/ipt-go/ipt/internal/train"
)

// gxx returns the g++ the emulator tests compile with, or skips the test.
func gxx(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ not found on PATH: the CUDA kernels' CPU-emulator tests need g++ (C++20); install g++ to run them")
	}
	return p
}

// TestSourceMatchesLaunchList checks that every kernel of Source is in
// Kernels with the same parameters (names, types, const), and that the
// source keeps the rules its header states.
func TestSourceMatchesLaunchList(t *testing.T) {
	re := regexp.MustCompile(`extern "C" __global__ void (\w+)\(([^)]*)\)`)
	found := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(Source, -1) {
		name, params := m[1], strings.Join(strings.Fields(m[2]), " ")
		found[name] = true
		k, ok := Lookup(name)
		if !ok {
			t.Errorf("kernel %s of kernels.cu is not in Kernels", name)
			continue
		}
		if got, want := fmt.Sprint(sig(params)), fmt.Sprint(k.Params); got != want {
			t.Errorf("kernel %s: kernels.cu's parameters %s, Kernels says %s", name, got, want)
		}
	}
	for _, k := range Kernels {
		if !found[k.Name] {
			t.Errorf("kernel %s of Kernels is not in kernels.cu", k.Name)
		}
		if k.PerBlock != BlockSize && k.PerBlock != 1 && k.PerBlock != Chunk {
			t.Errorf("kernel %s: PerBlock %d", k.Name, k.PerBlock)
		}
		for _, w := range k.Work {
			if k.Params[k.param(w)].Kind != I64 {
				t.Errorf("kernel %s: work parameter %s is not an i64", k.Name, w)
			}
		}
	}
	// NVRTC has no standard headers; atomics and warp shuffles would make
	// results depend on scheduling (and the emulator has neither).
	code := regexp.MustCompile(`//.*`).ReplaceAllString(Source, "")
	for _, banned := range []string{"#include", "atomic", "__shfl", "__syncwarp", "__ballot"} {
		if strings.Contains(code, banned) {
			t.Errorf("kernels.cu uses %s", banned)
		}
	}
}

// TestSyntax compiles kernels.cu as C++ through the emulator's header with
// all warnings as errors: the check of the CUDA source that needs no CUDA
// toolkit. NVRTC's own compile is a GPU-host check.
func TestSyntax(t *testing.T) {
	if err := emu.SyntaxCheck(gxx(t), t.TempDir(), Source); err != nil {
		t.Fatal(err)
	}
}

// runner launches kernels on the emulator on the grid Grid gives, checking
// (in the emulator) that at most 3 blocks with their threads in reverse
// order give the same bits: grid-stride loops and barriers are right.
// Canaries past every buffer must survive, and const buffers must come
// back unchanged.
type runner struct {
	t *testing.T
	e *emu.Emulator
}

// canary is a NaN with a payload no kernel computes.
var canary = math.Float32frombits(0x7fc0dead)

const nCanary = 8

func (r *runner) run(name string, args ...any) {
	t := r.t
	t.Helper()
	k, ok := Lookup(name)
	if !ok {
		t.Fatalf("no kernel %s", name)
	}
	for i, a := range args {
		if n, ok := a.(int); ok {
			args[i] = int64(n)
		}
	}
	for i, p := range k.Params {
		var ok bool
		switch args[i].(type) {
		case []float32:
			ok = p.Kind == PtrF32
		case []float64:
			ok = p.Kind == PtrF64
		case int64:
			ok = p.Kind == I64
		case float32:
			ok = p.Kind == F32
		case float64:
			ok = p.Kind == F64
		}
		if !ok {
			t.Fatalf("%s: argument %s is %T, parameter is %s", name, p.Name, args[i], p.Kind)
		}
	}
	grid, err := k.Grid(args...)
	if err != nil {
		t.Fatal(err)
	}
	if grid == 0 {
		return
	}
	call := make([]any, len(args))
	for i, a := range args {
		if j := slices.IndexFunc(args[:i], func(b any) bool { return same(a, b) }); j >= 0 {
			call[i] = call[j]
			continue
		}
		switch v := a.(type) {
		case []float32:
			if v != nil {
				c := append(slices.Clone(v), make([]float32, nCanary)...)
				for j := len(v); j < len(c); j++ {
					c[j] = canary
				}
				a = c
			}
		case []float64:
			if v != nil {
				c := append(slices.Clone(v), make([]float64, nCanary)...)
				for j := len(v); j < len(c); j++ {
					c[j] = float64(canary)
				}
				a = c
			}
		}
		call[i] = a
	}
	if err := r.e.Run(name, grid, BlockSize, min(grid, 3), call...); err != nil {
		t.Fatal(err)
	}
	for i, a := range call {
		switch v := a.(type) {
		case []float32:
			if v == nil {
				continue
			}
			n := len(args[i].([]float32))
			for j := n; j < len(v); j++ {
				if math.Float32bits(v[j]) != math.Float32bits(canary) {
					t.Fatalf("%s: wrote past the end of %s (%d values)", name, k.Params[i].Name, n)
				}
			}
			aliased := slices.IndexFunc(args, func(b any) bool { return same(args[i], b) }) != i ||
				slices.IndexFunc(args[i+1:], func(b any) bool { return same(args[i], b) }) >= 0
			if k.Params[i].Const && !aliased && !sameBits32(v[:n], args[i].([]float32)) {
				t.Fatalf("%s: changed its const input %s", name, k.Params[i].Name)
			}
		case []float64:
			if v == nil {
				continue
			}
			n := len(args[i].([]float64))
			for j := n; j < len(v); j++ {
				if math.Float64bits(v[j]) != math.Float64bits(float64(canary)) {
					t.Fatalf("%s: wrote past the end of %s (%d values)", name, k.Params[i].Name, n)
				}
			}
		}
	}
	for i, a := range call {
		switch v := a.(type) {
		case []float32:
			copy(args[i].([]float32), v)
		case []float64:
			copy(args[i].([]float64), v)
		}
	}
}

func same(a, b any) bool {
	x, ok1 := a.([]float32)
	y, ok2 := b.([]float32)
	return ok1 && ok2 && len(x) > 0 && len(x) == len(y) && &x[0] == &y[0]
}

// sameBits32 compares bit for bit, any NaN matching any NaN (a NaN's
// payload follows the operand order the compiler picks).
func sameBits32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return false
		}
	}
	return true
}

func exact(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("%s[%d] = %g (%#08x), want %g (%#08x) bit for bit", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// near checks |got−want| ≤ tol(i) for each value.
func near(t *testing.T, what string, got, want []float32, tol func(i int) float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol(i)) {
			t.Fatalf("%s[%d] = %g, want %g within %.3g (off by %.3g)", what, i, got[i], want[i], tol(i), d)
		}
	}
}

// ulp32 is one float32 ulp at magnitude v.
func ulp32(v float64) float64 { return math.Max(math.Abs(v), 0x1p-126) * 0x1p-23 }

func rnd(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
		switch r.IntN(40) { // signed zeros, for the ReLUs and sign tests
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(math.Copysign(0, -1))
		}
	}
	return x
}

func TestKernels(t *testing.T) {
	g := gxx(t)
	start := time.Now()
	names := make([]string, len(Kernels))
	for i, k := range Kernels {
		names[i] = k.Name
	}
	e, err := emu.Build(g, t.TempDir(), Source, names)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("emulator built in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	for _, c := range []struct {
		name string
		f    func(*testing.T, *runner, *rand.Rand)
	}{
		{"elementwise", testElementwise}, {"adam", testAdam}, {"bias", testBias},
		{"conv", testConv}, {"sums", testSums}, {"layernorm", testLayerNorm},
		{"softmax", testSoftmax}, {"heads", testHeads}, {"reshape", testReshape},
		{"sumsquares", testSumSquares},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, &runner{t, e}, rand.New(rand.NewPCG(1, uint64(len(c.name))))) })
	}
	t.Logf("%d launches in %v", e.Runs(), time.Since(start).Round(time.Millisecond))
}

// The sizes of the element-wise tests: one value, around the block size,
// and more than the 3 blocks of the reverse launch cover at once.
var sizes = []int{1, 255, 257, 1000}

func testElementwise(t *testing.T, r *runner, rng *rand.Rand) {
	for _, n := range sizes {
		a, b, y := rnd(rng, n), rnd(rng, n), rnd(rng, n)

		x := slices.Clone(a)
		r.run("fill_f32", x, n, float32(-1.5))
		for i := range x {
			if x[i] != -1.5 {
				t.Fatalf("fill_f32[%d] = %g", i, x[i])
			}
		}

		x = make([]float32, n)
		r.run("copy_f32", x, a, n)
		exact(t, "copy_f32", x, a)

		// scale_f32 is ClipGrads' scaling by its float32 factor.
		x, want := slices.Clone(a), slices.Clone(a)
		if norm := train.ClipGrads(want, 1e-3, 1); norm > 1e-3 {
			r.run("scale_f32", x, n, float32(1e-3/norm))
			exact(t, "scale_f32", x, want)
		}

		x, want = slices.Clone(a), slices.Clone(a)
		ops.Add(want, b)
		r.run("add_f32", x, b, n)
		exact(t, "add_f32", x, want)

		x, want = make([]float32, n), make([]float32, n)
		ops.AddTo(want, a, b)
		r.run("add_to_f32", x, a, b, n)
		exact(t, "add_to_f32", x, want)

		x, want = slices.Clone(a), slices.Clone(a)
		ops.ReLU(want)
		r.run("relu_f32", x, n)
		exact(t, "relu_f32", x, want)

		x, want = slices.Clone(a), slices.Clone(a)
		ops.ReLUBackward(want, b, y)
		r.run("relu_backward", x, b, y, n)
		exact(t, "relu_backward", x, want)

		x, want = slices.Clone(b), slices.Clone(b) // in place: dX is dOut
		ops.ReLUBackward(want, want, y)
		r.run("relu_backward", x, x, y, n)
		exact(t, "relu_backward in place", x, want)

		x, want = slices.Clone(a), slices.Clone(a)
		ops.ReLUBackwardTo(want, b, y)
		r.run("relu_backward_to", x, b, y, n)
		exact(t, "relu_backward_to", x, want)

		x, want = slices.Clone(b), slices.Clone(b)
		ops.ReLUBackwardTo(want, want, y)
		r.run("relu_backward_to", x, x, y, n)
		exact(t, "relu_backward_to in place", x, want)
	}
}

func testAdam(t *testing.T, r *runner, rng *rand.Rand) {
	for _, n := range sizes {
		p, g, m, v := rnd(rng, n), rnd(rng, n), rnd(rng, n), rnd(rng, n)
		for i := range v {
			v[i] = v[i] * v[i] / 100
		}
		// The coefficients of train.Adam's third step.
		a := train.NewAdam(n)
		a.T = 2
		copy(a.M, m)
		copy(a.V, v)
		wantP := slices.Clone(p)
		if err := a.Step(wantP, g, 1e-3, 1); err != nil {
			t.Fatal(err)
		}
		c := ops.AdamCoefs{B1: 0.9, C1: float32(1 - 0.9), B2: 0.999, C2: float32(1 - 0.999),
			BC2: float32(math.Sqrt(1 - math.Pow(0.999, 3))), Eps: 1e-8, Step: float32(1e-3 / (1 - math.Pow(0.9, 3)))}
		r.run("adam_update", p, g, m, v, n, c.B1, c.C1, c.B2, c.C2, c.BC2, c.Eps, c.Step)
		exact(t, "adam p", p, wantP)
		exact(t, "adam m", m, a.M)
		exact(t, "adam v", v, a.V)
	}
}

func testBias(t *testing.T, r *runner, rng *rand.Rand) {
	for _, cols := range []int{1, 3, 300} {
		rows := 5
		x, bias := rnd(rng, rows*cols), rnd(rng, cols)
		got, want := slices.Clone(x), slices.Clone(x)
		ops.AddRowBias(want, bias)
		r.run("add_row_bias", got, bias, rows, cols)
		exact(t, "add_row_bias", got, want)

		got, want = slices.Clone(x), slices.Clone(x)
		ops.AddBiasReLU(want, bias)
		r.run("add_bias_relu", got, bias, rows, cols)
		exact(t, "add_bias_relu", got, want)
	}
	for _, hw := range []int{1, 50, 300} {
		nimg, c := 2, 3
		x, bias := rnd(rng, nimg*c*hw), rnd(rng, c)
		got, want := slices.Clone(x), slices.Clone(x)
		for i := range nimg {
			ops.AddChannelBias(want[i*c*hw:(i+1)*c*hw], bias, hw)
		}
		r.run("add_channel_bias", got, bias, nimg, c, hw)
		exact(t, "add_channel_bias", got, want)

		// mean_shift is the model's sub_mean: a 1×1 conv with identity
		// weight and bias −255·mean.
		id := []float32{1, 0, 0, 0, 1, 0, 0, 0, 1}
		mb := []float32{-255 * 0.4488, -255 * 0.4371, -255 * 0.4040}
		for i := range x {
			x[i] *= 255
		}
		got, want = make([]float32, len(x)), make([]float32, len(x))
		for i := range nimg {
			ops.Conv2d(want[i*c*hw:], x[i*c*hw:], c, 1, hw, id, mb, c, 1, nil)
		}
		r.run("mean_shift", got, x, mb, nimg, c, hw)
		exact(t, "mean_shift", got, want)
	}
}

func testConv(t *testing.T, r *runner, rng *rand.Rand) {
	const nimg, cin, h, w, cout = 2, 3, 5, 7, 4
	for _, k := range []int{1, 3, 5} {
		kk := cin * k * k
		in := rnd(rng, nimg*cin*h*w)
		for i, v := range in {
			in[i] = v + 0 // no −0: the identity GEMM of the oracle makes it +0
		}
		for _, band := range []int{h, 2} {
			// im2col: ops.Conv2d with the identity as weight ([kk, kk])
			// writes each band's unrolled rows as its output.
			id := make([]float32, kk*kk)
			for i := range kk {
				id[i*kk+i] = 1
			}
			want := make([]float32, nimg*kk*h*w)
			for i := range nimg {
				ops.Conv2d(want[i*kk*h*w:], in[i*cin*h*w:], cin, h, w, id, nil, kk, k, make([]float32, max(1, kk*w*band)))
			}
			for y0 := 0; y0 < h; y0 += band {
				rows := min(band, h-y0)
				n := rows * w
				cols := make([]float32, nimg*kk*n)
				r.run("im2col", cols, in, nimg, cin, h, w, k, y0, rows)
				for i := range nimg {
					for row := range kk {
						exact(t, fmt.Sprintf("im2col k %d band %d+%d image %d row %d", k, y0, rows, i, row),
							cols[(i*kk+row)*n:(i*kk+row+1)*n], want[(i*kk+row)*h*w+y0*w:][:n])
					}
				}
			}
			if k == 1 {
				continue // Conv2dBackward takes no col2im path for 1×1
			}
			// col2im: the unrolled gradient weightᵀ·dOut of each band, by
			// the same Sgemm as Conv2dBackward's, into dIn.
			weight, dOut := rnd(rng, cout*kk), rnd(rng, nimg*cout*h*w)
			dIn := rnd(rng, nimg*cin*h*w)
			wantIn := slices.Clone(dIn)
			for i := range nimg {
				ops.Conv2dBackward(wantIn[i*cin*h*w:(i+1)*cin*h*w], nil, nil, dOut[i*cout*h*w:(i+1)*cout*h*w], in[i*cin*h*w:(i+1)*cin*h*w],
					cin, h, w, weight, cout, k, make([]float32, kk*w*band))
			}
			for y0 := 0; y0 < h; y0 += band {
				rows := min(band, h-y0)
				n := rows * w
				cols := make([]float32, nimg*kk*n)
				for i := range nimg {
					ops.Sgemm(true, false, kk, n, cout, 1, weight, kk, dOut[i*cout*h*w+y0*w:], h*w, 0, cols[i*kk*n:], n)
				}
				r.run("col2im", dIn, cols, nimg, cin, h, w, k, y0, rows)
			}
			exact(t, fmt.Sprintf("col2im k %d band %d", k, band), dIn, wantIn)
		}
	}
}

func testSums(t *testing.T, r *runner, rng *rand.Rand) {
	// sum_rows: the same bits as ops.SumRows (groups of 16 rows).
	for _, rows := range []int{1, 16, 17, 40} {
		for _, cols := range []int{1, 300} {
			x, d := rnd(rng, rows*cols), rnd(rng, cols)
			want := slices.Clone(d)
			ops.SumRows(want, x)
			r.run("sum_rows", d, x, rows, cols)
			exact(t, fmt.Sprintf("sum_rows %d×%d", rows, cols), d, want)
		}
	}
	// sum_channels: per image a float64 tree, rounded and added: within 2
	// float32 ulps of the image's sum (and of the running total) per image.
	for _, hw := range []int{1, 300, 700} {
		const nimg, c = 3, 4
		x, d := rnd(rng, nimg*c*hw), rnd(rng, c)
		want := slices.Clone(d)
		var tol [c]float64
		for i := range nimg {
			ops.SumChannels(want, x[i*c*hw:(i+1)*c*hw], hw)
			for ch := range c {
				tol[ch] += 2 * ulp32(float64(want[ch])+1e-3)
			}
		}
		r.run("sum_channels", d, x, nimg, c, hw)
		near(t, fmt.Sprintf("sum_channels hw %d", hw), d, want, func(i int) float64 { return tol[i] })
	}
}

func testLayerNorm(t *testing.T, r *runner, rng *rand.Rand) {
	const rows, eps = 3, 1e-5
	for _, d := range []int{1, 5, 256, 577} {
		x, gamma, beta := rnd(rng, rows*d), rnd(rng, d), rnd(rng, d)
		for i := range x {
			x[i] = 3 + 2*x[i] // an offset, so the mean matters
		}
		out, mean, rstd := make([]float32, rows*d), make([]float64, rows), make([]float64, rows)
		want := make([]float32, rows*d)
		ops.LayerNorm(want, x, rows, d, gamma, beta, eps)
		r.run("layernorm_forward", out, mean, rstd, x, gamma, beta, rows, d, float64(eps))
		// Statistics from float64 trees rather than in order: the outputs
		// nearly always round the same; 2 ulps of the two terms' size.
		near(t, fmt.Sprintf("layernorm_forward d %d", d), out, want, func(i int) float64 {
			return 2 * ulp32(math.Abs(float64(want[i]-beta[i%d]))+math.Abs(float64(beta[i%d])))
		})
		for row := range rows {
			var s float64
			for _, v := range x[row*d : (row+1)*d] {
				s += float64(v)
			}
			if m := s / float64(d); math.Abs(mean[row]-m) > 1e-14*math.Abs(m) {
				t.Fatalf("layernorm_forward mean[%d] = %v, want %v", row, mean[row], m)
			}
		}

		// In place (out = x) gives the same bits.
		inPlace := slices.Clone(x)
		r.run("layernorm_forward", inPlace, mean, rstd, inPlace, gamma, beta, rows, d, float64(eps))
		exact(t, "layernorm_forward in place", inPlace, out)

		dOut, dX := rnd(rng, rows*d), rnd(rng, rows*d)
		dG, dB := rnd(rng, d), rnd(rng, d)
		wantX, wantG, wantB := slices.Clone(dX), slices.Clone(dG), slices.Clone(dB)
		ops.LayerNormBackward(wantX, wantG, wantB, dOut, x, rows, d, gamma, eps)
		r.run("layernorm_backward_dx", dX, dOut, x, gamma, mean, rstd, rows, d)
		r.run("layernorm_backward_params", dG, dB, dOut, x, mean, rstd, rows, d)
		// dX: float64 throughout, the means from trees; 2 ulps of the
		// row's largest gradient. dGamma and dBeta: the same order as the
		// CPU, statistics from trees: 2 ulps.
		near(t, fmt.Sprintf("layernorm dX d %d", d), dX, wantX, func(i int) float64 {
			row := i / d
			var m float64
			for _, v := range wantX[row*d : (row+1)*d] {
				m = math.Max(m, math.Abs(float64(v)))
			}
			return 2 * ulp32(m)
		})
		near(t, "layernorm dGamma", dG, wantG, func(i int) float64 { return 2 * ulp32(float64(wantG[i])) })
		exact(t, "layernorm dBeta", dB, wantB)

		// A null dGamma is skipped.
		dB2, wantB2 := slices.Clone(dB), slices.Clone(dB)
		ops.LayerNormBackward(nil, nil, wantB2, dOut, x, rows, d, gamma, eps)
		r.run("layernorm_backward_params", []float32(nil), dB2, dOut, x, mean, rstd, rows, d)
		exact(t, "layernorm dBeta alone", dB2, wantB2)
	}
}

func testSoftmax(t *testing.T, r *runner, rng *rand.Rand) {
	const rows = 4
	for _, cols := range []int{1, 3, 256, 300} {
		x := rnd(rng, rows*cols)
		for i := range x {
			x[i] *= 4
		}
		e, sums := slices.Clone(x), make([]float32, rows)
		r.run("softmax_rows", e, sums, rows, cols)
		for row := range rows {
			xr := x[row*cols : (row+1)*cols]
			m := slices.Max(xr)
			want := make([]float32, cols)
			var s, abs float64
			for j, v := range xr {
				want[j] = ops.ExpNeg(v - m)
				s += float64(want[j])
				abs += math.Abs(float64(want[j]))
			}
			exact(t, fmt.Sprintf("softmax_rows exps %d×%d row %d", rows, cols, row), e[row*cols:(row+1)*cols], want)
			if d := math.Abs(float64(sums[row]) - s); d > ulp32(s) {
				t.Fatalf("softmax_rows sum %d = %g, want %g (float64 sum rounded)", row, sums[row], s)
			}
			// Normalised, against ops.SoftmaxRow, whose float32 sum may be
			// off by its rounding error: (cols/4+2) ulps.
			ops.SoftmaxRow(xr)
		}
		p := slices.Clone(e)
		r.run("scale_rows_inv", p, sums, rows, cols)
		near(t, fmt.Sprintf("softmax %d×%d", rows, cols), p, x, func(i int) float64 {
			return float64(cols/4+3) * ulp32(float64(x[i]))
		})
		// scale_rows_inv itself: x·(1/sum), as attendHead normalises.
		for i := range e {
			e[i] *= 1 / sums[i/cols]
		}
		exact(t, "scale_rows_inv", p, e)

		// Backward, as ops.SoftmaxBackwardRow (a = dy, b = p).
		dy := rnd(rng, rows*cols)
		want := slices.Clone(dy)
		for row := range rows {
			ops.SoftmaxBackwardRow(want[row*cols:(row+1)*cols], p[row*cols:(row+1)*cols])
		}
		got := slices.Clone(dy)
		r.run("softmax_backward_rows", got, p, got, p, rows, cols, cols)
		near(t, fmt.Sprintf("softmax_backward_rows %d×%d", rows, cols), got, want, func(i int) float64 {
			return 2 * ulp32(float64(p[i])*(math.Abs(float64(dy[i]))+1))
		})
		// With the dot from other rows (the attention's dCtx·ctx, k = 5):
		// dy = p·(dy − float32(Σ a·b)).
		const k = 5
		a, b := rnd(rng, rows*k), rnd(rng, rows*k)
		got = slices.Clone(dy)
		r.run("softmax_backward_rows", got, p, a, b, rows, cols, k)
		for row := range rows {
			var s float64
			for t := range k {
				s += float64(a[row*k+t]) * float64(b[row*k+t])
			}
			for j := range cols {
				i := row*cols + j
				want[i] = p[i] * (dy[i] - float32(s))
			}
		}
		near(t, "softmax_backward_rows k 5", got, want, func(i int) float64 {
			return 2 * ulp32(float64(p[i])*(math.Abs(float64(dy[i]))+5))
		})
	}
}

func testHeads(t *testing.T, r *runner, rng *rand.Rand) {
	const nseq, L, heads, dh = 2, 5, 3, 4
	x := rnd(rng, nseq*L*heads*dh)
	split := make([]float32, len(x))
	r.run("heads_split", split, x, nseq, L, heads, dh)
	for b := range nseq {
		for h := range heads {
			for l := range L {
				// The head's row l in place, as the CPU addresses it:
				// x[(b·L + l)·d + h·dh : …+dh] with d = heads·dh.
				exact(t, fmt.Sprintf("heads_split seq %d head %d row %d", b, h, l),
					split[((b*heads+h)*L+l)*dh:((b*heads+h)*L+l+1)*dh], x[(b*L+l)*heads*dh+h*dh:][:dh])
			}
		}
	}
	back := make([]float32, len(x))
	r.run("heads_merge", back, split, nseq, L, heads, dh)
	exact(t, "heads_merge(heads_split(x))", back, x)
}

func testReshape(t *testing.T, r *runner, rng *rand.Rand) {
	const nimg = 2
	for _, s := range []struct{ c, h, w, r int }{{1, 1, 1, 2}, {3, 4, 5, 2}, {2, 3, 2, 3}} {
		c, h, w, rr := s.c, s.h, s.w, s.r
		in := rnd(rng, nimg*c*rr*rr*h*w)
		n := len(in) / nimg
		got, want := make([]float32, len(in)), make([]float32, len(in))
		for i := range nimg {
			ops.PixelShuffle(want[i*n:], in[i*n:], c, h, w, rr)
		}
		r.run("pixel_shuffle", got, in, nimg, c, h, w, rr)
		exact(t, "pixel_shuffle", got, want)

		dOut, dIn := rnd(rng, len(in)), rnd(rng, len(in))
		want = slices.Clone(dIn)
		for i := range nimg {
			ops.PixelShuffleBackward(want[i*n:], dOut[i*n:], c, h, w, rr)
		}
		r.run("pixel_shuffle_backward", dIn, dOut, nimg, c, h, w, rr)
		exact(t, "pixel_shuffle_backward", dIn, want)
	}
	for _, s := range []struct{ c, h, w, p int }{{1, 1, 1, 1}, {3, 4, 6, 2}, {2, 6, 9, 3}} {
		c, h, w, p := s.c, s.h, s.w, s.p
		n := c * h * w
		in := rnd(rng, nimg*n)
		tok, want := make([]float32, len(in)), make([]float32, len(in))
		for i := range nimg {
			ops.Unfold(want[i*n:(i+1)*n], in[i*n:(i+1)*n], c, h, w, p)
		}
		r.run("unfold", tok, in, nimg, c, h, w, p)
		exact(t, "unfold", tok, want)

		img := make([]float32, len(in))
		for i := range nimg {
			ops.Fold(want[i*n:(i+1)*n], tok[i*n:(i+1)*n], c, h, w, p)
		}
		r.run("fold", img, tok, nimg, c, h, w, p)
		exact(t, "fold", img, want)

		d, g := rnd(rng, len(in)), rnd(rng, len(in))
		want = slices.Clone(d)
		for i := range nimg {
			ops.UnfoldBackward(want[i*n:(i+1)*n], g[i*n:(i+1)*n], c, h, w, p)
		}
		r.run("unfold_backward", d, g, nimg, c, h, w, p)
		exact(t, "unfold_backward", d, want)

		d = rnd(rng, len(in))
		want = slices.Clone(d)
		for i := range nimg {
			ops.FoldBackward(want[i*n:(i+1)*n], g[i*n:(i+1)*n], c, h, w, p)
		}
		r.run("fold_backward", d, g, nimg, c, h, w, p)
		exact(t, "fold_backward", d, want)
	}
}

// SumSquares is the squared train.GradNorm: the chunks' sums are trees
// rather than in order, so about 1e-15 relative apart.
func testSumSquares(t *testing.T, r *runner, rng *rand.Rand) {
	for _, n := range []int{1, Chunk, Chunk + 1, 2*Chunk + 300} {
		x := rnd(rng, n)
		parts := make([]float64, (n+Chunk-1)/Chunk)
		r.run("sum_squares", parts, x, n)
		total := make([]float64, 1)
		r.run("sum_f64_ordered", total, parts, len(parts))
		want := train.GradNorm(x, 1)
		if got := math.Sqrt(total[0]); math.Abs(got-want) > 1e-14*want {
			t.Fatalf("sum_squares n %d: norm %v, want %v", n, got, want)
		}
	}
}
