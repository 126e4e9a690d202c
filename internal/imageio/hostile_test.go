package imageio

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// sampleFiles are small valid files of every format Read takes.
func sampleFiles(t testing.TB) map[string][]byte {
	files := map[string][]byte{
		"png":    encodePNG(t, testImage("nrgba16", 9, 11)),
		"png8":   encodePNG(t, testImage("rgb", 6, 5)),
		"ppm":    netpbm(testImage("rgb16", 4, 5), "", 65535),
		"pam":    netpbm(testImage("nrgba", 4, 5), "RGB_ALPHA", 255),
		"webp":   webpFile(riffChunk("VP8L", vp8l(5, 3, color.NRGBA{1, 2, 3, 4}))),
		"iccpng": withICCP(t, encodePNG(t, testImage("gray", 3, 3)), testICC(100)),
	}
	var b bytes.Buffer
	jpeg.Encode(&b, testImage("rgb", 17, 19), nil)
	files["jpeg"] = bytes.Clone(b.Bytes())
	b.Reset()
	pm := image.NewPaletted(image.Rect(0, 0, 9, 9), color.Palette{color.Black, color.White})
	pm.Pix[10] = 1
	gif.Encode(&b, pm, nil)
	files["gif"] = bytes.Clone(b.Bytes())
	b.Reset()
	bmp.Encode(&b, testImage("rgb", 5, 5))
	files["bmp"] = bytes.Clone(b.Bytes())
	b.Reset()
	tiff.Encode(&b, testImage("rgb16", 5, 5), &tiff.Options{Compression: tiff.Deflate})
	files["tiff"] = bytes.Clone(b.Bytes())
	return files
}

// checkPicture fails unless p is consistent.
func checkPicture(t *testing.T, p *Picture) {
	t.Helper()
	c := p.Color
	if c == nil || c.H <= 0 || c.W <= 0 || len(c.Pix) != 3*c.H*c.W || p.Alpha != nil && len(p.Alpha) != c.H*c.W {
		t.Fatalf("inconsistent picture %+v", p)
	}
}

func TestReadTruncated(t *testing.T) {
	for name, data := range sampleFiles(t) {
		for n := range len(data) {
			p, err := Read(bytes.NewReader(data[:n]))
			switch {
			case n == 0:
				if err != ErrEmpty {
					t.Errorf("%s: empty input: %v", name, err)
				}
			case err == nil:
				// Only the last bytes (a GIF trailer, TIFF values the
				// decoder does not need, WebP padding) may be missing.
				if !strings.Contains("gif tiff webp", name) || n < len(data)-80 {
					t.Errorf("%s cut to %d of %d bytes: no error", name, n, len(data))
				}
				checkPicture(t, p)
			case n >= 16 && err != errTruncated:
				t.Errorf("%s cut to %d of %d bytes: %v, want %v", name, n, len(data), err, errTruncated)
			}
		}
	}
}

// pngChunk is one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// hugeClaims are headers claiming far more than MaxPixels.
func hugeClaims(t testing.TB) map[string][]byte {
	files := sampleFiles(t)
	out := map[string][]byte{}

	ihdr := binary.BigEndian.AppendUint32(nil, 100000)
	ihdr = binary.BigEndian.AppendUint32(ihdr, 100000)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	out["png"] = bytes.Join([][]byte{[]byte(pngSignature), pngChunk("IHDR", ihdr),
		pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01}), pngChunk("IEND", nil)}, nil)

	g := bytes.Clone(files["gif"]) // logical screen 65535×65535
	binary.LittleEndian.PutUint16(g[6:], 65535)
	binary.LittleEndian.PutUint16(g[8:], 65535)
	out["gif"] = g

	j := bytes.Clone(files["jpeg"]) // SOF0: FFC0, length, precision, height, width
	sof := bytes.Index(j, []byte{0xff, 0xc0})
	binary.BigEndian.PutUint16(j[sof+5:], 65535)
	binary.BigEndian.PutUint16(j[sof+7:], 65535)
	out["jpeg"] = j

	b := bytes.Clone(files["bmp"])
	binary.LittleEndian.PutUint32(b[18:], 100000)
	binary.LittleEndian.PutUint32(b[22:], 100000)
	out["bmp"] = b

	tf := bytes.Clone(files["tiff"]) // x/image/tiff writes width and length as SHORT
	ifd := binary.LittleEndian.Uint32(tf[4:])
	for i := range int(binary.LittleEndian.Uint16(tf[ifd:])) {
		e := tf[ifd+2+uint32(12*i):]
		if tag := binary.LittleEndian.Uint16(e); tag == 256 || tag == 257 {
			binary.LittleEndian.PutUint16(e[8:], 65535)
		}
	}
	out["tiff"] = tf

	vp8x := []byte{0x10, 0, 0, 0, 0x1f, 0x4e, 0, 0x1f, 0x4e, 0} // 20000×20000
	out["webp"] = webpFile(riffChunk("VP8X", vp8x), riffChunk("VP8L", vp8l(5, 3, color.NRGBA{})))
	out["ppm"] = []byte("P6\n100000 100000\n255\n" + strings.Repeat("\x00", 100))
	out["pam"] = []byte("P7\nWIDTH 100000\nHEIGHT 100000\nDEPTH 4\nMAXVAL 65535\nTUPLTYPE RGB_ALPHA\nENDHDR\n\x00\x00")
	return out
}

