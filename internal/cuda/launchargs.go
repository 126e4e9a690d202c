package cuda

// A kernel launch's arguments and shape, checked in plain Go (both builds)
// so their rules are tested without a GPU.

import (
	"fmt"
	"math"
	"unsafe"
)

// Dim3 is a grid or block shape; a zero Y or Z counts as 1.
type Dim3 struct{ X, Y, Z int }

// Ptr is the device address of s's first element, for a slice of managed
// memory from Context.Floats (valid in kernels and cuBLAS); 0 for an
// empty slice.
func Ptr(s []float32) DevicePtr {
	if len(s) == 0 {
		return 0
	}
	return DevicePtr(uintptr(unsafe.Pointer(unsafe.SliceData(s))))
}

// kernelArg is an argument's bytes, in the low bytes of a slot (both
// supported CPUs are little-endian, as the GPU).
func kernelArg(a any) (uint64, error) {
	switch v := a.(type) {
	case DevicePtr:
		return uint64(v), nil
	case []float32:
		return uint64(Ptr(v)), nil
	case int:
		if v < math.MinInt32 || v > math.MaxInt32 {
			return 0, fmt.Errorf("int %d does not fit a C int", v)
		}
		return uint64(uint32(int32(v))), nil
	case int32:
		return uint64(uint32(v)), nil
	case uint32:
		return uint64(v), nil
	case float32:
		return uint64(math.Float32bits(v)), nil
	case int64:
		return uint64(v), nil
	case uint64:
		return v, nil
	case float64:
		return math.Float64bits(v), nil
	}
	return 0, fmt.Errorf("a %T is not a kernel argument (DevicePtr, []float32, int, int32, uint32, float32, int64, uint64, float64)", a)
}

// launchDims checks a launch's shape: every extent at least 1 (Y, Z 0 → 1).
func launchDims(grid, block Dim3) (g, b [3]uint32, err error) {
	conv := func(what string, d Dim3) ([3]uint32, error) {
		v := [3]int{d.X, d.Y, d.Z}
		var out [3]uint32
		for i, n := range v {
			if i > 0 && n == 0 {
				n = 1
			}
			if n < 1 || int64(n) > math.MaxUint32 {
				return out, fmt.Errorf("%s %+v: every extent must be at least 1", what, d)
			}
			out[i] = uint32(n)
		}
		return out, nil
	}
	if g, err = conv("grid", grid); err != nil {
		return
	}
	b, err = conv("block", block)
	return
}
