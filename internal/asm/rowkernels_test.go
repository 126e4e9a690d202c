package asm

import (
	"math"
	"testing"
)

// checkMax puts the maximum at every position of slices that end in each
// of a max kernel's loops (4 vectors per trip, then 1), with canaries after.
func checkMax(t *testing.T, name string, lanes int, max func([]float32) float32) {
	t.Helper()
	for n := lanes; n <= 11*lanes; n += lanes {
		buf := make([]float32, n+lanes)
		for pos := range n {
			for i := range buf {
				buf[i] = -float32(i%13) - 1
			}
			for i := n; i < len(buf); i++ {
				buf[i] = 1000 // canaries: must not be read
			}
			buf[pos] = 7
			if got := max(buf[:n]); got != 7 {
				t.Fatalf("%s n=%d max at %d: got %v", name, n, pos, got)
			}
		}
	}
}

// checkExpSubSum checks an exp-and-sum kernel's values, sum and canaries
// for lengths ending in both its loops (two vectors per trip, then one).
func checkExpSubSum(t *testing.T, name string, lanes int, expSum func([]float32, float32) float32) {
	t.Helper()
	for n := 0; n <= 7*lanes; n += lanes {
		buf := make([]float32, n+lanes)
		for i := range buf {
			buf[i] = float32(i%11) * -3.5
		}
		var wantSum float64
		want := make([]float64, n)
		for i := range want {
			want[i] = math.Exp(float64(buf[i] - 2))
			wantSum += want[i]
		}
		sum := expSum(buf[:n], 2)
		for i := range want {
			if rel := math.Abs(float64(buf[i])-want[i]) / want[i]; rel > 3e-7 {
				t.Fatalf("%s n=%d: x[%d] = %v, want %v", name, n, i, buf[i], want[i])
			}
		}
		for i := n; i < len(buf); i++ {
			if buf[i] != float32(i%11)*-3.5 {
				t.Fatalf("%s n=%d: canary %d overwritten", name, n, i)
			}
		}
		if n > 0 && math.Abs(float64(sum)-wantSum)/wantSum > 1e-6 || n == 0 && sum != 0 {
			t.Fatalf("%s n=%d: sum %v, want %v", name, n, sum, wantSum)
		}
	}
}
