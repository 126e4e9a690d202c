package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ipt-go/ipt/internal/ipt"
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

// findWeights picks the checkpoint of the model directory that serves j:
// the released file made for it if present, else the first other file whose
// tensors serve it. A missing directory or no suitable file is a usage error
// that says where to put which file.
func findWeights(j job, numHeads int) (string, *ipt.Model, error) {
	dir := modelDir()
	files := checkpointsIn(dir)
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
		if _, err := selectTask(m.Config, j, -1, filepath.Base(f)); err == nil {
			return f, m, nil
		}
	}
	return "", nil, usageError{fmt.Errorf("no weights for %s: pass --weights FILE, set IPT_WEIGHTS, or put %s.pt (or IPT_pretrain.pt) from the authors' release in %s",
		j.name, releasedFor(j)[0], dir)}
}

type modelsCmd struct {
	NumHeads int `placeholder:"N" help:"Attention heads of the checkpoints (default 12, or what a .safetensors file records)."`
}

// Run lists each checkpoint of the model directory with what it serves.
func (c *modelsCmd) Run() error {
	dir := modelDir()
	files := checkpointsIn(dir)
	if len(files) == 0 {
		fmt.Printf("no checkpoints in %s\nput the authors' released files there (%s)\n", dir, released)
		return nil
	}
	fmt.Printf("%s:\n", dir)
	var bad error
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
	if bad != nil {
		return silentError{}
	}
	return nil
}
