//go:build !purego

package asm

import (
	"math"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// softmaxKernels are the two vector widths of the softmax row kernels.
var softmaxKernels = []struct {
	name   string
	lanes  int
	ok     func() bool
	max    func([]float32) float32
	expSum func([]float32, float32) float32
}{
	{"AVX2", 8, func() bool { return cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3) }, MaxAVX2, ExpSubSumAVX2},
	{"AVX512", 16, func() bool { return cpuid.CPU.Supports(cpuid.AVX512F) }, MaxAVX512, ExpSubSumAVX512},
}

// TestMaxAVX2 puts the maximum at every position of slices that end in each
// of the kernels' loops (4 vectors per trip, then 1), with canaries after.
func TestMaxAVX2(t *testing.T) {
	for _, k := range softmaxKernels {
		if !k.ok() {
			t.Logf("%s: CPU lacks it", k.name)
			continue
		}
		for n := k.lanes; n <= 9*k.lanes; n += k.lanes {
			buf := make([]float32, n+k.lanes)
			for pos := range n {
				for i := range buf {
					buf[i] = -float32(i%13) - 1
				}
				for i := n; i < len(buf); i++ {
					buf[i] = 1000 // canaries: must not be read
				}
				buf[pos] = 7
				if got := k.max(buf[:n]); got != 7 {
					t.Fatalf("%s n=%d max at %d: got %v", k.name, n, pos, got)
				}
			}
		}
	}
}

// TestExpSubSumAVX2 checks values, sum and canaries for lengths ending in
// both loops (two vectors per trip, then one), on both widths; the AVX-512
// kernel must give each element the AVX2 kernel's bits.
func TestExpSubSumAVX2(t *testing.T) {
	for _, k := range softmaxKernels {
		if !k.ok() {
			t.Logf("%s: CPU lacks it", k.name)
			continue
		}
		for n := 0; n <= 5*k.lanes; n += k.lanes {
			buf := make([]float32, n+k.lanes)
			for i := range buf {
				buf[i] = float32(i%11) * -3.5
			}
			var wantSum float64
			want := make([]float64, n)
			for i := range want {
				want[i] = math.Exp(float64(buf[i] - 2))
				wantSum += want[i]
			}
			var avx2 []float32
			if k.lanes == 16 && softmaxKernels[0].ok() {
				avx2 = append([]float32(nil), buf[:n]...)
				ExpSubSumAVX2(avx2, 2)
			}
			sum := k.expSum(buf[:n], 2)
			for i := range want {
				if rel := math.Abs(float64(buf[i])-want[i]) / want[i]; rel > 3e-7 {
					t.Fatalf("%s n=%d: x[%d] = %v, want %v", k.name, n, i, buf[i], want[i])
				}
				if avx2 != nil && math.Float32bits(buf[i]) != math.Float32bits(avx2[i]) {
					t.Fatalf("%s n=%d: x[%d] = %v, AVX2 gives %v", k.name, n, i, buf[i], avx2[i])
				}
			}
			for i := n; i < len(buf); i++ {
				if buf[i] != float32(i%11)*-3.5 {
					t.Fatalf("%s n=%d: canary %d overwritten", k.name, n, i)
				}
			}
			if n > 0 && math.Abs(float64(sum)-wantSum)/wantSum > 1e-6 || n == 0 && sum != 0 {
				t.Fatalf("%s n=%d: sum %v, want %v", k.name, n, sum, wantSum)
			}
		}
	}
}

// TestExpSubSumEdges: an exponent below −87 gives 0 and a NaN stays NaN, in
// every lane of both widths, and the AVX-512 kernel has the AVX2 one's bits.
func TestExpSubSumEdges(t *testing.T) {
	for _, k := range softmaxKernels {
		if !k.ok() {
			t.Logf("%s: CPU lacks it", k.name)
			continue
		}
		for pos := range 2 * k.lanes {
			buf := make([]float32, 2*k.lanes)
			for i := range buf {
				buf[i] = -float32(i)
			}
			buf[pos] = -100
			buf[(pos+3)%len(buf)] = float32(math.NaN())
			var avx2 []float32
			if k.lanes == 16 && softmaxKernels[0].ok() {
				avx2 = append([]float32(nil), buf...)
				ExpSubSumAVX2(avx2, 0)
			}
			if sum := k.expSum(buf, 0); !math.IsNaN(float64(sum)) {
				t.Errorf("%s pos %d: sum %v with a NaN in the row", k.name, pos, sum)
			}
			if buf[pos] != 0 || !math.IsNaN(float64(buf[(pos+3)%len(buf)])) {
				t.Errorf("%s pos %d: e^-100 → %v, e^NaN → %v", k.name, pos, buf[pos], buf[(pos+3)%len(buf)])
			}
			for i := range avx2 {
				if math.Float32bits(buf[i]) != math.Float32bits(avx2[i]) {
					t.Errorf("%s pos %d: x[%d] = %v, AVX2 gives %v", k.name, pos, i, buf[i], avx2[i])
				}
			}
		}
	}
}
