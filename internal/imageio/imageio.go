// Package imageio converts between encoded images and the planar float
// images the model works on, keeping what the output needs to look like the
// input (bit depth, format).
package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"github.com/ipt-go/ipt/internal/ipt"
)

// MaxPixels bounds the size an image header may claim before anything is
// allocated for it (a hostile PNG can claim 2³¹×2³¹ in a few bytes).
const MaxPixels = 1 << 28

// Info describes a decoded input so the output can match it.
type Info struct {
	Format string // "png", "jpeg", …, as image.Decode names it
	Deep   bool   // 16 bits per channel
}

// Decode reads one image and returns it on the 0..255 scale. 16-bit inputs
// keep their precision (value/257).
func Decode(r io.Reader) (*ipt.Image, Info, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, Info{}, err
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, Info{}, describe(err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, Info{}, fmt.Errorf("image has no pixels (%d×%d)", cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, Info{}, fmt.Errorf("image claims %d×%d pixels, more than the %d this tool accepts", cfg.Width, cfg.Height, MaxPixels)
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, Info{}, describe(err)
	}
	info := Info{Format: format, Deep: isDeep(src)}
	return toPlanar(src), info, nil
}

func describe(err error) error {
	switch {
	case errors.Is(err, image.ErrFormat):
		return errors.New("not an image in a supported format")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("truncated image")
	}
	return err
}

func isDeep(m image.Image) bool {
	switch m.(type) {
	case *image.RGBA64, *image.NRGBA64, *image.Gray16:
		return true
	}
	return false
}

// toPlanar converts any image to a planar float RGB image on 0..255.
// Colours are read non-premultiplied so transparent pixels keep their colour.
func toPlanar(src image.Image) *ipt.Image {
	b := src.Bounds()
	h, w := b.Dy(), b.Dx()
	out := ipt.NewImage(h, w)
	plane := h * w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA64Model.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
			i := y*w + x
			out.Pix[i] = float32(c.R) / 257
			out.Pix[plane+i] = float32(c.G) / 257
			out.Pix[2*plane+i] = float32(c.B) / 257
		}
	}
	return out
}

// Quantize clamps v to [0, 255] and rounds half to even, as the authors'
// code does before saving.
func Quantize(v float32) uint8 {
	return uint8(math.RoundToEven(float64(min(max(v, 0), 255))))
}

// quantize16 maps v on 0..255 to 16 bits: clamped, scaled by 257, rounded
// half to even.
func quantize16(v float32) uint16 {
	return uint16(math.RoundToEven(float64(min(max(v, 0), 255)) * 257))
}

// ToImage converts a model output to an 8- or 16-bit RGB image.
func ToImage(im *ipt.Image, deep bool) image.Image {
	plane := im.H * im.W
	rect := image.Rect(0, 0, im.W, im.H)
	if deep {
		out := image.NewNRGBA64(rect)
		for i := 0; i < plane; i++ {
			out.SetNRGBA64(i%im.W, i/im.W, color.NRGBA64{quantize16(im.Pix[i]), quantize16(im.Pix[plane+i]), quantize16(im.Pix[2*plane+i]), 0xffff})
		}
		return out
	}
	out := image.NewNRGBA(rect)
	for i := 0; i < plane; i++ {
		out.Pix[4*i] = Quantize(im.Pix[i])
		out.Pix[4*i+1] = Quantize(im.Pix[plane+i])
		out.Pix[4*i+2] = Quantize(im.Pix[2*plane+i])
		out.Pix[4*i+3] = 255
	}
	return out
}

// EncodePNG writes im as PNG, 16-bit when deep.
func EncodePNG(w io.Writer, im *ipt.Image, deep bool) error {
	return png.Encode(w, ToImage(im, deep))
}
