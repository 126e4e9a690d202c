package weights

import (
	"encoding/binary"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	src := mustLoad(t, fixtureZip)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	meta := map[string]string{"n_feats": "16", "quote\"d": "ü\n<>"}
	// Write twice: the second write replaces the first.
	for range 2 {
		if err := WriteSafetensors(path, src.Keys, src.Tensors, meta); err != nil {
			t.Fatal(err)
		}
	}
	got := mustLoad(t, path)
	checkConsistent(t, got)
	if got.Format != FormatSafetensors {
		t.Errorf("format %q", got.Format)
	}
	if !slices.Equal(got.Keys, src.Keys) {
		t.Fatalf("keys differ")
	}
	if !maps.Equal(got.Metadata, meta) {
		t.Errorf("metadata %v, want %v", got.Metadata, meta)
	}
	for _, k := range src.Keys {
		a, b := src.Tensors[k], got.Tensors[k]
		if !slices.Equal(a.Shape, b.Shape) || !slices.Equal(a.F32, b.F32) || !slices.Equal(a.I64, b.I64) {
			t.Errorf("%s differs", k)
		}
		want := F32
		if a.F32 == nil {
			want = I64
		}
		if b.DType != want {
			t.Errorf("%s: dtype %s, want %s", k, b.DType, want)
		}
	}
	if got.Tensors["body.position_encoding.position_ids"] != nil && got.Tensors["body.position_encoding.position_ids"].I64 == nil {
		t.Errorf("position_ids lost its integers")
	}
	// Nothing but the file is left in the directory.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries", len(ents))
	}
	// The data starts 8-aligned, as the reference writer does it.
	data := readFile(t, path)
	if n := binary.LittleEndian.Uint64(data); n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
}

func TestSafetensorsGeneratedDTypes(t *testing.T) {
	// Every dtype, the scalar and the empty tensor survive a round trip
	// (written back as F32 or I64).
	src := mustLoad(t, filepath.Join(genDir, "dtypes.pt"))
	path := filepath.Join(t.TempDir(), "d.safetensors")
	if err := WriteSafetensors(path, src.Keys, src.Tensors, nil); err != nil {
		t.Fatal(err)
	}
	got := mustLoad(t, path)
	if len(got.Metadata) != 0 {
		t.Errorf("metadata %v", got.Metadata)
	}
	for _, k := range src.Keys {
		a, b := src.Tensors[k], got.Tensors[k]
		if !slices.Equal(a.Shape, b.Shape) || !slices.Equal(a.F32, b.F32) || !slices.Equal(a.I64, b.I64) {
			t.Errorf("%s differs: %v %v / %v %v", k, a.Shape, a.F32, b.Shape, b.F32)
		}
	}
}

func TestSafetensorsReadDTypes(t *testing.T) {
	// Hand-made file with the narrow dtypes our writer never produces.
	hdr := `{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},` +
		`"d":{"dtype":"F64","shape":[],"data_offsets":[6,14]},"u":{"dtype":"U8","shape":[2],"data_offsets":[14,16]},` +
		`"i":{"dtype":"I32","shape":[1],"data_offsets":[16,20]}}`
	data := []byte{0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f, 0, 0, 0, 0, 0, 0, 0x04, 0x40, 7, 255, 0xfe, 0xff, 0xff, 0xff}
	ck, err := loadBytes(safetensorsFile(hdr, data), "narrow.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ck.Keys, []string{"h", "b", "d", "u", "i"}) {
		t.Errorf("keys %v: file order lost", ck.Keys)
	}
	checks := map[string][]float32{"h": {1, -2}, "b": {1}, "d": {2.5}}
	for k, w := range checks {
		if !slices.Equal(ck.Tensors[k].F32, w) {
			t.Errorf("%s = %v, want %v", k, ck.Tensors[k].F32, w)
		}
	}
	if !slices.Equal(ck.Tensors["u"].I64, []int64{7, 255}) || !slices.Equal(ck.Tensors["i"].I64, []int64{-2}) {
		t.Errorf("u = %v, i = %v", ck.Tensors["u"].I64, ck.Tensors["i"].I64)
	}
}

