package ipt

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/weights"
)

// TestLoadTrainingCheckpoint: a checkpoint of ipt train (weights, Adam's
// moments under train., the task names in the metadata) loads as a model
// with the names; a names list that does not fit the heads is refused.
func TestLoadTrainingCheckpoint(t *testing.T) {
	c := Config{NFeats: 4, PatchSize: 4, PatchDim: 2, NumHeads: 2, EncLayers: 1, DecLayers: 1, Scales: []int{2, 1}}
	m, err := RandomModel(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	keys, tensors := m.Tensors()
	for _, k := range keys[:3] {
		tensors[TrainPrefix+"adam_m."+k] = &weights.Tensor{Shape: tensors[k].Shape, F32: tensors[k].F32}
		keys = append(keys, TrainPrefix+"adam_m."+k)
	}
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	c.TaskNames = []string{"sr2", "derain"}
	if err := weights.WriteSafetensors(path, keys, tensors, c.Metadata()); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Config.TaskNames, []string{"sr2", "derain"}) || got.Config.NumHeads != 2 {
		t.Errorf("loaded config %v, names %q; want 2 heads, names sr2, derain", got.Config, got.Config.TaskNames)
	}
	md := c.Metadata()
	md["tasks"] = "sr2"
	if err := weights.WriteSafetensors(path, keys, tensors, md); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, 0); err == nil || !strings.Contains(err.Error(), `tasks "sr2"`) {
		t.Errorf("one name for two heads: %v", err)
	}
	// Without training state or names: a plain model, no names.
	c.TaskNames = nil
	keys, tensors = m.Tensors()
	if err := weights.WriteSafetensors(path, keys, tensors, c.Metadata()); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(path, 0); err != nil || got.Config.TaskNames != nil {
		t.Errorf("plain checkpoint: %v, names %q", err, got.Config.TaskNames)
	}
}
