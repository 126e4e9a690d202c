//go:build !unix

package main

import "os"

// newFileMode is the mode os.Create would give a new file.
func newFileMode() os.FileMode { return 0o666 }
