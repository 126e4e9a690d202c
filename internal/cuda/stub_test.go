//go:build !cuda

package cuda

import "testing"

// The default build answers every GPU request with the one line that says
// how to build a GPU binary.
func TestNotBuilt(t *testing.T) {
	const want = `ipt was built without GPU support: rebuild with "go build -tags cuda" to use --device cuda`
	if err := Available(); err == nil || err.Error() != want {
		t.Errorf("Available() = %v, want %s", err, want)
	}
	if _, err := Devices(); err == nil || err.Error() != want {
		t.Errorf("Devices() error %v", err)
	}
	if c, err := Open(0, Options{}); c != nil || err == nil || err.Error() != want {
		t.Errorf("Open(0) = %v, %v", c, err)
	}
	if Built || Libraries() != nil {
		t.Error("the default build claims GPU code")
	}
}
