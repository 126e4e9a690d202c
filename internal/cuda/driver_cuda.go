//go:build cuda

package cuda

// The driver API (libcuda.so.1): the functions ipt calls, with the
// signatures of cuda.h (CUDA 12.x; every one is in CUDA 11 too). Handles
// (CUcontext, CUstream, CUmodule, CUfunction) are pointers, held as
// uintptr; CUdevice is an int; CUdeviceptr an unsigned long long; size_t
// a uintptr. The _v2 names are the symbols cuda.h's #defines select since
// CUDA 3.2/11 (cuMemAlloc → cuMemAlloc_v2, cuDevicePrimaryCtxRelease →
// cuDevicePrimaryCtxRelease_v2, cuStreamDestroy → cuStreamDestroy_v2).

import (
	"fmt"
	"sync"
	"unsafe"
)

// result is a CUresult (cuda.h: CUDA_SUCCESS = 0).
type result int32

// cuda.h enum values ipt uses.
const (
	attrSMCount     = 16 // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
	attrCCMajor     = 75 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	attrCCMinor     = 76 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
	attrConcManaged = 89 // CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS
	memAttachGlobal = 1  // CU_MEM_ATTACH_GLOBAL
	deviceCPU       = -1 // CU_DEVICE_CPU, cuMemPrefetchAsync's host
	streamDefault   = 0  // CU_STREAM_DEFAULT: synchronises with the legacy NULL stream
)

var drv struct {
	once sync.Once
	err  error
	lib  *loaded

	cuInit                    func(flags uint32) result
	cuDriverGetVersion        func(v *int32) result
	cuDeviceGetCount          func(n *int32) result
	cuDeviceGet               func(dev *int32, ordinal int32) result
	cuDeviceGetName           func(name *byte, n int32, dev int32) result
	cuDeviceGetAttribute      func(v *int32, attr int32, dev int32) result
	cuDeviceTotalMem          func(bytes *uintptr, dev int32) result
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) result
	cuDevicePrimaryCtxRelease func(dev int32) result
	cuCtxSetCurrent           func(ctx uintptr) result
	cuCtxSynchronize          func() result
	cuMemGetInfo              func(free, total *uintptr) result
	cuMemAlloc                func(p *DevicePtr, bytes uintptr) result
	cuMemFree                 func(p DevicePtr) result
	cuMemAllocManaged         func(p *DevicePtr, bytes uintptr, flags uint32) result
	cuMemPrefetchAsync        func(p DevicePtr, bytes uintptr, dev int32, stream uintptr) result
	cuMemcpyHtoD              func(dst DevicePtr, src unsafe.Pointer, bytes uintptr) result
	cuMemcpyDtoH              func(dst unsafe.Pointer, src DevicePtr, bytes uintptr) result
	cuMemcpyDtoD              func(dst, src DevicePtr, bytes uintptr) result
	cuMemsetD32               func(dst DevicePtr, v uint32, n uintptr) result
	cuStreamCreate            func(s *uintptr, flags uint32) result
	cuStreamSynchronize       func(s uintptr) result
	cuStreamDestroy           func(s uintptr) result
	cuModuleLoadData          func(m *uintptr, image unsafe.Pointer) result
	cuModuleUnload            func(m uintptr) result
	cuModuleGetFunction       func(f *uintptr, m uintptr, name *byte) result
	cuLaunchKernel            func(f uintptr, gx, gy, gz, bx, by, bz, shared uint32, stream uintptr, params unsafe.Pointer, extra unsafe.Pointer) result
	cuGetErrorName            func(r result, s **byte) result
	cuGetErrorString          func(r result, s **byte) result
}

// loadDriver opens libcuda.so.1 and initialises it, once a process.
func loadDriver() error {
	drv.once.Do(func() { drv.err = openDriver() })
	return drv.err
}

