package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/synth"
)

type srCmd struct {
	Scale int `short:"x" required:"" enum:"2,3,4" placeholder:"2|3|4" help:"Upscaling factor."`
	restoreFlags
}

func (c *srCmd) Run() error {
	return c.run(job{command: "sr", name: fmt.Sprintf("sr%d", c.Scale), scale: c.Scale})
}

type denoiseCmd struct {
	Sigma int `required:"" placeholder:"N" help:"Noise standard deviation on the 0..255 scale. The released heads are trained for 30 and 50; other levels use the nearest."`
	restoreFlags
}

func (c *denoiseCmd) Run() error {
	if c.Sigma <= 0 {
		return usageError{fmt.Errorf("--sigma %d: must be positive", c.Sigma)}
	}
	return c.run(job{command: "denoise", name: fmt.Sprintf("denoise%d", c.Sigma), scale: 1, sigma: c.Sigma})
}

type derainCmd struct {
	restoreFlags
}

func (c *derainCmd) Run() error {
	return c.run(job{command: "derain", name: "derain", scale: 1, derain: true})
}

// pretrainScales is the task layout of IPT_pretrain.pt (SPEC §2): 0 ×2,
// 1 ×3, 2 ×4, 3 derain, 4 noise σ30, 5 noise σ50.
var pretrainScales = []int{2, 3, 4, 1, 1, 1}

var releasedName = regexp.MustCompile(`(?i)^IPT_(sr[234]|denoise(\d+)|derain)\b`)

// selectTask picks the head that serves j (see chooseHead) and explains on
// stderr what it chose when that is a compromise.
func selectTask(c ipt.Config, j job, force int, file string) (int, error) {
	t, notes, err := chooseHead(c, j, force, file)
	for _, n := range notes {
		fmt.Fprintln(os.Stderr, "ipt: "+n)
	}
	return t, err
}

// chooseHead picks the head that serves j: forced by --head, else the head
// whose tail has the asked scale for sr; for the six-task pretrain layout,
// 3 for derain and 4 or 5 (σ30, σ50) for denoising; for a one-task ×1 file,
// that task. notes say what it chose when that is a compromise.
func chooseHead(c ipt.Config, j job, force int, file string) (head int, notes []string, err error) {
	if force >= 0 {
		if force >= c.Tasks() {
			return 0, nil, usageError{fmt.Errorf("--head %d: the checkpoint has heads 0..%d", force, c.Tasks()-1)}
		}
		if c.Scales[force] != j.scale {
			return 0, nil, usageError{fmt.Errorf("--head %d has scale ×%d, not the ×%d that %s needs", force, c.Scales[force], j.scale, j.name)}
		}
		return force, nil, nil
	}
	if len(c.TaskNames) > 0 {
		return namedTask(c, j, file)
	}
	if j.scale > 1 {
		for t, s := range c.Scales {
			if s == j.scale {
				return t, nil, nil
			}
		}
		return 0, nil, usageError{fmt.Errorf("%s: the weights cannot serve ×%d; they serve %s", file, j.scale, serves(c))}
	}
	if slices.Equal(c.Scales, pretrainScales) {
		if j.derain {
			return 3, nil, nil
		}
		t, note := nearestSigma(j.sigma, releasedSigmaHeads)
		return t, note, nil
	}
	var ones []int
	for t, s := range c.Scales {
		if s == 1 {
			ones = append(ones, t)
		}
	}
	if len(ones) != 1 {
		return 0, nil, usageError{fmt.Errorf("%s: cannot tell which head does %s; they serve %s; choose one with --head", file, j.name, serves(c))}
	}
	// A one-task ×1 file does not say whether it denoises or derains; the
	// released file names do, so a mismatch gets a warning.
	if m := releasedName.FindStringSubmatch(file); m != nil {
		trained := strings.ToLower(m[1])
		switch {
		case j.derain && trained != "derain":
			notes = append(notes, fmt.Sprintf("warning: %s was trained for %s, not deraining", file, trained))
		case !j.derain && trained == "derain":
			notes = append(notes, fmt.Sprintf("warning: %s was trained for deraining, not denoising", file))
		case !j.derain && m[2] != "":
			if level, _ := strconv.Atoi(m[2]); level != j.sigma {
				notes = append(notes, fmt.Sprintf("note: %s was trained for σ%d; using it for σ%d", file, level, j.sigma))
			}
		}
	}
	return ones[0], notes, nil
}

