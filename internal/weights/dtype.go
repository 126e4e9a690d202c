package weights

import "math"

// size is the number of bytes of one element, or 0 for a dtype this package
// does not read.
func (d DType) size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// isFloat says whether values of d load into Tensor.F32 (else Tensor.I64).
func (d DType) isFloat() bool {
	switch d {
	case F64, F32, F16, BF16:
		return true
	}
	return false
}

// outSize is the bytes per element once loaded: 4 in F32, 8 in I64.
func (d DType) outSize() int {
	if d.isFloat() {
		return 4
	}
	return 8
}

// storageDTypes maps the torch storage classes a pickle may name to their dtype.
var storageDTypes = map[string]DType{
	"FloatStorage":    F32,
	"HalfStorage":     F16,
	"BFloat16Storage": BF16,
	"DoubleStorage":   F64,
	"LongStorage":     I64,
	"IntStorage":      I32,
	"ShortStorage":    I16,
	"CharStorage":     I8,
	"ByteStorage":     U8,
	"BoolStorage":     Bool,
}

// mul returns a·b for non-negative a and b, and false if that overflows an int.
func mul(a, b int) (int, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a == 0 || b == 0 {
		return 0, true
	}
	if a > math.MaxInt/b {
		return 0, false
	}
	return a * b, true
}

// add returns a+b for non-negative a and b, and false if that overflows an int.
func add(a, b int) (int, bool) {
	if a < 0 || b < 0 || a > math.MaxInt-b {
		return 0, false
	}
	return a + b, true
}

// numElements is the product of shape, and false if a dimension is negative or
// the product overflows.
func numElements(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		var ok bool
		if n, ok = mul(n, d); !ok {
			return 0, false
		}
	}
	return n, true
}
