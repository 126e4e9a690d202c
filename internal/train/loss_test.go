package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ipt-go/ipt/internal/ops"
)

func TestL1Loss(t *testing.T) {
	out := []float32{1, 5, -2, 3}
	target := []float32{2, 5, 1, 1.5}
	d := make([]float32, 4)
	// |−1| + 0 + |−3| + 1.5 = 5.5, over 4 values.
	if got := l1Loss(out, target, d, 2); got != 5.5/4 {
		t.Errorf("L1 = %g, want %g", got, 5.5/4)
	}
	want := []float32{-0.5, 0, -0.5, 0.5} // weight 2 · sign / 4
	for i := range d {
		if d[i] != want[i] {
			t.Errorf("dOut[%d] = %g, want %g", i, d[i], want[i])
		}
	}
}

// contrastiveRef is Eq. 5 written out in float64, one pair of patches at a
// time, with the cosine similarity computed from the raw tokens.
func contrastiveRef(x []float32, N, L, d int, tau float64) float64 {
	cos := func(a, b int) float64 {
		var ab, aa, bb float64
		for j := range d {
			va, vb := float64(x[a*d+j]), float64(x[b*d+j])
			ab += va * vb
			aa += va * va
			bb += vb * vb
		}
		return ab / (math.Sqrt(aa) * math.Sqrt(bb))
	}
	var sum float64
	for j := range N {
		for i1 := range L {
			for i2 := range L {
				var den float64
				for k := range N {
					if k != j {
						den += math.Exp(cos(j*L+i1, k*L+i2) / tau)
					}
				}
				sum += -math.Log(math.Exp(cos(j*L+i1, j*L+i2)/tau) / den)
			}
		}
	}
	return sum / float64(N*L*L)
}

func TestContrastiveLoss(t *testing.T) {
	for _, tc := range []struct {
		N, L, d int
		tau     float64
	}{{2, 3, 5, 0.5}, {3, 4, 6, 0.07}, {4, 2, 3, 1}} {
		rng := rand.New(rand.NewPCG(uint64(tc.N), 7))
		rows := tc.N * tc.L
		x := make([]float32, rows*tc.d)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		f, df, g := make([]float32, rows*tc.d), make([]float32, rows*tc.d), make([]float32, rows*rows)
		e := ops.Exec{Threads: 1}
		dx := make([]float32, len(x))
		const weight = 0.3
		got := contrastiveLoss(x, dx, tc.N, tc.L, tc.d, tc.tau, weight, f, df, g, e)
		want := contrastiveRef(x, tc.N, tc.L, tc.d, tc.tau)
		if math.Abs(got-want) > 1e-5*math.Abs(want)+1e-6 {
			t.Errorf("N %d L %d d %d tau %g: loss %.8g, reference %.8g", tc.N, tc.L, tc.d, tc.tau, got, want)
		}
		// The gradient it adds is weight·∂loss/∂x: check it against central
		// differences of the float64 reference (it adds: start from 1).
		for i := range dx {
			dx[i] = 1
		}
		contrastiveLoss(x, dx, tc.N, tc.L, tc.d, tc.tau, weight, f, df, g, e)
		loss := func() float64 { return weight * contrastiveRef(x, tc.N, tc.L, tc.d, tc.tau) }
		for i := range x {
			num := centralDiff(x, i, 1e-3, loss)
			if m := mismatch("dx", i, dx[i]-1, num, 2e-5, 2e-3); m != "" {
				t.Errorf("N %d L %d d %d tau %g: %s", tc.N, tc.L, tc.d, tc.tau, m)
			}
		}
	}
}

func TestContrastiveLossOrthogonalImages(t *testing.T) {
	// Two images whose patches all point one way within an image and
	// orthogonally across images: every positive pair has cosine 1, every
	// negative 0, so with one other image l = −log(e^{1/τ}/e^0) = −1/τ.
	const N, L, d, tau = 2, 3, 4, 0.25
	x := make([]float32, N*L*d)
	for i := range L {
		x[i*d+0] = float32(i + 1)       // image 0 along e0
		x[(L+i)*d+1] = float32(2*i + 1) // image 1 along e1
	}
	f, df, g := make([]float32, N*L*d), make([]float32, N*L*d), make([]float32, N*L*N*L)
	got := contrastiveLoss(x, make([]float32, len(x)), N, L, d, tau, 1, f, df, g, ops.Exec{})
	if math.Abs(got-(-1/tau)) > 1e-6 {
		t.Errorf("loss %.8g, want %g", got, -1/tau)
	}
}
