package weights

import (
	"os"
	"testing"
	"time"
)

// TestLoadLarge times Load on the checkpoint named by $IPT_WEIGHTS_LARGE,
// which is not in the repository (testdata/weights/make_large.py writes one).
// Under /usr/bin/time -v it also gives the peak memory:
//
//	go test -c -o /tmp/weights.test ./internal/weights
//	IPT_WEIGHTS_LARGE=/tmp/big.pt /usr/bin/time -v /tmp/weights.test -test.run TestLoadLarge -test.v
func TestLoadLarge(t *testing.T) {
	path := os.Getenv("IPT_WEIGHTS_LARGE")
	if path == "" {
		t.Skip("set IPT_WEIGHTS_LARGE to a checkpoint to time")
	}
	start := time.Now()
	ck, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	values := 0
	for _, tn := range ck.Tensors {
		values += tn.NumElements()
	}
	t.Logf("%s (%s): %d tensors, %d values, loaded in %v", path, ck.Format, len(ck.Keys), values, elapsed)
}
