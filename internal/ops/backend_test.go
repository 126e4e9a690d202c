package ops_test

import (
	"fmt"
	"testing"

	"github.com/ipt-go/ipt/internal/ops"
	"github.com/ipt-go/ipt/internal/ops/opstest"
)

// TestCPUBackend runs the conformance suite on the CPU backend: on any
// number of threads, every method gives the bits of its reference.
func TestCPUBackend(t *testing.T) {
	for _, threads := range []int{1, 3} {
		t.Run(fmt.Sprint("threads=", threads), func(t *testing.T) {
			opstest.Check(t, ops.CPU{Threads: threads}, 0)
		})
	}
}