// namedTask picks the head of a checkpoint that names its tasks (ipt
// train's): sr N for srN, derain for derain, and for denoising the dnN or
// dnA-B head nearest to the asked σ (sigmaGap).
func namedTask(c ipt.Config, j job, file string) (int, []string, error) {
	want := ""
	switch {
	case j.scale > 1:
		want = fmt.Sprintf("sr%d", j.scale)
	case j.derain:
		want = "derain"
	default:
		if heads := namedSigmaHeads(c); len(heads) > 0 {
			t, note := nearestSigma(j.sigma, heads)
			return t, note, nil
		}
	}
	for t, name := range c.TaskNames {
		if name == want {
			if c.Scales[t] != j.scale {
				return 0, nil, fmt.Errorf("%s: head %d is named %s but its tail has scale ×%d", file, t, name, c.Scales[t])
			}
			return t, nil, nil
		}
	}
	return 0, nil, usageError{fmt.Errorf("%s: the weights cannot serve %s; they were trained for %s", file, j.name, strings.Join(c.TaskNames, ", "))}
}

// sigmaHead is a denoising head and the noise levels it was trained for:
// one (lo == hi, dnN) or a range (dnA-B).
type sigmaHead struct{ head, lo, hi int }

// namedSigmaHeads lists the denoising heads of a checkpoint that names its
// tasks.
func namedSigmaHeads(c ipt.Config) []sigmaHead {
	var heads []sigmaHead
	for t, name := range c.TaskNames {
		task, err := synth.ParseTask(name)
		if err != nil || task.Rain || task.Scale != 1 || c.Scales[t] != 1 {
			continue
		}
		hi := task.Sigma
		if task.Blind() {
			hi = task.SigmaMax
		}
		heads = append(heads, sigmaHead{t, int(task.Sigma), int(hi)})
	}
	return heads
}

// releasedSigmaHeads are the released layout's denoising heads.
var releasedSigmaHeads = []sigmaHead{{4, 30, 30}, {5, 50, 50}}

// sigmaGap ranks a head for noise of level sigma, lower being better: 0 for
// a head trained at exactly that level, 1 for a range that holds it (a
// specialist beats a generalist), and beyond that 2·distance+1.
func sigmaGap(h sigmaHead, sigma int) int {
	switch {
	case h.lo == sigma && h.hi == sigma:
		return 0
	case h.lo <= sigma && sigma <= h.hi:
		return 1
	}
	return 2*min(abs(h.lo-sigma), abs(h.hi-sigma)) + 1
}

// nearestSigma picks the head with the least sigmaGap (ties go to the
// stronger level), with a note when it was trained neither for sigma nor
// for a range that holds it.
func nearestSigma(sigma int, heads []sigmaHead) (int, []string) {
	best := heads[0]
	for _, h := range heads[1:] {
		if g, b := sigmaGap(h, sigma), sigmaGap(best, sigma); g < b || (g == b && h.hi > best.hi) {
			best = h
		}
	}
	if sigmaGap(best, sigma) > 1 {
		level := fmt.Sprintf("σ%d", best.lo)
		if best.hi != best.lo {
			level = fmt.Sprintf("σ%d–%d", best.lo, best.hi)
		}
		return best.head, []string{fmt.Sprintf("note: no head is trained for σ%d; using the %s head", sigma, level)}
	}
	return best.head, nil
}

// serves lists what a config can do, e.g. "sr×2 (head 0), ×1 tasks (heads 3, 4, 5)".
func serves(c ipt.Config) string {
	if len(c.TaskNames) == c.Tasks() {
		parts := make([]string, len(c.TaskNames))
		for t, name := range c.TaskNames {
			parts[t] = fmt.Sprintf("%s (head %d)", taskWords(name), t)
		}
		return strings.Join(parts, ", ")
	}
	if slices.Equal(c.Scales, pretrainScales) {
		return "sr -x 2, 3, 4 (heads 0-2), derain (head 3), denoise σ30 and σ50 (heads 4, 5)"
	}
	var parts []string
	for t, s := range c.Scales {
		if s == 1 {
			parts = append(parts, fmt.Sprintf("denoise or derain (head %d)", t))
		} else {
			parts = append(parts, fmt.Sprintf("sr -x %d (head %d)", s, t))
		}
	}
	return strings.Join(parts, ", ")
}

// taskWords says a task name of ipt train as the command line does: sr4 is
// "sr -x 4", dn50 "denoise σ50", dn5-75 "denoise σ5-75".
func taskWords(name string) string {
	if n, ok := strings.CutPrefix(name, "sr"); ok {
		return "sr -x " + n
	}
	if n, ok := strings.CutPrefix(name, "dn"); ok {
		return "denoise σ" + n
	}
	return name
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
