package imageio

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/disintegration/imaging"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/ipt-go/ipt/internal/ipt"
)

// Pictures read compact (ReadCompact, Pixels) must give exactly the float
// values, alpha and output bytes the whole-image conversion to float planes
// gave before (reference_test.go), for every kind of image the decoders
// return, every EXIF orientation and every format.

// equalBits says whether a and b hold the same float32 bit patterns.
func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// checkPixels compares px with the reference planes c and alpha a: the
// size, whether there is alpha, crops of every size at random places
// (and the whole image), and every alpha row.
func checkPixels(t *testing.T, name string, px *Pixels, c *ipt.Image, a []float32) {
	t.Helper()
	if h, w := px.Size(); h != c.H || w != c.W {
		t.Fatalf("%s: size %d×%d, want %d×%d", name, w, h, c.W, c.H)
	}
	if px.HasAlpha() != (a != nil) {
		t.Fatalf("%s: alpha %v, want %v", name, px.HasAlpha(), a != nil)
	}
	rng := rand.New(rand.NewPCG(uint64(c.H), uint64(c.W)))
	windows := [][4]int{{0, 0, c.H, c.W}, {c.H - 1, c.W - 1, 1, 1}, {0, c.W - 1, c.H, 1}, {c.H - 1, 0, 1, c.W}}
	for range 20 {
		h, w := 1+rng.IntN(c.H), 1+rng.IntN(c.W)
		windows = append(windows, [4]int{rng.IntN(c.H - h + 1), rng.IntN(c.W - w + 1), h, w})
	}
	for _, win := range windows {
		y, x, h, w := win[0], win[1], win[2], win[3]
		got, want := make([]float32, 3*h*w), make([]float32, 3*h*w)
		px.Crop(got, y, x, h, w)
		c.Crop(want, y, x, h, w)
		if !equalBits(got, want) {
			t.Fatalf("%s: the %d×%d crop at (%d, %d) differs from the whole-image conversion", name, w, h, x, y)
		}
	}
	if a != nil {
		rows := px.alphaRows()
		for y := range c.H {
			if !equalBits(rows(y), a[y*c.W:(y+1)*c.W]) {
				t.Fatalf("%s: alpha row %d differs from the whole-image conversion", name, y)
			}
		}
	}
}

// orientImaging is what imaging.Decode with AutoOrientation did to a JPEG
// of EXIF orientation o.
func orientImaging(m image.Image, o int) image.Image {
	switch o {
	case 2:
		return imaging.FlipH(m)
	case 3:
		return imaging.Rotate180(m)
	case 4:
		return imaging.FlipV(m)
	case 5:
		return imaging.Transpose(m)
	case 6:
		return imaging.Rotate270(m)
	case 7:
		return imaging.Transverse(m)
	case 8:
		return imaging.Rotate90(m)
	}
	return m
}

// decoderImages are images of every type the decoders return (and one
// they do not, for the generic path), some with bounds not at the origin.
func decoderImages(h, w int) map[string]image.Image {
	rng := rand.New(rand.NewPCG(7, uint64(h*w)))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
	}
	r := image.Rect(3, 2, 3+w, 2+h)
	ms := map[string]image.Image{}
	for _, kind := range []string{"gray", "gray16", "rgb", "nrgba", "rgb16", "nrgba16"} {
		ms[kind] = testImage(kind, h, w)
	}
	g := image.NewGray(r)
	fill(g.Pix)
	ms["gray-offset"] = g
	// Premultiplied with partial alpha, as TIFF with associated alpha decodes.
	pre := image.NewRGBA(r)
	pre16 := image.NewRGBA64(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			a := uint16(rng.IntN(65536))
			if rng.IntN(4) == 0 {
				a = 0
			}
			c := color.RGBA64{uint16(rng.IntN(int(a) + 1)), uint16(rng.IntN(int(a) + 1)), uint16(rng.IntN(int(a) + 1)), a}
			pre16.SetRGBA64(x, y, c)
			pre.Set(x, y, c)
		}
	}
	ms["rgba-premultiplied"], ms["rgba64-premultiplied"] = pre, pre16
	pal := color.Palette{color.NRGBA{1, 2, 3, 255}, color.NRGBA{200, 100, 50, 0}, color.NRGBA{9, 250, 7, 128}, color.Gray16{40000}}
	pm := image.NewPaletted(r, pal)
	for i := range pm.Pix {
		pm.Pix[i] = byte(rng.IntN(len(pal) + 1)) // one past the palette: opaque black
	}
	ms["paletted"] = pm
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410} {
		yc := image.NewYCbCr(r, ratio)
		fill(yc.Y)
		fill(yc.Cb)
		fill(yc.Cr)
		ms["ycbcr-"+ratio.String()] = yc
	}
	ya := image.NewNYCbCrA(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	fill(ya.Y)
	fill(ya.Cb)
	fill(ya.Cr)
	fill(ya.A)
	ms["nycbcra"] = ya
	k := image.NewCMYK(r)
	fill(k.Pix)
	ms["cmyk"] = k
	a16 := image.NewAlpha16(image.Rect(0, 0, w, h)) // no case of its own
	fill(a16.Pix)
	ms["alpha16"] = a16
	return ms
}

