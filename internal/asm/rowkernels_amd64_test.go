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

// TestSoftmaxRowKernels runs checkMax and checkExpSubSum on both widths
// (TestExpSubSumEdges compares their bits).
func TestSoftmaxRowKernels(t *testing.T) {
	for _, k := range softmaxKernels {
		if !k.ok() {
			t.Logf("%s: CPU lacks it", k.name)
			continue
		}
		checkMax(t, "Max"+k.name, k.lanes, k.max)
		checkExpSubSum(t, "ExpSubSum"+k.name, k.lanes, k.expSum)
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
			nan := (pos + 3) % len(buf)
			buf[pos] = -100
			buf[nan] = float32(math.NaN())
			var avx2 []float32
			if k.lanes == 16 && softmaxKernels[0].ok() {
				avx2 = append([]float32(nil), buf...)
				ExpSubSumAVX2(avx2, 0)
			}
			if sum := k.expSum(buf, 0); !math.IsNaN(float64(sum)) {
				t.Errorf("%s pos %d: sum %v with a NaN in the row", k.name, pos, sum)
			}
			if buf[pos] != 0 || !math.IsNaN(float64(buf[nan])) {
				t.Errorf("%s pos %d: e^-100 → %v, e^NaN → %v", k.name, pos, buf[pos], buf[nan])
			}
			for i := range avx2 {
				if math.Float32bits(buf[i]) != math.Float32bits(avx2[i]) {
					t.Errorf("%s pos %d: x[%d] = %v, AVX2 gives %v", k.name, pos, i, buf[i], avx2[i])
				}
			}
		}
	}
}
