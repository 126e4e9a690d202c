package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/weights/builtin"
)

// modelDir is where ipt looks for checkpoints when neither --weights nor
// IPT_WEIGHTS names one: $XDG_DATA_HOME/ipt/models, by default
// ~/.local/share/ipt/models.
func modelDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "ipt", "models")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".local", "share", "ipt", "models")
	}
	return filepath.Join(home, ".local", "share", "ipt", "models")
}

func isCheckpointName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".pt", ".pth", ".safetensors":
		return !strings.HasPrefix(name, ".")
	}
	return false
}

// checkpointsIn lists the checkpoint files of dir, sorted by name.
func checkpointsIn(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && isCheckpointName(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// releasedFor names the released checkpoint made for j, best first: the
// fine-tuned single-task file, then the six-task pre-trained one.
func releasedFor(j job) []string {
	switch {
	case j.scale > 1:
		return []string{fmt.Sprintf("IPT_sr%d", j.scale), "IPT_pretrain"}
	case j.derain:
		return []string{"IPT_derain", "IPT_pretrain"}
	case j.sigma < 40:
		return []string{"IPT_denoise30", "IPT_denoise50", "IPT_pretrain"}
	default:
		return []string{"IPT_denoise50", "IPT_denoise30", "IPT_pretrain"}
	}
}

// resolveWeights loads the model that serves j, looking in this order:
// the file flag names (--weights, else IPT_WEIGHTS; "builtin" or
// "builtin:NAME" names a built-in model), the model directory's files (the
// released file made for j first), then the built-in models. name is what
// messages call the weights. Stderr says which weights are used when
// verbose, and otherwise only when it may surprise: a built-in model stands
// in because the model directory's files cannot serve j (not when quiet).
func resolveWeights(flag string, j job, numHeads int, verbose, quiet bool) (name string, m *ipt.Model, err error) {
	defer func() {
		if err == nil && verbose {
			fmt.Fprintf(os.Stderr, "ipt: weights: %s (%s)\n", name, m.Config)
		}
	}()
	switch {
	case flag == "builtin":
		name, m, err = builtinFor(j)
		if err == nil && name == "" {
			err = usageError{fmt.Errorf("--weights builtin: %s", noBuiltin(j))}
		}
		return name, m, err
	case strings.HasPrefix(flag, builtin.Prefix):
		m, err = builtin.Load(strings.TrimPrefix(flag, builtin.Prefix))
		return flag, m, err
	case flag != "":
		m, err = ipt.Load(flag, numHeads)
		return flag, m, err
	}
	dir := modelDir()
	files := checkpointsIn(dir)
	name, m = findWeights(files, j, numHeads)
	if m != nil {
		return name, m, nil
	}
	name, m, err = builtinFor(j)
	if err != nil {
		return "", nil, err
	}
	if m != nil {
		if len(files) > 0 && !verbose && !quiet {
			fmt.Fprintf(os.Stderr, "ipt: no file of %s serves %s; using the built-in model %s\n", dir, j.name, strings.TrimPrefix(name, builtin.Prefix))
		}
		return name, m, nil
	}
	return "", nil, usageError{fmt.Errorf("no weights for %s: pass --weights FILE, set IPT_WEIGHTS, or put %s.pt (or IPT_pretrain.pt) from the authors' release in %s (%s)",
		j.name, releasedFor(j)[0], dir, noBuiltin(j))}
}

// findWeights picks the checkpoint among files (the model directory's)
// that serves j: the released file made for it if present, else the first
// other file whose tensors serve it; nil if none does.
func findWeights(files []string, j job, numHeads int) (string, *ipt.Model) {
	stem := func(p string) string { return strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)) }
	var ordered []string
	for _, want := range releasedFor(j) {
		for _, f := range files {
			if strings.EqualFold(stem(f), want) {
				ordered = append(ordered, f)
			}
		}
	}
	for _, f := range files {
		if !slices.Contains(ordered, f) && !releasedName.MatchString(filepath.Base(f)) {
			ordered = append(ordered, f)
		}
	}
	for _, f := range ordered {
		m, err := ipt.Load(f, numHeads)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ipt: skipping %v\n", err)
			continue
		}
		if _, _, err := chooseHead(m.Config, j, -1, filepath.Base(f)); err == nil {
			return f, m
		}
	}
	return "", nil
}

// builtinFor loads the built-in model that serves j best: the one whose
// head was trained for exactly j (for denoising, the σ nearest to j's), then
// the one trained for fewest tasks (a model fine-tuned for j beats the
// multi-task one it came from), then the first in name order; name is ""
// when none serves j. They are loaded only now, so a run with weights of its
// own never reads them. A built-in model that cannot be loaded is an error:
// it is part of the binary.
func builtinFor(j job) (name string, m *ipt.Model, err error) {
	names, err := builtin.Names()
	if err != nil {
		return "", nil, err
	}
	bestMiss, bestTasks := 0, 0
	for _, n := range names {
		cand, err := builtin.Load(n)
		if err != nil {
			return "", nil, err
		}
		head, _, err := chooseHead(cand.Config, j, -1, builtin.Prefix+n)
		if err != nil {
			continue
		}
		miss := sigmaMiss(cand.Config, head, j)
		if m == nil || miss < bestMiss || (miss == bestMiss && cand.Config.Tasks() < bestTasks) {
			name, m, bestMiss, bestTasks = builtin.Prefix+n, cand, miss, cand.Config.Tasks()
		}
	}
	return name, m, nil
}

