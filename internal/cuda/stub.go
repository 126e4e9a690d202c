//go:build !cuda

package cuda

// The default build: no GPU code and no purego. Every entry point reports
// how to build a binary that has them, so callers need no build tags.

import "errors"

// Built reports whether this binary has the GPU code (the cuda build tag).
const Built = false

var errNotBuilt = errors.New(`ipt was built without GPU support: rebuild with "go build -tags cuda" to use --device cuda`)

// Available reports why the GPU cannot be used: in this build, always.
func Available() error { return errNotBuilt }

// Devices lists the GPUs: in this build, none.
func Devices() ([]DeviceInfo, error) { return nil, errNotBuilt }

// Open opens a GPU: in this build, never.
func Open(index int, opts Options) (*Context, error) { return nil, errNotBuilt }

// Libraries reports the GPU libraries: this build loads none.
func Libraries() []LibraryInfo { return nil }

// Context is an opened GPU; this build never has one.
type Context struct {
	Device DeviceInfo
}

// Close releases nothing in this build.
func (c *Context) Close() error { return nil }
