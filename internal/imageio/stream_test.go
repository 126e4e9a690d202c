package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"strings"
	"testing"
)

// trickle hands out one byte per Read and records how far it was read.
type trickle struct {
	data []byte
	pos  int
}

func (t *trickle) Read(p []byte) (int, error) {
	if t.pos >= len(t.data) {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = t.data[t.pos]
	t.pos++
	return 1, nil
}

// netpbm encodes m by hand (independently of writePNM): P5/P6 when tuple
// is "", else P7 with that tuple type.
func netpbm(m image.Image, tuple string, maxval int) []byte {
	b := m.Bounds()
	var depth int
	var out bytes.Buffer
	switch tuple {
	case "":
		depth = 3
		if _, ok := m.(*image.Gray); ok {
			depth = 1
		}
		if _, ok := m.(*image.Gray16); ok {
			depth = 1
		}
		fmt.Fprintf(&out, "P%d\n# a comment\n%d %d\n%d\n", map[int]int{1: 5, 3: 6}[depth], b.Dx(), b.Dy(), maxval)
	default:
		depth = pamDepths[tuple]
		fmt.Fprintf(&out, "P7\nWIDTH %d\nHEIGHT %d\nDEPTH %d\n# comment\nMAXVAL %d\nTUPLTYPE %s\nENDHDR\n",
			b.Dx(), b.Dy(), depth, maxval, tuple)
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := nrgba64(m, x, y)
			s := map[int][]uint16{1: {c.R}, 2: {c.R, c.A}, 3: {c.R, c.G, c.B}, 4: {c.R, c.G, c.B, c.A}}[depth]
			for _, v := range s {
				if maxval > 255 {
					out.WriteByte(byte(v >> 8))
					out.WriteByte(byte(v))
				} else {
					out.WriteByte(byte(v >> 8))
				}
			}
		}
	}
	return out.Bytes()
}

// greyAlpha is an NRGBA image with equal channels and varied alpha.
func greyAlpha(h, w int, deep bool) image.Image {
	src := testImage("nrgba16", h, w).(*image.NRGBA64)
	for i := 0; i < len(src.Pix); i += 8 {
		copy(src.Pix[i+2:i+6], []byte{src.Pix[i], src.Pix[i+1], src.Pix[i], src.Pix[i+1]})
		if !deep {
			for k := 0; k < 8; k += 2 {
				src.Pix[i+k+1] = src.Pix[i+k]
			}
		}
	}
	return src
}

type streamCase struct {
	images [][]byte
	src    []image.Image
	deep   []bool
	format string
}

func streamCases(t testing.TB) map[string]streamCase {
	withICC := withICCP(t, encodePNG(t, testImage("nrgba", 4, 6)), testICC(500))
	cases := map[string]streamCase{
		"png": {
			images: [][]byte{encodePNG(t, testImage("rgb", 5, 7)), encodePNG(t, testImage("nrgba16", 3, 4)), withICC, encodePNG(t, testImage("gray16", 2, 9))},
			src:    []image.Image{testImage("rgb", 5, 7), testImage("nrgba16", 3, 4), testImage("nrgba", 4, 6), testImage("gray16", 2, 9)},
			deep:   []bool{false, true, false, true},
			format: "png",
		},
		"ppm": {
			images: [][]byte{netpbm(testImage("rgb", 5, 7), "", 255), netpbm(testImage("rgb16", 3, 4), "", 65535), netpbm(testImage("gray", 6, 2), "", 255), netpbm(testImage("gray16", 2, 3), "", 65535)},
			src:    []image.Image{testImage("rgb", 5, 7), testImage("rgb16", 3, 4), testImage("gray", 6, 2), testImage("gray16", 2, 3)},
			deep:   []bool{false, true, false, true},
			format: "ppm",
		},
		"pam": {
			images: [][]byte{
				netpbm(testImage("rgb", 5, 7), "RGB", 255), netpbm(testImage("nrgba16", 3, 4), "RGB_ALPHA", 65535),
				netpbm(testImage("gray16", 6, 2), "GRAYSCALE", 65535), netpbm(greyAlpha(2, 3, false), "GRAYSCALE_ALPHA", 255),
				netpbm(testImage("nrgba", 3, 3), "RGB_ALPHA", 255), netpbm(greyAlpha(4, 1, true), "GRAYSCALE_ALPHA", 65535),
			},
			src:    []image.Image{testImage("rgb", 5, 7), testImage("nrgba16", 3, 4), testImage("gray16", 6, 2), greyAlpha(2, 3, false), testImage("nrgba", 3, 3), greyAlpha(4, 1, true)},
			deep:   []bool{false, true, true, false, false, true},
			format: "pam",
		},
	}
	return cases
}

