package weights

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// WriteSafetensors writes the tensors named by keys, in that order, to path
// as safetensors: F32 values as F32, and a tensor with only I64 values as I64
// (whatever each tensor's DType says). metadata goes to __metadata__. The file
// is written to a temporary file in the same directory and renamed into
// place, so path never holds a half-written file.
func WriteSafetensors(path string, keys []string, tensors map[string]*Tensor, metadata map[string]string) error {
	if err := writeSafetensors(path, keys, tensors, metadata); err != nil {
		return fileError(path, err)
	}
	return nil
}

func writeSafetensors(path string, keys []string, tensors map[string]*Tensor, metadata map[string]string) (err error) {
	hdr, err := safetensorsHeader(keys, tensors, metadata)
	if err != nil {
		return err
	}

	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return unwrapPath(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, chunkBytes)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	w.Write(lenBuf[:])
	w.Write(hdr)
	buf := make([]byte, chunkBytes)
	for _, k := range keys {
		writeValues(w, tensors[k], buf)
	}
	// bufio.Writer keeps the first write error; Flush reports it.
	if err := w.Flush(); err != nil {
		return unwrapPath(err)
	}
	if err := f.Sync(); err != nil {
		return unwrapPath(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return unwrapPath(err)
	}
	if err := f.Close(); err != nil {
		return unwrapPath(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return nil
}

// safetensorsHeader checks the tensors and returns the JSON header, padded
// with spaces to a multiple of 8 bytes as the reference writer does so that
// the data is aligned.
func safetensorsHeader(keys []string, tensors map[string]*Tensor, metadata map[string]string) ([]byte, error) {
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
		n, ok := numElements(t.Shape)
		if !ok {
			return nil, fmt.Errorf("%s: bad shape %v", k, t.Shape)
		}
		dt, size, have := F32, 4, len(t.F32)
		if t.F32 == nil && t.I64 != nil {
			dt, size, have = I64, 8, len(t.I64)
		}
		if have != n {
			return nil, fmt.Errorf("%s: %d values for shape %v", k, have, t.Shape)
		}
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

// writeValues writes t's values little-endian, F32 if it has them, else I64,
// converting through buf.
func writeValues(w io.Writer, t *Tensor, buf []byte) {
	if t.F32 != nil {
		for v := t.F32; len(v) > 0; {
			n := min(len(v), len(buf)/4)
			for i, x := range v[:n] {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
			}
			w.Write(buf[:4*n])
			v = v[n:]
		}
		return
	}
	for v := t.I64; len(v) > 0; {
		n := min(len(v), len(buf)/8)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint64(buf[8*i:], uint64(x))
		}
		w.Write(buf[:8*n])
		v = v[n:]
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // a string always encodes
	b.Truncate(b.Len() - 1) // Encode appends a newline
}
