package imageio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/draw"
	"golang.org/x/image/tiff"

	"github.com/ipt-go/ipt/internal/ipt"
)

// The writers as they were before outputs streamed, kept as the oracle:
// the whole picture quantized into the encoders' image types, the alpha
// plane resized by x/image/draw in one go.

func wholeWrite(w io.Writer, p *Picture, format string, quality int) error {
	switch format {
	case "png":
		var icc io.Writer = w
		if p.ICC != nil {
			icc = &inserter{w: w, at: len(pngSignature) + 25, extra: pngICCChunk(p.ICC)}
		}
		return png.Encode(icc, wholeImage(p, p.Deep, true))
	case "jpeg":
		if quality == 0 {
			quality = DefaultQuality
		}
		var icc io.Writer = w
		if p.ICC != nil {
			segs, err := jpegICCSegments(p.ICC)
			if err != nil {
				return err
			}
			icc = &inserter{w: w, at: 2, extra: segs}
		}
		return jpeg.Encode(icc, wholeImage(p, false, false), &jpeg.Options{Quality: quality})
	case "tiff":
		var buf bytes.Buffer
		if err := tiff.Encode(&buf, wholeImage(p, p.Deep, true), &tiff.Options{Compression: tiff.Deflate}); err != nil {
			return err
		}
		b := buf.Bytes()
		if p.ICC != nil {
			var err error
			if b, err = addTIFFICC(b, p.ICC); err != nil {
				return err
			}
		}
		_, err := w.Write(b)
		return err
	case "bmp":
		return bmp.Encode(w, wholeImage(p, false, true))
	case "ppm", "pam":
		return wholePNM(w, p, format == "pam")
	}
	return fmt.Errorf("format %q", format)
}

func wholePlanes(p *Picture, withAlpha bool) [][]float32 {
	c := p.Color
	n := c.H * c.W
	var out [][]float32
	if p.Grey {
		g := make([]float32, n)
		for i := range g {
			g[i] = (c.Pix[i] + c.Pix[n+i] + c.Pix[2*n+i]) / 3
		}
		out = [][]float32{g}
	} else {
		out = [][]float32{c.Pix[:n], c.Pix[n : 2*n], c.Pix[2*n:]}
	}
	if withAlpha && p.Alpha != nil {
		out = append(out, p.Alpha)
	}
	return out
}

func wholeImage(p *Picture, deep, withAlpha bool) image.Image {
	planes := wholePlanes(p, withAlpha)
	rect := image.Rect(0, 0, p.Color.W, p.Color.H)
	if len(planes) == 1 {
		g := planes[0]
		if deep {
			m := image.NewGray16(rect)
			for i, v := range g {
				q := quantize16(v)
				m.Pix[2*i], m.Pix[2*i+1] = byte(q>>8), byte(q)
			}
			return m
		}
		m := image.NewGray(rect)
		for i, v := range g {
			m.Pix[i] = Quantize(v)
		}
		return m
	}
	if len(planes) == 2 {
		planes = [][]float32{planes[0], planes[0], planes[0], planes[1]}
	}
	m := newRaster(len(planes), deep, rect)
	switch m := m.(type) {
	case *image.RGBA:
		fill8(m.Pix, planes)
	case *image.NRGBA:
		fill8(m.Pix, planes)
	case *image.RGBA64:
		fill16(m.Pix, planes)
	case *image.NRGBA64:
		fill16(m.Pix, planes)
	}
	return m
}

func wholePNM(w io.Writer, p *Picture, pam bool) error {
	planes := wholePlanes(p, pam)
	depth := len(planes)
	maxval := 255
	if p.Deep {
		maxval = 65535
	}
	bw := bufio.NewWriter(w)
	if pam {
		tuple := [...]string{1: "GRAYSCALE", 2: "GRAYSCALE_ALPHA", 3: "RGB", 4: "RGB_ALPHA"}[depth]
		fmt.Fprintf(bw, "P7\nWIDTH %d\nHEIGHT %d\nDEPTH %d\nMAXVAL %d\nTUPLTYPE %s\nENDHDR\n",
			p.Color.W, p.Color.H, depth, maxval, tuple)
	} else {
		magic := 6
		if depth == 1 {
			magic = 5
		}
		fmt.Fprintf(bw, "P%d\n%d %d\n%d\n", magic, p.Color.W, p.Color.H, maxval)
	}
	for i := range p.Color.H * p.Color.W {
		for _, pl := range planes {
			if p.Deep {
				v := quantize16(pl[i])
				bw.WriteByte(byte(v >> 8))
				bw.WriteByte(byte(v))
			} else {
				bw.WriteByte(Quantize(pl[i]))
			}
		}
	}
	return bw.Flush()
}

