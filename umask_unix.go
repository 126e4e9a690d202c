//go:build unix

package main

import (
	"os"
	"sync"
	"syscall"
)

// newFileMode is the mode os.Create would give a new file: 0666 less the
// umask. The umask can only be read by setting it, so it is read once.
var newFileMode = sync.OnceValue(func() os.FileMode {
	mask := syscall.Umask(0)
	syscall.Umask(mask)
	return 0o666 &^ os.FileMode(mask)
})
