//go:build cuda

package cuda

// The GPUs and an opened one: its context, stream, cuBLAS handle and the
// module of the backend's kernels.

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// Built reports whether this binary has the GPU code (the cuda build tag).
const Built = true

// Available reports why the GPU cannot be used (the driver is missing or
// finds no GPU), or nil.
func Available() error {
	_, err := Devices()
	return err
}

// Devices lists the GPUs the driver sees.
func Devices() ([]DeviceInfo, error) {
	if err := loadDriver(); err != nil {
		return nil, err
	}
	var n int32
	if err := check("cuDeviceGetCount", drv.cuDeviceGetCount(&n)); err != nil {
		return nil, err
	}
	if n == 0 { // cuInit reports CUDA_ERROR_NO_DEVICE first; this is a guard
		return nil, errors.New("the CUDA driver finds no GPU")
	}
	out := make([]DeviceInfo, n)
	for i := range out {
		d, err := deviceInfo(i)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

func deviceInfo(index int) (DeviceInfo, error) {
	d := DeviceInfo{Index: index}
	var dev int32
	if err := check("cuDeviceGet", drv.cuDeviceGet(&dev, int32(index))); err != nil {
		return d, err
	}
	var name [256]byte
	if err := check("cuDeviceGetName", drv.cuDeviceGetName(&name[0], int32(len(name)), dev)); err != nil {
		return d, err
	}
	d.Name = goString(&name[0])
	var mem uintptr
	if err := check("cuDeviceTotalMem_v2", drv.cuDeviceTotalMem(&mem, dev)); err != nil {
		return d, err
	}
	d.Memory = uint64(mem)
	for _, a := range []struct {
		attr int32
		v    *int
	}{{attrCCMajor, &d.Major}, {attrCCMinor, &d.Minor}, {attrSMCount, &d.SMs}} {
		var v int32
		if err := check("cuDeviceGetAttribute", drv.cuDeviceGetAttribute(&v, a.attr, dev)); err != nil {
			return d, err
		}
		*a.v = int(v)
	}
	return d, nil
}

// Context is an opened GPU: its primary context, one stream that every
// call of the context queues on (kernels, cuBLAS, NCCL), a cuBLAS handle
// bound to the stream, and the module compiled from Options.Source.
//
// The stream is a blocking one (CU_STREAM_DEFAULT), so the synchronous
// copies and fills, which go through the legacy NULL stream, wait for the
// work queued before them. Kernels and GEMMs return before they finish:
// call Synchronize before the host reads what they wrote.
//
// A Context is for one goroutine at a time. Each call makes the context
// current on the calling OS thread (a goroutine may move between threads
// between calls), so no caller needs runtime.LockOSThread.
type Context struct {
	Device DeviceInfo
	// ConcurrentManaged reports whether the host may touch managed memory
	// while kernels run (Linux, sm_60 and later); otherwise call Synchronize
	// first or the host access faults.
	ConcurrentManaged bool

	dev    int32
	ctx    uintptr
	stream uintptr
	blas   uintptr
	math   Math
	module uintptr
	funcs  map[string]*Function
	comms  []*Comm
	closed bool

	// The managed memory Floats has handed out and may (managed.go).
	managedMu             sync.Mutex
	managed, managedLimit uint64
}

// Open opens GPU index (0 is the first of Devices): it loads the driver,
// cuBLAS and NVRTC (a missing one is the error), makes the context, stream
// and cuBLAS handle, and compiles opts.Source for the GPU.
func Open(index int, opts Options) (*Context, error) {
	devs, err := Devices()
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= len(devs) {
		return nil, fmt.Errorf("GPU %d: this machine has %s", index, countGPUs(devs))
	}
	if err := loadCUBLAS(); err != nil {
		return nil, err
	}
	if err := loadNVRTC(); err != nil {
		return nil, err
	}
	c := &Context{Device: devs[index], funcs: map[string]*Function{}}
	if err := check("cuDeviceGet", drv.cuDeviceGet(&c.dev, int32(index))); err != nil {
		return nil, err
	}
	if err := check("cuDevicePrimaryCtxRetain", drv.cuDevicePrimaryCtxRetain(&c.ctx, c.dev)); err != nil {
		return nil, err
	}
	if err := c.setup(opts); err != nil {
		c.Close()
		return nil, fmt.Errorf("GPU %d (%s): %w", index, c.Device.Name, err)
	}
	return c, nil
}

func countGPUs(devs []DeviceInfo) string {
	if len(devs) == 1 {
		return "one GPU, 0"
	}
	return fmt.Sprintf("%d GPUs, 0 to %d", len(devs), len(devs)-1)
}

func (c *Context) setup(opts Options) error {
	defer c.enter()()
	var v int32
	if err := check("cuDeviceGetAttribute", drv.cuDeviceGetAttribute(&v, attrConcManaged, c.dev)); err != nil {
		return err
	}
	c.ConcurrentManaged = v != 0
	if err := check("cuStreamCreate", drv.cuStreamCreate(&c.stream, streamDefault)); err != nil {
		return err
	}
	if err := blasCheck("cublasCreate_v2", blas.cublasCreate(&c.blas)); err != nil {
		return err
	}
	if err := blasCheck("cublasSetStream_v2", blas.cublasSetStream(c.blas, c.stream)); err != nil {
		return err
	}
	if err := c.setMath(opts.Math); err != nil {
		return err
	}
	if opts.Source != "" {
		name := opts.Name
		if name == "" {
			name = "ipt.cu"
		}
		image, err := compile(opts.Source, name, c.Device.Major, c.Device.Minor, opts.Flags)
		if err != nil {
			return err
		}
		if err := check("cuModuleLoadData", drv.cuModuleLoadData(&c.module, ptrOf(image))); err != nil {
			return err
		}
	}
	var free, total uintptr
	if err := check("cuMemGetInfo_v2", drv.cuMemGetInfo(&free, &total)); err != nil {
		return err
	}
	c.managedLimit = managedLimit(uint64(free))
	return nil
}

// enter makes c current on this goroutine's OS thread until the returned
// function runs: the driver keeps the current context per thread, and a
// goroutine may move to another thread between two calls. A failure to
// set it (only for a destroyed context) surfaces as the next call's error.
func (c *Context) enter() func() {
	runtime.LockOSThread()
	drv.cuCtxSetCurrent(c.ctx)
	return runtime.UnlockOSThread
}

// Synchronize waits for all the work queued on c's stream.
func (c *Context) Synchronize() error {
	defer c.enter()()
	return check("cuStreamSynchronize", drv.cuStreamSynchronize(c.stream))
}

// MemInfo returns the device memory free and in total.
func (c *Context) MemInfo() (free, total uint64, err error) {
	defer c.enter()()
	var f, t uintptr
	err = check("cuMemGetInfo_v2", drv.cuMemGetInfo(&f, &t))
	return uint64(f), uint64(t), err
}

// Close waits for the queued work and releases what Open made, and the
// communicators made from c; memory from Alloc and Floats is the caller's
// to free first. It returns the first error.
func (c *Context) Close() error {
	if c == nil || c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, m := range c.comms {
		errs = append(errs, m.Close())
	}
	func() {
		defer c.enter()()
		if c.stream != 0 {
			errs = append(errs, check("cuStreamSynchronize", drv.cuStreamSynchronize(c.stream)))
		}
		if c.blas != 0 {
			errs = append(errs, blasCheck("cublasDestroy_v2", blas.cublasDestroy(c.blas)))
		}
		if c.module != 0 {
			errs = append(errs, check("cuModuleUnload", drv.cuModuleUnload(c.module)))
		}
		if c.stream != 0 {
			errs = append(errs, check("cuStreamDestroy_v2", drv.cuStreamDestroy(c.stream)))
		}
	}()
	errs = append(errs, check("cuDevicePrimaryCtxRelease_v2", drv.cuDevicePrimaryCtxRelease(c.dev)))
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Libraries reports each library of the GPU build: where it was found,
// its version, or why it is missing. It loads the driver, cuBLAS and
// NVRTC (to ask their versions) but not NCCL, which only multi-GPU
// training loads; NCCL's version is its file's.
func Libraries() []LibraryInfo {
	var out []LibraryInfo
	for _, l := range []struct {
		lib     Library
		load    func() error
		version func() string
	}{
		{Driver, loadDriver, driverVersion},
		{CUBLAS, loadCUBLAS, blasVersion},
		{NVRTC, loadNVRTC, nvrtcVersion},
		{NCCL, nil, nil},
	} {
		info := LibraryInfo{Library: l.lib}
		info.Path, info.Err = search().Find(l.lib)
		if info.Err == nil {
			info.Version = FileVersion(info.Path)
			if l.load != nil {
				if err := l.load(); err != nil {
					info.Err = err
				} else if v := l.version(); v != "" {
					info.Version = v
				}
			}
		}
		out = append(out, info)
	}
	return out
}

// driverVersion is the CUDA version the driver supports, and the driver's
// own from its file name: "CUDA 12.4, driver 550.54.14".
func driverVersion() string {
	var v int32
	if drv.cuDriverGetVersion(&v) != 0 {
		return ""
	}
	s := fmt.Sprintf("CUDA %d.%d", v/1000, v%1000/10) // cuda.h: 1000*major + 10*minor
	if f := FileVersion(drv.lib.path); f != "" && f != "1" {
		s += ", driver " + f
	}
	return s
}
