//go:build !purego

package asm

import (
	"math"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

func needAVX2(t *testing.T) {
	if !cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3) {
		t.Skip("CPU lacks AVX2/FMA3")
	}
}

// TestMaxAVX2 puts the maximum at every position of slices that end in each
// of the kernel's loops (4 vectors per trip, then 1), with canaries after.
func TestMaxAVX2(t *testing.T) {
	needAVX2(t)
	for n := 8; n <= 72; n += 8 {
		buf := make([]float32, n+8)
		for pos := range n {
			for i := range buf {
				buf[i] = -float32(i%13) - 1
			}
			for i := n; i < len(buf); i++ {
				buf[i] = 1000 // canaries: must not be read
			}
			buf[pos] = 7
			if got := MaxAVX2(buf[:n]); got != 7 {
				t.Fatalf("n=%d max at %d: got %v", n, pos, got)
			}
		}
	}
}

// TestExpSubSumAVX2 checks values, sum and canaries for lengths ending in
// both loops (two vectors per trip, then one).
func TestExpSubSumAVX2(t *testing.T) {
	needAVX2(t)
	for n := 0; n <= 40; n += 8 {
		buf := make([]float32, n+8)
		for i := range buf {
			buf[i] = float32(i%11) * -3.5
		}
		var wantSum float64
		want := make([]float64, n)
		for i := range want {
			want[i] = math.Exp(float64(buf[i] - 2))
			wantSum += want[i]
		}
		sum := ExpSubSumAVX2(buf[:n], 2)
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