// TestPixelsMatchPlanes: Pixels of every image type, and of JPEG's types
// in every EXIF orientation, give the values the whole-image conversion
// gave (after imaging oriented the image, for JPEG).
func TestPixelsMatchPlanes(t *testing.T) {
	for _, size := range [][2]int{{1, 1}, {7, 5}, {16, 23}} {
		h, w := size[0], size[1]
		for name, m := range decoderImages(h, w) {
			orients := []int{0}
			switch m.(type) {
			case *image.Gray, *image.YCbCr, *image.CMYK: // what the JPEG decoder returns
				orients = []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
			}
			for _, o := range orients {
				label := fmt.Sprintf("%s %d×%d orientation %d", name, w, h, o)
				c, a := referencePlanes(orientImaging(m, o))
				checkPixels(t, label, newPixels(newDecoded(m), o), c, a)
			}
		}
	}
}

// jpegWith inserts segments right after a JPEG's SOI marker.
func jpegWith(data []byte, segs ...[]byte) []byte {
	out := slices.Clone(data[:2])
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, data[2:]...)
}

// compactFiles are h×w files of every format and of the kinds of image
// each decoder returns.
func compactFiles(t testing.TB, h, w int) map[string][]byte {
	files := map[string][]byte{}
	enc := func(name string, f func(*bytes.Buffer) error) {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(name, err)
		}
		files[name] = b.Bytes()
	}
	for _, kind := range []string{"gray", "gray16", "rgb", "nrgba", "rgb16", "nrgba16"} {
		files["png-"+kind] = encodePNG(t, testImage(kind, h, w))
	}
	files["png-grey-alpha"] = encodePNG(t, greyAlpha(h, w, false))
	files["png-grey-alpha16"] = encodePNG(t, greyAlpha(h, w, true))
	pm := decoderImages(h, w)["paletted"].(*image.Paletted)
	files["png-paletted"] = encodePNG(t, pm)
	files["png-icc"] = withICCP(t, encodePNG(t, testImage("rgb", h, w)), testICC(300))

	enc("jpeg", func(b *bytes.Buffer) error { return jpeg.Encode(b, testImage("rgb", h, w), &jpeg.Options{Quality: 90}) })
	enc("jpeg-grey", func(b *bytes.Buffer) error { return jpeg.Encode(b, testImage("gray", h, w), nil) })
	icc, err := jpegICCSegments(testICC(70000))
	if err != nil {
		t.Fatal(err)
	}
	files["jpeg-icc"] = jpegWith(files["jpeg"], icc)
	for o := range 9 {
		files[fmt.Sprintf("jpeg-orientation%d", o)] = jpegWith(files["jpeg"], exifOrientation(uint16(o)))
	}
	files["jpeg-grey-orientation6"] = jpegWith(files["jpeg-grey"], exifOrientation(6))
	files["jpeg-icc-orientation5"] = jpegWith(files["jpeg"], icc, exifOrientation(5))

	gpal := color.Palette{color.RGBA{0, 0, 0, 0}, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	frame := image.NewPaletted(image.Rect(w/3, h/3, w, h), gpal)
	for i := range frame.Pix {
		frame.Pix[i] = byte(i % 3)
	}
	enc("gif-canvas", func(b *bytes.Buffer) error {
		return gif.EncodeAll(b, &gif.GIF{Image: []*image.Paletted{frame}, Delay: []int{0}, Config: image.Config{ColorModel: gpal, Width: w, Height: h}})
	})
	inPalette := image.NewPaletted(pm.Rect, pm.Palette) // GIF's encoder takes no index past the palette
	for i, v := range pm.Pix {
		inPalette.Pix[i] = v % byte(len(pm.Palette))
	}
	enc("gif", func(b *bytes.Buffer) error { return gif.Encode(b, inPalette, nil) })

	for _, kind := range []string{"rgb", "gray", "nrgba"} {
		enc("bmp-"+kind, func(b *bytes.Buffer) error { return bmp.Encode(b, testImage(kind, h, w)) })
	}
	for _, kind := range []string{"rgb16", "nrgba16", "gray16", "rgb", "nrgba", "gray"} {
		enc("tiff-"+kind, func(b *bytes.Buffer) error {
			return tiff.Encode(b, testImage(kind, h, w), &tiff.Options{Compression: tiff.Deflate})
		})
	}
	enc("tiff-premultiplied", func(b *bytes.Buffer) error {
		return tiff.Encode(b, decoderImages(h, w)["rgba-premultiplied"], nil)
	})
	enc("tiff-paletted", func(b *bytes.Buffer) error { return tiff.Encode(b, pm, nil) })
	files["webp"] = webpFile(riffChunk("VP8L", vp8l(w, h, color.NRGBA{200, 100, 50, 128})))

	files["ppm"] = netpbm(testImage("rgb", h, w), "", 255)
	files["ppm16"] = netpbm(testImage("rgb16", h, w), "", 65535)
	files["pgm"] = netpbm(testImage("gray", h, w), "", 255)
	files["pgm16"] = netpbm(testImage("gray16", h, w), "", 65535)
	files["pgm-maxval1023"] = netpbm(testImage("gray16", h, w), "", 1023) // samples past maxval too
	files["ppm-maxval100"] = netpbm(testImage("rgb", h, w), "", 100)
	files["pam-rgba"] = netpbm(testImage("nrgba", h, w), "RGB_ALPHA", 255)
	files["pam-rgba16"] = netpbm(testImage("nrgba16", h, w), "RGB_ALPHA", 65535)
	files["pam-grey-alpha"] = netpbm(greyAlpha(h, w, false), "GRAYSCALE_ALPHA", 255)
	files["pam-grey-alpha16"] = netpbm(greyAlpha(h, w, true), "GRAYSCALE_ALPHA", 65535)
	files["pam-opaque-alpha"] = netpbm(testImage("rgb", h, w), "RGB_ALPHA", 255)
	return files
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestReadCompactMatchesPlanes: every file read compact gives the values,
// flags and profile the whole-image conversion gave, and Read (its float
// planes) gives them too.
func TestReadCompactMatchesPlanes(t *testing.T) {
	for _, size := range [][2]int{{1, 1}, {9, 14}, {26, 19}} {
		files := compactFiles(t, size[0], size[1])
		for _, name := range sortedNames(files) {
			data := files[name]
			label := fmt.Sprintf("%s %d×%d", name, size[1], size[0])
			want, err := referenceRead(data)
			if err != nil {
				t.Fatalf("%s: reference: %v", label, err)
			}
			p, err := ReadCompact(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			if p.Color != nil || p.Alpha != nil || p.Format != want.Format || p.Grey != want.Grey || p.Deep != want.Deep || !bytes.Equal(p.ICC, want.ICC) {
				t.Fatalf("%s: got %s grey %v deep %v profile %d bytes, want %s %v %v %d", label,
					p.Format, p.Grey, p.Deep, len(p.ICC), want.Format, want.Grey, want.Deep, len(want.ICC))
			}
			checkPixels(t, label, p.Pixels, want.Color, want.Alpha)
			f := p.Floats()
			if f.Pixels != nil || !equalBits(f.Color.Pix, want.Color.Pix) || !equalBits(f.Alpha, want.Alpha) {
				t.Fatalf("%s: Floats differs from the whole-image conversion", label)
			}
		}
	}
}

// TestReadCompactErrors: cut anywhere, or with junk after it, a file gives
// ReadCompact the error (or the picture) it gave the whole-file decoding.
func TestReadCompactErrors(t *testing.T) {
	files := compactFiles(t, 6, 7)
	for _, name := range sortedNames(files) {
		data := files[name]
		cuts := []int{1, 2, 3, len(data) - 1}
		for n := 4; n < len(data); n += 1 + len(data)/60 {
			cuts = append(cuts, n)
		}
		for _, n := range cuts {
			_, want := referenceRead(data[:n])
			_, err := ReadCompact(bytes.NewReader(data[:n]))
			if fmt.Sprint(err) != fmt.Sprint(want) {
				t.Errorf("%s cut at %d of %d bytes: error %v, want %v", name, n, len(data), err, want)
			}
		}
		junk := append(slices.Clone(data), "junk after the image"...)
		if _, err := ReadCompact(bytes.NewReader(junk)); err != nil {
			t.Errorf("%s with junk after it: %v", name, err)
		}
	}
	// A 1×1 PNG whose next chunk runs past what a file of its size may
	// hold: read up to the limit, and refused as oversized.
	head := encodePNG(t, testImage("rgb", 1, 1))[:33]
	claim := append(binary.BigEndian.AppendUint32(nil, 1<<31-1), "tEXt"...)
	data := slices.Concat(head, claim, make([]byte, inputLimit(1, 1)))
	_, want := referenceRead(data)
	_, err := ReadCompact(bytes.NewReader(data))
	if err == nil || fmt.Sprint(err) != fmt.Sprint(want) {
		t.Errorf("oversized PNG: error %v, want %v", err, want)
	}
}

// TestCompactRestoreMatchesFloatPlanes restores every file through the
// compact path (ReadCompact, Runner.Stream reading crops from Pixels, the
// output written as it streams) and through float planes (the conversion
// and writers as they were: whole planes, Runner.Restore, the whole picture
// written), ×1 and ×3, larger and smaller than a tile (mirror-padded): the
// files written must be the same bytes.
func TestCompactRestoreMatchesFloatPlanes(t *testing.T) {
	m, err := ipt.Load("../../testdata/ipt-alt/model_legacy.pt", 2) // P = 12, scales 4, 3, 1
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	P := m.Config.PatchSize
	for _, size := range [][2]int{{P + 5, P + 2}, {P / 2, P - 5}} {
		files := compactFiles(t, size[0], size[1])
		for _, name := range sortedNames(files) {
			data := files[name]
			want, err := referenceRead(data)
			if err != nil {
				t.Fatal(name, err)
			}
			tasks := []int{2} // ×1; ×3 too where there is alpha to resize
			if want.Alpha != nil || name == "png-rgb" {
				tasks = append(tasks, 1)
			}
			for _, task := range tasks {
				r := &ipt.Runner{Model: m, Task: task}
				s := r.Scale()
				format := want.Format
				switch format {
				case "gif", "webp":
					format = "png"
				}
				label := fmt.Sprintf("%s %d×%d ×%d as %s", name, size[1], size[0], s, format)
				c, err := r.Restore(ctx, want.Color, ipt.TilingBlend, ipt.NoEnsemble)
				if err != nil {
					t.Fatal(label, err)
				}
				var wb, gb bytes.Buffer
				if err := wholeWrite(&wb, wholeWithColor(want, c), format, 0); err != nil {
					t.Fatal(label, err)
				}
				p, err := ReadCompact(bytes.NewReader(data))
				if err != nil {
					t.Fatal(label, err)
				}
				h, w := p.Size()
				out := p.Restored(h*s, w*s, func(yield func(*ipt.Image) error) error {
					return r.Stream(ctx, p.Source(), ipt.TilingBlend, ipt.NoEnsemble, yield)
				})
				if err := out.Write(&gb, format, 0); err != nil {
					t.Fatal(label, err)
				}
				if !bytes.Equal(gb.Bytes(), wb.Bytes()) {
					t.Errorf("%s: the compact path wrote %d bytes, not the %d bytes of float planes", label, gb.Len(), wb.Len())
				}
			}
		}
	}
}
