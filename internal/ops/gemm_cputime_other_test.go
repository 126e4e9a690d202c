//go:build !unix

package ops

import "time"

// cpuTime is the user+system CPU time of the process so far (0 if unknown).
func cpuTime() time.Duration { return 0 }
