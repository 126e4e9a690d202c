package train

import (
	"fmt"
	"math"
	"testing"
)

// Gradient checks in the manner of PyTorch's gradcheck: central differences
// of a float64 loss, the analytic gradient compared by absolute and relative
// tolerance together.

// centralDiff returns the central difference of loss with respect to x[i],
// moving it by ±h; the step taken (x±h rounded to float32) is the one
// divided by. x[i] is restored.
func centralDiff(x []float32, i int, h float32, loss func() float64) float64 {
	v := x[i]
	xp, xm := v+h, v-h
	x[i] = xp
	lp := loss()
	x[i] = xm
	lm := loss()
	x[i] = v
	return (lp - lm) / (float64(xp) - float64(xm))
}

// mismatch says how analytic a differs from numeric num at element i of
// name, or "" when |a − num| ≤ atol + rtol·|num|.
func mismatch(name string, i int, a float32, num, atol, rtol float64) string {
	d := math.Abs(float64(a) - num)
	if d <= atol+rtol*math.Abs(num) {
		return ""
	}
	return fmt.Sprintf("%s[%d]: analytic %.7g, numeric %.7g (tolerance %g + %g·|numeric|)", name, i, a, num, atol, rtol)
}

func TestMismatchCatchesAWrongGradient(t *testing.T) {
	// loss = Σ x³: gradient 3x²; twice that must be caught.
	x := []float32{0.5, -1.25, 2}
	loss := func() float64 {
		var s float64
		for _, v := range x {
			s += float64(v) * float64(v) * float64(v)
		}
		return s
	}
	for i, v := range x {
		num := centralDiff(x, i, 1e-3, loss)
		if m := mismatch("good", i, 3*v*v, num, 1e-4, 1e-3); m != "" {
			t.Error(m)
		}
		if mismatch("double", i, 6*v*v, num, 1e-4, 1e-3) == "" {
			t.Errorf("a gradient twice too large passed at %d", i)
		}
	}
}
