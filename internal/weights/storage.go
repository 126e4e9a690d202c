package weights

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

// storage is one typed PyTorch storage: the flat array that tensors are views of.
type storage struct {
	key   string
	dtype DType
	numel int // elements, as the pickle claims; the format reader checks the file holds them
	// open returns a reader of exactly the storage's numel·dtype.size() bytes;
	// reading past them must give io.EOF (that is where zip checks the CRC).
	open func() (io.ReadCloser, error)
}

// maxExpansion bounds the loaded size against the stored size. Loading widens
// F16 to 4 bytes and U8 to 8, and two keys may share one storage (tied
// weights), but a file of views that repeat a storage many times over must
// not turn a small file into a huge allocation.
const (
	maxExpansion   = 4
	expansionSlack = 16 << 20
)

// newStorage checks a storage claim from a persistent id against earlier
// claims for the same key.
func newStorage(seen map[string]*storage, cls storageClass, key string, numel int) (*storage, error) {
	if st, ok := seen[key]; ok {
		if st.dtype != cls.dtype || st.numel != numel {
			return nil, fmt.Errorf("storage %s: claimed as %d %s elements, earlier as %d %s", key, numel, cls.dtype, st.numel, st.dtype)
		}
		return st, nil
	}
	if _, ok := mul(numel, cls.dtype.size()); !ok {
		return nil, fmt.Errorf("storage %s: %d %s elements overflow", key, numel, cls.dtype)
	}
	st := &storage{key: key, dtype: cls.dtype, numel: numel}
	seen[key] = st
	return st, nil
}

// materialize reads the storages behind refs and returns one Tensor per key.
// Storages are read one at a time. A tensor that is the whole of a storage no
// other key uses gets the decoded storage itself, so for a plain state dict
// the weights are decoded straight into their final slices; other tensors
// copy their view out, and the storage is dropped once they have.
func materialize(keys []string, refs []*tensorRef, format string) (*Checkpoint, error) {
	var users = make(map[*storage][]int)
	var order []*storage
	stored, loaded := 0, 0
	for i, ref := range refs {
		if users[ref.st] == nil {
			order = append(order, ref.st)
			stored += ref.st.numel * ref.st.dtype.size() // checked in newStorage; a sum of file sizes
		}
		users[ref.st] = append(users[ref.st], i)
		b, ok1 := mul(ref.numel, ref.st.dtype.outSize())
		var ok2 bool
		loaded, ok2 = add(loaded, b)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: size overflows", clip(keys[i], 200))
		}
	}
	if loaded > maxExpansion*stored+expansionSlack {
		return nil, fmt.Errorf("tensors would take %d bytes loaded from %d bytes of storage; refusing views that repeat storage more than %d×",
			loaded, stored, maxExpansion)
	}

	ck := &Checkpoint{Keys: keys, Tensors: make(map[string]*Tensor, len(keys)), Format: format}
	buf := make([]byte, chunkBytes)
	for _, st := range order {
		data, err := readStorage(st, buf)
		if err != nil {
			return nil, fmt.Errorf("storage %s: %w", st.key, err)
		}
		idx := users[st]
		for _, i := range idx {
			ref := refs[i]
			t := &Tensor{Shape: slices.Clone(ref.shape), DType: st.dtype}
			whole := len(idx) == 1 && ref.offset == 0 && ref.numel == st.numel && isContiguous(ref.shape, ref.stride)
			switch d := data.(type) {
			case []float32:
				if whole {
					t.F32 = d
				} else {
					t.F32 = make([]float32, ref.numel)
					gather(t.F32, d, ref.offset, ref.shape, ref.stride)
				}
			case []int64:
				if whole {
					t.I64 = d
				} else {
					t.I64 = make([]int64, ref.numel)
					gather(t.I64, d, ref.offset, ref.shape, ref.stride)
				}
			}
			ck.Tensors[keys[i]] = t
		}
	}
	return ck, nil
}

// readStorage decodes a whole storage into a []float32 or []int64.
func readStorage(st *storage, buf []byte) (any, error) {
	if st.dtype.size() == 0 {
		return nil, fmt.Errorf("dtype %s not supported", st.dtype)
	}
	rc, err := st.open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var data any
	if st.dtype.isFloat() {
		data = make([]float32, st.numel)
	} else {
		data = make([]int64, st.numel)
	}
	if err := readValues(rc, st.dtype, data, buf); err != nil {
		return nil, err
	}
	// Reading on to the end makes zip check the record's size and CRC.
	var one [1]byte
	switch _, err := io.ReadFull(rc, one[:]); {
	case err == nil:
		return nil, errors.New("record is longer than the storage")
	case err != io.EOF:
		return nil, err
	}
	return data, nil
}

// isContiguous says whether stride is the row-major stride of shape (dims of
// size 1 may have any stride, as in PyTorch).
func isContiguous(shape, stride []int) bool {
	want := 1
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// gather copies the view (offset, shape, stride) of src into dst in row-major
// order. checkTensorRef has already checked that every index lies in src.
func gather[T float32 | int64](dst, src []T, offset int, shape, stride []int) {
	if isContiguous(shape, stride) {
		copy(dst, src[offset:offset+len(dst)])
		return
	}
	nd := len(shape) // ≥ 1: a scalar is contiguous
	inner, istride := shape[nd-1], stride[nd-1]
	idx := make([]int, nd-1)
	base := offset
	for o := 0; o < len(dst); o += inner {
		p := base
		for j := range dst[o : o+inner] {
			dst[o+j] = src[p]
			p += istride
		}
		// Step the outer dimensions like an odometer.
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			base += stride[d]
			if idx[d] < shape[d] {
				break
			}
			base -= stride[d] * shape[d]
			idx[d] = 0
		}
	}
}
