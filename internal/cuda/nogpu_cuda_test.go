//go:build cuda

package cuda

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// withSearch points the library search at s and forgets what was loaded,
// for one test.
func withSearch(t *testing.T, s Search) {
	t.Helper()
	old := search
	reset := func() {
		drv.once, drv.err = sync.Once{}, nil
		blas.once, blas.err = sync.Once{}, nil
		nvrtc.once, nvrtc.err = sync.Once{}, nil
		nccl.once, nccl.err = sync.Once{}, nil
	}
	reset()
	search = func() Search { return s }
	t.Cleanup(func() { search = old; reset() })
}

func oneLineError(t *testing.T, what string, err error) string {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%s: the error is not one line:\n%s", what, err)
	}
	return err.Error()
}

// No library anywhere: every entry point says which library is missing
// and where it looked, in one line, and nothing panics.
func TestNoLibraries(t *testing.T) {
	empty := t.TempDir()
	withSearch(t, Search{Getenv: env(map[string]string{"LD_LIBRARY_PATH": empty}), Root: filepath.Join(empty, "root"), GOARCH: "amd64"})
	want := "CUDA driver (libcuda.so.1) not found: looked in " + empty + "; install the NVIDIA driver"
	if got := oneLineError(t, "Available", Available()); got != want {
		t.Errorf("Available():\n got %s\nwant %s", got, want)
	}
	_, err := Devices()
	oneLineError(t, "Devices", err)
	c, err := Open(0, Options{})
	if c != nil || oneLineError(t, "Open", err) != want {
		t.Errorf("Open(0) = %v, %v", c, err)
	}
	_, err = NewUniqueID()
	if got := oneLineError(t, "NewUniqueID", err); !strings.HasPrefix(got, "NCCL (libnccl.so.2) not found") {
		t.Errorf("NewUniqueID: %s", got)
	}
	libs := Libraries()
	if len(libs) != 4 {
		t.Fatalf("Libraries() has %d entries, want 4", len(libs))
	}
	for _, l := range libs {
		if _, ok := l.Err.(*NotFoundError); !ok || l.Path != "" {
			t.Errorf("Libraries: %s: path %q, error %v", l.Library.Name, l.Path, l.Err)
		}
	}
}

// A file named like the library that is no library (here empty): the
// loader's error, in one line, with the path.
func TestBrokenLibrary(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"libcuda.so.1", "libcublas.so.12", "libcublasLt.so.12", "libnvrtc.so.12", "libnccl.so.2"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	withSearch(t, Search{Getenv: env(map[string]string{"LD_LIBRARY_PATH": dir}), Root: filepath.Join(dir, "root"), GOARCH: "amd64"})
	got := oneLineError(t, "Devices", Available())
	t.Log(got)
	if !strings.HasPrefix(got, "CUDA driver: cannot load "+filepath.Join(dir, "libcuda.so.1")+": ") {
		t.Errorf("Available(): %s", got)
	}
	if err := loadCUBLAS(); err == nil || !strings.HasPrefix(err.Error(), "cuBLASLt: cannot load "+filepath.Join(dir, "libcublasLt.so.12")) {
		t.Errorf("loadCUBLAS: %v", err)
	}
	if err := loadNVRTC(); err == nil || !strings.HasPrefix(err.Error(), "NVRTC: cannot load") {
		t.Errorf("loadNVRTC: %v", err)
	}
}

// The real machine with LD_LIBRARY_PATH at an empty folder: the system's
// folders may or may not hold a driver, and the machine may or may not
// have a GPU; either way the answer is a list of GPUs or one line.
func TestThisMachine(t *testing.T) {
	t.Setenv("LD_LIBRARY_PATH", t.TempDir())
	withSearch(t, DefaultSearch())
	devs, err := Devices()
	if err != nil {
		t.Logf("no GPU here: %s", oneLineError(t, "Devices", err))
		return
	}
	for _, d := range devs {
		t.Logf("GPU %s", d)
	}
}

func TestUniqueIDLayout(t *testing.T) {
	if n := unsafe.Sizeof(ncclUniqueID{}); n != 128 { // NCCL_UNIQUE_ID_BYTES
		t.Errorf("ncclUniqueId is %d bytes, want 128", n)
	}
}
