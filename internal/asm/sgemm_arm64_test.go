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

// TestMaxNEON runs checkMax, and checks that a NaN anywhere gives NaN.
func TestMaxNEON(t *testing.T) {
	checkMax(t, "NEON", 4, MaxNEON)
	for n := 4; n <= 44; n += 4 {
		buf := make([]float32, n)
		for pos := range n {
			for i := range buf {
				buf[i] = -float32(i%13) - 1
			}
			buf[pos] = float32(math.NaN())
			if got := MaxNEON(buf); got == got {
				t.Fatalf("n=%d NaN at %d: got %v", n, pos, got)
			}
		}
	}
}

// TestExpSubSumNEON runs checkExpSubSum.
func TestExpSubSumNEON(t *testing.T) {
	checkExpSubSum(t, "NEON", 4, ExpSubSumNEON)
}
