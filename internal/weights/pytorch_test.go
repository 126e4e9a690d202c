package weights

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	fixtureZip    = "../../testdata/ipt-tiny/model.pt"
	fixtureLegacy = "../../testdata/ipt-tiny/model_legacy.pt"
	genDir        = "../../testdata/weights"
)

func mustLoad(t *testing.T, path string) *Checkpoint {
	t.Helper()
	ck, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// checkConsistent checks the invariants every loaded checkpoint must satisfy.
func checkConsistent(t *testing.T, ck *Checkpoint) {
	t.Helper()
	if len(ck.Keys) != len(ck.Tensors) {
		t.Fatalf("%d keys but %d tensors", len(ck.Keys), len(ck.Tensors))
	}
	for _, k := range ck.Keys {
		tn := ck.Tensors[k]
		if tn == nil {
			t.Fatalf("%s: listed in Keys but missing", k)
		}
		n := tn.NumElements()
		if tn.DType.isFloat() {
			if len(tn.F32) != n || tn.I64 != nil {
				t.Fatalf("%s: %s shape %v with %d F32 and %d I64 values", k, tn.DType, tn.Shape, len(tn.F32), len(tn.I64))
			}
		} else if len(tn.I64) != n || tn.F32 != nil {
			t.Fatalf("%s: %s shape %v with %d F32 and %d I64 values", k, tn.DType, tn.Shape, len(tn.F32), len(tn.I64))
		}
	}
}

func TestFixtureBothFormats(t *testing.T) {
	z := mustLoad(t, fixtureZip)
	l := mustLoad(t, fixtureLegacy)
	checkConsistent(t, z)
	checkConsistent(t, l)
	if z.Format != FormatZip || l.Format != FormatLegacy {
		t.Errorf("formats %q and %q", z.Format, l.Format)
	}
	if z.Metadata != nil || l.Metadata != nil {
		t.Errorf("PyTorch files should have nil Metadata")
	}
	if !slices.Equal(z.Keys, l.Keys) {
		t.Fatalf("key lists differ:\nzip    %v\nlegacy %v", z.Keys, l.Keys)
	}
	if z.Keys[0] != "sub_mean.weight" {
		t.Errorf("first key %q, want sub_mean.weight (file order)", z.Keys[0])
	}
	for _, k := range z.Keys {
		a, b := z.Tensors[k], l.Tensors[k]
		if !slices.Equal(a.Shape, b.Shape) || a.DType != b.DType || !slices.Equal(a.F32, b.F32) || !slices.Equal(a.I64, b.I64) {
			t.Errorf("%s differs between the formats", k)
		}
	}
	want := map[string][]int{
		"head.0.0.weight":                  {16, 3, 3, 3},
		"sub_mean.weight":                  {3, 3, 1, 1},
		"body.position_encoding.pe.weight": {64, 144},
		"body.query_embed.weight":          {6, 64 * 144},
	}
	for k, shape := range want {
		tn := z.Tensors[k]
		if tn == nil {
			t.Errorf("%s missing", k)
			continue
		}
		if !slices.Equal(tn.Shape, shape) || tn.DType != F32 {
			t.Errorf("%s: %s %v, want F32 %v", k, tn.DType, tn.Shape, shape)
		}
	}
	if pid := z.Tensors["body.position_encoding.position_ids"]; pid != nil {
		if pid.DType != I64 || pid.I64 == nil || pid.F32 != nil {
			t.Fatalf("position_ids: %s, want I64 values", pid.DType)
		}
		for i, v := range pid.I64 {
			if v != int64(i) {
				t.Fatalf("position_ids[%d] = %d, want arange", i, v)
			}
		}
	}
	// Not all zeros: the values really came from the file.
	w := z.Tensors["head.0.0.weight"].F32
	if slices.Max(w) == slices.Min(w) {
		t.Errorf("head.0.0.weight is constant: %v", w[0])
	}
}

func TestLoadReader(t *testing.T) {
	data, err := os.ReadFile(fixtureZip)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := LoadReader(bytes.NewReader(data), int64(len(data)), "mem.pt")
	if err != nil {
		t.Fatal(err)
	}
	if len(ck.Keys) != len(mustLoad(t, fixtureZip).Keys) {
		t.Errorf("LoadReader and Load disagree")
	}
}

// base is make.py's base(n): i/4 - 3, exact in every float dtype used.
func base(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)/4 - 3
	}
	return v
}

func irange(lo, hi int64) []int64 {
	var v []int64
	for i := lo; i < hi; i++ {
		v = append(v, i)
	}
	return v
}