func openDriver() error {
	lib, err := open(Driver)
	if err != nil {
		return err
	}
	d := &drv
	if err := lib.bind(
		sym{"cuGetErrorName", &d.cuGetErrorName},
		sym{"cuGetErrorString", &d.cuGetErrorString},
		sym{"cuInit", &d.cuInit},
		sym{"cuDriverGetVersion", &d.cuDriverGetVersion},
		sym{"cuDeviceGetCount", &d.cuDeviceGetCount},
		sym{"cuDeviceGet", &d.cuDeviceGet},
		sym{"cuDeviceGetName", &d.cuDeviceGetName},
		sym{"cuDeviceGetAttribute", &d.cuDeviceGetAttribute},
		sym{"cuDeviceTotalMem_v2", &d.cuDeviceTotalMem},
		sym{"cuDevicePrimaryCtxRetain", &d.cuDevicePrimaryCtxRetain},
		sym{"cuDevicePrimaryCtxRelease_v2", &d.cuDevicePrimaryCtxRelease},
		sym{"cuCtxSetCurrent", &d.cuCtxSetCurrent},
		sym{"cuCtxSynchronize", &d.cuCtxSynchronize},
		sym{"cuMemGetInfo_v2", &d.cuMemGetInfo},
		sym{"cuMemAlloc_v2", &d.cuMemAlloc},
		sym{"cuMemFree_v2", &d.cuMemFree},
		sym{"cuMemAllocManaged", &d.cuMemAllocManaged},
		sym{"cuMemcpyHtoD_v2", &d.cuMemcpyHtoD},
		sym{"cuMemcpyDtoH_v2", &d.cuMemcpyDtoH},
		sym{"cuMemcpyDtoD_v2", &d.cuMemcpyDtoD},
		sym{"cuMemsetD32_v2", &d.cuMemsetD32},
		sym{"cuStreamCreate", &d.cuStreamCreate},
		sym{"cuStreamSynchronize", &d.cuStreamSynchronize},
		sym{"cuStreamDestroy_v2", &d.cuStreamDestroy},
		sym{"cuModuleLoadData", &d.cuModuleLoadData},
		sym{"cuModuleUnload", &d.cuModuleUnload},
		sym{"cuModuleGetFunction", &d.cuModuleGetFunction},
		sym{"cuLaunchKernel", &d.cuLaunchKernel},
	); err != nil {
		return err
	}
	// The CUDA 8 signature (device ordinal, not CUmemLocation), which the
	// symbol keeps in the drivers we know of (CUDA 12.2's is _v2, and CUDA
	// 13's headers name only that). Prefetching is a hint, so a driver
	// without the old symbol loses the hint, not the GPU.
	lib.bindOptional(sym{"cuMemPrefetchAsync", &d.cuMemPrefetchAsync})
	d.lib = lib
	return check("cuInit", d.cuInit(0))
}

// Error is a failed call of a CUDA library.
type Error struct {
	Call string // the C function: cuMemAlloc_v2, cublasSgemm_v2
	Code int    // its status code
	Name string // the code's name: CUDA_ERROR_OUT_OF_MEMORY
	Text string // the library's description of it, when it has one
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Call, e.Name)
	if e.Text != "" {
		s += " (" + e.Text + ")"
	}
	return s
}

// OutOfMemory reports whether the call failed for want of device memory,
// so callers can retry with a smaller batch.
func (e *Error) OutOfMemory() bool {
	switch e.Name {
	case "CUDA_ERROR_OUT_OF_MEMORY", "CUBLAS_STATUS_ALLOC_FAILED", "NVRTC_ERROR_OUT_OF_MEMORY":
		return true
	}
	return false
}

// check turns a CUresult into an error naming the call and the code.
func check(call string, r result) error {
	if r == 0 {
		return nil
	}
	e := &Error{Call: call, Code: int(r), Name: fmt.Sprintf("CUresult %d", int(r))}
	var name, text *byte
	if drv.cuGetErrorName(r, &name) == 0 {
		e.Name = goString(name)
	}
	if drv.cuGetErrorString(r, &text) == 0 {
		e.Text = goString(text)
	}
	return e
}
