//go:build cuda

package cuda

// Device memory and managed memory, and the copies and fills between them.
// Sizes are in float32s, as everywhere in ipt; the copies are synchronous
// (the driver has read or written the host slice when they return).

import (
	"fmt"
	"math"
	"runtime"
)

// Alloc allocates n float32s of device memory (uninitialised).
func (c *Context) Alloc(n int) (DevicePtr, error) {
	if n <= 0 {
		return 0, fmt.Errorf("cuda: Alloc(%d): want a positive count", n)
	}
	defer c.enter()()
	var p DevicePtr
	return p, check("cuMemAlloc_v2", drv.cuMemAlloc(&p, uintptr(n)*4))
}

// Free frees memory from Alloc (0 is ignored).
func (c *Context) Free(p DevicePtr) error {
	if p == 0 {
		return nil
	}
	defer c.enter()()
	return check("cuMemFree_v2", drv.cuMemFree(p))
}

// Floats allocates n float32s of managed memory (CU_MEM_ATTACH_GLOBAL) and
// returns them as a Go slice: the same memory is valid on the host (the
// slice) and on the device (Ptr of the slice), moved by the driver on
// demand. The model's buffers live there so the CPU code that fills them
// (loading, data) and the kernels share one []float32. The memory is
// zeroed (the host writes it, so its pages start on the host); free it
// with FreeFloats, never let it outlive the Context. In all, Floats hands
// out at most the device memory free when c was opened, less a reserve
// (managed.go): beyond it the error says so.
func (c *Context) Floats(n int) ([]float32, error) {
	if n <= 0 {
		return nil, fmt.Errorf("cuda: Floats(%d): want a positive count", n)
	}
	bytes := uint64(n) * 4
	p, err := c.allocManaged(bytes)
	if err != nil {
		return nil, err
	}
	s := floatsAt(p, n)
	clear(s)
	return s, nil
}

// allocManaged allocates bytes of managed memory within c's budget.
func (c *Context) allocManaged(bytes uint64) (DevicePtr, error) {
	c.managedMu.Lock()
	defer c.managedMu.Unlock()
	if err := managedFits(c.managed, bytes, c.managedLimit); err != nil {
		return 0, err
	}
	defer c.enter()()
	var p DevicePtr
	if err := check("cuMemAllocManaged", drv.cuMemAllocManaged(&p, uintptr(bytes), memAttachGlobal)); err != nil {
		return 0, err
	}
	c.managed += bytes
	return p, nil
}

// FreeFloats frees a slice from Floats, whole as Floats returned it (its
// length is what the budget gets back); the slice must not be used after.
func (c *Context) FreeFloats(s []float32) error {
	if len(s) == 0 {
		return nil
	}
	c.managedMu.Lock()
	defer c.managedMu.Unlock()
	defer c.enter()()
	if err := check("cuMemFree_v2", drv.cuMemFree(Ptr(s))); err != nil {
		return err
	}
	c.managed -= min(c.managed, uint64(len(s))*4)
	return nil
}

// Prefetch queues, on c's stream, the move of managed memory s to the
// device (toDevice) or to the host, so the first kernel (or host loop) to
// touch it does not fault page by page. It is a hint: results do not
// depend on it, and a driver without the call skips it.
func (c *Context) Prefetch(s []float32, toDevice bool) error {
	if len(s) == 0 || drv.cuMemPrefetchAsync == nil {
		return nil
	}
	dst := int32(deviceCPU)
	if toDevice {
		dst = c.dev
	}
	defer c.enter()()
	return check("cuMemPrefetchAsync", drv.cuMemPrefetchAsync(Ptr(s), uintptr(len(s))*4, dst, c.stream))
}

// CopyIn copies src from the host to the device at dst.
func (c *Context) CopyIn(dst DevicePtr, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	defer c.enter()()
	err := check("cuMemcpyHtoD_v2", drv.cuMemcpyHtoD(dst, floatsPtr(src), uintptr(len(src))*4))
	runtime.KeepAlive(src)
	return err
}

// CopyOut copies len(dst) float32s from the device at src to the host,
// after the work queued before it has finished.
func (c *Context) CopyOut(dst []float32, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	defer c.enter()()
	err := check("cuMemcpyDtoH_v2", drv.cuMemcpyDtoH(floatsPtr(dst), src, uintptr(len(dst))*4))
	runtime.KeepAlive(dst)
	return err
}

// CopyDevice copies n float32s from src to dst, both on the device.
func (c *Context) CopyDevice(dst, src DevicePtr, n int) error {
	if n <= 0 {
		return nil
	}
	defer c.enter()()
	return check("cuMemcpyDtoD_v2", drv.cuMemcpyDtoD(dst, src, uintptr(n)*4))
}

// Fill sets n float32s at dst to v (cuMemsetD32 with v's bits: exact for
// any value, zero included).
func (c *Context) Fill(dst DevicePtr, n int, v float32) error {
	if n <= 0 {
		return nil
	}
	defer c.enter()()
	return check("cuMemsetD32_v2", drv.cuMemsetD32(dst, math.Float32bits(v), uintptr(n)))
}
