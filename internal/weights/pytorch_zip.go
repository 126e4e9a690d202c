package weights

import (
	"archive/zip"
	"cmp"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/nlpodyssey/gopickle/types"
)

// loadZip reads the zip format of torch.save (PyTorch ≥ 1.6): <prefix>/data.pkl
// holds the pickled dict, whose persistent ids ('storage', class, key,
// location, numel) name the records <prefix>/data/<key>.
func loadZip(r io.ReaderAt, size int64) (*Checkpoint, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("bad zip: %w", err)
	}
	records := make(map[string]*zip.File, len(zr.File))
	var pkl *zip.File
	for _, f := range zr.File {
		if records[f.Name] != nil {
			return nil, fmt.Errorf("zip holds %q twice", clip(f.Name, 200))
		}
		records[f.Name] = f
		// The prefix is the archive's name (the file's stem, or "archive").
		if dir, base := path.Split(f.Name); base == "data.pkl" && strings.Count(dir, "/") == 1 {
			if pkl != nil {
				return nil, fmt.Errorf("zip holds both %s and %s", pkl.Name, clip(f.Name, 200))
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, errors.New("zip has no <prefix>/data.pkl: not a torch.save file")
	}
	prefix := path.Dir(pkl.Name)

	if bo := records[prefix+"/byteorder"]; bo != nil {
		b, err := readSmallRecord(bo, 16, size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bo.Name, err)
		}
		if string(b) != "little" {
			return nil, fmt.Errorf("byte order %q not supported", clip(string(b), 16))
		}
	}

	p, err := readSmallRecord(pkl, maxPickleBytes, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	if _, err := scanPickle(p); err != nil {
		if errors.Is(err, errPickleTruncated) {
			err = errors.New("pickle truncated")
		}
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}

	storages := make(map[string]*storage)
	var spans []recordSpan
	v, err := unpickle(p, func(id *types.Tuple) (any, error) {
		cls, key, numel, err := parseStorageID(id, 5)
		if err != nil {
			return nil, err
		}
		if st := storages[key]; st != nil {
			return newStorage(storages, cls, key, numel)
		}
		rec := records[prefix+"/data/"+key]
		if rec == nil {
			return nil, fmt.Errorf("storage %s: no record %s/data/%s in the zip", key, prefix, key)
		}
		st, err := newStorage(storages, cls, key, numel)
		if err != nil {
			return nil, err
		}
		if want := uint64(numel) * uint64(cls.dtype.size()); rec.UncompressedSize64 != want {
			return nil, fmt.Errorf("storage %s: claims %d %s elements (%d bytes) but its record holds %d bytes",
				key, numel, cls.dtype, want, rec.UncompressedSize64)
		}
		off, err := checkRecord(rec, size)
		if err != nil {
			return nil, fmt.Errorf("storage %s: %s: %w", key, rec.Name, err)
		}
		spans = append(spans, recordSpan{off, off + int64(rec.CompressedSize64), key})
		st.open = func() (io.ReadCloser, error) { return openRecord(rec) }
		return st, nil
	})
	if err != nil {
		return nil, err
	}
	keys, refs, err := stateDict(v)
	if err != nil {
		return nil, err
	}
	// Records that share bytes (a classic zip bomb) would let one stretch of
	// the file be loaded many times over.
	slices.SortFunc(spans, func(a, b recordSpan) int { return cmp.Compare(a.begin, b.begin) })
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return nil, fmt.Errorf("storages %s and %s overlap in the file", spans[i-1].key, spans[i].key)
		}
	}
	return materialize(keys, refs, FormatZip)
}

// recordSpan is where a storage record's (compressed) bytes lie in the file.
type recordSpan struct {
	begin, end int64
	key        string
}

// checkRecord checks a record's sizes in the central directory against the
// file (for a stored record they are the bytes we will allocate for) and
// returns where its data starts.
func checkRecord(f *zip.File, size int64) (int64, error) {
	off, err := f.DataOffset()
	if err != nil {
		return 0, err
	}
	if off > size || f.CompressedSize64 > uint64(size-off) {
		return 0, fmt.Errorf("%d bytes at byte %d run past the end of the file", f.CompressedSize64, off)
	}
	switch f.Method {
	case zip.Store:
		if f.CompressedSize64 != f.UncompressedSize64 {
			return 0, fmt.Errorf("stored, but %d bytes expand to %d", f.CompressedSize64, f.UncompressedSize64)
		}
	case zip.Deflate:
	default:
		return 0, fmt.Errorf("compression method %d not supported", f.Method)
	}
	return off, nil
}

// openRecord opens a record that checkRecord accepted. The size of a
// compressed record is only a claim until it has been decompressed, so one
// is decompressed once to prove it (size and CRC) before anything is
// allocated for it. torch.save stores records uncompressed, so this costs
// nothing for real checkpoints.
func openRecord(f *zip.File) (io.ReadCloser, error) {
	if f.Method != zip.Store {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return f.Open()
}

// readSmallRecord reads a whole zip record of at most limit bytes, checking its CRC.
func readSmallRecord(f *zip.File, limit int, size int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%d bytes, more than the %d-byte limit", f.UncompressedSize64, limit)
	}
	if _, err := checkRecord(f, size); err != nil {
		return nil, err
	}
	rc, err := openRecord(f)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, err
	}
	var one [1]byte
	if _, err := io.ReadFull(rc, one[:]); err != io.EOF {
		if err == nil {
			err = errors.New("record is longer than its header says")
		}
		return nil, err
	}
	return b, nil
}
