package ops

import (
	"syscall"
	"unsafe"
)

// madvHugePage is MADV_HUGEPAGE, spelled out because not every GOARCH's
// syscall package names it.
const madvHugePage = 14

// adviseHugePages asks Linux to back the 2 MiB-aligned interior of s with
// transparent huge pages. Where THP is set to "madvise" (the default of
// many distributions, and of the development VMs) nothing else does: the
// first training step of the released config then first-touched 3.5 GB in
// a million 4 KiB page faults, 20-26 s of system time. The advice is only
// a hint; where THP is off or the call fails, s is as good as before.
func adviseHugePages(s []float32) {
	const huge = 2 << 20
	if len(s) == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
	start := uintptr(unsafe.Pointer(&b[0]))
	lo, hi := (start+huge-1)&^(huge-1), (start+uintptr(len(b)))&^(huge-1)
	if hi <= lo {
		return
	}
	_ = syscall.Madvise(b[lo-start:hi-start], madvHugePage)
}
