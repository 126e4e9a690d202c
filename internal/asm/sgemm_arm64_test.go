//go:build !purego

package asm

import (
	"math"
	"testing"
)

func init() {
	kernels = append(kernels, testKernel{name: "Sgemm8x12NEON", mr: 8, nr: 12, fn: callNEON})
}

func callNEON(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	if k == 0 {
		b = b[:1] // the kernel reads nothing from a or b when k == 0
	}
	Sgemm8x12NEON(k, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
}

func TestPeakFMANEON(t *testing.T) {
	PeakFMANEON(0)
	PeakFMANEON(1000)
}

// TestMaxNEON puts the maximum at every position of slices that end in each
// of the kernel's loops (4 vectors per trip, then 1), with canaries after,
// and checks that a NaN anywhere gives NaN.
func TestMaxNEON(t *testing.T) {
	for n := 4; n <= 44; n += 4 {
		buf := make([]float32, n+4)
		for pos := range n {
			for i := range buf {
				buf[i] = -float32(i%13) - 1
			}
			for i := n; i < len(buf); i++ {
				buf[i] = 1000 // canaries: must not be read
			}
			buf[pos] = 7
			if got := MaxNEON(buf[:n]); got != 7 {
				t.Fatalf("n=%d max at %d: got %v", n, pos, got)
			}
			buf[pos] = float32(math.NaN())
			if got := MaxNEON(buf[:n]); got == got {
				t.Fatalf("n=%d NaN at %d: got %v", n, pos, got)
			}
		}
	}
}

// TestExpSubSumNEON checks values, sum and canaries for lengths ending in
// both loops (two vectors per trip, then one).
func TestExpSubSumNEON(t *testing.T) {
	for n := 0; n <= 28; n += 4 {
		buf := make([]float32, n+4)
		for i := range buf {
			buf[i] = float32(i%11) * -3.5
		}
		var wantSum float64
		want := make([]float64, n)
		for i := range want {
			want[i] = math.Exp(float64(buf[i] - 2))
			wantSum += want[i]
		}
		sum := ExpSubSumNEON(buf[:n], 2)
		for i := range want {
			if rel := math.Abs(float64(buf[i])-want[i]) / want[i]; rel > 3e-7 {
				t.Fatalf("n=%d: x[%d] = %v, want %v", n, i, buf[i], want[i])
			}
		}
		for i := n; i < len(buf); i++ {
			if buf[i] != float32(i%11)*-3.5 {
				t.Fatalf("n=%d: canary %d overwritten", n, i)
			}
		}
		if n > 0 && math.Abs(float64(sum)-wantSum)/wantSum > 1e-6 || n == 0 && sum != 0 {
			t.Fatalf("n=%d: sum %v, want %v", n, sum, wantSum)
		}
	}
}
