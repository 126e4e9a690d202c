package train

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/ops"
	"github.com/ipt-go/ipt/internal/weights"
)

// tinyDir holds the authors' reduced checkpoint (6 tasks, C 16, P 24, 4
// heads, 2+2 layers) and cases computed from it by their code.
var tinyDir = filepath.Join("..", "..", "testdata", "ipt-tiny")

func loadTinyNet(t *testing.T) (*Net, *weights.Checkpoint) {
	t.Helper()
	ck, err := weights.Load(filepath.Join(tinyDir, "model.pt"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := NetFromCheckpoint(ck, 4)
	if err != nil {
		t.Fatal(err)
	}
	return n, ck
}

// modelForward runs an inference model on n tiles of task.
func modelForward(t *testing.T, m *ipt.Model, task int, in []float32, n int, e ops.Exec) []float32 {
	t.Helper()
	s := m.Config.Scales[task]
	P := m.Config.PatchSize
	out := make([]float32, n*ipt.Colors*P*s*P*s)
	ws := m.NewWorkspace(n)
	ws.Exec = e
	if err := m.Forward(task, in, n, out, ws); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNetFromCheckpointMatchesTheAuthorsOutputs(t *testing.T) {
	n, ck := loadTinyNet(t)
	cases, err := weights.Load(filepath.Join(tinyDir, "cases.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	// Every tensor copied exactly.
	for _, k := range n.Keys() {
		v, shape := n.Tensor(k)
		src := ck.Tensors[k]
		if !slices.Equal(shape, src.Shape) || !slices.Equal(v, src.F32) {
			t.Fatalf("%s: shape %v (checkpoint %v), values differ: %v", k, shape, src.Shape, !slices.Equal(v, src.F32))
		}
	}
	m, err := n.Model()
	if err != nil {
		t.Fatal(err)
	}
	in := cases.Tensors["patch.input"]
	for _, task := range []int{0, 2, 3} {
		got := modelForward(t, m, task, in.F32, in.Shape[0], ops.Exec{})
		want := cases.Tensors[fmtKey(task)].F32
		for i := range want {
			if d := got[i] - want[i]; d > 1e-3 || d < -1e-3 {
				t.Fatalf("task %d: output[%d] = %g, authors' %g", task, i, got[i], want[i])
			}
		}
	}
}

func fmtKey(task int) string { return fmt.Sprintf("patch.task%d.output", task) }

func TestModelSharesParams(t *testing.T) {
	cfg := ipt.Config{NFeats: 4, PatchSize: 6, PatchDim: 3, NumHeads: 2, EncLayers: 1, DecLayers: 1, Scales: []int{2, 1}}
	n, err := NewNet(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.Model()
	if err != nil {
		t.Fatal(err)
	}
	in := make([]float32, 3*6*6)
	for i := range in {
		in[i] = float32(i % 251)
	}
	before := modelForward(t, m, 1, in, 1, ops.Exec{})
	w, _ := n.Tensor("tail.1.1.bias")
	w[0] += 1 // the ×1 tail's red bias: red output +1 exactly (up to rounding)
	after := modelForward(t, m, 1, in, 1, ops.Exec{})
	for i := range 36 {
		if d := after[i] - before[i]; d < 0.999 || d > 1.001 {
			t.Fatalf("red[%d] moved by %g after its bias moved by 1: the model does not see Params", i, d)
		}
	}
	if !slices.Equal(after[36:], before[36:]) {
		t.Error("green and blue moved with the red bias")
	}
}

func TestNewNetDeterministic(t *testing.T) {
	cfg := ipt.Config{NFeats: 4, PatchSize: 6, PatchDim: 3, NumHeads: 2, EncLayers: 1, DecLayers: 1, Scales: []int{2, 4}}
	a, err := NewNet(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewNet(cfg, 7)
	c, _ := NewNet(cfg, 8)
	if !slices.Equal(a.Params, b.Params) {
		t.Error("same seed, different parameters")
	}
	if slices.Equal(a.Params, c.Params) {
		t.Error("different seeds, same parameters")
	}
	// The fixed mean shifts come first and are left out of Trainable.
	p, g := a.Trainable()
	if len(p) != len(a.Params)-24 || len(g) != len(p) {
		t.Errorf("trainable %d values of %d, want all but the 24 of the mean shifts", len(p), len(a.Params))
	}
	// Spot-check the init's ranges: a 5×5 conv of 4 channels is ±1/√100.
	w, _ := a.Tensor("head.0.1.body.0.weight")
	for _, v := range w {
		if v < -0.1 || v > 0.1 {
			t.Fatalf("conv weight %g outside ±0.1", v)
		}
	}
	if g, _ := a.Tensor("body.encoder.layers.0.norm1.weight"); g[0] != 1 {
		t.Errorf("layer-norm gain %g, want 1", g[0])
	}
	if _, err := NewNet(ipt.Config{NFeats: 4, PatchSize: 7, PatchDim: 3, NumHeads: 2, Scales: []int{1}}, 1); err == nil {
		t.Error("a patch size that is not a multiple of the patch dim was accepted")
	}
}

func TestKeepTask(t *testing.T) {
	n, _ := loadTinyNet(t)
	cases, err := weights.Load(filepath.Join(tinyDir, "cases.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	in := cases.Tensors["patch.input"]
	full, err := n.Model()
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range []int{2, 4} {
		one, err := n.KeepTask(task)
		if err != nil {
			t.Fatal(err)
		}
		if one.Config.Tasks() != 1 || one.Config.Scales[0] != n.Config.Scales[task] {
			t.Fatalf("task %d kept as scales %v", task, one.Config.Scales)
		}
		m, err := one.Model()
		if err != nil {
			t.Fatal(err)
		}
		e := ops.Exec{Threads: 1}
		want := modelForward(t, full, task, in.F32, in.Shape[0], e)
		got := modelForward(t, m, 0, in.F32, in.Shape[0], e)
		if !slices.Equal(got, want) {
			t.Errorf("task %d kept alone: output differs from the full net's", task)
		}
		// Written and read back, it is the same net.
		path := filepath.Join(t.TempDir(), "one.safetensors")
		keys, tensors := m.Tensors()
		if err := weights.WriteSafetensors(path, keys, tensors, one.Config.Metadata()); err != nil {
			t.Fatal(err)
		}
		ck, err := weights.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		back, err := NetFromCheckpoint(ck, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.Params, one.Params) || !slices.Equal(back.Keys(), one.Keys()) {
			t.Errorf("task %d: net written and read back differs", task)
		}
	}
	if _, err := n.KeepTask(6); err == nil {
		t.Error("KeepTask(6) of a 6-task net succeeded")
	}
}

// TestAddLayers checks that the deeper net of AddLayers computes exactly what
// the net it came from computes, and that its new layers learn: their zeroed
// projections get gradients in the first step.
func TestAddLayers(t *testing.T) {
	n, _ := loadTinyNet(t)
	one, err := n.KeepTask(2)
	if err != nil {
		t.Fatal(err)
	}
	deep, err := one.AddLayers(2, 7)
	if err != nil {
		t.Fatal(err)
	}
	if deep.Config.EncLayers != one.Config.EncLayers+2 || deep.Config.DecLayers != one.Config.DecLayers+2 {
		t.Fatalf("layers %d+%d from %d+%d", deep.Config.EncLayers, deep.Config.DecLayers, one.Config.EncLayers, one.Config.DecLayers)
	}
	cases, err := weights.Load(filepath.Join(tinyDir, "cases.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	in := cases.Tensors["patch.input"]
	e := ops.Exec{Threads: 1}
	m0, err := one.Model()
	if err != nil {
		t.Fatal(err)
	}
	m1, err := deep.Model()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(modelForward(t, m1, 0, in.F32, in.Shape[0], e), modelForward(t, m0, 0, in.F32, in.Shape[0], e)) {
		t.Error("the deeper net's output differs from the net it grew from")
	}

	// One step: every tensor of a new layer that writes into the residual
	// has a gradient.
	deep.ZeroGrads()
	if _, err := deep.ForwardBackward(randomBatch(deep.Config, 0, 2, 0, 255, nil, 3), 0.1, 0.07, e); err != nil {
		t.Fatal(err)
	}
	last := deep.Config.EncLayers - 1
	for _, key := range []string{
		fmt.Sprintf("body.encoder.layers.%d.self_attn.out_proj.weight", last),
		fmt.Sprintf("body.encoder.layers.%d.linear2.weight", last),
		fmt.Sprintf("body.decoder.layers.%d.multihead_attn.out_proj.weight", last),
		fmt.Sprintf("body.decoder.layers.%d.linear2.bias", last),
	} {
		v, _ := deep.Tensor(key)
		g, _ := deep.GradTensor(key)
		if v == nil || slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) {
			t.Errorf("%s: missing or not zero", key)
		}
		if !slices.ContainsFunc(g, func(x float32) bool { return x != 0 }) {
			t.Errorf("%s: no gradient after a step", key)
		}
	}
	if _, err := one.AddLayers(0, 7); err == nil {
		t.Error("AddLayers(0) succeeded")
	}
}
