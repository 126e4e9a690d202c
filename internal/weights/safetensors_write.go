package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// WriteSafetensors writes the tensors named by keys, in that order, to path
// as safetensors: F32 values as F32, and a tensor with only I64 values as I64
// (whatever each tensor's DType says). metadata goes to __metadata__. The file
// is written to a temporary file in the same directory and renamed into
// place, so path never holds a half-written file.
func WriteSafetensors(path string, keys []string, tensors map[string]*Tensor, metadata map[string]string) error {
	return WriteSafetensorsAs(path, keys, tensors, metadata, F32)
}

// WriteSafetensorsAs is WriteSafetensors storing the float values as float
// (F32, F16 or BF16), each rounded to the nearest value of that type, ties
// to even; integer tensors are still written as I64.
func WriteSafetensorsAs(path string, keys []string, tensors map[string]*Tensor, metadata map[string]string, float DType) error {
	if err := writeSafetensors(path, keys, tensors, metadata, float); err != nil {
		return fileError(path, err)
	}
	return nil
}

func writeSafetensors(path string, keys []string, tensors map[string]*Tensor, metadata map[string]string, float DType) error {
	switch float {
	case F32, F16, BF16:
	default:
		return fmt.Errorf("cannot store float values as %s (F32, F16 or BF16)", float)
	}
	hdr, err := safetensorsHeader(keys, tensors, metadata, float)
	if err != nil {
		return err
	}
	return writeAtomic(path, func(w io.Writer) error {
		var lenBuf [8]byte
		binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
		w.Write(lenBuf[:])
		w.Write(hdr)
		buf := make([]byte, chunkBytes)
		for _, k := range keys {
			if float == F32 || tensors[k].F32 == nil {
				writeValues(w, tensors[k], buf)
			} else {
				writeHalves(w, tensors[k].F32, float, buf)
			}
		}
		return nil
	})
}

// safetensorsHeader checks the tensors and returns the JSON header, padded
// with spaces to a multiple of 8 bytes as the reference writer does so that
// the data is aligned.
// Float tensors are declared as float.
func safetensorsHeader(keys []string, tensors map[string]*Tensor, metadata map[string]string, float DType) ([]byte, error) {
	var h bytes.Buffer
	h.WriteByte('{')
	if len(metadata) > 0 {
		h.WriteString(`"__metadata__":{`)
		mk := make([]string, 0, len(metadata))
		for k := range metadata {
			mk = append(mk, k)
		}
		slices.Sort(mk)
		for i, k := range mk {
			if i > 0 {
				h.WriteByte(',')
			}
			writeJSONString(&h, k)
			h.WriteByte(':')
			writeJSONString(&h, metadata[k])
		}
		h.WriteByte('}')
	}
	seen := make(map[string]bool, len(keys))
	var offset int
	for i, k := range keys {
		t := tensors[k]
		switch {
		case k == "__metadata__":
			return nil, errors.New(`a tensor cannot be called "__metadata__"`)
		case seen[k]:
			return nil, fmt.Errorf("%s: key given twice", k)
		case t == nil:
			return nil, fmt.Errorf("%s: no such tensor", k)
		}
		seen[k] = true
		dt, n, err := writtenDType(k, t)
		if err != nil {
			return nil, err
		}
		if dt == F32 {
			dt = float
		}
		size := dt.size()
		if i > 0 || len(metadata) > 0 {
			h.WriteByte(',')
		}
		writeJSONString(&h, k)
		fmt.Fprintf(&h, `:{"dtype":"%s","shape":[`, dt)
		for j, d := range t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, offset, offset+n*size)
		offset += n * size
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	return h.Bytes(), nil
}

// writtenDType checks that t's values fill its shape and says how the
// writers store it: F32 if it has float values, else I64 if it has integer
// ones; n is its number of elements.
func writtenDType(key string, t *Tensor) (dt DType, n int, err error) {
	n, ok := numElements(t.Shape)
	if !ok {
		return "", 0, fmt.Errorf("%s: bad shape %v", key, t.Shape)
	}
	dt, have := F32, len(t.F32)
	if t.F32 == nil && t.I64 != nil {
		dt, have = I64, len(t.I64)
	}
	if have != n {
		return "", 0, fmt.Errorf("%s: %d values for shape %v", key, have, t.Shape)
	}
	return dt, n, nil
}

// writeValues writes t's values little-endian, F32 if it has them, else I64,
// converting through buf, and returns how many bytes that is. Write errors
// are left to w (a bufio.Writer keeps the first).
func writeValues(w io.Writer, t *Tensor, buf []byte) int64 {
	if t.F32 != nil {
		for v := t.F32; len(v) > 0; {
			n := min(len(v), len(buf)/4)
			for i, x := range v[:n] {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
			}
			w.Write(buf[:4*n])
			v = v[n:]
		}
		return 4 * int64(len(t.F32))
	}
	for v := t.I64; len(v) > 0; {
		n := min(len(v), len(buf)/8)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint64(buf[8*i:], uint64(x))
		}
		w.Write(buf[:8*n])
		v = v[n:]
	}
	return 8 * int64(len(t.I64))
}

// writeHalves writes v as 2-byte floats of dt (F16 or BF16), little-endian,
// rounded to nearest even, converting through buf. Write errors are left to
// w, as in writeValues.
func writeHalves(w io.Writer, v []float32, dt DType, buf []byte) {
	conv := float32ToHalf
	if dt == BF16 {
		conv = float32ToBF16
	}
	for len(v) > 0 {
		n := min(len(v), len(buf)/2)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint16(buf[2*i:], conv(x))
		}
		w.Write(buf[:2*n])
		v = v[n:]
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // a string always encodes
	b.Truncate(b.Len() - 1) // Encode appends a newline
}
