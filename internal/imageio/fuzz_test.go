package imageio

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzStreamReader checks that any input gives consistent pictures or an
// error, that the reader always advances, and that what it reads can be
// written back in the stream's format and read again.
//
//	go test ./internal/imageio -run '^$' -fuzz FuzzStreamReader -fuzztime 60s
func FuzzStreamReader(f *testing.F) {
	for _, tc := range streamCases(f) {
		f.Add(bytes.Join(tc.images, nil))
	}
	f.Add([]byte("P6 1 1 255\n\x00\x00\x00\nP5 2 1 65535\n\x00\x01\x02\x03"))
	f.Add([]byte("P7\nWIDTH 1\nHEIGHT 1\nDEPTH 2\nMAXVAL 3\nENDHDR\n\x01\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lowerMaxPixels(t, 1<<16)
		s := NewStreamReader(bytes.NewReader(data))
		var at int64
		for range 8 {
			p, err := s.Next()
			if err != nil {
				if again, _ := s.Next(); again != nil {
					t.Fatal("a picture after an error")
				}
				return
			}
			checkPicture(t, p)
			if s.Offset() <= at || s.Offset() > int64(len(data)) {
				t.Fatalf("offset went from %d to %d of %d", at, s.Offset(), len(data))
			}
			at = s.Offset()
			var out bytes.Buffer
			if err := Write(&out, p, s.Format(), 0); err != nil {
				t.Fatal(err)
			}
			q, err := NewStreamReader(&out).Next()
			if err != nil {
				t.Fatalf("reading back the written image: %v", err)
			}
			if q.Color.H != p.Color.H || q.Color.W != p.Color.W || q.Grey != p.Grey || q.Deep != p.Deep {
				t.Fatalf("written image read back as %d×%d grey %v deep %v, was %d×%d grey %v deep %v",
					q.Color.W, q.Color.H, q.Grey, q.Deep, p.Color.W, p.Color.H, p.Grey, p.Deep)
			}
		}
	})
}

// FuzzRead checks that Read gives a consistent picture or an error and that
// every picture it returns can be written in every output format.
//
//	go test ./internal/imageio -run '^$' -fuzz FuzzRead -fuzztime 60s
func FuzzRead(f *testing.F) {
	for _, data := range sampleFiles(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lowerMaxPixels(t, 1<<16)
		p, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		checkPicture(t, p)
		for _, format := range []string{"png", "jpeg", "tiff", "bmp", "ppm", "pam"} {
			var out bytes.Buffer
			if err := Write(&out, p, format, 0); err != nil {
				t.Fatal(format, err)
			}
			if _, err := Read(&out); err != nil {
				t.Fatalf("%s: reading back: %v", format, err)
			}
		}
	})
}

// FuzzReadCompact: whatever the bytes, ReadCompact fails as reading the
// whole file did, or gives the values, flags and profile it gave.
//
//	go test ./internal/imageio -run '^$' -fuzz FuzzReadCompact -fuzztime 60s
func FuzzReadCompact(f *testing.F) {
	for _, data := range compactFiles(f, 5, 6) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lowerMaxPixels(t, 1<<16)
		if len(data) == 0 {
			return // ErrEmpty; the reference took the bytes it was given
		}
		want, werr := referenceRead(data)
		p, err := ReadCompact(bytes.NewReader(data))
		if fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("error %v, reading the whole file %v", err, werr)
		}
		if err != nil {
			return
		}
		if p.Format != want.Format || p.Grey != want.Grey || p.Deep != want.Deep || !bytes.Equal(p.ICC, want.ICC) {
			t.Fatalf("got %s grey %v deep %v profile %d bytes, want %s %v %v %d",
				p.Format, p.Grey, p.Deep, len(p.ICC), want.Format, want.Grey, want.Deep, len(want.ICC))
		}
		checkPixels(t, "fuzz", p.Pixels, want.Color, want.Alpha)
	})
}