// safetensorsFile assembles a file from a header and data.
func safetensorsFile(hdr string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	return append(append(b, hdr...), data...)
}

func TestSafetensorsHostile(t *testing.T) {
	eight := make([]byte, 8)
	one := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	hugeLen := func(n uint64) []byte {
		b := safetensorsFile(one, eight)
		binary.LittleEndian.PutUint64(b, n)
		return b
	}
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"len_2_63", "header length", hugeLen(1 << 63)},
		{"len_2_40", "header length", hugeLen(1 << 40)},
		{"len_past_end", "header length", hugeLen(uint64(len(one) + 9))},
		{"len_short", "", hugeLen(uint64(len(one) - 1))},
		{"offsets_past_end", "outside", safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8000]}}`, eight)},
		{"offsets_reversed", "outside", safetensorsFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, eight)},
		{"offsets_negative", "outside", safetensorsFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[-8,0]}}`, eight)},
		{"shape_mismatch", "needs 12", safetensorsFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight)},
		{"shape_negative", "negative", safetensorsFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight)},
		{"shape_overflow", "overflow", safetensorsFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight)},
		{"shape_many_dims", "more than", safetensorsFile(`{"a":{"dtype":"F32","shape":[`+strings.Repeat("1,", 100)+`2],"data_offsets":[0,8]}}`, eight)},
		{"offsets_three", "want 2", safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, eight)},
		{"overlap", "overlapping", safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"hole", "overlapping or not covered", safetensorsFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"trailing_data", "cover 8 of the 12", safetensorsFile(one, make([]byte, 12))},
		{"bad_dtype", "not supported", safetensorsFile(`{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}`, eight)},
		{"no_dtype", "not supported", safetensorsFile(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, eight)},
		{"dup_key", "twice", safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight)},
		{"meta_not_strings", "__metadata__", safetensorsFile(`{"__metadata__":{"x":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight)},
		{"unclosed", "JSON ends early", safetensorsFile(`{`, nil)},
		{"array", "", safetensorsFile(`{"a":[1,2]}`, nil)},
		{"trailing_json", "trailing", safetensorsFile(one+`{}`, eight)},
		{"bad_json", "", safetensorsFile(`{"a":{"dtype":"F32",,}}`, eight)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustFail(t, c.data, c.name+".safetensors", c.want)
		})
	}
	// The well-formed base case loads.
	if _, err := loadBytes(safetensorsFile(one, eight), "ok.safetensors"); err != nil {
		t.Fatal(err)
	}
}

func TestWriteSafetensorsErrors(t *testing.T) {
	dir := t.TempDir()
	good := &Tensor{Shape: []int{2}, DType: F32, F32: []float32{1, 2}}
	cases := []struct {
		name, want string
		keys       []string
		tensors    map[string]*Tensor
	}{
		{"missing", "no such tensor", []string{"a", "b"}, map[string]*Tensor{"a": good}},
		{"dup", "twice", []string{"a", "a"}, map[string]*Tensor{"a": good}},
		{"metadata_key", "__metadata__", []string{"__metadata__"}, map[string]*Tensor{"__metadata__": good}},
		{"count", "3 values for shape [2]", []string{"a"}, map[string]*Tensor{"a": {Shape: []int{2}, F32: []float32{1, 2, 3}}}},
		{"no_values", "0 values", []string{"a"}, map[string]*Tensor{"a": {Shape: []int{2}}}},
		{"negative", "bad shape", []string{"a"}, map[string]*Tensor{"a": {Shape: []int{-1}}}},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".safetensors")
		err := WriteSafetensors(path, c.keys, c.tensors, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "weights: "+path+": ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	if err := WriteSafetensors(filepath.Join(dir, "no/such/dir/x.safetensors"), nil, nil, nil); err == nil {
		t.Errorf("writing into a missing directory succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed writes left %d files", len(ents))
	}
}
