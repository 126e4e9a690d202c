package weights

import "math"

// float32ToHalf rounds f to the nearest IEEE 754 binary16 value, ties to
// even, as a conversion in hardware does: values past the largest half
// (65504, and up to half an ulp beyond it) become ±Inf, tiny ones
// subnormal halves or ±0, and a NaN stays a (quiet) NaN.
func float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13) // quiet bit set, so never Inf
	}
	e := exp - 127 + 15 // the half's biased exponent
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e <= 0:
		// A subnormal half counts units of 2⁻²⁴: the 24-bit significand
		// shifted right by 14-e bits. Below e = -10 even the first dropped
		// bit is under half a unit, so the value rounds to zero.
		if e < -10 {
			return sign
		}
		return sign | uint16(roundShift(mant|0x800000, uint(14-e)))
	}
	// Rounding may carry into the exponent, up to Inf: the bit layout makes
	// that the right answer.
	return sign | uint16(roundShift(uint32(e)<<23|mant, 13))
}

// float32ToBF16 rounds f to the nearest bfloat16 (the top half of a
// float32), ties to even; a NaN stays a (quiet) NaN.
func float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16(roundShift(b, 16))
}

// roundShift is v / 2^s rounded to nearest, ties to even (0 < s < 32).
func roundShift(v uint32, s uint) uint32 {
	q := v >> s
	rem := v & (1<<s - 1)
	half := uint32(1) << (s - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return q
}
