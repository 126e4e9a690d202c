// Package synth makes a restoration task's inputs from clean images: MATLAB's
// bicubic downscaling (bit for bit) and upscaling, Gaussian noise, procedural
// rain streaks, and the crops, flips and rotations of training. The trainer
// draws its batches with it, and ipt degrade and ipt eval make their inputs
// with it.
package synth

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/ipt-go/ipt/internal/ipt"
)

// Task is one restoration task as the command line names it.
type Task struct {
	Name  string  // sr2, sr3, sr4, dnN (dn30, dn50, …), dnA-B or derain
	Scale int     // upscaling factor: 2, 3 or 4 for SR, 1 otherwise
	Sigma float64 // noise level on 0..255 for dnN, 0 otherwise
	// SigmaMax > 0 makes a blind denoising task, dnA-B: each image gets
	// its own level, drawn uniformly from [Sigma, SigmaMax].
	SigmaMax float64
	Rain     bool // deraining
}

// Blind reports whether t is denoising at levels drawn from a range (dnA-B).
func (t Task) Blind() bool { return t.SigmaMax > 0 }

// Level is the noise level of dnN, or the middle of dnA-B's range.
func (t Task) Level() float64 {
	if t.Blind() {
		return (t.Sigma + t.SigmaMax) / 2
	}
	return t.Sigma
}

// TaskNames are the tasks of the paper's pre-training, in its order.
const TaskNames = "sr2, sr3, sr4, dn30, dn50, derain"

// ParseTask reads a task name: sr2, sr3, sr4, derain, dnN for Gaussian
// noise of σ = N, 1 ≤ N ≤ 255 (dn30 and dn50 are the paper's), or dnA-B,
// 0 ≤ A < B ≤ 255, for noise of a level drawn afresh for each image
// (one denoiser for every level in the range).
func ParseTask(name string) (Task, error) {
	switch name {
	case "sr2", "sr3", "sr4":
		return Task{Name: name, Scale: int(name[2] - '0')}, nil
	case "derain":
		return Task{Name: name, Scale: 1, Rain: true}, nil
	}
	if n, ok := strings.CutPrefix(name, "dn"); ok {
		if lo, hi, ok := strings.Cut(n, "-"); ok {
			a, errA := level(lo, 0)
			b, errB := level(hi, 1)
			if errA != nil || errB != nil || a >= b {
				return Task{}, fmt.Errorf("task %q: dnA-B needs whole noise levels 0 ≤ A < B ≤ 255", name)
			}
			return Task{Name: name, Scale: 1, Sigma: float64(a), SigmaMax: float64(b)}, nil
		}
		sigma, err := level(n, 1)
		if err != nil {
			return Task{}, fmt.Errorf("task %q: the noise level of dnN must be a whole number from 1 to 255", name)
		}
		return Task{Name: name, Scale: 1, Sigma: float64(sigma)}, nil
	}
	return Task{}, fmt.Errorf("task %q: want one of %s (or dnN for σ N, dnA-B for σ from A to B)", name, TaskNames)
}

// level reads a noise level: a whole number from least to 255, written
// plainly (no sign, no leading zeros).
func level(s string, least int) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < least || v > 255 || strconv.Itoa(v) != s {
		return 0, fmt.Errorf("bad level %q", s)
	}
	return v, nil
}

// ParseTasks reads a comma-separated list of task names, each at most once.
func ParseTasks(list string) ([]Task, error) {
	var tasks []Task
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		t, err := ParseTask(name)
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, fmt.Errorf("tasks %q: %s is listed twice", list, name)
		}
		seen[name] = true
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// Degrade returns the model's input for the clean image clean: for SR,
// Downscale(clean, Scale), which crops clean to a multiple of the scale
// first (the matching target is ModCrop(clean, Scale); an image smaller
// than the scale gives an empty input); for dnN, AddNoise with σ N; for
// derain, AddRain; for dnA-B, AddNoise with a σ drawn uniformly from
// [A, B] first. The random draws come from rng only (SR draws none).
func Degrade(t Task, clean *ipt.Image, rng *rand.Rand) *ipt.Image {
	switch {
	case t.Scale > 1:
		return Downscale(clean, t.Scale)
	case t.Rain:
		return AddRain(clean, rng)
	case t.Blind():
		return AddNoise(clean, t.Sigma+(t.SigmaMax-t.Sigma)*rng.Float64(), rng)
	default:
		return AddNoise(clean, t.Sigma, rng)
	}
}
