package ops

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRowOpsSameOnAnyThreads checks that LayerNorm, LayerNormBackward (every
// combination of nil outputs) and ContrastiveLoss give the same bits on 2 and
// 3 threads as on one, at sizes that split into several chunks (and do not
// split evenly). The column sums of dGamma and dBeta must keep the row
// order.
func TestRowOpsSameOnAnyThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 3))
	for _, sh := range [][2]int{{3, 7}, {700, 288}, {2049, 33}, {40000, 1}} {
		m, d := sh[0], sh[1]
		x, dOut, gamma, beta := randSlice(rng, m*d), randSlice(rng, m*d), randSlice(rng, d), randSlice(rng, d)
		// A huge value and its negation down each column, so the sums over
		// rows come out differently in any other order.
		for j := range d {
			dOut[j], dOut[(m/2)*d+j] = 3e20, -3e20
		}
		want := make([]float32, m*d)
		Exec{Threads: 1}.LayerNorm(want, x, m, d, gamma, beta, 1e-5)
		for mask := range 8 {
			// Outputs start from the same random values: the gradients add.
			outs := func() (dX, dG, dB []float32) {
				r := rand.New(rand.NewPCG(5, uint64(mask)))
				if mask&1 == 0 {
					dX = randSlice(r, m*d)
				}
				if mask&2 == 0 {
					dG = randSlice(r, d)
				}
				if mask&4 == 0 {
					dB = randSlice(r, d)
				}
				return
			}
			// dBeta alone needs neither x nor gamma.
			xin, gin := x, gamma
			if mask&3 == 3 {
				xin, gin = nil, nil
			}
			wX, wG, wB := outs()
			Exec{Threads: 1}.LayerNormBackward(wX, wG, wB, dOut, xin, m, d, gin, 1e-5)
			for _, th := range []int{2, 3} {
				if mask == 0 {
					got := make([]float32, m*d)
					Exec{Threads: th}.LayerNorm(got, x, m, d, gamma, beta, 1e-5)
					sameBits(t, fmt.Sprintf("LayerNorm %v, %d threads", sh, th), 0, got, want)
				}
				gX, gG, gB := outs()
				Exec{Threads: th}.LayerNormBackward(gX, gG, gB, dOut, xin, m, d, gin, 1e-5)
				what := fmt.Sprintf("LayerNormBackward %v, nil mask %03b, %d threads", sh, mask, th)
				sameBits(t, what+": dX", 0, gX, wX)
				sameBits(t, what+": dGamma", 0, gG, wG)
				sameBits(t, what+": dBeta", 0, gB, wB)
			}
		}
	}

	for _, sh := range [][3]int{{2, 5, 7}, {3, 17, 9}, {8, 64, 144}, {4, 100, 33}} {
		N, L, d := sh[0], sh[1], sh[2]
		x, dx0 := randSlice(rng, N*L*d), randSlice(rng, N*L*d)
		f, df, g := make([]float32, N*L*d), make([]float32, N*L*d), make([]float32, N*L*N*L)
		want := slices.Clone(dx0)
		wantLoss := Exec{Threads: 1}.ContrastiveLoss(x, want, N, L, d, 0.07, 0.1, f, df, g)
		for _, th := range []int{2, 3} {
			got := slices.Clone(dx0)
			loss := Exec{Threads: th}.ContrastiveLoss(x, got, N, L, d, 0.07, 0.1, f, df, g)
			if loss != wantLoss {
				t.Errorf("ContrastiveLoss %v, %d threads: loss %v, one thread %v", sh, th, loss, wantLoss)
			}
			sameBits(t, fmt.Sprintf("ContrastiveLoss %v, %d threads: dx", sh, th), 0, got, want)
		}
	}
}
