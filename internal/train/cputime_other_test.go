//go:build !unix

package train

import "time"

// cpuTime is unknown here; the benchmark then reports no CPU-time figures.
func cpuTime() time.Duration { return 0 }