func TestGeneratedDTypesAndViews(t *testing.T) {
	b20 := base(20)
	transposed := make([]float32, 12)
	for i := range 4 {
		for j := range 3 {
			transposed[i*3+j] = base(12)[j*4+i]
		}
	}
	block := make([]float32, 6)
	for i := range 3 {
		for j := range 2 {
			block[i*2+j] = b20[(i+1)*5+j+1]
		}
	}
	type want struct {
		dt    DType
		shape []int
		f32   []float32
		i64   []int64
	}
	wants := map[string]want{
		"f32":        {F32, []int{2, 3, 4}, base(24), nil},
		"f16":        {F16, []int{4, 6}, base(24), nil},
		"bf16":       {BF16, []int{6, 4}, base(24), nil},
		"f64":        {F64, []int{10}, base(10), nil},
		"i64":        {I64, []int{10}, nil, irange(-5, 5)},
		"i32":        {I32, []int{2, 5}, nil, irange(-5, 5)},
		"i16":        {I16, []int{6}, nil, irange(-3, 3)},
		"i8":         {I8, []int{6}, nil, irange(-3, 3)},
		"u8":         {U8, []int{6}, nil, irange(250, 256)},
		"bool":       {Bool, []int{3}, nil, []int64{1, 0, 1}},
		"scalar":     {F32, []int{}, []float32{3.5}, nil},
		"empty":      {F32, []int{0, 3}, []float32{}, nil},
		"transposed": {F32, []int{4, 3}, transposed, nil},
		"view_slice": {F32, []int{6}, b20[2:8], nil},
		"view_block": {F32, []int{3, 2}, block, nil},
		"view_whole": {F32, []int{4, 5}, b20, nil},
		"expanded":   {F32, []int{4, 3}, []float32{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}, nil},
		"param":      {F32, []int{2, 3}, base(6), nil},
	}
	order := []string{"f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool", "scalar", "empty",
		"transposed", "view_slice", "view_block", "view_whole", "expanded", "param"}
	for file, format := range map[string]string{
		"dtypes.pt": FormatZip, "dtypes_legacy.pt": FormatLegacy,
		"dtypes_p4.pt": FormatZip, "dtypes_legacy_p4.pt": FormatLegacy,
	} {
		t.Run(file, func(t *testing.T) {
			ck := mustLoad(t, filepath.Join(genDir, file))
			checkConsistent(t, ck)
			if ck.Format != format {
				t.Errorf("format %q, want %q", ck.Format, format)
			}
			if !slices.Equal(ck.Keys, order) {
				t.Errorf("keys %v, want %v", ck.Keys, order)
			}
			for k, w := range wants {
				tn := ck.Tensors[k]
				if tn == nil {
					t.Errorf("%s missing", k)
					continue
				}
				if tn.DType != w.dt || !slices.Equal(tn.Shape, w.shape) || !slices.Equal(tn.F32, w.f32) || !slices.Equal(tn.I64, w.i64) {
					t.Errorf("%s: got %s %v %v %v\nwant %s %v %v %v", k, tn.DType, tn.Shape, tn.F32, tn.I64, w.dt, w.shape, w.f32, w.i64)
				}
			}
			// Views of one storage must not alias each other.
			ck.Tensors["view_whole"].F32[3] = 100
			if ck.Tensors["view_slice"].F32[1] == 100 {
				t.Errorf("view_slice aliases view_whole")
			}
		})
	}
}

func TestCudaLocationIgnored(t *testing.T) {
	ck := mustLoad(t, filepath.Join(genDir, "cuda_location_legacy.pt"))
	if !slices.Equal(ck.Tensors["w"].F32, base(4)) {
		t.Errorf("w = %v", ck.Tensors["w"].F32)
	}
}

func TestBareParameterRefused(t *testing.T) {
	path := filepath.Join(genDir, "bare_param.pt")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "single tensor") || !strings.HasPrefix(err.Error(), "weights: "+path+": ") {
		t.Errorf("err = %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load("no/such/file.pt")
	if err == nil || !strings.HasPrefix(err.Error(), "weights: no/such/file.pt: ") {
		t.Errorf("err = %v", err)
	}
}

func TestHalfToFloat32(t *testing.T) {
	cases := []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 5.960464477539063e-08},
		{0x03ff, 6.097555160522461e-05}, {0x0400, 6.103515625e-05}, {0x3555, 0.333251953125},
	}
	for _, c := range cases {
		if got := halfToFloat32(c.h); got != c.want {
			t.Errorf("half %#04x = %v, want %v", c.h, got, c.want)
		}
	}
	if got := halfToFloat32(0x8000); got != 0 || !signbit(got) {
		t.Errorf("-0 = %v", got)
	}
	if got := halfToFloat32(0x7c00); got <= 65504 || got*0 == 0 {
		t.Errorf("+inf = %v", got)
	}
	if got := halfToFloat32(0x7e00); got == got {
		t.Errorf("NaN = %v", got)
	}
}

func signbit(f float32) bool { return f < 0 || 1/f < 0 }
