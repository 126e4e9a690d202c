package imageio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/ipt-go/ipt/internal/ipt"
)

// testImage is an h×w image of the given type with reproducible values
// covering the whole range; with alpha some pixels are transparent.
func testImage(kind string, h, w int) image.Image {
	rng := rand.New(rand.NewPCG(uint64(h), uint64(w)))
	r := image.Rect(0, 0, w, h)
	switch kind {
	case "gray":
		m := image.NewGray(r)
		for i := range m.Pix {
			m.Pix[i] = byte(rng.IntN(256))
		}
		return m
	case "gray16":
		m := image.NewGray16(r)
		for i := range m.Pix {
			m.Pix[i] = byte(rng.IntN(256))
		}
		return m
	case "rgb", "nrgba":
		m := image.NewNRGBA(r)
		for i := range m.Pix {
			m.Pix[i] = byte(rng.IntN(256))
			if i%4 == 3 && kind == "rgb" {
				m.Pix[i] = 255
			}
		}
		return m
	case "rgb16", "nrgba16":
		m := image.NewNRGBA64(r)
		for i := range m.Pix {
			m.Pix[i] = byte(rng.IntN(256))
			if i%8 >= 6 && kind == "rgb16" {
				m.Pix[i] = 255
			}
		}
		return m
	}
	panic(kind)
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// nrgba64 reads pixel (x, y) of m non-premultiplied at 16 bits, keeping
// the colour of transparent pixels where m stores it.
func nrgba64(m image.Image, x, y int) color.NRGBA64 {
	switch m := m.(type) {
	case *image.NRGBA:
		c := m.NRGBAAt(x, y)
		return color.NRGBA64{uint16(c.R) * 257, uint16(c.G) * 257, uint16(c.B) * 257, uint16(c.A) * 257}
	case *image.NRGBA64:
		return m.NRGBA64At(x, y)
	}
	return color.NRGBA64Model.Convert(m.At(x, y)).(color.NRGBA64)
}

// checkPlanes compares p's planes with m's pixels at 8 or 16 bits.
func checkPlanes(t *testing.T, p *Picture, m image.Image, deep bool) {
	t.Helper()
	b := m.Bounds()
	if p.Color.H != b.Dy() || p.Color.W != b.Dx() {
		t.Fatalf("size %d×%d, want %d×%d", p.Color.W, p.Color.H, b.Dx(), b.Dy())
	}
	n := b.Dx() * b.Dy()
	bad := 0
	for y := range b.Dy() {
		for x := range b.Dx() {
			c := nrgba64(m, b.Min.X+x, b.Min.Y+y)
			i := y*b.Dx() + x
			want := [4]float32{float32(c.R) / 257, float32(c.G) / 257, float32(c.B) / 257, float32(c.A) / 257}
			if !deep {
				for k := range want {
					want[k] = float32(math.Round(float64(want[k])))
				}
			}
			got := [4]float32{p.Color.Pix[i], p.Color.Pix[n+i], p.Color.Pix[2*n+i], 255}
			if p.Alpha != nil {
				got[3] = p.Alpha[i]
			}
			if got != want && bad < 5 {
				bad++
				t.Errorf("pixel (%d, %d) = %v, want %v", x, y, got, want)
			}
		}
	}
}

func TestRoundTripPNG(t *testing.T) {
	for _, tc := range []struct {
		kind        string
		deep, alpha bool
		grey        bool
		model       color.Model // of the written PNG
	}{
		{"rgb", false, false, false, color.RGBAModel},
		{"nrgba", false, true, false, color.NRGBAModel},
		{"rgb16", true, false, false, color.RGBA64Model},
		{"nrgba16", true, true, false, color.NRGBA64Model},
		{"gray", false, false, true, color.GrayModel},
		{"gray16", true, false, true, color.Gray16Model},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			m := testImage(tc.kind, 7, 13)
			p, err := Read(bytes.NewReader(encodePNG(t, m)))
			if err != nil {
				t.Fatal(err)
			}
			if p.Format != "png" || p.Deep != tc.deep || (p.Alpha != nil) != tc.alpha || p.Grey != tc.grey || p.ICC != nil {
				t.Fatalf("got format %s deep %v alpha %v grey %v, want png %v %v %v", p.Format, p.Deep, p.Alpha != nil, p.Grey, tc.deep, tc.alpha, tc.grey)
			}
			checkPlanes(t, p, m, tc.deep)
			var out bytes.Buffer
			if err := Write(&out, p, "png", 0); err != nil {
				t.Fatal(err)
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(out.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ColorModel != tc.model {
				t.Errorf("written PNG has colour model %T, want %T", cfg.ColorModel, tc.model)
			}
			back, err := png.Decode(bytes.NewReader(out.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			checkPlanes(t, p, back, tc.deep)
		})
	}
}

func TestGreyOutputIsMeanOfChannels(t *testing.T) {
	c := ipt.NewImage(1, 2)
	copy(c.Pix, []float32{10, 20, 11, 21, 12, 23.5})
	var out bytes.Buffer
	if err := Write(&out, &Picture{Color: c, Grey: true}, "png", 0); err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(&out)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := m.(*image.Gray)
	if !ok || g.Pix[0] != 11 || g.Pix[1] != 22 { // (20+21+23.5)/3 = 21.5 → 22
		t.Fatalf("got %T %v, want grey [11 22]", m, m)
	}
}

func TestPaletteTransparency(t *testing.T) {
	pal := color.Palette{
		color.NRGBA{255, 0, 0, 255},
		color.NRGBA{0, 255, 0, 128},
		color.NRGBA{0, 0, 255, 0},
	}
	m := image.NewPaletted(image.Rect(0, 0, 6, 4), pal)
	for i := range m.Pix {
		m.Pix[i] = byte(i % 3)
	}
	data := encodePNG(t, m)
	if !bytes.Contains(data, []byte("tRNS")) {
		t.Fatal("test PNG has no tRNS chunk")
	}
	p, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if p.Alpha == nil || p.Grey || p.Deep {
		t.Fatalf("alpha %v grey %v deep %v, want alpha, colour, 8-bit", p.Alpha != nil, p.Grey, p.Deep)
	}
	checkPlanes(t, p, m, false)

	// Grey palette: grey output.
	gp := image.NewPaletted(image.Rect(0, 0, 3, 3), color.Palette{color.Gray{0}, color.Gray{200}})
	gp.Pix[4] = 1
	p, err = Read(bytes.NewReader(encodePNG(t, gp)))
	if err != nil || !p.Grey || p.Alpha != nil {
		t.Fatalf("grey palette: %v, grey %v", err, p != nil && p.Grey)
	}
}

func TestWithColorResizesAlpha(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 8, 6))
	for y := range 6 {
		for x := range 8 {
			m.SetNRGBA(x, y, color.NRGBA{byte(x * 30), 0, 0, byte(20 + 25*x + 5*y)})
		}
	}
	p, err := Read(bytes.NewReader(encodePNG(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	same := p.WithColor(ipt.NewImage(6, 8))
	if &same.Alpha[0] != &p.Alpha[0] || same.Format != "png" {
		t.Error("scale 1 did not keep the alpha plane and fields")
	}
	for _, s := range []int{2, 3, 4} {
		out := p.WithColor(ipt.NewImage(6*s, 8*s))
		if len(out.Alpha) != 6*s*8*s {
			t.Fatalf("×%d: alpha has %d values", s, len(out.Alpha))
		}
		// A linear ramp stays linear inside (Catmull-Rom reproduces it)
		// and the result agrees with imaging-style 8-bit resampling.
		for y := s * 2; y < 4*s; y++ {
			for x := s * 2; x < 6*s; x++ {
				sx, sy := (float64(x)+0.5)/float64(s)-0.5, (float64(y)+0.5)/float64(s)-0.5
				want := 20 + 25*sx + 5*sy
				if got := float64(out.Alpha[y*8*s+x]); math.Abs(got-want) > 0.01 {
					t.Fatalf("×%d: alpha(%d, %d) = %v, want %v", s, x, y, got, want)
				}
			}
		}
	}
}

func TestGIFFirstFrame(t *testing.T) {
	pal := color.Palette{color.RGBA{0, 0, 0, 0}, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	frame := func(r image.Rectangle, idx byte) *image.Paletted {
		m := image.NewPaletted(r, pal)
		for i := range m.Pix {
			m.Pix[i] = idx
		}
		return m
	}
	g := &gif.GIF{
		Image: []*image.Paletted{frame(image.Rect(2, 1, 6, 4), 1), frame(image.Rect(0, 0, 8, 5), 2)},
		Delay: []int{10, 10},
		Config: image.Config{
			ColorModel: pal, Width: 8, Height: 5,
		},
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	p, err := Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Format != "gif" || p.Color.W != 8 || p.Color.H != 5 || p.Alpha == nil {
		t.Fatalf("got %s %d×%d alpha %v, want gif 8×5 with alpha", p.Format, p.Color.W, p.Color.H, p.Alpha != nil)
	}
	n := 40
	if at := 1*8 + 2; p.Color.Pix[at] != 255 || p.Color.Pix[2*n+at] != 0 || p.Alpha[at] != 255 {
		t.Errorf("first frame pixel: %v %v, alpha %v", p.Color.Pix[at], p.Color.Pix[2*n+at], p.Alpha[at])
	}
	if p.Alpha[0] != 0 {
		t.Errorf("outside the first frame alpha %v, want 0", p.Alpha[0])
	}
}

func TestTIFF(t *testing.T) {
	for _, kind := range []string{"rgb16", "nrgba16", "gray16", "rgb", "nrgba", "gray"} {
		t.Run(kind, func(t *testing.T) {
			m := testImage(kind, 5, 9)
			var b bytes.Buffer
			if err := tiff.Encode(&b, m, &tiff.Options{Compression: tiff.Deflate}); err != nil {
				t.Fatal(err)
			}
			p, err := Read(&b)
			if err != nil {
				t.Fatal(err)
			}
			deep := strings.HasSuffix(kind, "16")
			if p.Format != "tiff" || p.Deep != deep || p.Grey != strings.HasPrefix(kind, "gray") {
				t.Fatalf("got %s deep %v grey %v", p.Format, p.Deep, p.Grey)
			}
			checkPlanes(t, p, m, deep)
			var out bytes.Buffer
			if err := Write(&out, p, "tiff", 0); err != nil {
				t.Fatal(err)
			}
			back, err := tiff.Decode(&out)
			if err != nil {
				t.Fatal(err)
			}
			if isDeep(back) != deep {
				t.Errorf("written TIFF is %T", back)
			}
			checkPlanes(t, p, back, deep)
		})
	}
}

func TestBMP(t *testing.T) {
	for _, kind := range []string{"rgb", "gray"} {
		m := testImage(kind, 4, 5)
		var b bytes.Buffer
		if err := bmp.Encode(&b, m); err != nil {
			t.Fatal(err)
		}
		p, err := Read(&b)
		if err != nil {
			t.Fatal(kind, err)
		}
		if p.Format != "bmp" || (p.Alpha != nil) != (kind == "nrgba") || p.Grey != (kind == "gray") {
			t.Fatalf("%s: got %s alpha %v grey %v", kind, p.Format, p.Alpha != nil, p.Grey)
		}
		checkPlanes(t, p, m, false)
		var out bytes.Buffer
		if err := Write(&out, p, "bmp", 0); err != nil {
			t.Fatal(err)
		}
		back, err := bmp.Decode(&out)
		if err != nil {
			t.Fatal(err)
		}
		checkPlanes(t, p, back, false)
	}
	// Alpha goes into 32-bit pixels (B, G, R, A, bottom row first), which
	// x/image/bmp and most readers ignore in a BITMAPINFOHEADER file.
	p, err := Read(bytes.NewReader(encodePNG(t, testImage("nrgba", 2, 3))))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, p, "bmp", 0); err != nil {
		t.Fatal(err)
	}
	b := out.Bytes()
	if bpp := binary.LittleEndian.Uint16(b[28:]); bpp != 32 {
		t.Fatalf("BMP with alpha written with %d bits a pixel", bpp)
	}
	if got, want := b[54+3], Quantize(p.Alpha[3]); got != want { // first pixel of the bottom row
		t.Errorf("alpha byte %d, want %d", got, want)
	}
}

func TestJPEG(t *testing.T) {
	m := testImage("rgb", 16, 16)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	p, err := Read(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := jpeg.Decode(bytes.NewReader(b.Bytes()))
	// YCbCr converted the way libjpeg does: 8-bit integers.
	yc := ref.(*image.YCbCr).YCbCrAt(3, 2)
	r, g, bl := color.YCbCrToRGB(yc.Y, yc.Cb, yc.Cr)
	if i := 2*16 + 3; p.Color.Pix[i] != float32(r) || p.Color.Pix[256+i] != float32(g) || p.Color.Pix[512+i] != float32(bl) {
		t.Errorf("pixel (3,2) = %v, want %v %v %v", []float32{p.Color.Pix[i], p.Color.Pix[256+i], p.Color.Pix[512+i]}, r, g, bl)
	}
	if p.Format != "jpeg" || p.Deep || p.Grey || p.Alpha != nil {
		t.Fatalf("got %+v", p)
	}
	// Grey JPEG, and JPEG output of a deep picture with alpha (dropped).
	b.Reset()
	jpeg.Encode(&b, testImage("gray", 8, 8), nil)
	if p, err := Read(&b); err != nil || !p.Grey {
		t.Fatalf("grey JPEG: %v", err)
	}
	p, _ = Read(bytes.NewReader(encodePNG(t, testImage("nrgba16", 8, 8))))
	b.Reset()
	if err := Write(&b, p, "jpeg", 0); err != nil {
		t.Fatal(err)
	}
	if cfg, err := jpeg.DecodeConfig(&b); err != nil || cfg.Width != 8 {
		t.Fatal(err)
	}
	if err := Write(&b, p, "jpeg", 101); err == nil {
		t.Error("quality 101 accepted")
	}
}

// exifOrientation is a JPEG APP1 segment with an EXIF orientation tag.
func exifOrientation(o uint16) []byte {
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08") // big endian, IFD at 8
	tiff = binary.BigEndian.AppendUint16(tiff, 1)
	tiff = binary.BigEndian.AppendUint16(tiff, 0x0112) // Orientation
	tiff = binary.BigEndian.AppendUint16(tiff, 3)      // SHORT
	tiff = binary.BigEndian.AppendUint32(tiff, 1)
	tiff = binary.BigEndian.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0) // value padding, no next IFD
	body := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xff, 0xe1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(2+len(body)))
	return append(seg, body...)
}

func TestJPEGOrientation(t *testing.T) {
	// Stored 32 wide, 16 high: quadrants red, green / blue, white.
	m := image.NewRGBA(image.Rect(0, 0, 32, 16))
	quad := [2][2]color.RGBA{{{255, 0, 0, 255}, {0, 255, 0, 255}}, {{0, 0, 255, 255}, {255, 255, 255, 255}}}
	for y := range 16 {
		for x := range 32 {
			m.SetRGBA(x, y, quad[y/8][x/16])
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	data := append(append(append([]byte{}, b.Bytes()[:2]...), exifOrientation(6)...), b.Bytes()[2:]...)
	p, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// Orientation 6: turn 90° clockwise to display; 16 wide, 32 high.
	if p.Color.W != 16 || p.Color.H != 32 {
		t.Fatalf("size %d×%d, want 16×32", p.Color.W, p.Color.H)
	}
	n := 16 * 32
	at := func(x, y int) [3]float32 {
		i := y*16 + x
		return [3]float32{p.Color.Pix[i], p.Color.Pix[n+i], p.Color.Pix[2*n+i]}
	}
	want := map[[2]int]color.RGBA{{4, 4}: quad[1][0], {12, 4}: quad[0][0], {12, 28}: quad[0][1], {4, 28}: quad[1][1]}
	for xy, c := range want {
		got := at(xy[0], xy[1])
		for k, v := range []uint8{c.R, c.G, c.B} {
			if math.Abs(float64(got[k])-float64(v)) > 8 {
				t.Errorf("displayed (%d, %d) = %v, want %v", xy[0], xy[1], got, c)
				break
			}
		}
	}
}

// testICC is a fake profile, large enough to need several JPEG segments.
func testICC(n int) []byte {
	icc := make([]byte, n)
	for i := range icc {
		icc[i] = byte(i * 7 >> 3)
	}
	return icc
}

// withICCP inserts an iCCP chunk built here (not with pngICCChunk) after
// IHDR.
func withICCP(t testing.TB, data, icc []byte) []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(icc)
	zw.Close()
	body := append([]byte("sRGB-ish\x00\x00"), z.Bytes()...)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	chunk = append(chunk, "iCCP"...)
	chunk = append(chunk, body...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	return append(append(append([]byte{}, data[:33]...), chunk...), data[33:]...)
}

func TestICC(t *testing.T) {
	icc := testICC(150000)
	src := withICCP(t, encodePNG(t, testImage("rgb", 6, 6)), icc)
	if _, err := png.Decode(bytes.NewReader(src)); err != nil {
		t.Fatal("test PNG:", err)
	}
	p, err := Read(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.ICC, icc) {
		t.Fatalf("profile of %d bytes read as %d bytes", len(icc), len(p.ICC))
	}
	for _, format := range []string{"png", "jpeg", "tiff"} {
		var out bytes.Buffer
		if err := Write(&out, p, format, 0); err != nil {
			t.Fatal(format, err)
		}
		back, err := Read(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatal(format, err)
		}
		if !bytes.Equal(back.ICC, icc) {
			t.Errorf("%s: profile of %d bytes came back as %d bytes", format, len(icc), len(back.ICC))
		}
		if format != "jpeg" {
			checkPlanes(t, back, testImage("rgb", 6, 6), false)
		}
	}
	// Where the iCCP chunk went: right after IHDR.
	var out bytes.Buffer
	Write(&out, p, "png", 0)
	if got := string(out.Bytes()[37:41]); got != "iCCP" {
		t.Errorf("chunk after IHDR is %q", got)
	}
	// A profile in a single JPEG segment, and none: nothing added.
	p.ICC = testICC(1000)
	out.Reset()
	Write(&out, p, "jpeg", 0)
	if got := jpegICC(out.Bytes()); !bytes.Equal(got, p.ICC) {
		t.Errorf("small JPEG profile: got %d bytes", len(got))
	}
	p.ICC = nil
	for _, format := range []string{"png", "jpeg", "tiff"} {
		out.Reset()
		Write(&out, p, format, 0)
		if back, err := Read(&out); err != nil || back.ICC != nil {
			t.Errorf("%s without profile: %v, profile %d bytes", format, err, len(back.ICC))
		}
	}
}

// vp8l is a lossless WebP bitstream of a w×h image of one colour: no
// transforms and single-symbol prefix codes, so no bits per pixel.
func vp8l(w, h int, c color.NRGBA) []byte {
	var bits []byte
	put := func(v uint32, n int) {
		for i := range n {
			bits = append(bits, byte(v>>i&1))
		}
	}
	put(0x2f, 8)
	put(uint32(w-1), 14)
	put(uint32(h-1), 14)
	put(1, 1) // alpha used
	put(0, 3) // version
	put(0, 1) // no transform
	put(0, 1) // no colour cache
	put(0, 1) // no meta prefix codes
	for _, s := range []uint8{c.G, c.R, c.B, c.A, 0} {
		put(1, 1) // simple code
		put(0, 1) // one symbol
		put(1, 1) // 8-bit symbol
		put(uint32(s), 8)
	}
	out := make([]byte, (len(bits)+7)/8)
	for i, b := range bits {
		out[i/8] |= b << (i % 8)
	}
	return out
}

func riffChunk(id string, data []byte) []byte {
	out := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func webpFile(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func TestWebP(t *testing.T) {
	c := color.NRGBA{200, 100, 50, 128}
	simple := webpFile(riffChunk("VP8L", vp8l(5, 3, c)))
	icc := testICC(300)
	vp8x := []byte{0x20 | 0x10, 0, 0, 0, 4, 0, 0, 2, 0, 0} // ICC and alpha flags, 5×3
	extended := webpFile(riffChunk("VP8X", vp8x), riffChunk("ICCP", icc), riffChunk("VP8L", vp8l(5, 3, c)))
	for name, data := range map[string][]byte{"simple": simple, "extended": extended} {
		p, err := Read(bytes.NewReader(data))
		if err != nil {
			t.Fatal(name, err)
		}
		if p.Format != "webp" || p.Color.W != 5 || p.Color.H != 3 || p.Alpha == nil {
			t.Fatalf("%s: got %s %d×%d alpha %v", name, p.Format, p.Color.W, p.Color.H, p.Alpha != nil)
		}
		if p.Color.Pix[0] != 200 || p.Color.Pix[15] != 100 || p.Color.Pix[30] != 50 || p.Alpha[14] != 128 {
			t.Errorf("%s: pixel %v %v %v alpha %v", name, p.Color.Pix[0], p.Color.Pix[15], p.Color.Pix[30], p.Alpha[14])
		}
		if wantICC := name == "extended"; (p.ICC != nil) != wantICC || wantICC && !bytes.Equal(p.ICC, icc) {
			t.Errorf("%s: profile %d bytes", name, len(p.ICC))
		}
	}
}

func TestFormatForPath(t *testing.T) {
	for path, want := range map[string]string{
		"a.png": "png", "dir.x/B.JPG": "jpeg", "c.jpeg": "jpeg", "d.tif": "tiff", "e.TIFF": "tiff",
		"f.bmp": "bmp", "g.ppm": "ppm", "g.pgm": "ppm", "h.pam": "pam",
	} {
		if got, err := FormatForPath(path); got != want || err != nil {
			t.Errorf("%s: %q, %v; want %q", path, got, err, want)
		}
	}
	for _, path := range []string{"a.webp", "a.gif", "noext", "a.png.txt"} {
		if got, err := FormatForPath(path); err == nil {
			t.Errorf("%s: %q, want an error", path, got)
		}
	}
}

func TestQuantize(t *testing.T) {
	for v, want := range map[float32]uint8{-3: 0, 0.5: 0, 1.5: 2, 2.5: 2, 254.5: 254, 255.2: 255, 300: 255} {
		if got := Quantize(v); got != want {
			t.Errorf("Quantize(%v) = %d, want %d", v, got, want)
		}
	}
	if got := Quantize(float32(math.NaN())); got != 0 {
		t.Errorf("Quantize(NaN) = %d", got)
	}
}
