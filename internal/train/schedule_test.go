package train

import (
	"math"
	"testing"
)

func TestScheduleStep(t *testing.T) {
	s := Schedule{Kind: "step", LR: 5e-5, Steps: 6}
	want := []float64{5e-5, 5e-5, 5e-5, 5e-5, 2e-5, 2e-5, 2e-5} // decay at step 4 = 2/3·6; past the end: the last
	for i, w := range want {
		if got := s.At(i); math.Abs(got-w) > 1e-18 {
			t.Errorf("step %d: lr %g, want %g", i, got, w)
		}
	}
}

func TestScheduleCosine(t *testing.T) {
	s := Schedule{Kind: "cosine", LR: 1, Steps: 6, Warmup: 2}
	// warm-up 1/2, 1; then (1+cos(πk/4))/2 for k = 0..3.
	want := []float64{0.5, 1, 1, (1 + math.Sqrt2/2) / 2, 0.5, (1 - math.Sqrt2/2) / 2}
	for i, w := range want {
		if got := s.At(i); math.Abs(got-w) > 1e-15 {
			t.Errorf("step %d: lr %g, want %g", i, got, w)
		}
	}
	s.Warmup = 0
	if got := s.At(0); got != 1 {
		t.Errorf("no warm-up: step 0 lr %g, want 1", got)
	}
	if got := s.At(3); math.Abs(got-0.5) > 1e-15 {
		t.Errorf("no warm-up: step 3 of 6 lr %g, want 0.5", got)
	}
}

func TestScheduleValidate(t *testing.T) {
	for _, s := range []Schedule{
		{Kind: "linear", LR: 1, Steps: 5},
		{Kind: "step", LR: 0, Steps: 5},
		{Kind: "step", LR: math.NaN(), Steps: 5},
		{Kind: "step", LR: 1, Steps: 0},
		{Kind: "cosine", LR: 1, Steps: 5, Warmup: 5},
		{Kind: "cosine", LR: 1, Steps: 5, Warmup: -1},
	} {
		if s.Validate() == nil {
			t.Errorf("%+v: no error", s)
		}
	}
	if err := (Schedule{Kind: "cosine", LR: 1, Steps: 5, Warmup: 4}).Validate(); err != nil {
		t.Error(err)
	}
}
