package train

import (
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ipt-go/ipt/internal/ops"
	"github.com/ipt-go/ipt/internal/weights"
)

// TestGradientsMatchPyTorch checks one whole training step against PyTorch's
// autograd, in float64, over an IPT written independently from SPEC.md
// (scripts/make_grad_case.py made testdata/grad-case: C 8, P 12, p 3, 2
// heads, 1+1 layers, a ×3 and a ×1 task, batch 3, L1 + 0.1·contrastive with
// τ 0.07): the output, both losses and every parameter's gradient.
func TestGradientsMatchPyTorch(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "grad-case")
	ck, err := weights.Load(filepath.Join(dir, "model.pt"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := weights.Load(filepath.Join(dir, "case.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	meta := func(k string) float64 {
		v, err := strconv.ParseFloat(c.Metadata[k], 64)
		if err != nil {
			t.Fatalf("case metadata %s: %v", k, err)
		}
		return v
	}
	heads, task := int(meta("heads")), int(meta("task"))
	n, err := NetFromCheckpoint(ck, heads)
	if err != nil {
		t.Fatal(err)
	}
	in, target := c.Tensors["input"], c.Tensors["target"]
	b := &Batch{Task: task, N: in.Shape[0], In: in.F32, Target: target.F32}
	loss, err := n.ForwardBackward(b, meta("lambda"), meta("tau"), ops.Exec{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		name     string
		got, ref float64
	}{{"l1", loss.L1, meta("l1")}, {"contrastive", loss.Contrastive, meta("contrastive")}} {
		if math.Abs(l.got-l.ref) > 1e-5*math.Abs(l.ref)+1e-6 {
			t.Errorf("%s loss %.9g, PyTorch %.9g", l.name, l.got, l.ref)
		}
	}
	m, err := n.Model()
	if err != nil {
		t.Fatal(err)
	}
	out := modelForward(t, m, task, in.F32, b.N, ops.Exec{})
	if e := maxRelErr(out, c.Tensors["output"].F32); e > 1e-5 {
		t.Errorf("output: relative error %.3g against PyTorch", e)
	}
	checked := 0
	for _, k := range n.Keys() {
		g, _ := n.GradTensor(k)
		ref, ok := c.Tensors["grad."+k]
		if !ok {
			// The fixed mean shifts and the other task's head and tail
			// take no part in PyTorch's graph: their gradient is zero.
			for _, v := range g {
				if v != 0 {
					t.Errorf("%s: gradient %g where PyTorch has none", k, v)
					break
				}
			}
			continue
		}
		checked++
		// float32 against float64, relative to the tensor's largest gradient
		// (measured: at most 1.1e-6).
		if e := maxRelErr(g, ref.F32); e > 1e-5 {
			t.Errorf("%s: gradient relative error %.3g against PyTorch", k, e)
		}
	}
	if checked != len(c.Tensors)-3 {
		t.Errorf("compared %d gradients, the case has %d", checked, len(c.Tensors)-3)
	}
}

// maxRelErr is max|got−want| / max|want| (want not all zero).
func maxRelErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	return diff / max(scale, 1e-30)
}