func TestStreamReader(t *testing.T) {
	for name, tc := range streamCases(t) {
		t.Run(name, func(t *testing.T) {
			stream := bytes.Join(tc.images, nil)
			in := &trickle{data: stream}
			s := NewStreamReader(in)
			end := 0
			var pics []*Picture
			for i, want := range tc.src {
				p, err := s.Next()
				if err != nil {
					t.Fatalf("image %d: %v", i+1, err)
				}
				end += len(tc.images[i])
				if in.pos != end || s.Offset() != int64(end) {
					t.Fatalf("after image %d the reader is at %d (offset %d), want %d", i+1, in.pos, s.Offset(), end)
				}
				if p.Deep != tc.deep[i] || p.Format != tc.format {
					t.Errorf("image %d: deep %v format %s", i+1, p.Deep, p.Format)
				}
				checkPlanes(t, p, want, tc.deep[i])
				pics = append(pics, p)
			}
			if p, err := s.Next(); err != io.EOF {
				t.Fatalf("after the last image: %v, %v; want io.EOF", p, err)
			}
			if s.Format() != tc.format {
				t.Errorf("Format() = %q", s.Format())
			}
			// Written back as a stream in the same format, read again.
			var out bytes.Buffer
			for _, p := range pics {
				if err := Write(&out, p, s.Format(), 0); err != nil {
					t.Fatal(err)
				}
			}
			s2 := NewStreamReader(&out)
			for i, p := range pics {
				q, err := s2.Next()
				if err != nil {
					t.Fatalf("written stream, image %d: %v", i+1, err)
				}
				if q.Grey != p.Grey || q.Deep != p.Deep || (q.Alpha == nil) != (p.Alpha == nil) || !bytes.Equal(q.ICC, p.ICC) {
					t.Errorf("written image %d: grey %v deep %v alpha %v icc %d; read grey %v deep %v alpha %v icc %d",
						i+1, q.Grey, q.Deep, q.Alpha != nil, len(q.ICC), p.Grey, p.Deep, p.Alpha != nil, len(p.ICC))
				}
				if !equalFloats(q.Color.Pix, p.Color.Pix) || !equalFloats(q.Alpha, p.Alpha) {
					t.Errorf("written image %d: pixels differ", i+1)
				}
			}
			if _, err := s2.Next(); err != io.EOF {
				t.Errorf("written stream: %v after the last image", err)
			}
		})
	}
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStreamTruncated cuts streams everywhere: a cut at an image boundary
// is the end of the stream, anywhere else the image it falls in is
// truncated.
func TestStreamTruncated(t *testing.T) {
	for name, tc := range streamCases(t) {
		t.Run(name, func(t *testing.T) {
			stream := bytes.Join(tc.images, nil)
			starts := map[int]int{} // offset → index of the image starting there
			at := 0
			for i, im := range tc.images {
				starts[at] = i
				at += len(im)
			}
			for cut := range len(stream) {
				s := NewStreamReader(bytes.NewReader(stream[:cut]))
				n := 0
				var err error
				for err == nil {
					_, err = s.Next()
					n++
				}
				i, boundary := starts[cut]
				switch {
				case cut == 0:
					if err != ErrEmpty {
						t.Fatalf("empty stream: %v", err)
					}
				case boundary:
					if err != io.EOF || n != i+1 {
						t.Fatalf("cut at %d (end of image %d): %v after %d", cut, i, err, n-1)
					}
				default:
					if err == io.EOF || err == ErrEmpty || !strings.HasPrefix(err.Error(), fmt.Sprintf("image %d: ", n)) {
						t.Fatalf("cut at %d: %v after %d images", cut, err, n-1)
					}
					if !errors.Is(err, errTruncated) && !strings.Contains(err.Error(), "header") {
						t.Fatalf("cut at %d: %v", cut, err)
					}
				}
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	png1 := encodePNG(t, testImage("rgb", 2, 2))
	ppm := netpbm(testImage("rgb", 2, 2), "", 255)
	pam := netpbm(testImage("rgb", 2, 2), "RGB", 255)
	for _, tc := range []struct {
		name, stream, want string
	}{
		{"garbage", "hello", "image 1: not a PNG, PPM or PAM image"},
		{"mixed", string(ppm) + string(png1), "image 2: png image in a ppm stream"},
		{"ppm then pam", string(ppm) + string(pam), "image 2: pam image in a ppm stream"},
		{"png then ppm", string(png1) + string(ppm), "image 2: netpbm image in a png stream"},
		{"plain ppm", "P3\n1 1\n255\n0 0 0\n", "image 1: netpbm P3 images are not supported (only P5, P6, P7)"},
		{"maxval 0", "P6 1 1 0\n\x00\x00\x00", "image 1: PPM maxval 0 out of range 1..65535"},
		{"pam depth", "P7\nWIDTH 1\nHEIGHT 1\nDEPTH 3\nMAXVAL 255\nTUPLTYPE GRAYSCALE\nENDHDR\n\x00", "image 1: PAM header: TUPLTYPE GRAYSCALE with DEPTH 3 not supported"},
		{"pam field", "P7\nWIDTH 1\nHEIGHT 1\nCOLOR 3\nENDHDR\n", `image 1: PAM header: unknown field "COLOR"`},
		{"pam missing", "P7\nWIDTH 1\nHEIGHT 1\nDEPTH 3\nENDHDR\n", "image 1: PAM header: no MAXVAL"},
		{"pam depth 5", "P7\nWIDTH 1\nHEIGHT 1\nDEPTH 5\nMAXVAL 255\nENDHDR\n", "image 1: PAM depth 5 not supported (1 to 4)"},
		{"zero width", "P6 0 1 255\n", "image 1: image has no pixels (0×1)"},
		{"huge ppm", "P6 100000 100000 255\n", "image 1: image claims 100000×100000 pixels, more than the 268435456 this tool accepts"},
		{"huge number", "P6 99999999999 1 255\n", "image 1: PPM header: number too large"},
		{"bad header", "P6 1 x 255\n", `image 1: PPM header: unexpected 'x'`},
		{"long comment", "P6 #" + strings.Repeat("c", 70000), "image 1: PPM/PAM header too long"},
		{"png no ihdr", string(png1[:8]) + "\x00\x00\x00\x0dIHDX" + string(png1[16:]), "image 1: bad PNG: no IHDR chunk first"},
	} {
		s := NewStreamReader(strings.NewReader(tc.stream))
		var err error
		for err == nil {
			_, err = s.Next()
		}
		if err.Error() != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, err, tc.want)
		}
		if _, again := s.Next(); again != err {
			t.Errorf("%s: error not sticky: %v", tc.name, again)
		}
	}
	// Whitespace between netpbm images (and after the last) is skipped.
	s := NewStreamReader(strings.NewReader(string(ppm) + "\n\n" + string(ppm) + "\n"))
	for i := range 2 {
		if _, err := s.Next(); err != nil {
			t.Fatal(i, err)
		}
	}
	if _, err := s.Next(); err != io.EOF {
		t.Fatal(err)
	}
}

func TestReadPNM(t *testing.T) {
	// Whole files go through Read too; Write's P5/P6/P7 output matches what
	// was read.
	for _, tc := range []struct {
		data   []byte
		format string
		src    image.Image
		deep   bool
	}{
		{netpbm(testImage("rgb16", 3, 5), "", 65535), "ppm", testImage("rgb16", 3, 5), true},
		{netpbm(testImage("gray", 3, 5), "", 255), "ppm", testImage("gray", 3, 5), false},
		{netpbm(testImage("nrgba", 3, 5), "RGB_ALPHA", 255), "pam", testImage("nrgba", 3, 5), false},
	} {
		p, err := Read(bytes.NewReader(tc.data))
		if err != nil {
			t.Fatal(err)
		}
		checkPlanes(t, p, tc.src, tc.deep)
		var out bytes.Buffer
		if err := Write(&out, p, tc.format, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes()[out.Len()-10:], tc.data[len(tc.data)-10:]) {
			t.Errorf("%s: written samples differ from the input's", tc.format)
		}
	}
	// A maxval other than 255 and 65535 is scaled to 0..255.
	p, err := Read(strings.NewReader("P5 2 1 1023\n\x03\xff\x01\x00"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Deep || p.Color.Pix[0] != 255 || p.Color.Pix[1] != float32(256)*255/1023 {
		t.Errorf("maxval 1023: %v deep %v", p.Color.Pix[:2], p.Deep)
	}
	// PPM output drops alpha; grey pictures become P5.
	p, _ = Read(bytes.NewReader(encodePNG(t, testImage("nrgba", 2, 2))))
	var out bytes.Buffer
	Write(&out, p, "ppm", 0)
	if !strings.HasPrefix(out.String(), "P6\n2 2\n255\n") || out.Len() != 11+12 {
		t.Errorf("PPM output %q", out.String())
	}
	p.Grey = true
	out.Reset()
	Write(&out, p, "ppm", 0)
	if !strings.HasPrefix(out.String(), "P5\n2 2\n255\n") || out.Len() != 11+4 {
		t.Errorf("PGM output %q", out.String())
	}
}
