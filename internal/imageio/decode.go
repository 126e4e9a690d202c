package imageio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // registers GIF with image.Decode
	_ "image/jpeg"
	"image/png"
	"io"
	"math"
	"strings"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/ipt-go/ipt/internal/ipt"
)

// ErrEmpty is returned for an input (or a stream) with no image at all.
var ErrEmpty = errors.New("empty input")

var errTruncated = errors.New("truncated image")

// maxInputBytes bounds what Read takes in before it knows the dimensions
// (a TIFF may put its header at the end of the file).
const maxInputBytes = min(16*MaxPixels+32<<20, math.MaxInt>>1)

// inputLimit is the most bytes a w×h image file is allowed: twice 8 bytes a
// pixel (16-bit RGBA, stored uncompressed) and 32 MiB for metadata.
func inputLimit(w, h int) int64 {
	return min(16*int64(w)*int64(h)+32<<20, maxInputBytes)
}

// Read decodes one whole image file: PNG, JPEG, GIF (first frame), BMP,
// TIFF, WebP, PPM/PGM (P6/P5) or PAM (P7). It applies a JPEG's EXIF
// orientation and keeps the embedded colour profile of PNG, JPEG, TIFF and
// WebP files. Bytes after the image are not read or are ignored.
func Read(r io.Reader) (*Picture, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	switch {
	case len(head) == 0 && err == io.EOF:
		return nil, ErrEmpty
	case len(head) == 0:
		return nil, err
	case len(head) == 2 && head[0] == 'P' && '5' <= head[1] && head[1] <= '7':
		br.Discard(2)
		return readPNM(br, head[1])
	}
	data, cfg, format, err := readAll(br)
	if err != nil {
		return nil, err
	}
	return decodeBytes(data, cfg, format)
}

// readAll reads a whole encoded image, checking the dimensions its header
// claims before reading more than the header needs.
func readAll(r *bufio.Reader) ([]byte, image.Config, string, error) {
	var buf bytes.Buffer
	lr := &io.LimitedReader{R: r, N: maxInputBytes}
	var cfg image.Config
	var format string
	var err error
	if head, _ := r.Peek(4); string(head) == "II*\x00" || string(head) == "MM\x00*" {
		// A TIFF's header may be anywhere (often at the end) and
		// x/image/tiff reads an io.Reader up to it in 10 MB steps: give it
		// random access to all of it (image.DecodeConfig would hide that).
		if _, err := buf.ReadFrom(lr); err != nil {
			return nil, cfg, "", err
		}
		format = "tiff"
		cfg, err = tiff.DecodeConfig(bytes.NewReader(buf.Bytes()))
	} else {
		cfg, format, err = image.DecodeConfig(io.TeeReader(lr, &buf))
	}
	if err != nil {
		return nil, cfg, "", describe(err)
	}
	if err := checkSize(int64(cfg.Width), int64(cfg.Height)); err != nil {
		return nil, cfg, "", err
	}
	limit := inputLimit(cfg.Width, cfg.Height)
	if _, err := io.Copy(&buf, io.LimitReader(lr, limit+1-int64(buf.Len()))); err != nil {
		return nil, cfg, "", err
	}
	data := buf.Bytes()
	if int64(len(data)) > limit {
		// Decoders stop at the end of their image (a GIF's first frame, a
		// PNG's IEND): try the prefix; decodeBytes reports an oversized file
		// when that fails.
		data = data[:limit+1]
	}
	return data, cfg, format, nil
}

// decodeBytes decodes a whole image file whose header was already checked.
func decodeBytes(data []byte, cfg image.Config, format string) (*Picture, error) {
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
	p.Color, p.Alpha = planes(m)
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

// describe turns decoder errors into short messages about the input.
func describe(err error) error {
	switch {
	case errors.Is(err, image.ErrFormat):
		return errors.New("not an image in a supported format")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errTruncated
	}
	// Some decoders format the error instead of wrapping it, or say the
	// data ended in their own words.
	for _, s := range truncationMessages {
		if strings.HasSuffix(err.Error(), s) {
			return errTruncated
		}
	}
	var fe png.FormatError
	if errors.As(err, &fe) {
		return fmt.Errorf("bad PNG: %s", string(fe))
	}
	return err
}

var truncationMessages = []string{
	io.ErrUnexpectedEOF.Error(), io.EOF.Error(),
	"not enough pixel data",    // image/png: the IDAT data ended
	"short Huffman data",       // image/jpeg: the scan ended
	"not enough image data",    // image/gif
	"riff: short chunk header", // webp
	"riff: short chunk data",
}

func isDeep(m image.Image) bool {
	switch m.(type) {
	case *image.RGBA64, *image.NRGBA64, *image.Gray16:
		return true
	}
	return false
}

// isGrey says whether m's colour model has no colour: grey images and
// palettes of greys only.
func isGrey(m image.Image) bool {
	switch m := m.(type) {
	case *image.Gray, *image.Gray16:
		return true
	case *image.Paletted:
		for _, c := range m.Palette {
			n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
			if n.R != n.G || n.G != n.B {
				return false
			}
		}
		return true
	}
	return false
}

// planes converts any image to planar RGB on 0..255 and its alpha plane
// (nil when opaque). Colours are read non-premultiplied so transparent
// pixels keep their colour where the format stores it.
func planes(m image.Image) (*ipt.Image, []float32) {
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
				R[i], G[i], B[i] = unpremul(float32(s[0]), a), unpremul(float32(s[1]), a), unpremul(float32(s[2]), a)
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
				R[i] = unpremul(float32(uint16(s[0])<<8|uint16(s[1])), a)
				G[i] = unpremul(float32(uint16(s[2])<<8|uint16(s[3])), a)
				B[i] = unpremul(float32(uint16(s[4])<<8|uint16(s[5])), a)
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
	if opaque(A) {
		A = nil
	}
	return c, A
}

// unpremul returns the straight value on 0..255 of a sample v premultiplied
// by alpha a, both on the same scale (0..255 or 0..65535).
func unpremul(v, a float32) float32 {
	if a == 0 {
		return 0
	}
	return min(v*255/a, 255)
}

func opaque(a []float32) bool {
	for _, v := range a {
		if v != 255 {
			return false
		}
	}
	return true
}
