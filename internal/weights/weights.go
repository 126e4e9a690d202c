// Package weights reads PyTorch checkpoints and reads and writes safetensors files.
//
// A PyTorch checkpoint here is what torch.save(model.state_dict()) writes: a flat
// dict of tensors, in either of PyTorch's two formats:
//
//   - the zip format (PyTorch ≥ 1.6): a zip holding <prefix>/data.pkl, the pickled
//     dict, and one record <prefix>/data/<key> per storage, normally stored
//     uncompressed;
//   - the legacy format: five pickles back to back (magic number, protocol
//     version, sys_info, the dict, the list of storage keys), then each storage as
//     an int64 little-endian element count followed by its raw bytes.
//
// Safetensors files (see safetensors.go) are read and written too.
//
// Every file is treated as hostile. The pickles are read with gopickle's
// Unpickler, but only after our own opcode walker has checked them (see
// pickle_validate.go), and with hooks that understand a short whitelist of torch
// names and execute nothing. No allocation is sized by a number from the file
// before that number has been checked against the bytes actually present.
//
// Values are decoded from the file through a small scratch buffer straight
// into the final slices, so loading takes about one copy of the weights in
// memory, never the raw bytes and the float32 values side by side.
package weights

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// DType names an element type, spelled as in safetensors.
type DType string

// The element types this package reads. Floating types load into Tensor.F32,
// the others into Tensor.I64.
const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Tensor is one named array of a checkpoint, row-major.
type Tensor struct {
	Shape []int
	DType DType     // dtype as stored in the file
	F32   []float32 // the values, converted to float32, for floating dtypes (F32/F16/BF16/F64); nil otherwise
	I64   []int64   // the values for integer dtypes (I64, I32, U8, BOOL, ...), converted to int64; nil otherwise
}

// NumElements is the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Checkpoint is the content of one file.
type Checkpoint struct {
	Keys     []string           // tensor names in the order of the file
	Tensors  map[string]*Tensor // by name
	Metadata map[string]string  // safetensors __metadata__ (empty if none); nil for PyTorch files
	Format   string             // "pytorch-zip", "pytorch-legacy", "safetensors"
}

// The values of Checkpoint.Format.
const (
	FormatZip         = "pytorch-zip"
	FormatLegacy      = "pytorch-legacy"
	FormatSafetensors = "safetensors"
)

// Load reads a checkpoint, choosing the format from the file's first bytes.
func Load(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fileError(path, unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fileError(path, errors.New("not a regular file"))
	}
	return LoadReader(f, st.Size(), path)
}

// LoadReader reads a checkpoint of size bytes from r. The name is only used in
// error messages, which all start with "weights: name: ".
func LoadReader(r io.ReaderAt, size int64, name string) (ckpt *Checkpoint, err error) {
	// Every input is checked before use, so a panic is a bug here or in
	// gopickle; still, a bad file must never take the process down.
	defer func() {
		if p := recover(); p != nil {
			ckpt, err = nil, fileError(name, fmt.Errorf("malformed file (internal error: %v)", p))
		}
	}()
	c, err := load(r, size)
	if err != nil {
		return nil, fileError(name, err)
	}
	return c, nil
}

func load(r io.ReaderAt, size int64) (*Checkpoint, error) {
	if size < 0 {
		return nil, fmt.Errorf("negative size %d", size)
	}
	if size == 0 {
		return nil, errors.New("empty file")
	}
	var head [16]byte
	n, err := r.ReadAt(head[:min(size, int64(len(head)))], 0)
	if n < len(head) && int64(n) < size {
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	h := head[:n]
	switch {
	case len(h) >= 9 && h[8] == '{':
		return loadSafetensors(r, size)
	case len(h) >= 4 && string(h[:4]) == "PK\x03\x04":
		return loadZip(r, size)
	case h[0] == 0x80:
		return loadLegacy(r, size)
	}
	return nil, fmt.Errorf("not a PyTorch or safetensors file (starts with % x)", h[:min(len(h), 8)])
}

func fileError(name string, err error) error {
	return fmt.Errorf("weights: %s: %w", name, err)
}

// unwrapPath drops the *fs.PathError wrapper, whose path would repeat the file name.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
