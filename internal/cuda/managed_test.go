package cuda

import (
	"strings"
	"testing"
)

func TestManagedBudget(t *testing.T) {
	const GiB = 1 << 30
	if got := managedLimit(140 * GiB); got != 140*GiB-140*GiB/32 {
		t.Errorf("managedLimit(140 GiB) = %d", got)
	}
	if got := managedLimit(4 * GiB); got != 4*GiB-256<<20 {
		t.Errorf("managedLimit(4 GiB) = %d, want 256 MiB less", got)
	}
	if got := managedLimit(100 << 20); got != 0 {
		t.Errorf("managedLimit(100 MiB) = %d, want 0", got)
	}
	limit := uint64(10 * GiB)
	for _, c := range []struct {
		inUse, want uint64
		ok          bool
	}{
		{0, 10 * GiB, true},
		{4 * GiB, 6 * GiB, true},
		{4 * GiB, 6*GiB + 1, false},
		{0, 11 * GiB, false},
		{11 * GiB, 0, false},   // already over (a limit that shrank cannot happen, but still)
		{1, ^uint64(0), false}, // no wrap-around
		{^uint64(0), 1, false},
	} {
		err := managedFits(c.inUse, c.want, limit)
		if (err == nil) != c.ok {
			t.Errorf("managedFits(%d, %d, 10 GiB) = %v, want ok %v", c.inUse, c.want, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "can hang the GPU") {
			t.Errorf("managedFits error %q does not say why", err)
		}
	}
}
