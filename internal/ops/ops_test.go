package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// relErr is max|got-want| / max(1, max|want|): a relative error that does
// not blow up near zero.
func relErr(got, want []float32) float64 {
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	return diff / max(1, scale)
}

func TestConv2dMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ cin, cout, h, w, k int }{
		{3, 16, 24, 24, 3}, {16, 16, 7, 5, 5}, {1, 1, 1, 1, 5}, {2, 3, 2, 9, 3}, {3, 3, 6, 4, 1}, {4, 8, 13, 1, 3},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			in := randSlice(rng, tc.cin*tc.h*tc.w)
			wt := randSlice(rng, tc.cout*tc.cin*tc.k*tc.k)
			bias := randSlice(rng, tc.cout)
			want := make([]float32, tc.cout*tc.h*tc.w)
			Conv2dRef(want, in, tc.cin, tc.h, tc.w, wt, bias, tc.cout, tc.k)
			// Full scratch, and one row of scratch (banded path).
			for _, rows := range []int{tc.h, 1, 2} {
				got := make([]float32, len(want))
				scratch := make([]float32, max(1, tc.cin*tc.k*tc.k*tc.w*rows))
				Conv2d(got, in, tc.cin, tc.h, tc.w, wt, bias, tc.cout, tc.k, scratch)
				if e := relErr(got, want); e > 1e-5 {
					t.Errorf("band %d rows: relative error %.3g", rows, e)
				}
			}
		})
	}
}

func TestLinearMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ m, in, out int }{{1, 1, 1}, {5, 7, 3}, {256, 144, 576}, {17, 33, 65}} {
		x, w, b := randSlice(rng, tc.m*tc.in), randSlice(rng, tc.out*tc.in), randSlice(rng, tc.out)
		want, got := make([]float32, tc.m*tc.out), make([]float32, tc.m*tc.out)
		LinearRef(want, x, tc.m, tc.in, w, b, tc.out)
		Linear(got, x, tc.m, tc.in, w, b, tc.out)
		if e := relErr(got, want); e > 1e-5 {
			t.Errorf("%v: relative error %.3g", tc, e)
		}
	}
}

func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	m, d := 4, 10
	x := randSlice(rng, m*d)
	g, b := randSlice(rng, d), randSlice(rng, d)
	out := make([]float32, m*d)
	LayerNorm(out, x, m, d, g, b, 1e-5)
	for r := 0; r < m; r++ {
		var mean, v float64
		for j := 0; j < d; j++ {
			mean += float64(x[r*d+j])
		}
		mean /= float64(d)
		for j := 0; j < d; j++ {
			v += (float64(x[r*d+j]) - mean) * (float64(x[r*d+j]) - mean)
		}
		v /= float64(d)
		for j := 0; j < d; j++ {
			want := (float64(x[r*d+j])-mean)/math.Sqrt(v+1e-5)*float64(g[j]) + float64(b[j])
			if math.Abs(want-float64(out[r*d+j])) > 1e-5 {
				t.Fatalf("row %d col %d: %v, want %v", r, j, out[r*d+j], want)
			}
		}
	}
	// In place gives the same.
	LayerNorm(x, x, m, d, g, b, 1e-5)
	if relErr(x, out) != 0 {
		t.Error("in-place layer norm differs")
	}
}

func TestMultiHeadAttentionMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ batch, lq, lk, d, heads int }{{2, 16, 16, 24, 4}, {1, 5, 7, 12, 3}, {3, 1, 1, 8, 1}} {
		xq := randSlice(rng, tc.batch*tc.lq*tc.d)
		xk := randSlice(rng, tc.batch*tc.lk*tc.d)
		xv := randSlice(rng, tc.batch*tc.lk*tc.d)
		in, outW := randSlice(rng, 3*tc.d*tc.d), randSlice(rng, tc.d*tc.d)
		want, got := make([]float32, len(xq)), make([]float32, len(xq))
		MultiHeadAttentionRef(want, xq, xk, xv, tc.batch, tc.lq, tc.lk, tc.d, tc.heads, in, outW)
		MultiHeadAttention(got, xq, xk, xv, tc.batch, tc.lq, tc.lk, tc.d, tc.heads, in, outW, NewAttentionScratch(tc.batch, tc.lq, tc.lk, tc.d))
		if e := relErr(got, want); e > 1e-5 {
			t.Errorf("%v: relative error %.3g", tc, e)
		}
		// Heads side by side on any number of threads (one scratch reused,
		// so it grows): the same bits as one thread.
		s := NewAttentionScratch(tc.batch, tc.lq, tc.lk, tc.d)
		for _, threads := range []int{1, 2, 3, 5, 16} {
			par := make([]float32, len(xq))
			Exec{Threads: threads}.MultiHeadAttention(par, xq, xk, xv, tc.batch, tc.lq, tc.lk, tc.d, tc.heads, in, outW, s)
			if !slices.Equal(par, got) {
				t.Errorf("%v: %d threads differ from 1", tc, threads)
			}
		}
	}
}

func TestSoftmaxRow(t *testing.T) {
	x := []float32{1, 2, 3, 1000}
	SoftmaxRow(x)
	if x[3] != 1 || x[0] != 0 {
		t.Errorf("large logits: %v", x)
	}
	y := []float32{0, float32(math.Log(3))}
	SoftmaxRow(y)
	if math.Abs(float64(y[0])-0.25) > 1e-7 || math.Abs(float64(y[1])-0.75) > 1e-7 {
		t.Errorf("softmax(0, ln 3) = %v, want (0.25, 0.75)", y)
	}
}

