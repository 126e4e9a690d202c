package ipt

import "testing"

// The released ×4 model has 115,608,155 parameters (SPEC §1): the key table
// and shapes must add up to exactly that.
func TestReleasedParameterCount(t *testing.T) {
	m, err := RandomModel(ReleasedConfig(4), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Bytes() / 4; got != 115608155 {
		t.Fatalf("×4 model has %d parameters, want 115608155", got)
	}
}
