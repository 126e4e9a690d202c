package imageio

// The conversion to float planes as it was before pictures kept their
// pixels compact (Pixels), kept verbatim as the oracle of the tests that
// check Pixels gives the same values.

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"

	"github.com/disintegration/imaging"
	"golang.org/x/image/tiff"

	"github.com/ipt-go/ipt/internal/ipt"
)

// referenceRead is Read before Pixels, on a whole file.
func referenceRead(data []byte) (*Picture, error) {
	if len(data) >= 2 && data[0] == 'P' && '5' <= data[1] && data[1] <= '7' {
		r := bytes.NewReader(data[2:])
		w, h, depth, maxval, format, err := pnmHeader(r, data[1])
		if err != nil {
			return nil, err
		}
		return referenceRaster(r, w, h, depth, maxval, format)
	}
	var cfg image.Config
	var format string
	var err error
	if string(data[:min(4, len(data))]) == "II*\x00" || string(data[:min(4, len(data))]) == "MM\x00*" {
		format = "tiff"
		cfg, err = tiff.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, format, err = image.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return nil, describe(err)
	}
	if err := checkSize(int64(cfg.Width), int64(cfg.Height)); err != nil {
		return nil, err
	}
	return referenceDecodeBytes(data, cfg, format)
}

// referenceDecodeBytes is decodeBytes before Pixels: imaging applies the
// orientation to a copy, and the whole image is converted to float planes.
func referenceDecodeBytes(data []byte, cfg image.Config, format string) (*Picture, error) {
	var m image.Image
	var err error
	switch format {
	case "jpeg":
		m, err = imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	case "tiff":
		m, err = tiff.Decode(bytes.NewReader(data)) // an io.ReaderAt, not copied
	default:
		m, _, err = image.Decode(bytes.NewReader(data))
	}
	if err != nil {
		if int64(len(data)) > inputLimit(cfg.Width, cfg.Height) {
			return nil, fmt.Errorf("%s file larger than %d bytes, more than a %d×%d image can need",
				format, inputLimit(cfg.Width, cfg.Height), cfg.Width, cfg.Height)
		}
		return nil, describe(err)
	}
	if format == "gif" && m.Bounds() != image.Rect(0, 0, cfg.Width, cfg.Height) {
		// A first frame smaller than the screen sits on a transparent canvas.
		canvas := image.NewNRGBA(image.Rect(0, 0, cfg.Width, cfg.Height))
		draw.Draw(canvas, m.Bounds(), m, m.Bounds().Min, draw.Src)
		m = canvas
	}
	if b := m.Bounds(); checkSize(int64(b.Dx()), int64(b.Dy())) != nil {
		return nil, fmt.Errorf("%s decoder returned a %d×%d image", format, b.Dx(), b.Dy())
	}
	p := &Picture{Format: format, Deep: isDeep(m), Grey: isGrey(m)}
	p.Color, p.Alpha = referencePlanes(m)
	switch format {
	case "png":
		if len(data) > 25 && (data[25] == 0 || data[25] == 4) { // IHDR colour type grey, grey+alpha
			p.Grey = true
		}
		p.ICC = pngICC(data)
	case "jpeg":
		p.Grey = cfg.ColorModel == color.GrayModel
		p.ICC = jpegICC(data)
	case "tiff":
		p.ICC = tiffICC(data)
	case "webp":
		p.ICC = webpICC(data)
	}
	return p, nil
}

// referenceRaster is readRaster before Pixels: it reads the samples of a w×h netpbm image row by row, big-endian
// when maxval needs two bytes, and scales them to 0..255.
func referenceRaster(r io.Reader, w, h, depth, maxval int, format string) (*Picture, error) {
	bps := 1
	if maxval > 255 {
		bps = 2
	}
	row := make([]byte, w*depth*bps)
	c := ipt.NewImage(h, w)
	n := h * w
	R, G, B := c.Pix[:n], c.Pix[n:2*n], c.Pix[2*n:]
	var A []float32
	if depth == 2 || depth == 4 {
		A = make([]float32, n)
	}
	m := float32(maxval)
	sample := func(k int) float32 {
		v := uint16(row[k])
		if bps == 2 {
			v = uint16(row[2*k])<<8 | uint16(row[2*k+1])
		}
		return min(float32(v)*255/m, 255) // exact for maxval 255; v/257 for 65535
	}
	for y := range h {
		if _, err := io.ReadFull(r, row); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = errTruncated
			}
			return nil, err
		}
		for x := range w {
			i, k := y*w+x, x*depth
			switch depth {
			case 1, 2:
				R[i] = sample(k)
				G[i], B[i] = R[i], R[i]
			default:
				R[i], G[i], B[i] = sample(k), sample(k+1), sample(k+2)
			}
			if A != nil {
				A[i] = sample(k + depth - 1)
			}
		}
	}
	if refOpaque(A) {
		A = nil
	}
	return &Picture{Color: c, Alpha: A, Grey: depth <= 2, Deep: maxval > 255, Format: format}, nil
}

