package weights

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"unicode/utf8"
)

// The zip format torch.save writes (PyTorch ≥ 1.6), as PyTorch 1.13 to 2.x
// read it:
//
//	archive/data.pkl     the state dict, pickled (protocol 2)
//	archive/byteorder    "little" (PyTorch ≥ 2.1 writes it; older ones ignore it)
//	archive/data/0 ...   one record per storage: its raw little-endian values
//	archive/version      "3\n", the file format version
//
// every record stored, not deflated, its data aligned to 64 bytes as
// PyTorch's writer does (so that PyTorch ≥ 2.1 can mmap the storages).

// ptArchive is the records' folder, as PyTorch ≥ 2.0 names it (1.13 used the
// file's stem; readers take whatever the first record's folder is).
const ptArchive = "archive"

// ptAlign is PyTorch's kFieldAlignment: where every record's data starts.
const ptAlign = 64

// ptPadID is the id of the zip extra field PyTorch pads local headers with ("FB").
const ptPadID = 'F' | 'B'<<8

// WritePyTorch writes the tensors named by keys, in that order, to path as
// torch.save(state_dict) does in PyTorch's zip format: an OrderedDict of
// contiguous CPU tensors, each with its own storage, F32 values as
// torch.float32 and a tensor with only I64 values as torch.int64 (whatever
// each tensor's DType says). The file is written to a temporary file in the
// same directory and renamed into place, so path never holds a half-written
// file.
func WritePyTorch(path string, keys []string, tensors map[string]*Tensor) error {
	if err := writePyTorch(path, keys, tensors); err != nil {
		return fileError(path, err)
	}
	return nil
}

func writePyTorch(path string, keys []string, tensors map[string]*Tensor) error {
	pkl, err := stateDictPickle(keys, tensors)
	if err != nil {
		return err
	}
	return writeAtomic(path, func(w io.Writer) error {
		cw := &countingWriter{w: w}
		zw := zip.NewWriter(cw)
		// Each record is written with its size and CRC known up front, so
		// with no data descriptor after it: then cw.n, once zw is flushed,
		// is where its local header starts.
		record := func(name string, size int64, crc uint32) (io.Writer, error) {
			if err := zw.Flush(); err != nil {
				return nil, err
			}
			return zw.CreateRaw(&zip.FileHeader{
				Name:               name,
				Method:             zip.Store,
				CRC32:              crc,
				CompressedSize64:   uint64(size),
				UncompressedSize64: uint64(size),
				Extra:              alignmentPadding(cw.n, len(name)),
			})
		}
		put := func(name string, data []byte) error {
			rw, err := record(name, int64(len(data)), crc32.ChecksumIEEE(data))
			if err != nil {
				return err
			}
			_, err = rw.Write(data)
			return err
		}
		if err := put(ptArchive+"/data.pkl", pkl); err != nil {
			return err
		}
		if err := put(ptArchive+"/byteorder", []byte("little")); err != nil {
			return err
		}
		buf := make([]byte, chunkBytes)
		for i, k := range keys {
			t := tensors[k]
			crc := crc32.NewIEEE()
			n := writeValues(crc, t, buf)
			rw, err := record(ptArchive+"/data/"+strconv.Itoa(i), n, crc.Sum32())
			if err != nil {
				return err
			}
			writeValues(rw, t, buf)
		}
		if err := put(ptArchive+"/version", []byte("3\n")); err != nil {
			return err
		}
		return zw.Close()
	})
}

// alignmentPadding is the extra field that makes the data of a record whose
// local header starts at offset, with a name of nameLen bytes, start at a
// multiple of ptAlign: the field's id and length, then pad bytes 'Z', as
// PyTorch's writer pads.
func alignmentPadding(offset int64, nameLen int) []byte {
	const localHeader, fieldHeader = 30, 4
	end := offset + localHeader + int64(nameLen) + fieldHeader
	pad := int((ptAlign - end%ptAlign) % ptAlign)
	b := make([]byte, fieldHeader+pad)
	binary.LittleEndian.PutUint16(b, ptPadID)
	binary.LittleEndian.PutUint16(b[2:], uint16(pad))
	for i := fieldHeader; i < len(b); i++ {
		b[i] = 'Z'
	}
	return b
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// stateDictPickle checks the tensors and pickles them as torch.save pickles a
// state dict, storage i holding keys[i]'s values.
func stateDictPickle(keys []string, tensors map[string]*Tensor) ([]byte, error) {
	p := newPickler()
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce)
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		t := tensors[k]
		switch {
		case seen[k]:
			return nil, fmt.Errorf("%s: key given twice", k)
		case t == nil:
			return nil, fmt.Errorf("%s: no such tensor", k)
		case !utf8.ValidString(k):
			// Python decodes the key as UTF-8 and would refuse the file.
			return nil, fmt.Errorf("%q: key is not UTF-8", k)
		}
		seen[k] = true
		dt, n, err := writtenDType(k, t)
		if err != nil {
			return nil, err
		}
		// Python's pickler writes SETITEMS every 1000 items; so do we, which
		// keeps the unpickler's stack small.
		if i%1000 == 0 {
			if i > 0 {
				p.op(opSetItems)
			}
			p.op(opMark)
		}
		p.str(k)
		p.tensor(dt, strconv.Itoa(i), n, t.Shape)
	}
	if len(keys) > 0 {
		p.op(opSetItems)
	}
	p.op(opStop)
	return p.buf, nil
}

