package weights

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// chunkBytes is the scratch buffer size for decoding: big enough that the
// per-read overhead vanishes, small enough to be "small change" next to the weights.
const chunkBytes = 1 << 20

// readValues reads len(dst) elements of dtype dt, little-endian, from r and
// stores them converted. dst is a []float32 for floating dtypes and a []int64
// otherwise; buf is scratch space of at least 8 bytes. Values go straight from
// the scratch buffer into dst, so the raw bytes are never held all at once.
func readValues(r io.Reader, dt DType, dst any, buf []byte) error {
	es := dt.size()
	per := len(buf) / es
	total, done := 0, 0
	read := func(n int) ([]byte, error) {
		b := buf[:n*es]
		m, err := io.ReadFull(r, b)
		done += m
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("data ends after %d of %d bytes", done, total)
		}
		return b, err
	}
	switch d := dst.(type) {
	case []float32:
		total = len(d) * es
		for len(d) > 0 {
			n := min(per, len(d))
			b, err := read(n)
			if err != nil {
				return err
			}
			decodeFloats(d[:n], dt, b)
			d = d[n:]
		}
	case []int64:
		total = len(d) * es
		for len(d) > 0 {
			n := min(per, len(d))
			b, err := read(n)
			if err != nil {
				return err
			}
			decodeInts(d[:n], dt, b)
			d = d[n:]
		}
	default:
		panic("weights: readValues: bad destination type")
	}
	return nil
}

// decodeFloats converts len(dst) little-endian elements of dt from b.
func decodeFloats(dst []float32, dt DType, b []byte) {
	switch dt {
	case F32:
		b = b[:4*len(dst)]
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		b = b[:2*len(dst)]
		for i := range dst {
			dst[i] = halfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		b = b[:2*len(dst)]
		for i := range dst {
			// bfloat16 is the top half of a float32: exact.
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case F64:
		b = b[:8*len(dst)]
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		panic("weights: decodeFloats: " + string(dt))
	}
}

// decodeInts converts len(dst) little-endian elements of dt from b.
func decodeInts(dst []int64, dt DType, b []byte) {
	switch dt {
	case I64:
		b = b[:8*len(dst)]
		for i := range dst {
			dst[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case I32:
		b = b[:4*len(dst)]
		for i := range dst {
			dst[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case I16:
		b = b[:2*len(dst)]
		for i := range dst {
			dst[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case I8:
		b = b[:len(dst)]
		for i := range dst {
			dst[i] = int64(int8(b[i]))
		}
	case U8:
		b = b[:len(dst)]
		for i := range dst {
			dst[i] = int64(b[i])
		}
	case Bool:
		b = b[:len(dst)]
		for i := range dst {
			if b[i] != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	default:
		panic("weights: decodeInts: " + string(dt))
	}
}

// halfToFloat32 converts an IEEE 754 binary16 value exactly (every half is a float32).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0:
		// Zero or subnormal: mant·2⁻²⁴, exact in float32.
		f := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(f))
	case 0x1f:
		// Inf or NaN; the NaN payload is kept.
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	// Rebias the exponent from 15 to 127.
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
