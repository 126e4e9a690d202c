package train

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/ipt"
)

func tinyConfig(scales ...int) ipt.Config {
	return ipt.Config{NFeats: 4, PatchSize: 4, PatchDim: 2, NumHeads: 2, EncLayers: 1, DecLayers: 1, Scales: scales}
}

// TestCheckpointRoundTrip: weights, moments, state and task names come back
// bit for bit, and the file loads as a model for the restoring commands.
func TestCheckpointRoundTrip(t *testing.T) {
	cfg := tinyConfig(2, 1)
	cfg.TaskNames = []string{"sr2", "dn30"}
	n, err := NewNet(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	params, _ := n.Trainable()
	a := NewAdam(len(params))
	for i := range a.M {
		a.M[i] = float32(math.Sin(float64(i)))
		a.V[i] = float32(i) * 1e-7
	}
	a.T = 5
	st := State{Step: 5, Seed: 1<<63 + 9, Batch: 3, Accum: 2, Schedule: Schedule{Kind: "cosine", LR: 1.25e-4, Steps: 100, Warmup: 7},
		Clip: 0.5, Lambda: 0.1, Tau: 0.07}
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := WriteCheckpoint(path, n, a, st); err != nil {
		t.Fatal(err)
	}
	n2, a2, st2, err := ReadCheckpoint(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n2.Params, n.Params) || !slices.Equal(a2.M, a.M) || !slices.Equal(a2.V, a.V) || a2.T != 5 {
		t.Error("weights or moments differ after the round trip")
	}
	if *st2 != st || a2.Beta1 != 0.9 || a2.Beta2 != 0.999 || a2.Eps != 1e-8 {
		t.Errorf("state %+v, Adam %g %g %g; want %+v and 0.9 0.999 1e-8", *st2, a2.Beta1, a2.Beta2, a2.Eps, st)
	}
	if !slices.Equal(n2.Config.TaskNames, cfg.TaskNames) || n2.Config.NumHeads != 2 {
		t.Errorf("config %v %q", n2.Config, n2.Config.TaskNames)
	}
	m, err := ipt.Load(path, 0)
	if err != nil {
		t.Fatalf("the model loader refuses a training checkpoint: %v", err)
	}
	if !slices.Equal(m.Config.Scales, []int{2, 1}) {
		t.Errorf("loaded scales %v", m.Config.Scales)
	}

	// Weights only: no state.
	if err := WriteCheckpoint(path, n, nil, State{}); err != nil {
		t.Fatal(err)
	}
	if _, a3, st3, err := ReadCheckpoint(path, 0); err != nil || a3 != nil || st3 != nil {
		t.Errorf("weights-only checkpoint: %v, adam %v, state %v", err, a3, st3)
	}
}

// TestCheckpointKeepsPrevious: a write that fails leaves the previous
// checkpoint as it was and no temporary file behind.
func TestCheckpointKeepsPrevious(t *testing.T) {
	n, err := NewNet(tinyConfig(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ck.safetensors")
	params, _ := n.Trainable()
	if err := WriteCheckpoint(path, n, NewAdam(len(params)), State{Schedule: Schedule{Kind: "step", LR: 1, Steps: 1}}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := WriteCheckpoint(path, n, NewAdam(3), State{}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("moments of the wrong size: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !slices.Equal(before, after) {
		t.Error("a failed write changed the previous checkpoint")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in the folder, want the checkpoint only", len(ents))
	}
}