// Pickle opcodes we emit, named as in Python's pickletools. There is no Go
// library for this: gopickle (which reads our checkpoints) only unpickles, and
// the one Go pickle writer (kisielk/og-rek) would be a new dependency for the
// dozen opcodes a state dict needs.
const (
	opProto      = 0x80 // PROTO n: protocol version
	opStop       = '.'  // STOP: end of pickle
	opMark       = '('  // MARK: push a mark for TUPLE and SETITEMS
	opEmptyTuple = ')'  // EMPTY_TUPLE
	opTuple      = 't'  // TUPLE: the items since the mark
	opTuple1     = 0x85 // TUPLE1: the top item
	opTuple2     = 0x86 // TUPLE2: the top two items
	opTuple3     = 0x87 // TUPLE3: the top three items
	opSetItems   = 'u'  // SETITEMS: key/value pairs since the mark into the dict below it
	opGlobal     = 'c'  // GLOBAL module\nname\n
	opReduce     = 'R'  // REDUCE: call the callable below the top with the top (a tuple)
	opBinPersID  = 'Q'  // BINPERSID: the object the top names, resolved by the loader (our storages)
	opNewFalse   = 0x89 // NEWFALSE
	opBinUnicode = 'X'  // BINUNICODE: 4-byte length, UTF-8 bytes
	opBinInt1    = 'K'  // BININT1: 1-byte unsigned
	opBinInt2    = 'M'  // BININT2: 2-byte unsigned
	opBinInt     = 'J'  // BININT: 4-byte signed
	opLong1      = 0x8a // LONG1: 1-byte length, little-endian two's complement
	opBinPut     = 'q'  // BINPUT i: memo[i] = top (1-byte index)
	opLongBinPut = 'r'  // LONG_BINPUT i (4-byte index)
	opBinGet     = 'h'  // BINGET i: push memo[i] (1-byte index)
	opLongBinGet = 'j'  // LONG_BINGET i (4-byte index)
)

// pickler emits protocol 2 pickles, memoizing globals as Python's pickler does
// so that each is spelled once.
type pickler struct {
	buf  []byte
	memo map[string]int // "module\nname" of a global → its memo index
}

func newPickler() *pickler {
	return &pickler{buf: []byte{opProto, 2}, memo: map[string]int{}}
}

func (p *pickler) op(ops ...byte) { p.buf = append(p.buf, ops...) }

func (p *pickler) u32(op byte, v uint32) {
	p.buf = append(p.buf, op)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, v)
}

// global pushes module.name, the first time with GLOBAL and a BINPUT, then
// with BINGET.
func (p *pickler) global(module, name string) {
	key := module + "\n" + name
	if i, ok := p.memo[key]; ok {
		if i < 256 {
			p.op(opBinGet, byte(i))
		} else {
			p.u32(opLongBinGet, uint32(i))
		}
		return
	}
	p.op(opGlobal)
	p.buf = append(p.buf, key+"\n"...)
	i := len(p.memo)
	p.memo[key] = i
	if i < 256 {
		p.op(opBinPut, byte(i))
	} else {
		p.u32(opLongBinPut, uint32(i))
	}
}

func (p *pickler) str(s string) {
	p.u32(opBinUnicode, uint32(len(s)))
	p.buf = append(p.buf, s...)
}

// int pushes a non-negative int in the shortest form, as Python does.
func (p *pickler) int(v int) {
	switch {
	case v < 0:
		panic("weights: pickler.int: negative")
	case v < 1<<8:
		p.op(opBinInt1, byte(v))
	case v < 1<<16:
		p.op(opBinInt2, byte(v), byte(v>>8))
	case int64(v) < 1<<31:
		p.u32(opBinInt, uint32(v))
	default:
		p.op(opLong1, 8)
		p.buf = binary.LittleEndian.AppendUint64(p.buf, uint64(v))
	}
}

// ints pushes a tuple of ints.
func (p *pickler) ints(v []int) {
	if len(v) == 0 {
		p.op(opEmptyTuple)
		return
	}
	if len(v) > 3 {
		p.op(opMark)
	}
	for _, x := range v {
		p.int(x)
	}
	switch len(v) {
	case 1:
		p.op(opTuple1)
	case 2:
		p.op(opTuple2)
	case 3:
		p.op(opTuple3)
	default:
		p.op(opTuple)
	}
}

// tensor pushes torch._utils._rebuild_tensor_v2(storage, 0, shape, stride,
// False, OrderedDict()) for a contiguous tensor of n elements that fills the
// storage named key.
func (p *pickler) tensor(dt DType, key string, n int, shape []int) {
	class := "FloatStorage"
	if dt == I64 {
		class = "LongStorage"
	}
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark)
	// The storage's persistent id: ('storage', torch.FloatStorage, key, 'cpu', numel).
	p.op(opMark)
	p.str("storage")
	p.global("torch", class)
	p.str(key)
	p.str("cpu")
	p.int(n)
	p.op(opTuple, opBinPersID)
	p.int(0) // storage offset
	p.ints(shape)
	p.ints(contiguousStrides(shape))
	p.op(opNewFalse) // requires_grad
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce) // backward_hooks
	p.op(opTuple, opReduce)
}

// contiguousStrides are the row-major strides PyTorch gives a contiguous
// tensor: a dimension of size 0 counts as 1, so torch.zeros(0, 3) has
// strides (3, 1).
func contiguousStrides(shape []int) []int {
	s := make([]int, len(shape))
	step := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = step
		step *= max(shape[i], 1)
	}
	return s
}
