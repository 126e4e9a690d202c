package ops

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestExpNegAgainstMathExp(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 1_000_000; i++ {
		x := -87 * float64(i) / 1_000_000
		got := float64(expNeg(float32(x)))
		want := math.Exp(float64(float32(x)))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 4e-7 { // 3 float32 ulps
		t.Errorf("relative error up to %.3g", worst)
	}
	if expNeg(0) != 1 || expNeg(-100) != 0 || expNeg(float32(math.Inf(-1))) != 0 {
		t.Error("edge values wrong")
	}
}

func BenchmarkSoftmaxRow256(b *testing.B) {
	x := make([]float32, 256)
	for b.Loop() {
		for i := range x {
			x[i] = float32(i%17) - 8
		}
		SoftmaxRow(x)
	}
}

// TestSoftmaxPaths checks every path's softmax row kernel against float64
// on lengths around the 8-lane and 16-float trip boundaries, IPT's 256 and
// a prime, with rows whose spread crosses the −87 cut-off.
func TestSoftmaxPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var covered []string
	for _, c := range kernelTable {
		if c.missing != "" {
			continue
		}
		covered = append(covered, c.k.name)
		for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 63, 64, 65, 97, 256} {
			for _, spread := range []float64{1, 30, 200} {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32((rng.Float64() - 0.5) * spread)
				}
				m := math.Inf(-1)
				for _, v := range x {
					m = math.Max(m, float64(v))
				}
				want := make([]float64, n)
				var wantSum float64
				for i, v := range x {
					// The kernels subtract in float32; so does the oracle.
					want[i] = math.Exp(float64(v - float32(m)))
					wantSum += want[i]
				}
				got := slices.Clone(x)
				sum := c.k.softmax(got)
				if rel := math.Abs(float64(sum)-wantSum) / wantSum; rel > 1e-6 {
					t.Errorf("%s n=%d spread %g: sum %v, want %v", c.k.name, n, spread, sum, wantSum)
				}
				for i := range got {
					e := want[i]
					if x[i]-float32(m) < -87 {
						e = 0 // below the cut-off
					}
					if d := math.Abs(float64(got[i]) - e); d > 4e-7*e && d > 1e-38 {
						t.Fatalf("%s n=%d spread %g: x[%d]: exp(%v) = %v, want %v", c.k.name, n, spread, i, float64(x[i])-m, got[i], e)
					}
				}
			}
		}
	}
	t.Logf("softmax paths covered: %v", covered)
}

// TestSoftmaxPathsExpRange sweeps the whole exponent range [−87, 0] through
// every path's kernel: at most 3 float32 ulps from math.Exp.
func TestSoftmaxPathsExpRange(t *testing.T) {
	const n = 1 << 18 // a multiple of 8: all in the vector part
	x := make([]float32, n+1)
	for i := range n {
		x[i] = float32(-87 * float64(i) / n)
	}
	x[n] = 0 // the maximum, so the kernel subtracts nothing
	for _, c := range kernelTable {
		if c.missing != "" {
			continue
		}
		got := slices.Clone(x)
		c.k.softmax(got)
		worst := 0.0
		for i, v := range x {
			want := math.Exp(float64(v))
			if rel := math.Abs(float64(got[i])-want) / want; rel > worst {
				worst = rel
			}
		}
		if worst > 4e-7 {
			t.Errorf("%s: relative error up to %.3g", c.k.name, worst)
		}
	}
}

// TestSoftmaxPathsNaN: a NaN score makes its row NaN on every path, as in
// PyTorch, rather than vanishing.
func TestSoftmaxPathsNaN(t *testing.T) {
	for _, c := range kernelTable {
		if c.missing != "" {
			continue
		}
		for _, n := range []int{8, 16, 20} {
			x := make([]float32, n)
			x[3] = float32(math.NaN())
			if s := c.k.softmax(x); s == s {
				t.Errorf("%s n=%d: sum %v, want NaN", c.k.name, n, s)
			}
		}
	}
}
