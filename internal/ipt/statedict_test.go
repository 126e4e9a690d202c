package ipt

import (
	"slices"
	"testing"

	"github.com/ipt-go/ipt/internal/weights"
)

// TestStateDictIsTheAuthors compares StateDict with the state_dict the
// authors' code saved for the tiny fixture: the same keys in the same order,
// the same shapes, and the same values (position_ids included).
func TestStateDictIsTheAuthors(t *testing.T) {
	ck, err := weights.Load("../../testdata/ipt-tiny/model.pt")
	if err != nil {
		t.Fatal(err)
	}
	m, err := FromCheckpoint(ck, 4)
	if err != nil {
		t.Fatal(err)
	}
	keys, tensors := m.StateDict()
	if !slices.Equal(keys, ck.Keys) {
		t.Fatalf("keys differ from the authors' state_dict:\ngot  %v\nwant %v", keys, ck.Keys)
	}
	for _, k := range keys {
		a, b := tensors[k], ck.Tensors[k]
		if !slices.Equal(a.Shape, b.Shape) || !slices.Equal(a.F32, b.F32) || !slices.Equal(a.I64, b.I64) {
			t.Errorf("%s differs from the authors' (shape %v, want %v)", k, a.Shape, b.Shape)
		}
	}
}