func wholeResizeAlpha(a []float32, h, w, nh, nw int) []float32 {
	src := image.NewGray16(image.Rect(0, 0, w, h))
	for i, v := range a {
		q := quantize16(v)
		src.Pix[2*i], src.Pix[2*i+1] = byte(q>>8), byte(q)
	}
	dst := image.NewGray16(image.Rect(0, 0, nw, nh))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	out := make([]float32, nh*nw)
	for i := range out {
		out[i] = float32(uint16(dst.Pix[2*i])<<8|uint16(dst.Pix[2*i+1])) / 257
	}
	return out
}

// randomPlane is n values on 0..255: whole numbers, 16-bit levels, and
// values out of range, halfway between levels, NaN.
func randomPlane(rng *rand.Rand, n int) []float32 {
	p := make([]float32, n)
	for i := range p {
		switch rng.IntN(8) {
		case 0:
			p[i] = float32(rng.IntN(256))
		case 1:
			p[i] = float32(rng.IntN(65536)) / 257
		case 2:
			p[i] = float32(rng.IntN(256)) + 0.5
		case 3:
			p[i] = []float32{-3, 0, 255, 260, float32(math.NaN()), 254.6, 0.4}[rng.IntN(7)]
		default:
			p[i] = rng.Float32() * 255
		}
	}
	return p
}

// TestAlphaScalerMatchesDraw: the row-by-row Catmull-Rom gives exactly what
// x/image/draw gives on the whole plane, enlarging (every SR scale, odd
// sizes) and shrinking.
func TestAlphaScalerMatchesDraw(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sz := range [][4]int{{1, 1, 2, 2}, {1, 3, 4, 12}, {2, 1, 6, 3}, {5, 7, 10, 14}, {6, 8, 18, 24}, {13, 11, 52, 44}, {9, 9, 9, 27}, {20, 17, 7, 5}, {33, 2, 99, 6}} {
		h, w, nh, nw := sz[0], sz[1], sz[2], sz[3]
		for _, deep := range []bool{false, true} {
			a := make([]float32, h*w)
			for i := range a {
				if deep {
					a[i] = float32(rng.IntN(65536)) / 257
				} else {
					a[i] = float32(rng.IntN(256))
				}
			}
			if rng.IntN(2) == 0 {
				a = randomPlane(rng, h*w)
			}
			want := wholeResizeAlpha(a, h, w, nh, nw)
			z := newAlphaScaler(func(y int) []float32 { return a[y*w : (y+1)*w] }, h, w, nh, nw)
			for y := range nh {
				row := z.row()
				for x, v := range row {
					if math.Float32bits(v) != math.Float32bits(want[y*nw+x]) {
						t.Fatalf("%d×%d → %d×%d: (%d, %d) = %v, draw gives %v", w, h, nw, nh, x, y, v, want[y*nw+x])
					}
				}
			}
		}
	}
}

// bandsOf cuts c into bands of n rows (the last shorter).
func bandsOf(c *ipt.Image, n int) Bands {
	return func(yield func(*ipt.Image) error) error {
		for y := 0; y < c.H; y += n {
			k := min(n, c.H-y)
			b := ipt.NewImage(k, c.W)
			for ch := range ipt.Colors {
				copy(b.Pix[ch*k*c.W:][:k*c.W], c.Pix[(ch*c.H+y)*c.W:])
			}
			if err := yield(b); err != nil {
				return err
			}
		}
		return nil
	}
}

var formats = []string{"png", "jpeg", "tiff", "bmp", "ppm", "pam"}

