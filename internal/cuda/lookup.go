package cuda

// Where the NVIDIA libraries are searched for. The search is plain Go (no
// dlopen) so its order and its error are tested without a GPU; the cuda
// build opens the file it returns.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Library is a shared library ipt opens at run time.
type Library struct {
	Name  string   // for messages: "CUDA driver", "cuBLAS"
	Files []string // file names, the preferred first: libcublas.so.13 before .12
	Hint  string   // how to get it, for the not-found error
}

// The libraries of the GPU build. cuBLASLt is cuBLAS's own dependency,
// opened beside it; NVRTC's libnvrtc-builtins is opened by NVRTC itself.
var (
	Driver   = Library{"CUDA driver", []string{"libcuda.so.1"}, "install the NVIDIA driver"}
	CUBLAS   = Library{"cuBLAS", []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}, "install the CUDA toolkit or pip install nvidia-cublas (CUDA 13; nvidia-cublas-cu12 for 12), or set LD_LIBRARY_PATH to its folder"}
	CUBLASLt = Library{"cuBLASLt", []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11"}, "it ships with cuBLAS"}
	NVRTC    = Library{"NVRTC", []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11"}, "install the CUDA toolkit or pip install nvidia-cuda-nvrtc (CUDA 13; nvidia-cuda-nvrtc-cu12 for 12), or set LD_LIBRARY_PATH to its folder"}
	NCCL     = Library{"NCCL", []string{"libnccl.so.2"}, "pip install nvidia-nccl-cu13 (or -cu12) or install libnccl2, or set LD_LIBRARY_PATH to its folder"}
)

// Search is where libraries are looked for. Its fields are the process's
// environment in real use; tests point them at a fake tree.
type Search struct {
	Getenv func(string) string // os.Getenv
	Home   string              // the user's home, for ~/.local
	Root   string              // prefix of the fixed system folders ("" is /)
	GOARCH string              // picks the multiarch folder
}

// DefaultSearch is the search of this process.
func DefaultSearch() Search {
	home, _ := os.UserHomeDir()
	return Search{Getenv: os.Getenv, Home: home, GOARCH: runtime.GOARCH}
}

// Folders lists the existing folders searched, in order, each once:
// LD_LIBRARY_PATH (what the user chose wins); the CUDA install named by
// CUDA_HOME or CUDA_PATH; /usr/local/cuda and /usr/local/cuda-X.Y, highest
// version first; the nvidia/*/lib folders of Python's nvidia-* wheels;
// the system's library folders.
func (s Search) Folders() []string {
	var dirs []string
	for _, d := range strings.Split(s.Getenv("LD_LIBRARY_PATH"), ":") {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	for _, v := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if root := s.Getenv(v); root != "" {
			dirs = append(dirs, filepath.Join(root, "lib64"), filepath.Join(root, "lib"))
		}
	}
	dirs = append(dirs, s.fixed("/usr/local/cuda/lib64"))
	dirs = append(dirs, byVersion(s.glob(s.fixed("/usr/local/cuda-*/lib64")), "cuda-")...)
	dirs = append(dirs, s.wheelFolders()...)
	multiarch := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[s.GOARCH]
	if multiarch != "" {
		dirs = append(dirs, s.fixed("/usr/lib/"+multiarch))
	}
	dirs = append(dirs, s.fixed("/usr/lib64"), s.fixed("/usr/lib"), s.fixed("/usr/lib/wsl/lib"))

	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		d = filepath.Clean(d)
		if seen[d] {
			continue
		}
		seen[d] = true
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// wheelFolders are the nvidia/*/lib folders of the nvidia-* wheels (cublas,
// cuda_nvrtc, nccl, or cu13 for CUDA 13), in the order Python itself would
// import them: the active virtualenv, then conda, the environment of the
// first python3 on PATH (a virtualenv used without activating it), the
// user's site, and the system's /usr/local and /usr; within one, the
// highest python3.N first.
func (s Search) wheelFolders() []string {
	var prefixes []string
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := s.Getenv(v); p != "" {
			prefixes = append(prefixes, filepath.Join(p, "lib"))
		}
	}
	for _, d := range filepath.SplitList(s.Getenv("PATH")) {
		if st, err := os.Stat(filepath.Join(d, "python3")); d != "" && err == nil && !st.IsDir() {
			prefixes = append(prefixes, filepath.Join(filepath.Dir(d), "lib")) // venv/bin → venv/lib
			break
		}
	}
	if s.Home != "" {
		prefixes = append(prefixes, filepath.Join(s.Home, ".local", "lib"))
	}
	prefixes = append(prefixes, s.fixed("/usr/local/lib"), s.fixed("/usr/lib"))
	var dirs []string
	for _, p := range prefixes {
		for _, py := range byVersion(s.glob(filepath.Join(p, "python3*")), "python") {
			for _, site := range []string{"site-packages", "dist-packages"} {
				libs := s.glob(filepath.Join(py, site, "nvidia", "*", "lib"))
				slices.Sort(libs)
				dirs = append(dirs, libs...)
			}
		}
	}
	return dirs
}

func (s Search) fixed(p string) string { return filepath.Join(s.Root, p) }

func (s Search) glob(pattern string) []string {
	m, _ := filepath.Glob(pattern) // the only error is a bad pattern, and ours are fixed
	return m
}

// byVersion sorts folders by the version after prefix in their names
// (cuda-12.4, python3.12), highest first, comparing numbers as numbers.
func byVersion(dirs []string, prefix string) []string {
	version := func(d string) []int {
		name := filepath.Base(d)
		if prefix == "cuda-" { // /usr/local/cuda-12.4/lib64
			name = filepath.Base(filepath.Dir(d))
		}
		var v []int
		for _, f := range strings.Split(strings.TrimPrefix(name, prefix), ".") {
			n, err := strconv.Atoi(f)
			if err != nil {
				n = -1
			}
			v = append(v, n)
		}
		return v
	}
	slices.SortStableFunc(dirs, func(a, b string) int { return slices.Compare(version(b), version(a)) })
	return dirs
}

// Find returns the path of lib: the first folder of s.Folders holding one
// of its files, the preferred file first within a folder.
func (s Search) Find(lib Library) (string, error) {
	dirs := s.Folders()
	for _, d := range dirs {
		for _, f := range lib.Files {
			p := filepath.Join(d, f)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return "", &NotFoundError{Library: lib, Looked: dirs}
}

// NotFoundError says that a library is in none of the folders searched.
type NotFoundError struct {
	Library Library
	Looked  []string
}

// shownFolders is how many of the folders searched the error names.
const shownFolders = 5

func (e *NotFoundError) Error() string {
	where := "no folder of the search exists (LD_LIBRARY_PATH, CUDA_HOME, /usr/local/cuda, the nvidia-* Python wheels, the system's)"
	if n := len(e.Looked); n > 0 {
		where = "looked in " + strings.Join(e.Looked[:min(n, shownFolders)], ", ")
		if n > shownFolders {
			where += fmt.Sprintf(" and %d more folders", n-shownFolders)
		}
	}
	return fmt.Sprintf("%s (%s) not found: %s; %s", e.Library.Name, strings.Join(e.Library.Files, " or "), where, e.Library.Hint)
}

// FileVersion reads a library's version from the name of the file its
// soname links to (libcublas.so.12 → libcublas.so.12.4.5.8 gives
// "12.4.5.8"; libcuda.so.1 → libcuda.so.550.54.14 the driver's version),
// without loading it. A file that is no link (the Python wheels') gives
// the soname's number alone; a name without ".so." gives "".
func FileVersion(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	_, v, _ := strings.Cut(filepath.Base(real), ".so.")
	return v
}

// siblings lists the files of dir whose names start with prefix (such as
// "libnvrtc-builtins.so."), in name order, for the libraries a library
// opens itself from its own folder.
func siblings(dir, prefix string) []string {
	entries, _ := os.ReadDir(dir) // an unreadable folder has no siblings to preload
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
