package weights

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
)

// writeAtomic writes path through write: into a temporary file in the same
// directory, which is synced and then renamed into place, so path never holds
// a half-written file; on any error the temporary file is removed. write's
// own write errors may be left to the buffered writer, which keeps the first
// one and reports it when flushed.
func writeAtomic(path string, write func(w io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return unwrapPath(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, chunkBytes)
	if err := write(w); err != nil {
		return unwrapPath(err)
	}
	if err := w.Flush(); err != nil {
		return unwrapPath(err)
	}
	if err := f.Sync(); err != nil {
		return unwrapPath(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return unwrapPath(err)
	}
	if err := f.Close(); err != nil {
		return unwrapPath(err)
	}
	return os.Rename(f.Name(), path)
}
