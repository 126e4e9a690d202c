package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"testing"
)

// pk builds pickles by hand for tests of what torch.save never writes.
type pk struct{ bytes.Buffer }

func newPickle(proto byte) *pk {
	p := &pk{}
	p.Write([]byte{0x80, proto})
	return p
}

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }

func (p *pk) global(module, name string) *pk {
	p.WriteString("c" + module + "\n" + name + "\n")
	return p
}

func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

// int pushes n; int64, so that 64-bit claims can be built on 32-bit hosts.
func (p *pk) int(n int64) *pk {
	if n >= 0 && n < 1<<31 {
		p.WriteByte('J')
		binary.Write(&p.Buffer, binary.LittleEndian, int32(n))
		return p
	}
	p.WriteByte(0x8a) // LONG1, 8 bytes little-endian two's complement
	p.WriteByte(8)
	binary.Write(&p.Buffer, binary.LittleEndian, int64(n))
	return p
}

func (p *pk) ints(v []int64) *pk {
	p.op('(')
	for _, x := range v {
		p.int(x)
	}
	return p.op('t')
}

// storageID pushes the persistent id of a storage: the zip form, or with the
// legacy view field (None) when legacy is set.
func (p *pk) storageID(cls, key string, numel int64, legacy bool) *pk {
	p.op('(').str("storage").global("torch", cls).str(key).str("cpu").int(numel)
	if legacy {
		p.op('N')
	}
	return p.op('t', 'Q')
}

// tensor pushes _rebuild_tensor_v2(storage, offset, shape, stride, False, None).
func (p *pk) tensor(cls, key string, numel, offset int64, shape, stride []int64) *pk {
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.storageID(cls, key, numel, false).int(offset).ints(shape).ints(stride)
	return p.op(0x89, 'N', 't', 'R')
}

// orderedDict opens OrderedDict() and a MARK for SETITEMS.
func (p *pk) orderedDict() *pk {
	return p.global("collections", "OrderedDict").op(')', 'R', '(')
}

// end closes the SETITEMS and STOPs.
func (p *pk) end() []byte {
	p.op('u', '.')
	return p.Bytes()
}

// zipCheckpoint wraps a data.pkl and storage records (key → bytes) in a zip
// laid out like torch.save's, with stored (uncompressed) records.
func zipCheckpoint(t testing.TB, pkl []byte, records map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("archive/data.pkl", pkl)
	for k, v := range records {
		add("archive/data/"+k, v)
	}
	add("archive/version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// f32bytes is the little-endian encoding of v.
func f32bytes(v ...float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

// loadBytes runs LoadReader on data under the given name.
func loadBytes(data []byte, name string) (*Checkpoint, error) {
	return LoadReader(bytes.NewReader(data), int64(len(data)), name)
}
