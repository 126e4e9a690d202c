package ops

import (
	"math"
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
