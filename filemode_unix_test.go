//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOutputFileMode: an output gets the mode a plain create gives under the
// umask (the temporary file it was written to is 0600), and an output
// replaced with --force keeps its mode.
func TestOutputFileMode(t *testing.T) {
	old := syscall.Umask(0o027) // inherited by the child
	defer syscall.Umask(old)
	dir := t.TempDir()
	in := filepath.Join(dir, "a.png")
	writePNG(t, in, 24, 24, false)
	out := filepath.Join(dir, "out.png")
	if r := runIPT(t, nil, nil, append([]string{"derain", in, "-o", out}, tinyArgs...)...); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if fi := must(os.Stat(out)); fi.Mode().Perm() != 0o640 {
		t.Errorf("new output has mode %v, want -rw-r----- (umask 027)", fi.Mode().Perm())
	}
	if err := os.Chmod(out, 0o604); err != nil {
		t.Fatal(err)
	}
	if r := runIPT(t, nil, nil, append([]string{"derain", in, "-o", out, "--force"}, tinyArgs...)...); r.code != 0 {
		t.Fatalf("--force: exit %d: %s", r.code, r.stderr)
	}
	if fi := must(os.Stat(out)); fi.Mode().Perm() != 0o604 {
		t.Errorf("replaced output has mode %v, want the old -rw----r--", fi.Mode().Perm())
	}
}
