//go:build cuda

package cuda

// Kernels of the compiled module and their launches.

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"
)

// Function is a kernel of the module compiled from Options.Source.
type Function struct {
	Name string
	h    uintptr
}

// Function returns the kernel name (an extern "C" __global__ function of
// Options.Source), looked up once.
func (c *Context) Function(name string) (*Function, error) {
	if f, ok := c.funcs[name]; ok {
		return f, nil
	}
	if c.module == 0 {
		return nil, fmt.Errorf("cuda: kernel %s: no CUDA source was compiled (Options.Source)", name)
	}
	defer c.enter()()
	f := &Function{Name: name}
	if err := check("cuModuleGetFunction("+name+")", drv.cuModuleGetFunction(&f.h, c.module, cString(name))); err != nil {
		return nil, err
	}
	c.funcs[name] = f
	return f, nil
}

// Launch queues f on c's stream with grid×block threads, shared bytes of
// dynamic shared memory and the kernel's arguments in order. An argument
// is a DevicePtr or a []float32 of managed memory (its address), an int
// (passed as a C int, which it must fit), an int32, uint32 or float32, or
// an int64, uint64 or float64.
func (c *Context) Launch(f *Function, grid, block Dim3, shared int, args ...any) error {
	// cuLaunchKernel reads kernelParams[i], a pointer to the i-th argument's
	// value, during the call. Each value gets an 8-byte slot (every
	// argument type is at most 8 bytes and 8-aligned there); the slots and
	// the pointer array are Go memory handed to C, so they are pinned
	// until the call returns: the array holds Go pointers, which the cgo
	// rules allow only to pinned memory.
	slots := make([]uint64, len(args))
	params := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		v, err := kernelArg(a)
		if err != nil {
			return fmt.Errorf("kernel %s: argument %d: %v", f.Name, i, err)
		}
		slots[i] = v
		params[i] = unsafe.Pointer(&slots[i])
	}
	g, b, err := launchDims(grid, block)
	if err != nil {
		return fmt.Errorf("kernel %s: %v", f.Name, err)
	}
	if shared < 0 || uint64(shared) > math.MaxUint32 {
		return fmt.Errorf("kernel %s: %d bytes of shared memory", f.Name, shared)
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	var p unsafe.Pointer
	if len(args) > 0 {
		pin.Pin(&slots[0])
		pin.Pin(&params[0])
		p = unsafe.Pointer(&params[0])
	}
	defer c.enter()()
	return check("cuLaunchKernel("+f.Name+")", drv.cuLaunchKernel(f.h, g[0], g[1], g[2], b[0], b[1], b[2], uint32(shared), c.stream, p, nil))
}
