package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of each optimiser step (0-based) of a
// run laid out over Steps steps.
//
//   - "step", the paper's: LR until 2/3 of the steps, then 0.4·LR (5e-5 →
//     2e-5 with the paper's rates);
//   - "cosine": a linear warm-up from LR/Warmup to LR over the first Warmup
//     steps, then LR·(1+cos(π·k/(Steps−Warmup)))/2 for the k-th step after it;
//   - "constant": LR throughout.
type Schedule struct {
	Kind   string
	LR     float64
	Steps  int
	Warmup int
}

// Validate reports a schedule At cannot follow.
func (s Schedule) Validate() error {
	switch {
	case s.Kind != "step" && s.Kind != "cosine" && s.Kind != "constant":
		return fmt.Errorf("schedule %q: want step, cosine or constant", s.Kind)
	case !(s.LR > 0) || math.IsInf(s.LR, 0):
		return fmt.Errorf("learning rate %g: must be positive", s.LR)
	case s.Steps <= 0:
		return fmt.Errorf("schedule over %d steps: must be positive", s.Steps)
	case s.Warmup < 0 || (s.Warmup > 0 && s.Warmup >= s.Steps):
		return fmt.Errorf("warm-up %d: want 0 to %d steps", s.Warmup, s.Steps-1)
	}
	return nil
}

// At is the learning rate of step (0-based). Steps past the end keep the
// last rate of the layout (a run extended beyond it).
func (s Schedule) At(step int) float64 {
	step = min(max(step, 0), s.Steps-1)
	switch s.Kind {
	case "step":
		if step >= 2*s.Steps/3 {
			return 0.4 * s.LR
		}
		return s.LR
	case "cosine":
		if step < s.Warmup {
			return s.LR * float64(step+1) / float64(s.Warmup)
		}
		k, n := step-s.Warmup, s.Steps-s.Warmup
		return s.LR * (1 + math.Cos(math.Pi*float64(k)/float64(n))) / 2
	}
	return s.LR
}
