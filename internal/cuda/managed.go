package cuda

// The budget of managed memory, checked in plain Go (both builds) so its
// rule is tested without a GPU.

import (
	"fmt"

	"github.com/dustin/go-humanize"
)

// Asking a GPU for more managed memory than it has free can hang the GPU,
// not only the program (the driver oversubscribes and migrates pages until
// it cannot). So a Context lends at most the device memory that was free
// when it was opened, less a reserve for what the driver, cuBLAS and
// other processes take afterwards, and Floats fails beyond it. (Plain
// device memory, Alloc, is not counted: asking for too much of it fails
// the call, no more.)

// managedReserve is what a Context keeps back of the free memory it saw:
// 1/32 of it, at least 256 MiB.
func managedReserve(free uint64) uint64 { return max(256<<20, free/32) }

// managedLimit is the managed memory a Context with free bytes free at
// opening may hand out.
func managedLimit(free uint64) uint64 {
	if r := managedReserve(free); free > r {
		return free - r
	}
	return 0
}

// managedFits says whether want more bytes of managed memory fit beside
// inUse within limit, and why not.
func managedFits(inUse, want, limit uint64) error {
	if want <= limit && inUse <= limit-want {
		return nil
	}
	return fmt.Errorf("cuda: %s of managed memory asked for beside %s in use, over the %s this GPU had free when opened (less a reserve); asking for more than is free can hang the GPU: make the batch smaller",
		humanize.IBytes(want), humanize.IBytes(inUse), humanize.IBytes(limit))
}
