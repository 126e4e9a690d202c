//go:build cuda

package cuda

// Opening the libraries and binding their functions, through purego: no
// cgo, so the GPU build needs no CUDA toolkit and no C compiler.

import (
	"fmt"
	"strings"

	"github.com/ebitengine/purego"
)

// search is where the libraries are looked for; tests replace it.
var search = DefaultSearch

// loaded is an opened library.
type loaded struct {
	lib    Library
	path   string
	handle uintptr
}

// open finds lib and opens it.
func open(lib Library) (*loaded, error) {
	path, err := search().Find(lib)
	if err != nil {
		return nil, err
	}
	return openPath(lib, path)
}

// openPath opens the library at path. RTLD_GLOBAL because NVIDIA's
// libraries open their companions by soname (cuBLAS its cuBLASLt, NVRTC its
// builtins): the loader then finds the copy already opened here, from the
// same folder, instead of searching a path that may not include it.
func openPath(lib Library, path string) (*loaded, error) {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		msg := strings.TrimPrefix(oneLine(err.Error()), path+": ")
		return nil, fmt.Errorf("%s: cannot load %s: %s", lib.Name, path, msg)
	}
	return &loaded{lib: lib, path: path, handle: h}, nil
}

// sym pairs a C function's name with the Go function variable it sets.
type sym struct {
	name string
	fn   any // pointer to a func variable
}

// bind sets each function variable to its C function; a missing one is
// an error naming it (the library is older than ipt needs).
func (l *loaded) bind(syms ...sym) error {
	for _, s := range syms {
		p, err := purego.Dlsym(l.handle, s.name)
		if err != nil {
			return fmt.Errorf("%s %s has no function %s: too old a version", l.lib.Name, l.path, s.name)
		}
		purego.RegisterFunc(s.fn, p)
	}
	return nil
}

// bindOptional binds the functions that only newer versions have; it
// reports whether all were found.
func (l *loaded) bindOptional(syms ...sym) bool {
	for _, s := range syms {
		if _, err := purego.Dlsym(l.handle, s.name); err != nil {
			return false
		}
	}
	return l.bind(syms...) == nil
}

// oneLine joins a message's lines: the errors ipt prints are one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// goString copies a NUL-terminated C string.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	var b []byte
	for q := p; *q != 0; q = nextByte(q) {
		b = append(b, *q)
	}
	return string(b)
}

// cString is s with a NUL terminator, in Go memory, for the duration of a call.
func cString(s string) *byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return &b[0]
}
