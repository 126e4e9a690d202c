package ops

import (
	"fmt"
	"math"
	"testing"
)

// The gradient checks follow PyTorch's gradcheck: every input element is
// perturbed on small shapes, the scalar loss is summed in float64, and the
// analytic gradient is compared with central differences by absolute and
// relative tolerance together.

// weightedSum is the scalar loss Σ w[i]·y[i] in float64; its gradient with
// respect to y is w, which is what a backward pass is given as dOut.
func weightedSum(w, y []float32) float64 {
	var s float64
	for i, v := range y {
		s += float64(w[i]) * float64(v)
	}
	return s
}

// numericGrad returns the central difference of loss with respect to every
// element of x, moving x[i] by ±h. The step actually taken (x±h rounded to
// float32) is the one divided by, so the float32 storage of x costs no
// accuracy beyond the loss's own rounding. x is restored afterwards.
func numericGrad(x []float32, h float32, loss func() float64) []float64 {
	g := make([]float64, len(x))
	for i, v := range x {
		xp, xm := v+h, v-h
		x[i] = xp
		lp := loss()
		x[i] = xm
		lm := loss()
		x[i] = v
		g[i] = (lp - lm) / (float64(xp) - float64(xm))
	}
	return g
}

// checkGrad fails t unless |analytic−numeric| ≤ atol + rtol·|numeric| for
// every element, naming the worst one.
func checkGrad(t *testing.T, name string, analytic []float32, numeric []float64, atol, rtol float64) {
	t.Helper()
	if msg := gradMismatch(name, analytic, numeric, atol, rtol); msg != "" {
		t.Error(msg)
	}
}

// gradMismatch is checkGrad's verdict: "" when the gradients agree.
func gradMismatch(name string, analytic []float32, numeric []float64, atol, rtol float64) string {
	if len(analytic) != len(numeric) {
		return fmt.Sprintf("%s: %d analytic values, %d numeric", name, len(analytic), len(numeric))
	}
	worst, excess := -1, 0.0
	for i, n := range numeric {
		d := math.Abs(float64(analytic[i])-n) - (atol + rtol*math.Abs(n))
		if d > excess || math.IsNaN(d) {
			worst, excess = i, d
			if math.IsNaN(d) {
				break
			}
		}
	}
	if worst < 0 {
		return ""
	}
	return fmt.Sprintf("%s[%d]: analytic %.7g, numeric %.7g (tolerance %g + %g·|numeric|)",
		name, worst, analytic[worst], numeric[worst], atol, rtol)
}

func TestCheckGradCatchesAWrongGradient(t *testing.T) {
	// y = x², loss = Σ w·y: the gradient is 2·w·x; half of it must fail.
	x := []float32{0.5, -1.25, 2}
	w := []float32{1, -2, 0.5}
	y := make([]float32, len(x))
	loss := func() float64 {
		for i, v := range x {
			y[i] = v * v
		}
		return weightedSum(w, y)
	}
	good, half := make([]float32, len(x)), make([]float32, len(x))
	for i := range x {
		good[i] = 2 * w[i] * x[i]
		half[i] = good[i] / 2
	}
	num := numericGrad(x, 1e-2, loss)
	checkGrad(t, "good", good, num, 1e-4, 1e-3)
	if gradMismatch("half", half, num, 1e-4, 1e-3) == "" {
		t.Error("checkGrad accepted a gradient off by a factor of 2")
	}
}