// referencePlanes is the conversion before Pixels, kept verbatim: it converts any image to planar RGB on 0..255 and its alpha plane
// (nil when opaque). Colours are read non-premultiplied so transparent
// pixels keep their colour where the format stores it.
func referencePlanes(m image.Image) (*ipt.Image, []float32) {
	b := m.Bounds()
	h, w := b.Dy(), b.Dx()
	c := ipt.NewImage(h, w)
	n := h * w
	R, G, B := c.Pix[:n], c.Pix[n:2*n], c.Pix[2*n:]
	var A []float32
	if o, ok := m.(interface{ Opaque() bool }); !ok || !o.Opaque() {
		A = make([]float32, n)
	}
	const d16 = 257 // 16-bit to 0..255
	switch m := m.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for x, v := range row {
				R[y*w+x] = float32(v)
			}
		}
		copy(G, R)
		copy(B, R)
	case *image.Gray16:
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:2*w]
			for x := range w {
				R[y*w+x] = float32(uint16(row[2*x])<<8|uint16(row[2*x+1])) / d16
			}
		}
		copy(G, R)
		copy(B, R)
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := range w {
				i, s := y*w+x, row[4*x:4*x+4]
				R[i], G[i], B[i] = float32(s[0]), float32(s[1]), float32(s[2])
				if A != nil {
					A[i] = float32(s[3])
				}
			}
		}
	case *image.NRGBA64:
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:8*w]
			for x := range w {
				i, s := y*w+x, row[8*x:8*x+8]
				R[i] = float32(uint16(s[0])<<8|uint16(s[1])) / d16
				G[i] = float32(uint16(s[2])<<8|uint16(s[3])) / d16
				B[i] = float32(uint16(s[4])<<8|uint16(s[5])) / d16
				if A != nil {
					A[i] = float32(uint16(s[6])<<8|uint16(s[7])) / d16
				}
			}
		}
	case *image.RGBA:
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := range w {
				i, s := y*w+x, row[4*x:4*x+4]
				a := float32(s[3])
				R[i], G[i], B[i] = refUnpremul(float32(s[0]), a), refUnpremul(float32(s[1]), a), refUnpremul(float32(s[2]), a)
				if A != nil {
					A[i] = a
				}
			}
		}
	case *image.RGBA64:
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:8*w]
			for x := range w {
				i, s := y*w+x, row[8*x:8*x+8]
				a := float32(uint16(s[6])<<8 | uint16(s[7]))
				R[i] = refUnpremul(float32(uint16(s[0])<<8|uint16(s[1])), a)
				G[i] = refUnpremul(float32(uint16(s[2])<<8|uint16(s[3])), a)
				B[i] = refUnpremul(float32(uint16(s[4])<<8|uint16(s[5])), a)
				if A != nil {
					A[i] = a / d16
				}
			}
		}
	case *image.Paletted:
		var lut [256][4]float32 // indices past the palette read as opaque black
		for i := range lut {
			lut[i][3] = 255
		}
		for i, pc := range m.Palette[:min(len(m.Palette), 256)] {
			c := color.NRGBA64Model.Convert(pc).(color.NRGBA64)
			lut[i] = [4]float32{float32(c.R) / d16, float32(c.G) / d16, float32(c.B) / d16, float32(c.A) / d16}
		}
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for x, v := range row {
				i, e := y*w+x, &lut[v]
				R[i], G[i], B[i] = e[0], e[1], e[2]
				if A != nil {
					A[i] = e[3]
				}
			}
		}
	case *image.YCbCr:
		for y := range h {
			for x := range w {
				yc := m.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.YCbCrToRGB(yc.Y, yc.Cb, yc.Cr)
				i := y*w + x
				R[i], G[i], B[i] = float32(r), float32(g), float32(bb)
			}
		}
	case *image.NYCbCrA:
		for y := range h {
			for x := range w {
				yc := m.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.YCbCrToRGB(yc.Y, yc.Cb, yc.Cr)
				i := y*w + x
				R[i], G[i], B[i] = float32(r), float32(g), float32(bb)
				if A != nil {
					A[i] = float32(m.A[m.AOffset(b.Min.X+x, b.Min.Y+y)])
				}
			}
		}
	case *image.CMYK:
		for y := range h {
			for x := range w {
				k := m.CMYKAt(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.CMYKToRGB(k.C, k.M, k.Y, k.K)
				i := y*w + x
				R[i], G[i], B[i] = float32(r), float32(g), float32(bb)
			}
		}
	default:
		for y := range h {
			for x := range w {
				c := color.NRGBA64Model.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				i := y*w + x
				R[i], G[i], B[i] = float32(c.R)/d16, float32(c.G)/d16, float32(c.B)/d16
				if A != nil {
					A[i] = float32(c.A) / d16
				}
			}
		}
	}
	if refOpaque(A) {
		A = nil
	}
	return c, A
}

// unpremul returns the straight value on 0..255 of a sample v premultiplied
// by alpha a, both on the same scale (0..255 or 0..65535).
func refUnpremul(v, a float32) float32 {
	if a == 0 {
		return 0
	}
	return min(v*255/a, 255)
}

func refOpaque(a []float32) bool {
	for _, v := range a {
		if v != 255 {
			return false
		}
	}
	return true
}
