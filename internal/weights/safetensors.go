package weights

// safetensors: an 8-byte little-endian header length N, N bytes of JSON
//
//	{"__metadata__": {string: string}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
//
// then the data, offsets relative to its start.
//
// This is our own small reader and writer rather than
// github.com/nlpodyssey/safetensors: that package parses a []byte holding the
// whole file, so loading would keep the raw bytes and the float32 copy alive
// together (2× the weights), and it decodes the header into a Go map, losing
// the tensors' order in the file.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// maxSafetensorsHeader is the reference implementation's limit.
const maxSafetensorsHeader = 100_000_000

// safetensorsDTypes are the dtypes we read; the others (U16, U32, U64, F8_*)
// are refused.
var safetensorsDTypes = map[string]DType{
	"F64": F64, "F32": F32, "F16": F16, "BF16": BF16,
	"I64": I64, "I32": I32, "I16": I16, "I8": I8, "U8": U8, "BOOL": Bool,
}

type safetensorsEntry struct {
	DType       string       `json:"dtype"`
	Shape       jsonIntArray `json:"shape"`
	DataOffsets jsonIntArray `json:"data_offsets"`
}

// jsonIntArray is a JSON array of at most maxDims integers. Counting the
// elements before decoding keeps a header of "[1,1,1,...]" from growing
// eightfold in memory.
type jsonIntArray []int64

func (a *jsonIntArray) UnmarshalJSON(b []byte) error {
	if n := bytes.Count(b, []byte(",")); n >= maxDims {
		return fmt.Errorf("array of %d numbers, more than %d", n+1, maxDims)
	}
	var v []int64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = v
	return nil
}

func loadSafetensors(r io.ReaderAt, size int64) (*Checkpoint, error) {
	var lenBuf [8]byte
	if size < 8 {
		return nil, fmt.Errorf("safetensors: %d bytes, too short for the header length", size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil && err != io.EOF {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxSafetensorsHeader || n > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: header length %d is beyond the file's %d bytes or the %d-byte limit", n, size, maxSafetensorsHeader)
	}
	hdr := make([]byte, n)
	if m, err := r.ReadAt(hdr, 8); m < len(hdr) {
		return nil, fmt.Errorf("safetensors: reading header: %w", err)
	}
	dataStart := 8 + int64(n)
	dataLen := size - dataStart

	keys, entries, meta, err := parseSafetensorsHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("safetensors header: %w", err)
	}

	// Check every tensor's extent before allocating anything: the data must be
	// covered exactly, without overlaps or holes, as the reference requires.
	type extent struct{ begin, end int64 }
	spans := make([]extent, len(keys))
	tensors := make([]*Tensor, len(keys))
	for i, key := range keys {
		e := entries[i]
		dt, ok := safetensorsDTypes[e.DType]
		if !ok {
			return nil, fmt.Errorf("%s: dtype %q not supported", clip(key, 200), clip(e.DType, 20))
		}
		if len(e.Shape) > maxDims {
			return nil, fmt.Errorf("%s: %d dimensions, more than %d", clip(key, 200), len(e.Shape), maxDims)
		}
		shape := make([]int, len(e.Shape))
		for j, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("%s: negative dimension in shape %v", clip(key, 200), e.Shape)
			}
			shape[j] = int(d)
		}
		numel, ok := numElements(shape)
		nbytes, ok2 := mul(numel, dt.size())
		if !ok || !ok2 {
			return nil, fmt.Errorf("%s: shape %v overflows", clip(key, 200), e.Shape)
		}
		if len(e.DataOffsets) != 2 {
			return nil, fmt.Errorf("%s: data_offsets has %d numbers, want 2", clip(key, 200), len(e.DataOffsets))
		}
		b, end := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || end < b || end > dataLen {
			return nil, fmt.Errorf("%s: data_offsets [%d, %d] outside the %d bytes of data", clip(key, 200), b, end, dataLen)
		}
		if end-b != int64(nbytes) {
			return nil, fmt.Errorf("%s: data_offsets [%d, %d] hold %d bytes, but shape %v of %s needs %d",
				clip(key, 200), b, end, end-b, e.Shape, dt, nbytes)
		}
		spans[i] = extent{b, end}
		tensors[i] = &Tensor{Shape: shape, DType: dt}
	}
	sorted := slices.Clone(spans)
	slices.SortFunc(sorted, func(a, b extent) int {
		if a.begin != b.begin {
			return int(a.begin - b.begin) // both within dataLen: no overflow in the sign
		}
		return int(a.end - b.end)
	})
	var at int64
	for _, s := range sorted {
		if s.begin != at {
			return nil, fmt.Errorf("safetensors: data bytes %d..%d are overlapping or not covered by any tensor", min(at, s.begin), max(at, s.begin))
		}
		at = s.end
	}
	if at != dataLen {
		return nil, fmt.Errorf("safetensors: tensors cover %d of the %d bytes of data", at, dataLen)
	}

	ck := &Checkpoint{Keys: keys, Tensors: make(map[string]*Tensor, len(keys)), Metadata: meta, Format: FormatSafetensors}
	buf := make([]byte, chunkBytes)
	for i, t := range tensors {
		numel := t.NumElements()
		var dst any
		if t.DType.isFloat() {
			t.F32 = make([]float32, numel)
			dst = t.F32
		} else {
			t.I64 = make([]int64, numel)
			dst = t.I64
		}
		sr := io.NewSectionReader(r, dataStart+spans[i].begin, spans[i].end-spans[i].begin)
		if err := readValues(sr, t.DType, dst, buf); err != nil {
			return nil, fmt.Errorf("%s: %w", clip(keys[i], 200), err)
		}
		ck.Tensors[keys[i]] = t
	}
	return ck, nil
}

// parseSafetensorsHeader decodes the JSON header, keeping the order of its keys.
func parseSafetensorsHeader(hdr []byte) ([]string, []safetensorsEntry, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, nil, errors.New("not a JSON object")
	}
	var keys []string
	var entries []safetensorsEntry
	meta := map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, nil, err
		}
		key := tok.(string) // object keys are always strings
		if seen[key] {
			return nil, nil, nil, fmt.Errorf("%q appears twice", clip(key, 200))
		}
		seen[key] = true
		if key == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, nil, fmt.Errorf("__metadata__ is not an object of strings: %w", err)
			}
			if meta == nil { // JSON null
				meta = map[string]string{}
			}
			continue
		}
		var e safetensorsEntry
		if err := dec.Decode(&e); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", clip(key, 200), err)
		}
		keys = append(keys, key)
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		if err == io.EOF {
			err = errors.New("JSON ends early")
		}
		return nil, nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, nil, errors.New("trailing data after the JSON object")
	}
	return keys, entries, meta, nil
}
