//go:build cuda

package cuda

import (
	"path/filepath"
	"strings"
	"testing"
)

// With no driver, NewBackend fails in one line naming the library, and
// nothing is left registered for data-parallel training.
func TestNewBackendNoDriver(t *testing.T) {
	empty := t.TempDir()
	withSearch(t, Search{Getenv: env(map[string]string{"LD_LIBRARY_PATH": empty}), Root: filepath.Join(empty, "root"), GOARCH: "amd64"})
	b, err := NewBackend(0, FP32)
	if b != nil {
		t.Fatalf("NewBackend without a driver: %v", b)
	}
	msg := oneLineError(t, "NewBackend", err)
	if !strings.HasPrefix(msg, "CUDA driver (libcuda.so.1) not found") {
		t.Errorf("NewBackend: %s", msg)
	}
	if len(opened.m) != 0 {
		t.Errorf("a backend is registered: %v", opened.m)
	}
}
