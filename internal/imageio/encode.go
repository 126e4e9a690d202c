package imageio

import (
	"bytes"
	"fmt"
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
	if px := p.Pixels; px != nil {
		h, wd := px.Size()
		return p.Restored(h, wd, func(yield func(*ipt.Image) error) error { return yield(ipt.ImageOf(px)) }).Write(w, format, quality)
	}
	c := p.Color
	if c == nil || c.H <= 0 || c.W <= 0 || len(c.Pix) != ipt.Colors*c.H*c.W || p.Alpha != nil && len(p.Alpha) != c.H*c.W {
		return fmt.Errorf("imageio: malformed picture")
	}
	o := p.Restored(c.H, c.W, func(yield func(*ipt.Image) error) error { return yield(c) })
	return o.Write(w, format, quality)
}

// Write encodes o as format, as [Write] does a Picture, running o.Color as
// the encoder asks for rows. PNG, colour JPEG, PPM and PAM are encoded as
// the rows come and hold a few rows; TIFF, BMP and grey JPEG, whose
// encoders take only whole images of their own types, hold the picture
// quantized to 8 or 16 bits (1 to 8 bytes a pixel, see [Output.WriteBytes]).
// An error of o.Color fails Write with that error, after part of the file
// may have been written to w.
func (o *Output) Write(w io.Writer, format string, quality int) (err error) {
	if o.H <= 0 || o.W <= 0 || o.Color == nil {
		return fmt.Errorf("imageio: malformed picture")
	}
	defer func() {
		if v := recover(); v != nil {
			a, ok := v.(abort)
			if !ok {
				panic(v)
			}
			err = a.err
		}
	}()
	switch format {
	case "png":
		var icc io.Writer = w
		if o.ICC != nil { // the iCCP chunk goes right after IHDR
			icc = &inserter{w: w, at: len(pngSignature) + 25, extra: pngICCChunk(o.ICC)}
		}
		opaque := o.planeCount(true)%2 == 1 || o.alphaOpaque(o.Deep)
		m := o.lazy(o.Deep, true, opaque)
		defer m.rows.stop()
		if err := png.Encode(icc, m); err != nil {
			return err
		}
		return m.rows.finish()
	case "jpeg":
		if quality == 0 {
			quality = DefaultQuality
		}
		if quality < 1 || quality > 100 {
			return fmt.Errorf("JPEG quality %d out of range 1..100", quality)
		}
		var icc io.Writer = w
		if o.ICC != nil { // APP2 segments right after SOI
			segs, err := jpegICCSegments(o.ICC)
			if err != nil {
				return err
			}
			icc = &inserter{w: w, at: 2, extra: segs}
		}
		opts := &jpeg.Options{Quality: quality}
		if o.Grey { // image/jpeg writes one component for *image.Gray only
			m, err := o.raster(false, false)
			if err != nil {
				return err
			}
			return jpeg.Encode(icc, m, opts)
		}
		m := o.lazy(false, false, true)
		defer m.rows.stop()
		if err := jpeg.Encode(icc, m, opts); err != nil {
			return err
		}
		return m.rows.finish()
	case "tiff":
		m, err := o.raster(o.Deep, true)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := tiff.Encode(&buf, m, &tiff.Options{Compression: tiff.Deflate}); err != nil {
			return err
		}
		b := buf.Bytes()
		if o.ICC != nil {
			var err error
			if b, err = addTIFFICC(b, o.ICC); err != nil {
				return err
			}
		}
		_, err = w.Write(b)
		return err
	case "bmp":
		m, err := o.raster(false, true)
		if err != nil {
			return err
		}
		return bmp.Encode(w, m)
	case "ppm", "pam":
		return writePNM(w, o, format == "pam")
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
