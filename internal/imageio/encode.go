package imageio

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"path/filepath"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/ipt-go/ipt/internal/ipt"
)

// DefaultQuality is the JPEG quality Write uses when given 0.
const DefaultQuality = 95

// Write encodes p as format: "png", "jpeg", "tiff", "bmp", "ppm" (P6, or P5
// when p is grey) or "pam". quality (1..100, 0 for DefaultQuality) is used
// by JPEG only. See the package documentation for what each format keeps.
func Write(w io.Writer, p *Picture, format string, quality int) error {
	if c := p.Color; c == nil || c.H <= 0 || c.W <= 0 || len(c.Pix) != ipt.Colors*c.H*c.W ||
		p.Alpha != nil && len(p.Alpha) != c.H*c.W {
		return fmt.Errorf("imageio: malformed picture")
	}
	switch format {
	case "png":
		var icc io.Writer = w
		if p.ICC != nil { // the iCCP chunk goes right after IHDR
			icc = &inserter{w: w, at: len(pngSignature) + 25, extra: pngICCChunk(p.ICC)}
		}
		return png.Encode(icc, toImage(p, p.Deep, true))
	case "jpeg":
		if quality == 0 {
			quality = DefaultQuality
		}
		if quality < 1 || quality > 100 {
			return fmt.Errorf("JPEG quality %d out of range 1..100", quality)
		}
		var icc io.Writer = w
		if p.ICC != nil { // APP2 segments right after SOI
			segs, err := jpegICCSegments(p.ICC)
			if err != nil {
				return err
			}
			icc = &inserter{w: w, at: 2, extra: segs}
		}
		return jpeg.Encode(icc, toImage(p, false, false), &jpeg.Options{Quality: quality})
	case "tiff":
		var buf bytes.Buffer
		if err := tiff.Encode(&buf, toImage(p, p.Deep, true), &tiff.Options{Compression: tiff.Deflate}); err != nil {
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
		return bmp.Encode(w, toImage(p, false, true))
	case "ppm", "pam":
		return writePNM(w, p, format == "pam")
	}
	return fmt.Errorf("cannot write %q images (png, jpeg, tiff, bmp, ppm or pam)", format)
}

// FormatForPath is the output format for a file name's extension:
// .png, .jpg/.jpeg, .tif/.tiff, .bmp, .ppm/.pgm/.pnm, .pam.
func FormatForPath(path string) (string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".png":
		return "png", nil
	case ".jpg", ".jpeg":
		return "jpeg", nil
	case ".tif", ".tiff":
		return "tiff", nil
	case ".bmp":
		return "bmp", nil
	case ".ppm", ".pgm", ".pnm":
		return "ppm", nil
	case ".pam":
		return "pam", nil
	case "":
		return "", fmt.Errorf("no extension to choose the output format by (.png, .jpg, .tif, .bmp, .ppm, .pam)")
	}
	return "", fmt.Errorf("cannot write %s files (only .png, .jpg, .tif, .bmp, .ppm, .pam)", ext)
}

// outputPlanes are the planes to write: one grey plane (the mean of R, G
// and B) or R, G, B; then alpha when withAlpha and p has one.
func outputPlanes(p *Picture, withAlpha bool) [][]float32 {
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

// toImage converts p to the image type the encoders write best: Gray or
// Gray16 for grey without alpha, RGBA or RGBA64 (opaque) for colour
// without alpha, NRGBA or NRGBA64 with alpha (grey replicated).
func toImage(p *Picture, deep, withAlpha bool) image.Image {
	planes := outputPlanes(p, withAlpha)
	rect := image.Rect(0, 0, p.Color.W, p.Color.H)
	n := p.Color.H * p.Color.W
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
	if len(planes) == 2 { // grey and alpha
		planes = [][]float32{planes[0], planes[0], planes[0], planes[1]}
	}
	alpha := len(planes) == 4
	if deep {
		if alpha {
			m := image.NewNRGBA64(rect)
			fill16(m.Pix, planes, n)
			return m
		}
		m := image.NewRGBA64(rect)
		fill16(m.Pix, planes, n)
		return m
	}
	if alpha {
		m := image.NewNRGBA(rect)
		fill8(m.Pix, planes, n)
		return m
	}
	m := image.NewRGBA(rect)
	fill8(m.Pix, planes, n)
	return m
}

// fill8 interleaves 3 or 4 planes into 8-bit RGBA samples (alpha 255 when
// there are 3).
func fill8(pix []byte, planes [][]float32, n int) {
	for i := range n {
		s := pix[4*i : 4*i+4]
		s[0], s[1], s[2], s[3] = Quantize(planes[0][i]), Quantize(planes[1][i]), Quantize(planes[2][i]), 255
		if len(planes) == 4 {
			s[3] = Quantize(planes[3][i])
		}
	}
}

// fill16 interleaves 3 or 4 planes into 16-bit big-endian RGBA samples.
func fill16(pix []byte, planes [][]float32, n int) {
	for i := range n {
		s := pix[8*i : 8*i+8]
		for k := range 4 {
			q := uint16(0xffff)
			if k < len(planes) {
				q = quantize16(planes[k][i])
			}
			s[2*k], s[2*k+1] = byte(q>>8), byte(q)
		}
	}
}