// sigmaMiss ranks how well the noise levels head was trained for fit j's
// (sigmaGap): 0 for every other task, and more than any known level's for a
// head whose levels the checkpoint does not record.
func sigmaMiss(c ipt.Config, head int, j job) int {
	if j.scale > 1 || j.derain {
		return 0
	}
	heads := namedSigmaHeads(c)
	if len(c.TaskNames) == 0 && slices.Equal(c.Scales, pretrainScales) {
		heads = releasedSigmaHeads
	}
	for _, h := range heads {
		if h.head == head {
			return sigmaGap(h, j.sigma)
		}
	}
	return 1 << 20
}

// noBuiltin says that no built-in model serves j, and why.
func noBuiltin(j job) string {
	names, _ := builtin.Names()
	if len(names) == 0 {
		return "this ipt has no built-in models"
	}
	return fmt.Sprintf("no built-in model serves %s (ipt models lists what they serve)", j.name)
}

type modelsCmd struct {
	NumHeads int `placeholder:"N" help:"Attention heads of the checkpoints (default 12, or what a .safetensors file records)."`
}

// Run lists each checkpoint of the model directory with what it serves,
// then the built-in models with their measured scores.
func (c *modelsCmd) Run() error {
	dir := modelDir()
	files := checkpointsIn(dir)
	var bad error
	if len(files) == 0 {
		fmt.Printf("no checkpoints in %s\nput the authors' released files there (%s)\n", dir, released)
	} else {
		fmt.Printf("%s:\n", dir)
	}
	for _, f := range files {
		m, err := ipt.Load(f, c.NumHeads)
		if err != nil {
			fmt.Printf("  %-24s unusable: %v\n", filepath.Base(f), err)
			bad = errors.Join(bad, err)
			continue
		}
		fmt.Printf("  %-24s %s\n", filepath.Base(f), serves(m.Config))
		fmt.Printf("  %-24s %s\n", "", m.Config)
	}
	if err := listBuiltin(); err != nil {
		bad = errors.Join(bad, err)
	}
	if bad != nil {
		return silentError{}
	}
	return nil
}

// listBuiltin prints the built-in models, what each serves and its scores
// from scores.json; a model or scores file that cannot be read gets a line
// and makes the error returned.
func listBuiltin() error {
	names, err := builtin.Names()
	if err != nil {
		fmt.Printf("built in: unusable: %v\n", err)
		return err
	}
	if len(names) == 0 {
		fmt.Println("built in: none (this ipt was built without models)")
		return nil
	}
	fmt.Println("built in (used when no file above serves the task; the files win):")
	scores, bad := builtin.ReadScores()
	if bad != nil {
		fmt.Printf("  %-24s unusable: %v\n", builtin.ScoresFile, bad)
	}
	for _, n := range names {
		m, err := builtin.Load(n)
		if err != nil {
			fmt.Printf("  %-24s unusable: %v\n", n, err)
			bad = errors.Join(bad, err)
			continue
		}
		fmt.Printf("  %-24s %s\n", n, serves(m.Config))
		fmt.Printf("  %-24s %s; %.1f M parameters\n", "", m.Config, float64(m.Bytes())/4e6)
		sc, ok := scores[n]
		if !ok {
			fmt.Printf("  %-24s no measured scores (%s has none for it)\n", "", builtin.ScoresFile)
			continue
		}
		printScores(sc)
	}
	return bad
}

// printScores prints a model's scores as a table: one row per task and
// test set, then seconds per megapixel for each task timed.
func printScores(sc builtin.Scores) {
	ind := strings.Repeat(" ", 28)
	fmt.Printf("%s%-7s %-9s %-5s %8s %8s %8s %8s\n", ind, "task", "data", "on", "PSNR", "ens.", "flips", "s/MP")
	timed := map[string]bool{}
	for _, r := range sc.Rows {
		ens, flips := "-", "-"
		if r.Ensemble != nil {
			ens = fmt.Sprintf("%.2f", *r.Ensemble)
		}
		if r.Flips != nil {
			flips = fmt.Sprintf("%.2f", *r.Flips)
		}
		on := "Y"
		if r.Metric == "psnr_rgb" {
			on = "RGB"
		}
		sec := "-"
		if v, ok := sc.SecondsPerMP[r.Task]; ok && !timed[r.Task] {
			sec = fmt.Sprintf("%.2f", v)
			timed[r.Task] = true
		}
		fmt.Printf("%s%-7s %-9s %-5s %8.2f %8s %8s %8s\n", ind, r.Task, r.Data, on, r.PSNR, ens, flips, sec)
	}
	tasks := slices.Sorted(maps.Keys(sc.SecondsPerMP))
	for _, t := range tasks {
		if !timed[t] {
			fmt.Printf("%s%-7s %-9s %-5s %8s %8s %8s %8.2f\n", ind, t, "-", "-", "-", "-", "-", sc.SecondsPerMP[t])
		}
	}
	if sc.Measured != "" {
		fmt.Printf("%smeasured: %s (PSNR in dB; ens.: --ensemble; flips: --flips; s/MP: seconds per megapixel, SR per output megapixel)\n", ind, sc.Measured)
	}
}
