//go:build cuda

package cuda

// NVRTC (libnvrtc.so.12 or .11): the backend's CUDA C is compiled at run
// time for the GPU found, so one binary serves sm_70 to sm_90 and later.
// Signatures from nvrtc.h (CUDA 12.x); nvrtcProgram is a pointer.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

const nvrtcErrInvalidOption = 5 // NVRTC_ERROR_INVALID_OPTION

var nvrtc struct {
	once sync.Once
	err  error
	lib  *loaded

	nvrtcVersion           func(major, minor *int32) result
	nvrtcGetErrorString    func(r result) *byte
	nvrtcCreateProgram     func(prog *uintptr, src, name *byte, numHeaders int32, headers, includeNames unsafe.Pointer) result
	nvrtcCompileProgram    func(prog uintptr, numOptions int32, options unsafe.Pointer) result
	nvrtcGetProgramLogSize func(prog uintptr, n *uintptr) result
	nvrtcGetProgramLog     func(prog uintptr, log *byte) result
	nvrtcGetCUBINSize      func(prog uintptr, n *uintptr) result
	nvrtcGetCUBIN          func(prog uintptr, cubin *byte) result
	nvrtcGetPTXSize        func(prog uintptr, n *uintptr) result
	nvrtcGetPTX            func(prog uintptr, ptx *byte) result
	nvrtcDestroyProgram    func(prog *uintptr) result
	// CUDA 11.2 and later: the real architectures this NVRTC compiles for.
	nvrtcGetNumSupportedArchs func(n *int32) result
	nvrtcGetSupportedArchs    func(archs *int32) result
	hasArchList               bool

	cacheMu sync.Mutex
	cache   map[string][]byte // compiled images by compileKey
}

// loadNVRTC opens NVRTC once a process. NVRTC opens its builtins library
// (libnvrtc-builtins.so.X.Y) by soname when it compiles; it is opened here
// first, from NVRTC's folder, so that works when the folder is not on the
// loader's path (the Python wheels, CUDA_HOME).
func loadNVRTC() error {
	nvrtc.once.Do(func() {
		lib, err := open(NVRTC)
		if err != nil {
			nvrtc.err = err
			return
		}
		for _, b := range siblings(filepath.Dir(lib.path), "libnvrtc-builtins.so.") {
			openPath(Library{Name: "NVRTC builtins"}, b) // best effort: NVRTC's own error names it if still missing
		}
		n := &nvrtc
		nvrtc.err = lib.bind(
			sym{"nvrtcVersion", &n.nvrtcVersion},
			sym{"nvrtcGetErrorString", &n.nvrtcGetErrorString},
			sym{"nvrtcCreateProgram", &n.nvrtcCreateProgram},
			sym{"nvrtcCompileProgram", &n.nvrtcCompileProgram},
			sym{"nvrtcGetProgramLogSize", &n.nvrtcGetProgramLogSize},
			sym{"nvrtcGetProgramLog", &n.nvrtcGetProgramLog},
			sym{"nvrtcGetCUBINSize", &n.nvrtcGetCUBINSize},
			sym{"nvrtcGetCUBIN", &n.nvrtcGetCUBIN},
			sym{"nvrtcGetPTXSize", &n.nvrtcGetPTXSize},
			sym{"nvrtcGetPTX", &n.nvrtcGetPTX},
			sym{"nvrtcDestroyProgram", &n.nvrtcDestroyProgram},
		)
		n.hasArchList = lib.bindOptional(
			sym{"nvrtcGetNumSupportedArchs", &n.nvrtcGetNumSupportedArchs},
			sym{"nvrtcGetSupportedArchs", &n.nvrtcGetSupportedArchs},
		)
		n.lib = lib
		n.cache = map[string][]byte{}
	})
	return nvrtc.err
}

func nvrtcCheck(call string, r result) error {
	if r == 0 {
		return nil
	}
	return &Error{Call: call, Code: int(r), Name: goString(nvrtc.nvrtcGetErrorString(r))}
}

// nvrtcVersion is "12.4".
func nvrtcVersion() string {
	var major, minor int32
	if nvrtc.nvrtcVersion(&major, &minor) != 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", major, minor)
}

// supportedArchs lists the sm_XY numbers (XY) this NVRTC compiles for,
// or nil when it cannot say (before CUDA 11.2).
func supportedArchs() []int {
	if !nvrtc.hasArchList {
		return nil
	}
	var n int32
	if nvrtc.nvrtcGetNumSupportedArchs(&n) != 0 || n <= 0 {
		return nil
	}
	a := make([]int32, n)
	if nvrtc.nvrtcGetSupportedArchs(&a[0]) != 0 {
		return nil
	}
	out := make([]int, n)
	for i, v := range a {
		out[i] = int(v)
	}
	slices.Sort(out)
	return out
}