// TestStreamedWriteMatchesWhole: every format, grey or colour, 8 or 16
// bits, with or without alpha (and alpha that quantizes to opaque), with a
// profile, written from bands of any height, is byte for byte what the
// whole-picture writers wrote; restored pictures with their alpha resized
// row by row too.
func TestStreamedWriteMatchesWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, size := range [][2]int{{1, 1}, {17, 33}, {40, 19}} {
		h, w := size[0], size[1]
		for _, grey := range []bool{false, true} {
			for _, deep := range []bool{false, true} {
				for _, alpha := range []string{"none", "some", "opaque"} {
					p := &Picture{Color: &ipt.Image{H: h, W: w, Pix: randomPlane(rng, ipt.Colors*h*w)}, Grey: grey, Deep: deep}
					switch alpha {
					case "some":
						p.Alpha = randomPlane(rng, h*w)
					case "opaque": // quantizes to 255 (and 0xffff when 8-bit out)
						p.Alpha = make([]float32, h*w)
						for i := range p.Alpha {
							p.Alpha[i] = []float32{255, 300, 254.9999}[i%3]
						}
					}
					if rng.IntN(2) == 0 {
						p.ICC = testICC(100)
					}
					for _, format := range formats {
						name := fmt.Sprintf("%dx%d/grey=%v/deep=%v/alpha=%s/%s", w, h, grey, deep, alpha, format)
						var want bytes.Buffer
						if err := wholeWrite(&want, p, format, 90); err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						for _, n := range []int{1, 7, h} {
							var got bytes.Buffer
							o := p.Restored(h, w, bandsOf(p.Color, n))
							if err := o.Write(&got, format, 90); err != nil {
								t.Fatalf("%s, bands of %d: %v", name, n, err)
							}
							if !bytes.Equal(got.Bytes(), want.Bytes()) {
								t.Fatalf("%s, bands of %d rows: %d bytes differ from the whole picture's %d", name, n, got.Len(), want.Len())
							}
						}
						// Restored at twice the size: alpha resized as it is written.
						c2 := &ipt.Image{H: 2 * h, W: 2 * w, Pix: randomPlane(rng, ipt.Colors*4*h*w)}
						want.Reset()
						if err := wholeWrite(&want, wholeWithColor(p, c2), format, 90); err != nil {
							t.Fatalf("%s ×2: %v", name, err)
						}
						var got bytes.Buffer
						if err := p.Restored(2*h, 2*w, bandsOf(c2, 5)).Write(&got, format, 90); err != nil {
							t.Fatalf("%s ×2: %v", name, err)
						}
						if !bytes.Equal(got.Bytes(), want.Bytes()) {
							t.Fatalf("%s ×2: differs from the whole picture's", name)
						}
					}
				}
			}
		}
	}
}

func wholeWithColor(p *Picture, c *ipt.Image) *Picture {
	out := *p
	out.Color = c
	if p.Alpha != nil {
		out.Alpha = wholeResizeAlpha(p.Alpha, p.Color.H, p.Color.W, c.H, c.W)
	}
	return &out
}

// TestWriteFailsWithTheBands: when the colour cannot be made (a cancelled
// restoration, a model error), Write fails with that error in every format,
// whatever row it happens at; bands of the wrong shape or number are
// errors too.
func TestWriteFailsWithTheBands(t *testing.T) {
	c := &ipt.Image{H: 40, W: 30, Pix: randomPlane(rand.New(rand.NewPCG(1, 2)), ipt.Colors*40*30)}
	p := &Picture{Color: c, Alpha: make([]float32, 40*30)}
	boom := errors.New("boom")
	for _, format := range formats {
		for _, at := range []int{0, 1, 3} {
			bands := 0
			failing := func(yield func(*ipt.Image) error) error {
				return bandsOf(c, 10)(func(b *ipt.Image) error {
					if bands == at {
						return boom
					}
					bands++
					return yield(b)
				})
			}
			if err := p.Restored(40, 30, failing).Write(io.Discard, format, 0); err != boom {
				t.Errorf("%s, failing at band %d: %v", format, at, err)
			}
		}
		for name, bad := range map[string]Bands{
			"short":  bandsOf(&ipt.Image{H: 39, W: 30, Pix: c.Pix[:3*39*30]}, 10),
			"long":   bandsOf(&ipt.Image{H: 41, W: 30, Pix: append(c.Pix, make([]float32, 3*30)...)}, 7),
			"narrow": bandsOf(&ipt.Image{H: 40, W: 29, Pix: c.Pix[:3*40*29]}, 10),
		} {
			if err := p.Restored(40, 30, bad).Write(io.Discard, format, 0); err == nil {
				t.Errorf("%s: %s bands written without an error", format, name)
			}
		}
	}
}
