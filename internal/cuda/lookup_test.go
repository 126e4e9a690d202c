package cuda

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeTree makes the folders (and empty files, for names with a "lib"
// prefix and ".so" in them) under root.
func fakeTree(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		full := filepath.Join(root, p)
		if strings.HasPrefix(filepath.Base(p), "lib") && strings.Contains(filepath.Base(p), ".so") {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(full, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestFoldersOrder(t *testing.T) {
	root := t.TempDir()
	fakeTree(t, root,
		"ld1", "ld2", "cudahome/lib64", "cudahome/lib", "cudapath/lib64",
		"usr/local/cuda/lib64",
		"usr/local/cuda-11.8/lib64", "usr/local/cuda-12.4/lib64", "usr/local/cuda-12.10/lib64",
		"usr/local/cuda-12.6", // no lib64: skipped
		"venv/lib/python3.11/site-packages/nvidia/cublas/lib",
		"venv/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib",
		"conda/lib/python3.10/site-packages/nvidia/nccl/lib",
		"opt/torch/.venv/bin", "opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib",
		"home/.local/lib/python3.9/site-packages/nvidia/cublas/lib",
		"home/.local/lib/python3.12/site-packages/nvidia/cublas/lib",
		"usr/local/lib/python3.10/dist-packages/nvidia/cu13/lib",
		"usr/lib/python3/dist-packages/nvidia/nccl/lib",
		"usr/lib/x86_64-linux-gnu", "usr/lib/aarch64-linux-gnu", "usr/lib64", "usr/lib/wsl/lib",
	)
	r := func(p string) string { return filepath.Join(root, p) }
	if err := os.WriteFile(r("opt/torch/.venv/bin/python3"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	s := Search{
		Getenv: env(map[string]string{
			// An empty entry, a missing folder and a system folder given
			// early: the first is ignored, the second skipped, the third
			// taken here and not again.
			"LD_LIBRARY_PATH": r("ld2") + "::" + r("missing") + ":" + r("ld1") + ":" + r("usr/lib"),
			"CUDA_HOME":       r("cudahome"),
			"CUDA_PATH":       r("cudapath"),
			"VIRTUAL_ENV":     r("venv"),
			"CONDA_PREFIX":    r("conda"),
			// The first python3 on PATH, in a virtualenv not activated.
			"PATH": r("nobin") + ":" + r("opt/torch/.venv/bin") + ":" + r("usr/bin"),
		}),
		Home:   r("home"),
		Root:   root,
		GOARCH: "amd64",
	}
	want := []string{
		r("ld2"), r("ld1"), r("usr/lib"),
		r("cudahome/lib64"), r("cudahome/lib"), r("cudapath/lib64"),
		r("usr/local/cuda/lib64"),
		r("usr/local/cuda-12.10/lib64"), r("usr/local/cuda-12.4/lib64"), r("usr/local/cuda-11.8/lib64"),
		r("venv/lib/python3.11/site-packages/nvidia/cublas/lib"),
		r("venv/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib"),
		r("conda/lib/python3.10/site-packages/nvidia/nccl/lib"),
		r("opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib"),
		r("home/.local/lib/python3.12/site-packages/nvidia/cublas/lib"),
		r("home/.local/lib/python3.9/site-packages/nvidia/cublas/lib"),
		r("usr/local/lib/python3.10/dist-packages/nvidia/cu13/lib"),
		r("usr/lib/python3/dist-packages/nvidia/nccl/lib"),
		r("usr/lib/x86_64-linux-gnu"), r("usr/lib64"), r("usr/lib/wsl/lib"),
	}
	got := s.Folders()
	if !slices.Equal(got, want) {
		t.Errorf("Folders:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}

	s.GOARCH = "arm64"
	if got := s.Folders(); !slices.Contains(got, r("usr/lib/aarch64-linux-gnu")) || slices.Contains(got, r("usr/lib/x86_64-linux-gnu")) {
		t.Errorf("arm64: want the aarch64 folder and not the x86_64 one, got %q", got)
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	r := func(p string) string { return filepath.Join(root, p) }
	fakeTree(t, root,
		"ld/libcublas.so.11",
		"usr/local/cuda/lib64/libcublas.so.11", "usr/local/cuda/lib64/libcublas.so.12",
		"usr/local/cuda/lib64/libcublas.so.13",
		"usr/local/cuda/lib64/libnvrtc.so.12",
		"usr/local/cuda-12.4/lib64/libnvrtc.so.12",
		"venv/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2",
		"usr/lib/x86_64-linux-gnu/libcuda.so.1",
		"usr/lib/x86_64-linux-gnu/libnccl.so.2",
	)
	vars := map[string]string{"VIRTUAL_ENV": r("venv")}
	s := Search{Getenv: env(vars), Root: root, GOARCH: "amd64"}
	for _, c := range []struct {
		lib  Library
		want string
	}{
		{CUBLAS, "usr/local/cuda/lib64/libcublas.so.13"},                         // .13 before .12 and .11 within a folder
		{NVRTC, "usr/local/cuda/lib64/libnvrtc.so.12"},                           // /usr/local/cuda before cuda-12.4
		{NCCL, "venv/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2"}, // the wheel before the system
		{Driver, "usr/lib/x86_64-linux-gnu/libcuda.so.1"},
	} {
		got, err := s.Find(c.lib)
		if err != nil || got != r(c.want) {
			t.Errorf("Find(%s) = %q, %v; want %s", c.lib.Name, got, err, r(c.want))
		}
	}
	// A folder earlier in the search wins over a preferred name later.
	vars["LD_LIBRARY_PATH"] = r("ld")
	if got, err := s.Find(CUBLAS); err != nil || got != r("ld/libcublas.so.11") {
		t.Errorf("with LD_LIBRARY_PATH: Find(cuBLAS) = %q, %v; want %s", got, err, r("ld/libcublas.so.11"))
	}
}

func TestNotFoundError(t *testing.T) {
	root := t.TempDir()
	r := func(p string) string { return filepath.Join(root, p) }
	var ld []string
	for i := range 7 {
		d := filepath.Join("ld", string(rune('a'+i)))
		fakeTree(t, root, d)
		ld = append(ld, r(d))
	}
	fakeTree(t, root, "usr/lib", "usr/lib/x86_64-linux-gnu/libcuda.so.1")
	s := Search{Getenv: env(map[string]string{"LD_LIBRARY_PATH": strings.Join(ld, ":")}), Root: root, GOARCH: "amd64"}
	_, err := s.Find(CUBLAS)
	if err == nil {
		t.Fatal("Find(cuBLAS) found a library in a tree without one")
	}
	msg := err.Error()
	want := "cuBLAS (libcublas.so.13 or libcublas.so.12 or libcublas.so.11) not found: looked in " +
		strings.Join(ld[:5], ", ") + " and 4 more folders; install the CUDA toolkit or pip install nvidia-cublas (CUDA 13; nvidia-cublas-cu12 for 12), or set LD_LIBRARY_PATH to its folder"
	if msg != want {
		t.Errorf("error:\n got %s\nwant %s", msg, want)
	}
	if nf, ok := err.(*NotFoundError); !ok || len(nf.Looked) != 9 {
		t.Errorf("error %T %v, want *NotFoundError with 9 folders", err, err)
	}

	// Nothing of the search exists.
	s = Search{Getenv: env(nil), Root: filepath.Join(root, "empty"), GOARCH: "amd64"}
	_, err = s.Find(Driver)
	want = "CUDA driver (libcuda.so.1) not found: no folder of the search exists (LD_LIBRARY_PATH, CUDA_HOME, /usr/local/cuda, the nvidia-* Python wheels, the system's); install the NVIDIA driver"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

func TestFileVersion(t *testing.T) {
	dir := t.TempDir()
	fakeTree(t, dir, "libcublas.so.12.4.5.8", "libnccl.so.2")
	if err := os.Symlink("libcublas.so.12.4.5.8", filepath.Join(dir, "libcublas.so.12")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"libcublas.so.12": "12.4.5.8", // a link: the file's full version
		"libnccl.so.2":    "2",        // a wheel's plain file: the soname's number
		"libmissing.so.1": "",
	} {
		if got := FileVersion(filepath.Join(dir, name)); got != want {
			t.Errorf("FileVersion(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestSiblings(t *testing.T) {
	dir := t.TempDir()
	fakeTree(t, dir, "libnvrtc.so.12", "libnvrtc-builtins.so.12.4", "libnvrtc-builtins.so.12.6")
	got := siblings(dir, "libnvrtc-builtins.so.")
	want := []string{filepath.Join(dir, "libnvrtc-builtins.so.12.4"), filepath.Join(dir, "libnvrtc-builtins.so.12.6")}
	if !slices.Equal(got, want) {
		t.Errorf("siblings = %q, want %q", got, want)
	}
	if got := siblings(filepath.Join(dir, "missing"), "lib"); got != nil {
		t.Errorf("siblings of a missing folder = %q", got)
	}
}

func TestMathAndDeviceInfo(t *testing.T) {
	for _, m := range []Math{FP32, TF32, BF16} {
		got, err := ParseMath(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMath(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMath("fp16"); err == nil || err.Error() != `"fp16": want fp32, tf32 or bf16` {
		t.Errorf("ParseMath(fp16): %v", err)
	}
	d := DeviceInfo{Index: 1, Name: "NVIDIA H200", Major: 9, Minor: 0, Memory: 150 << 30, SMs: 132}
	if got, want := d.String(), "1: NVIDIA H200 (sm_90, 150 GiB, 132 SMs)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