// allocated is how many bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestHugeClaims(t *testing.T) {
	for name, data := range hugeClaims(t) {
		var err error
		n := allocated(func() { _, err = Read(bytes.NewReader(data)) })
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if n > 1<<20 {
			t.Errorf("%s: %v, after allocating %d bytes", name, err, n)
		}
		if name == "png" || name == "ppm" || name == "pam" {
			if !strings.Contains(err.Error(), "100000×100000") {
				t.Errorf("%s: %v", name, err)
			}
			n = allocated(func() { _, err = NewStreamReader(bytes.NewReader(data)).Next() })
			if err == nil || n > 1<<20 {
				t.Errorf("%s stream: %v, after allocating %d bytes", name, err, n)
			}
		}
	}
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestStreamChunkBounds(t *testing.T) {
	// A 1×1 PNG whose next chunk claims 2 GiB, then endless zeros: refused
	// from the length alone.
	head := encodePNG(t, testImage("rgb", 1, 1))[:33]
	claim := append(binary.BigEndian.AppendUint32(nil, 1<<31-1), "tEXt"...)
	var err error
	n := allocated(func() {
		_, err = NewStreamReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(claim), zeros{})).Next()
	})
	if err == nil || !strings.Contains(err.Error(), "larger than") || n > 1<<20 {
		t.Errorf("%v after %d bytes", err, n)
	}
	// Chunk length with the top bit set.
	claim = append(binary.BigEndian.AppendUint32(nil, 1<<31), "IDAT"...)
	_, err = NewStreamReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(claim), zeros{})).Next()
	if err == nil || !strings.Contains(err.Error(), "chunk length") {
		t.Errorf("length 2^31: %v", err)
	}
}

// lowerMaxPixels makes decoders refuse claims above n pixels during the
// test, so random headers do not make them allocate hundreds of MB.
func lowerMaxPixels(t testing.TB, n int64) {
	old := maxPixels
	maxPixels = n
	t.Cleanup(func() { maxPixels = old })
}

func TestGarbage(t *testing.T) {
	lowerMaxPixels(t, 1<<16)
	rng := rand.New(rand.NewPCG(1, 2))
	prefixes := []string{"", "\x89PNG\r\n\x1a\n", "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "\xff\xd8\xff", "GIF89a",
		"BM", "II*\x00", "MM\x00*", "RIFF\x00\x01\x00\x00WEBPVP8L", "RIFF\x00\x01\x00\x00WEBPVP8 ", "P5", "P6 ", "P7\n"}
	for i := range 3000 {
		junk := make([]byte, rng.IntN(300))
		for k := range junk {
			junk[k] = byte(rng.IntN(256))
			if i%2 == 0 { // small numbers make plausible headers
				junk[k] &= 0x0f
			}
		}
		data := append([]byte(prefixes[i%len(prefixes)]), junk...)
		if p, err := Read(bytes.NewReader(data)); err == nil {
			checkPicture(t, p)
		}
		s := NewStreamReader(bytes.NewReader(data))
		for range 3 {
			p, err := s.Next()
			if err != nil {
				break
			}
			checkPicture(t, p)
		}
	}
}

func TestFlippedBytes(t *testing.T) {
	lowerMaxPixels(t, 1<<16)
	for name, data := range sampleFiles(t) {
		for i := range data {
			for _, x := range []byte{0xff, 0x80, 0x01} {
				bad := bytes.Clone(data)
				bad[i] ^= x
				p, err := Read(bytes.NewReader(bad))
				if err == nil {
					checkPicture(t, p)
				} else if err.Error() == "" || len(err.Error()) > 200 {
					t.Errorf("%s, byte %d: error %q", name, i, err)
				}
			}
		}
	}
}

func TestMalformedProfiles(t *testing.T) {
	// Broken profiles are dropped; the image still decodes.
	img := encodePNG(t, testImage("rgb", 2, 2))
	bad := bytes.Join([][]byte{img[:33], pngChunk("iCCP", []byte("name\x00\x00not zlib")), img[33:]}, nil)
	if p, err := Read(bytes.NewReader(bad)); err != nil || p.ICC != nil {
		t.Errorf("bad iCCP: %v, %d bytes", err, len(p.ICC))
	}
	for _, d := range [][]byte{
		{0xff, 0xd8, 0xff, 0xe2, 0x00, 0x10, 'I', 'C', 'C', '_', 'P', 'R', 'O', 'F', 'I', 'L', 'E', 0, 2, 2},
		{0xff, 0xd8, 0xff, 0xe2, 0xff, 0xff},
		{0xff, 0xd8, 0xff, 0xe2, 0x00, 0x01},
	} {
		if icc := jpegICC(d); icc != nil {
			t.Errorf("jpegICC(%x) = %x", d, icc)
		}
	}
	for _, d := range [][]byte{
		[]byte("II*\x00\xff\xff\xff\xff"),
		[]byte("II*\x00\x08\x00\x00\x00\x01\x00\x73\x87\x07\x00\xff\xff\xff\xff\x00\x00\x00\x00"),
	} {
		if icc := tiffICC(d); icc != nil {
			t.Errorf("tiffICC(%x) = %x", d, icc)
		}
	}
	if _, err := jpegICCSegments(make([]byte, 256*65519)); err == nil {
		t.Error("a profile too large for JPEG was accepted")
	}
	if _, err := addTIFFICC([]byte("MM\x00*"), []byte{1}); err == nil {
		t.Error("addTIFFICC accepted a big-endian TIFF")
	}
}
