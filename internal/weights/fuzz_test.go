package weights

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds LoadReader arbitrary bytes: it must return an error that
// names the file or a consistent checkpoint, and never panic, hang or
// allocate without bound. The seeds run in every `go test`; fuzz by hand with
//
//	go test -run XXX -fuzz FuzzLoad -fuzztime 60s -fuzzminimizetime 5s ./internal/weights
//
// (the short minimize time keeps the 32 KiB seeds from stalling the workers).
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"dtypes.pt", "dtypes_legacy.pt", "dtypes_p4.pt", "dtypes_legacy_p4.pt",
		"bare_param.pt", "cuda_location_legacy.pt"} {
		f.Add(readFile(f, filepath.Join(genDir, name)))
	}
	// The heads of the real fixtures: their pickles, cut short.
	f.Add(readFile(f, fixtureZip)[:32<<10])
	f.Add(readFile(f, fixtureLegacy)[:32<<10])
	f.Add(goodTensor(f))
	f.Add(zipCheckpoint(f, newPickle(2).global("os", "system").str("true").op(0x85, 'R', '.').Bytes(), nil))
	f.Add(zipCheckpoint(f, newPickle(4).op(0x95, 0, 0, 0, 0, 0, 0, 0, 0x40, '.').Bytes(), nil))
	f.Add(zipCheckpoint(f, newPickle(2).orderedDict().str("w").
		tensor("FloatStorage", "0", 4, 0, []int64{2, 2}, []int64{1, 2}).end(), map[string][]byte{"0": f32bytes(1, 2, 3, 4)}))
	f.Add(safetensorsFile(`{"__metadata__":{"k":"v"},"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add([]byte{})
	f.Add([]byte("PK\x03\x04abc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := loadBytes(data, "fuzz.pt")
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "weights: fuzz.pt: ") || strings.Contains(msg, "internal error") {
				t.Fatal(err)
			}
			return
		}
		checkConsistent(t, ck)
	})
}