// compile compiles src for compute capability major.minor: a CUBIN for
// sm_XY when NVRTC knows the GPU, else PTX for the newest virtual
// architecture it knows below it (compute_XY), which the driver compiles
// for the GPU when the module loads. Results are cached per process by
// source, architecture and options.
func compile(src, name string, major, minor int, flags []string) ([]byte, error) {
	if err := loadNVRTC(); err != nil {
		return nil, err
	}
	arch := major*10 + minor
	target, err := pickArch(arch, supportedArchs())
	if err != nil {
		return nil, fmt.Errorf("NVRTC %s: %v", nvrtcVersion(), err)
	}
	key := compileKey(src, target, flags)
	nvrtc.cacheMu.Lock()
	img, ok := nvrtc.cache[key]
	nvrtc.cacheMu.Unlock()
	if ok {
		return img, nil
	}
	img, err = compileFor(src, name, target, flags)
	if err != nil {
		var e *Error
		// NVRTC before 11.2 cannot list its architectures: the first try
		// is sm_XY, and an unknown one is an invalid option.
		if target.cubin && supportedArchs() == nil && errors.As(err, &e) && e.Code == nvrtcErrInvalidOption {
			target = archTarget{arch: arch, cubin: false}
			img, err = compileFor(src, name, target, flags)
		}
		if err != nil {
			return nil, err
		}
	}
	nvrtc.cacheMu.Lock()
	nvrtc.cache[key] = img
	nvrtc.cacheMu.Unlock()
	return img, nil
}

func compileKey(src string, t archTarget, flags []string) string {
	h := sha256.Sum256([]byte(src))
	return fmt.Sprintf("%x %s %q", h, t.option(), flags)
}

func compileFor(src, name string, t archTarget, flags []string) ([]byte, error) {
	var prog uintptr
	if err := nvrtcCheck("nvrtcCreateProgram", nvrtc.nvrtcCreateProgram(&prog, cString(src), cString(name), 0, nil, nil)); err != nil {
		return nil, err
	}
	defer nvrtc.nvrtcDestroyProgram(&prog)

	opts := append([]string{t.option()}, nvrtcOptions...)
	opts = append(opts, flags...)
	// options is a const char* const*: an array of Go pointers handed to
	// C, so the array and every string are pinned for the call.
	var pin runtime.Pinner
	defer pin.Unpin()
	ptrs := make([]*byte, len(opts))
	for i, o := range opts {
		ptrs[i] = cString(o)
		pin.Pin(ptrs[i])
	}
	pin.Pin(&ptrs[0])
	if err := nvrtcCheck("nvrtcCompileProgram", nvrtc.nvrtcCompileProgram(prog, int32(len(ptrs)), unsafe.Pointer(&ptrs[0]))); err != nil {
		return nil, fmt.Errorf("compiling %s for %s (%s): %v\n%s", name, t.name(), strings.Join(opts, " "), err, programLog(prog))
	}
	size, get, call := nvrtc.nvrtcGetCUBINSize, nvrtc.nvrtcGetCUBIN, "nvrtcGetCUBIN"
	if !t.cubin {
		size, get, call = nvrtc.nvrtcGetPTXSize, nvrtc.nvrtcGetPTX, "nvrtcGetPTX"
	}
	var n uintptr
	if err := nvrtcCheck(call+"Size", size(prog, &n)); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: empty output compiling %s for %s", call, name, t.name())
	}
	img := make([]byte, n) // PTX's size counts its NUL, which cuModuleLoadData needs
	if err := nvrtcCheck(call, get(prog, &img[0])); err != nil {
		return nil, err
	}
	return img, nil
}

// nvrtcOptions are ipt's NVRTC options besides the architecture: every
// function is __device__ unless marked, C++17, and no -use_fast_math (its
// approximate division, sqrt and exp would break parity with the CPU).
var nvrtcOptions = []string{"-default-device", "--std=c++17"}

func programLog(prog uintptr) string {
	var n uintptr
	if nvrtc.nvrtcGetProgramLogSize(prog, &n) != 0 || n <= 1 {
		return "(NVRTC gave no log)"
	}
	b := make([]byte, n)
	if nvrtc.nvrtcGetProgramLog(prog, &b[0]) != 0 {
		return "(NVRTC gave no log)"
	}
	return strings.TrimRight(string(b[:n-1]), "\n")
}
