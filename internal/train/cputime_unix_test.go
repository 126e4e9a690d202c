//go:build unix

package train

import (
	"syscall"
	"time"
)

// cpuTime is the user+system CPU time of the process so far (0 if unknown).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
