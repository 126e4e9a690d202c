package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// mustFail checks that loading data fails with an error that names the file
// and, if want is not empty, contains want. A panic recovered by LoadReader
// ("internal error") is a failure too: every bad input should be caught by a
// check, not by the last line of defence.
func mustFail(t *testing.T, data []byte, name, want string) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ck, err := loadBytes(data, name)
	runtime.ReadMemStats(&after)
	// Nothing the file claims may be allocated before it is checked, so a
	// rejected file costs little more than its own size.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20+16*uint64(len(data)) {
		t.Errorf("%s: allocated %d MiB for a %d-byte file", name, alloc>>20, len(data))
	}
	if err == nil {
		t.Fatalf("%s: loaded %d tensors, want an error", name, len(ck.Keys))
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "weights: "+name+": ") {
		t.Fatalf("%s: error does not start with the file name: %v", name, err)
	}
	if strings.Contains(msg, "internal error") {
		t.Fatalf("%s: a panic was recovered: %v", name, err)
	}
	if want != "" && !strings.Contains(msg, want) {
		t.Fatalf("%s: error %q does not mention %q", name, msg, want)
	}
}

// mayFail checks that loading data either fails naming the file or gives a
// consistent checkpoint: for corruptions that may be undetectable (a flipped
// byte inside raw float data of a legacy file, which has no checksum).
func mayFail(t *testing.T, data []byte, name string) bool {
	t.Helper()
	ck, err := loadBytes(data, name)
	if err == nil {
		checkConsistent(t, ck)
		return false
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "weights: "+name+": ") || strings.Contains(msg, "internal error") {
		t.Fatalf("%s: %v", name, err)
	}
	return true
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hostileSources are the valid files the corruption tests start from.
func hostileSources(t *testing.T) map[string][]byte {
	src := map[string][]byte{
		"model.pt":        readFile(t, fixtureZip),
		"model_legacy.pt": readFile(t, fixtureLegacy),
	}
	for _, f := range []string{"dtypes.pt", "dtypes_legacy.pt", "dtypes_p4.pt", "dtypes_legacy_p4.pt"} {
		src[f] = readFile(t, filepath.Join(genDir, f))
	}
	// And a safetensors file written from the fixture.
	ck := mustLoad(t, fixtureZip)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteSafetensors(path, ck.Keys, ck.Tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	src["model.safetensors"] = readFile(t, path)
	return src
}

func TestTruncated(t *testing.T) {
	for name, data := range hostileSources(t) {
		var cuts []int
		for i := range 64 {
			cuts = append(cuts, i)
		}
		for i := 1; i < 50; i++ {
			cuts = append(cuts, len(data)*i/50)
		}
		cuts = append(cuts, len(data)-1)
		for _, n := range cuts {
			mustFail(t, data[:n], name, "")
		}
	}
}

func TestFlippedBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, data := range hostileSources(t) {
		flips := 400
		if len(data) > 1<<20 {
			flips = 60 // 10 ms a load
		}
		failed := 0
		for range flips {
			b := slices.Clone(data)
			// Half the flips land in the first 32 KiB, where the pickle and
			// headers are; the rest anywhere.
			span := len(b)
			if rng.IntN(2) == 0 {
				span = min(span, 32<<10)
			}
			b[rng.IntN(span)] ^= byte(1 + rng.IntN(255))
			if mayFail(t, b, name) {
				failed++
			}
		}
		t.Logf("%s: %d of %d flips detected", name, failed, flips)
	}
}

// legacyStorageStart returns where the storage records of a legacy file begin.
func legacyStorageStart(t *testing.T, data []byte) int {
	var pos int64
	for range 5 {
		p, err := readPickle(bytes.NewReader(data), pos, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		pos += int64(len(p))
	}
	return int(pos)
}

func TestLegacyHugeStorageCount(t *testing.T) {
	data := readFile(t, fixtureLegacy)
	at := legacyStorageStart(t, data)
	for _, n := range []uint64{1 << 32, 1 << 40, 1 << 62, 1 << 63, ^uint64(0)} {
		b := slices.Clone(data)
		binary.LittleEndian.PutUint64(b[at:], n)
		mustFail(t, b, "model_legacy.pt", "elements but only")
	}
	// A count that fits but disagrees with the pickle.
	b := slices.Clone(data)
	binary.LittleEndian.PutUint64(b[at:], binary.LittleEndian.Uint64(b[at:])-1)
	mustFail(t, b, "model_legacy.pt", "but the pickle says")
}

// rezip copies a zip, letting edit change each record's content and method.
func rezip(t *testing.T, data []byte, edit func(name string, b []byte) ([]byte, uint16)) []byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		b, method := edit(f.Name, b)
		if b == nil {
			continue
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestZipRecords(t *testing.T) {
	data := readFile(t, fixtureZip)
	want := mustLoad(t, fixtureZip)

	// Deflated records are unusual but valid.
	deflated := rezip(t, data, func(_ string, b []byte) ([]byte, uint16) { return b, zip.Deflate })
	ck, err := loadBytes(deflated, "deflated.pt")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range want.Keys {
		if !slices.Equal(ck.Tensors[k].F32, want.Tensors[k].F32) || !slices.Equal(ck.Tensors[k].I64, want.Tensors[k].I64) {
			t.Fatalf("%s differs after deflating", k)
		}
	}

	short := rezip(t, data, func(name string, b []byte) ([]byte, uint16) {
		if name == "model/data/10" {
			b = b[:len(b)-4]
		}
		return b, zip.Store
	})
	mustFail(t, short, "short.pt", "storage 10: claims")

	noPkl := rezip(t, data, func(name string, b []byte) ([]byte, uint16) {
		if strings.HasSuffix(name, "data.pkl") {
			return nil, 0
		}
		return b, zip.Store
	})
	mustFail(t, noPkl, "nopkl.pt", "data.pkl")

	noRecord := rezip(t, data, func(name string, b []byte) ([]byte, uint16) {
		if name == "model/data/3" {
			return nil, 0
		}
		return b, zip.Store
	})
	mustFail(t, noRecord, "norecord.pt", "no record model/data/3")

	// A flipped byte inside a stored record's data fails its CRC.
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == "model/data/10" {
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			b := slices.Clone(data)
			b[off+100] ^= 0x40
			mustFail(t, b, "crc.pt", "checksum")
		}
	}
}

// patchCentralSizes sets the sizes that a zip's central directory records for
// the named entry.
func patchCentralSizes(t *testing.T, data []byte, name string, compressed, uncompressed uint32) []byte {
	b := slices.Clone(data)
	for i := 0; i+46 <= len(b); i++ {
		if string(b[i:i+4]) != "PK\x01\x02" {
			continue
		}
		n := int(binary.LittleEndian.Uint16(b[i+28:]))
		if i+46+n <= len(b) && string(b[i+46:i+46+n]) == name {
			binary.LittleEndian.PutUint32(b[i+20:], compressed)
			binary.LittleEndian.PutUint32(b[i+24:], uncompressed)
			return b
		}
	}
	t.Fatalf("no central directory entry %s", name)
	return nil
}

func TestZipSizeClaims(t *testing.T) {
	// The pickle and the central directory agree on a 1 GiB storage, but the
	// file holds 16 bytes of it.
	pkl := newPickle(2).orderedDict().str("w").tensor("FloatStorage", "0", 1<<28, 0, []int64{4}, []int64{1}).end()
	data := zipCheckpoint(t, pkl, map[string][]byte{"0": f32bytes(1, 2, 3, 4)})
	mustFail(t, patchCentralSizes(t, data, "archive/data/0", 1<<30, 1<<30), "stored.pt", "past the end of the file")
	mustFail(t, patchCentralSizes(t, data, "archive/data/0", 16, 1<<30), "expand.pt", "expand to")
	mustFail(t, patchCentralSizes(t, data, "archive/data.pkl", 1<<30, 1<<30), "pkl.pt", "limit")

	// Deflated, the claim can only be disproved by decompressing.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range map[string][]byte{"archive/data.pkl": pkl, "archive/data/0": f32bytes(1, 2, 3, 4)} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		w.Write(content)
	}
	zw.Close()
	deflated := buf.Bytes()
	zr, err := zip.NewReader(bytes.NewReader(deflated), int64(len(deflated)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == "archive/data/0" {
			deflated = patchCentralSizes(t, deflated, f.Name, uint32(f.CompressedSize64), 1<<30)
		}
	}
	mustFail(t, deflated, "deflated.pt", "storage 0")
}

func TestZipOverlappingRecords(t *testing.T) {
	pkl := newPickle(2).orderedDict().
		str("a").tensor("FloatStorage", "0", 4, 0, []int64{4}, []int64{1}).
		str("b").tensor("FloatStorage", "1", 4, 0, []int64{4}, []int64{1}).end()
	rec := f32bytes(1, 2, 3, 4)
	data := zipCheckpoint(t, pkl, map[string][]byte{"0": rec, "1": rec})
	if _, err := loadBytes(data, "ok.pt"); err != nil {
		t.Fatal(err)
	}
	// Point the central directory entry of record 1 at record 0's local header.
	local := map[string]uint32{}
	var entry1 int
	for i := 0; i+46 <= len(data); i++ {
		if string(data[i:i+4]) == "PK\x01\x02" {
			n := int(binary.LittleEndian.Uint16(data[i+28:]))
			name := string(data[i+46 : i+46+n])
			local[name] = binary.LittleEndian.Uint32(data[i+42:])
			if name == "archive/data/1" {
				entry1 = i
			}
		}
	}
	b := slices.Clone(data)
	binary.LittleEndian.PutUint32(b[entry1+42:], local["archive/data/0"])
	mustFail(t, b, "overlap.pt", "overlap")
}

func TestTinyFiles(t *testing.T) {
	mustFail(t, nil, "empty.pt", "empty")
	mustFail(t, []byte("PK\x03\x04abc"), "seven.pt", "")
	mustFail(t, readFile(t, fixtureLegacy)[:7], "seven_legacy.pt", "")
	mustFail(t, []byte("hello, world"), "text.pt", "not a PyTorch or safetensors file")
	mustFail(t, bytes.Repeat([]byte{0x80}, 100), "x80.pt", "")
}

// goodTensor is a state dict {"w": FloatStorage "0" of 4 elements} as a zip.
func goodTensor(t testing.TB) []byte {
	pkl := newPickle(2).orderedDict().str("w").tensor("FloatStorage", "0", 4, 0, []int64{2, 2}, []int64{2, 1}).end()
	return zipCheckpoint(t, pkl, map[string][]byte{"0": f32bytes(1, 2, 3, 4)})
}

func TestCraftedPickles(t *testing.T) {
	// The builder itself makes loadable files.
	ck, err := loadBytes(goodTensor(t), "good.pt")
	if err != nil || !slices.Equal(ck.Tensors["w"].F32, []float32{1, 2, 3, 4}) {
		t.Fatalf("good.pt: %v", err)
	}
	// torch._utils._rebuild_tensor, the pre-1.0 form, transposed.
	v1 := newPickle(2).orderedDict().str("w").global("torch._utils", "_rebuild_tensor").op('(').
		storageID("FloatStorage", "0", 4, false).int(0).ints([]int64{2, 2}).ints([]int64{1, 2}).op('t', 'R').end()
	ck, err = loadBytes(zipCheckpoint(t, v1, map[string][]byte{"0": f32bytes(1, 2, 3, 4)}), "v1.pt")
	if err != nil || !slices.Equal(ck.Tensors["w"].F32, []float32{1, 3, 2, 4}) {
		t.Fatalf("v1.pt: %v", err)
	}
	// An empty dict is a valid, empty checkpoint.
	ck, err = loadBytes(zipCheckpoint(t, newPickle(2).op('}', '.').Bytes(), nil), "emptydict.pt")
	if err != nil || len(ck.Keys) != 0 {
		t.Fatalf("emptydict.pt: %v", err)
	}

	rec := map[string][]byte{"0": f32bytes(1, 2, 3, 4)}
	cases := []struct {
		name, want string
		pkl        []byte
		records    map[string][]byte
	}{
		{"os_system", "os.system", newPickle(2).global("os", "system").str("touch /tmp/pwned").op(0x85, 'R', '.').Bytes(), nil},
		{"stack_global", "os.system", newPickle(4).op(0x8c, 2).op([]byte("os")...).op(0x8c, 6).op([]byte("system")...).op(0x93).
			str("true").op(0x85, 'R', '.').Bytes(), nil},
		{"builtins_eval", "builtins.eval", newPickle(2).global("builtins", "eval").str("1").op(0x85, 'R', '.').Bytes(), nil},
		{"reconstructor", "copy_reg._reconstructor", newPickle(2).global("copy_reg", "_reconstructor").op('.').Bytes(), nil},
		{"load_from_bytes", "torch.storage._load_from_bytes", newPickle(2).global("torch.storage", "_load_from_bytes").op('.').Bytes(), nil},
		{"inst", "os.system", append(newPickle(2).op('(').str("x").Bytes(), "ios\nsystem\n."...), nil},
		{"binunicode_huge", "", newPickle(2).op('X', 0xf0, 0xff, 0xff, 0xff, 'a', '.').Bytes(), nil},
		{"binbytes8_huge", "", newPickle(4).op(0x8e, 0, 0, 0, 0, 0, 0, 0, 0x40, '.').Bytes(), nil},
		{"bytearray8_huge", "", newPickle(5).op(0x96, 0, 0, 0, 0, 0, 0, 0, 0x40, '.').Bytes(), nil},
		{"frame_huge", "", newPickle(4).op(0x95, 0, 0, 0, 0, 0, 0, 0, 0x40, '.').Bytes(), nil},
		{"long4_huge", "LONG4", newPickle(2).op(0x8b, 0, 0, 0, 0x10, '.').Bytes(), nil},
		{"long1_empty", "empty long", newPickle(2).op(0x8a, 0, '.').Bytes(), nil},
		{"long_text", "LONG", append(newPickle(2).op('L').Bytes(), strings.Repeat("9", 1000)+"\n."...), nil},
		{"marks", "MARKs open", append(newPickle(2).Bytes(), bytes.Repeat([]byte{'('}, 5000)...), nil},
		{"dups", "would allocate", append(newPickle(2).op('N').Bytes(), bytes.Repeat([]byte{'2'}, 3<<20)...), nil},
		{"opcode_ff", "not allowed", newPickle(2).op(0xff, '.').Bytes(), nil},
		{"ext1", "not allowed", newPickle(2).op(0x82, 1, '.').Bytes(), nil},
		{"protocol_9", "protocol", newPickle(9).op('.').Bytes(), nil},
		{"no_stop", "truncated", newPickle(2).op('N').Bytes(), nil},
		{"odd_dict", "", newPickle(2).op('(', 'N', 'd', '.').Bytes(), nil},
		{"unhashable_key", "", newPickle(2).orderedDict().op('C', 1, 'x').str("v").end(), nil},
		{"list_top", "not a dict", newPickle(2).op(']', '.').Bytes(), nil},
		{"int_value", "w: value is 3", newPickle(2).orderedDict().str("w").int(3).end(), nil},
		{"bare_storage_value", "not a tensor", newPickle(2).orderedDict().str("w").storageID("FloatStorage", "0", 4, false).end(), rec},
		{"numel_huge", "storage 0: claims 1099511627776 F32 elements", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 1<<40, 0, []int64{4}, []int64{1}).end(), rec},
		{"numel_overflow", "overflow", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 1<<62, 0, []int64{4}, []int64{1}).end(), rec},
		{"shape_beyond", "reaches element 999", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 4, 0, []int64{1000}, []int64{1}).end(), rec},
		{"offset_beyond", "reaches element", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 4, 3, []int64{2}, []int64{1}).end(), rec},
		{"stride_beyond", "reaches element", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 4, 0, []int64{2, 2}, []int64{3, 1}).end(), rec},
		{"shape_overflow", "overflow", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 4, 0, []int64{1 << 40, 1 << 40}, []int64{0, 0}).end(), rec},
		{"stride_overflow", "overflow", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 4, 0, []int64{3}, []int64{1 << 62}).end(), rec},
		{"negative_shape", "non-negative", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 4, 0, []int64{-1}, []int64{1}).end(), rec},
		{"negative_offset", "non-negative", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 4, -1, []int64{1}, []int64{1}).end(), rec},
		{"rank_mismatch", "stride", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 4, 0, []int64{2, 2}, []int64{1}).end(), rec},
		{"broadcast_bomb", "refusing views", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 4, 0, []int64{1 << 20, 1 << 10}, []int64{0, 0}).end(), rec},
		{"many_views", "refusing views", func() []byte {
			p := newPickle(2).orderedDict()
			for i := range 300 {
				p.str("w"+string(rune('a'+i%26))+string(rune('a'+i/26))).tensor("FloatStorage", "0", 1<<16, 0, []int64{1 << 16}, []int64{1})
			}
			return p.end()
		}(), map[string][]byte{"0": make([]byte, 4<<16)}},
		{"dtype_mismatch", "earlier as", newPickle(2).orderedDict().
			str("a").tensor("FloatStorage", "0", 4, 0, []int64{4}, []int64{1}).
			str("b").tensor("LongStorage", "0", 2, 0, []int64{2}, []int64{1}).end(), rec},
		{"dup_keys", "appears twice", newPickle(2).op('}', '(').
			str("a").tensor("FloatStorage", "0", 4, 0, []int64{4}, []int64{1}).
			str("a").tensor("FloatStorage", "0", 4, 0, []int64{4}, []int64{1}).end(), rec},
		{"bad_pid", "not a storage", newPickle(2).orderedDict().str("w").op('(').str("module").op('t', 'Q').end(), nil},
		{"pid_fields", "fields", newPickle(2).orderedDict().str("w").op('(').str("storage").op('t', 'Q').end(), nil},
		{"record_long", "record holds", newPickle(2).orderedDict().str("w").
			tensor("FloatStorage", "0", 3, 0, []int64{3}, []int64{1}).end(), rec},
		{"rebuild_args", "arguments", newPickle(2).orderedDict().str("w").
			global("torch._utils", "_rebuild_tensor_v2").op(')', 'R').end(), nil},
		{"parameter_of_int", "not a tensor", newPickle(2).orderedDict().str("w").
			global("torch._utils", "_rebuild_parameter").int(1).op(0x89, 'N', 0x87, 'R').end(), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustFail(t, zipCheckpoint(t, c.pkl, c.records), c.name+".pt", c.want)
		})
	}
}