func TestPixelShuffleMapping(t *testing.T) {
	c, h, w, r := 2, 3, 4, 3
	in := make([]float32, c*r*r*h*w)
	for i := range in {
		in[i] = float32(i)
	}
	out := make([]float32, len(in))
	PixelShuffle(out, in, c, h, w, r)
	// Input channel c·r² + i·r + j goes to output (c, y·r+i, x·r+j).
	for ch := 0; ch < c; ch++ {
		for i := 0; i < r; i++ {
			for j := 0; j < r; j++ {
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						src := in[((ch*r*r+i*r+j)*h+y)*w+x]
						dst := out[(ch*h*r+y*r+i)*w*r+x*r+j]
						if src != dst {
							t.Fatalf("(%d,%d,%d,%d,%d): %v, want %v", ch, i, j, y, x, dst, src)
						}
					}
				}
			}
		}
	}
}

func TestUnfoldFold(t *testing.T) {
	c, h, w, p := 2, 6, 9, 3
	in := make([]float32, c*h*w)
	for i := range in {
		in[i] = float32(i)
	}
	tok := make([]float32, len(in))
	Unfold(tok, in, c, h, w, p)
	d := c * p * p
	// Token n is row-major over the grid; feature index c·p² + ky·p + kx.
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				n := (y/p)*(w/p) + x/p
				f := ch*p*p + (y%p)*p + x%p
				if tok[n*d+f] != in[(ch*h+y)*w+x] {
					t.Fatalf("token %d feature %d wrong", n, f)
				}
			}
		}
	}
	back := make([]float32, len(in))
	Fold(back, tok, c, h, w, p)
	for i := range in {
		if back[i] != in[i] {
			t.Fatalf("fold(unfold(x)) differs at %d", i)
		}
	}
}

func TestReLU(t *testing.T) {
	x := []float32{-1, 0, float32(math.Copysign(0, -1)), 2, float32(math.Inf(-1)), float32(math.Inf(1)), 1e-40, -1e-40}
	ReLU(x)
	want := []float32{0, 0, 0, 2, 0, float32(math.Inf(1)), 1e-40, 0}
	for i := range want {
		if x[i] != want[i] || math.Signbit(float64(x[i])) {
			t.Errorf("ReLU[%d] = %v, want %v", i, x[i], want[i])
		}
	}
}

// TestRowKernelPaths checks every path's Add, AddBiasReLU and layer-norm
// row against the Go versions on widths around the 8-lane boundaries and
// IPT's, with canaries past the end, signed zeros and NaN.
func TestRowKernelPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var covered []string
	for _, c := range kernelTable {
		if c.missing != "" {
			continue
		}
		k := c.k
		covered = append(covered, k.name)
		for _, n := range []int{0, 1, 7, 8, 9, 16, 24, 31, 32, 33, 40, 576, 2304} {
			// Add, on a slice followed by canaries.
			dst := randSlice(rng, n+8)
			src := randSlice(rng, n+8)
			want := slices.Clone(dst)
			addGo(want[:n], src[:n])
			got := slices.Clone(dst)
			k.add(got[:n], src)
			if !slices.Equal(got, want) {
				t.Errorf("%s: Add n=%d differs from Go", k.name, n)
			}
			if n == 0 {
				continue
			}
			// AddBiasReLU on 3 rows, with -0, NaN and values that cancel.
			x := randSlice(rng, 3*n+8)
			bias := randSlice(rng, n)
			x[0], x[1] = float32(math.Copysign(0, -1)), float32(math.NaN())
			x[n-1] = -bias[n-1]
			want = slices.Clone(x)
			addBiasReLUGo(want[:3*n], bias)
			got = slices.Clone(x)
			k.addBiasReLU(got[:3*n], bias)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s: AddBiasReLU n=%d: x[%d] = %v, want %v", k.name, n, i, got[i], want[i])
				}
			}
			// Layer norm of one row, with an offset that makes the float64
			// sums matter; in place too.
			row := randSlice(rng, n)
			for i := range row {
				row[i] += 100
			}
			gamma, beta := randSlice(rng, n), randSlice(rng, n)
			wantN := make([]float32, n+8)
			layerNormRowGo(wantN[:n], row, gamma, beta, 1e-5)
			gotN := make([]float32, n+8)
			k.layerNormRow(gotN[:n], row, gamma, beta, 1e-5)
			for i := range gotN {
				// The float64 sums may differ in their last bits, which can
				// move an output by one float32 rounding step.
				if d := math.Abs(float64(gotN[i] - wantN[i])); d > 2e-6*(1+math.Abs(float64(wantN[i]))) {
					t.Fatalf("%s: layer norm n=%d: out[%d] = %v, want %v", k.name, n, i, gotN[i], wantN[i])
				}
			}
			inPlace := slices.Clone(row)
			k.layerNormRow(inPlace, inPlace, gamma, beta, 1e-5)
			if !slices.Equal(inPlace, gotN[:n]) {
				t.Errorf("%s: layer norm n=%d in place differs", k.name, n)
			}
		}
	}
	t.Logf("row kernel paths covered: %v", covered)
}

// TestSustainedGFLOPS checks that the sustained FMA rate is a real rate
// for one thread and for several, and that it is no more than the threads
// times one core's best burst (with room for the noise of a shared
// machine): a miscounted loop would be off by a factor.
func TestSustainedGFLOPS(t *testing.T) {
	peak := PeakGFLOPS(20 * time.Millisecond)
	for _, threads := range []int{1, 2} {
		g := SustainedGFLOPS(20*time.Millisecond, threads)
		if !(g > 0) || g > 1.5*peak*float64(threads) {
			t.Errorf("%d threads: %v GFLOP/s sustained, against a best burst of %.1f a core", threads, g, peak)
		}
	}
}
