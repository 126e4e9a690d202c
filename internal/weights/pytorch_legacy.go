package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/nlpodyssey/gopickle/types"
)

// The legacy format of torch.save (before PyTorch 1.6, or with
// _use_new_zipfile_serialization=False) is five pickles back to back:
//
//	magic number, protocol version, sys_info, the dict, the sorted list of storage keys
//
// then, for each key of that list, the storage as an int64 element count
// followed by its raw little-endian bytes.

const (
	legacyMagic    = "1950a86a20f9469cfc6c" // hex
	legacyProtocol = 1001
)

func loadLegacy(r io.ReaderAt, size int64) (*Checkpoint, error) {
	var pos int64
	next := func(what string) ([]byte, error) {
		p, err := readPickle(r, pos, size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		pos += int64(len(p))
		return p, nil
	}
	small := func(what string) (any, error) {
		p, err := next(what)
		if err != nil {
			return nil, err
		}
		v, err := unpickle(p, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return v, nil
	}

	v, err := small("magic number")
	if err != nil {
		return nil, err
	}
	if m, ok := v.(*big.Int); !ok || m.Text(16) != legacyMagic {
		return nil, fmt.Errorf("not a PyTorch file: magic number is %s", describe(v))
	}
	if v, err = small("protocol version"); err != nil {
		return nil, err
	}
	if v != legacyProtocol {
		return nil, fmt.Errorf("protocol version %s not supported, want %d", describe(v), legacyProtocol)
	}
	if v, err = small("sys_info"); err != nil {
		return nil, err
	}
	if info, ok := v.(*types.Dict); ok {
		if le, ok := info.Get("little_endian"); ok && le != true {
			return nil, errors.New("written on a big-endian machine: not supported")
		}
	}

	p, err := next("state dict")
	if err != nil {
		return nil, err
	}
	storages := make(map[string]*storage)
	v, err = unpickle(p, func(id *types.Tuple) (any, error) {
		cls, key, numel, err := parseStorageID(id, 6)
		if err != nil {
			return nil, err
		}
		if id.Get(5) != nil {
			// Storage views went away with PyTorch 0.4.
			return nil, fmt.Errorf("storage %s: storage views are not supported", key)
		}
		return newStorage(storages, cls, key, numel)
	})
	if err != nil {
		return nil, err
	}
	keys, refs, err := stateDict(v)
	if err != nil {
		return nil, err
	}

	if v, err = small("storage keys"); err != nil {
		return nil, err
	}
	list, ok := v.(*types.List)
	if !ok {
		return nil, fmt.Errorf("storage keys: %s, not a list", describe(v))
	}
	// Walk the storage records, checking each count against the pickle's claim
	// and the bytes left in the file before anything is allocated.
	for i, k := range *list {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("storage keys: element %d is %s, not a string", i, describe(k))
		}
		st := storages[key]
		if st == nil {
			return nil, fmt.Errorf("storage %s: listed but no tensor uses it", clip(key, 100))
		}
		if st.open != nil {
			return nil, fmt.Errorf("storage %s: listed twice", key)
		}
		var cnt [8]byte
		if size-pos < 8 {
			return nil, fmt.Errorf("storage %s: file ends before its element count", key)
		}
		if _, err := r.ReadAt(cnt[:], pos); err != nil && err != io.EOF {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
		n := binary.LittleEndian.Uint64(cnt[:])
		pos += 8
		remain := uint64(size - pos)
		if n > remain/uint64(st.dtype.size()) {
			return nil, fmt.Errorf("storage %s: claims %d %s elements but only %d bytes remain", key, n, st.dtype, remain)
		}
		if n != uint64(st.numel) {
			return nil, fmt.Errorf("storage %s: holds %d elements but the pickle says %d", key, n, st.numel)
		}
		start, nbytes := pos, int64(n)*int64(st.dtype.size())
		st.open = func() (io.ReadCloser, error) {
			return io.NopCloser(io.NewSectionReader(r, start, nbytes)), nil
		}
		pos += nbytes
	}
	for _, ref := range refs {
		if ref.st.open == nil {
			return nil, fmt.Errorf("storage %s: not in the list of storage keys", ref.st.key)
		}
	}
	return materialize(keys, refs, FormatLegacy)
}
