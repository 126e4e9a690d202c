// Package imageio converts between encoded images and the planar float
// images the model works on, keeping what the output needs to look like the
// input: bit depth, alpha, greyness and the colour profile.
//
// # Reading
//
// [Read] takes one whole file: PNG, JPEG, GIF (first frame), BMP, TIFF,
// WebP, PPM/PGM (P6/P5) or PAM (P7). A JPEG's EXIF orientation is applied;
// other formats' orientation tags are not (browsers and most tools ignore
// them too). [StreamReader] splits a stream of concatenated PNG or
// PPM/PGM/PAM images (what ffmpeg -f image2pipe writes) image by image,
// never reading past the image it returns.
//
// Colour values land on the 0..255 scale: 8-bit samples as their integer
// values, 16-bit samples as value/257. JPEG and other YCbCr images are
// converted to 8-bit RGB the way libjpeg does; premultiplied inputs (TIFF
// with associated alpha) are un-premultiplied.
//
// Read returns float planes, 12 bytes a pixel (16 with alpha).
// [ReadCompact] (and [StreamReader.NextCompact]) keeps the image as the
// decoder returned it, 1 to 8 bytes a pixel, in [Pixels], which makes the
// float values of any crop when asked, the same values to the bit, with a
// JPEG's orientation mapped rather than applied to a copy: the tiler reads
// its tiles from it ([ipt.Source]) and the output its alpha rows.
// ReadCompact decodes PNG, JPEG, GIF, BMP and netpbm files as they are
// read, keeping only the headers before the image data; TIFF and WebP
// files are read whole first, and so are a stream's PNG images.
//
// # Writing
//
// [Write] encodes a [Picture] as PNG, JPEG, TIFF, BMP, PPM or PAM; a stream
// is written by calling it once per picture with the stream's format.
// Values are clamped to 0..255 and rounded half to even ([Quantize]); deep
// pictures are written with 16 bits per sample where the format allows it.
//
// A restored image need not exist whole: [Picture.Restored] makes an
// [Output] whose colour planes come in bands of rows from a function (the
// tiler) that [Output.Write] runs as the encoder asks for rows, resizing the
// alpha plane row by row alongside. PNG, colour JPEG, PPM and PAM are
// encoded from a few rows at a time; TIFF, BMP and grey JPEG from the
// picture quantized to 8 or 16 bits, as their encoders take whole images
// of their own types only. The bytes are those Write gives for the whole
// picture.
//
//	format  depth   alpha         grey        ICC profile
//	png     8, 16   yes           yes (a)     yes (iCCP chunk after IHDR)
//	jpeg    8       dropped (b)   yes         yes (APP2 ICC_PROFILE segments)
//	tiff    8, 16   yes           yes (a)     yes (tag 34675)
//	bmp     8       32 bpp (c)    yes         no (c)
//	ppm     8, 16   dropped       yes (P5)    no (d)
//	pam     8, 16   yes           yes         no (d)
//
// (a) Grey with alpha is written as RGBA with equal channels: neither the
// standard PNG encoder nor x/image/tiff writes a grey+alpha colour type.
// (b) JPEG has no alpha channel; the colour planes are written as they are
// (no compositing onto a background), as ImageMagick does. (c)
// x/image/bmp writes the BITMAPINFOHEADER: alpha goes into the fourth byte
// of 32-bit pixels, which many readers (x/image/bmp's too) ignore, and the
// header has no profile fields (only the V5 header, which no Go encoder
// writes, has). (d) Netpbm formats have no place for metadata. Other
// metadata (EXIF, XMP, text, resolution) is not carried; in particular an
// applied EXIF orientation is not written again.
//
// # Limits
//
// Claimed dimensions are checked against [MaxPixels] before any pixel memory
// is allocated, and input is read only up to a size a file of those
// dimensions can plausibly have (16 bytes a pixel and 32 MiB), so hostile
// input costs memory bounded by MaxPixels. Errors are short and name the
// problem, not the file ("truncated image", "image claims 100000×100000
// pixels, …"): callers prefix the file name. A stream's errors also name
// the image ("image 3: truncated image").
package imageio

import (
	"fmt"
	"math"

	"github.com/ipt-go/ipt/internal/ipt"
)

// MaxPixels bounds the size an image header may claim before anything is
// allocated for it (a hostile PNG can claim 2³¹×2³¹ in a few bytes).
const MaxPixels = 1 << 28

// maxPixels is MaxPixels where sizes in bytes cannot overflow an int (on
// 32-bit machines it is less); the fuzz targets lower it to stay fast.
var maxPixels int64 = min(MaxPixels, math.MaxInt/32)

// maxICCBytes bounds an embedded colour profile (real ones are at most a few
// MB; a JPEG cannot hold more than 255 segments of 65519 bytes).
const maxICCBytes = 16 << 20

// Picture is one image as the model sees it, plus what the output needs to
// look like the input. Its pixels are either float planes (Color, Alpha:
// what [Read] returns) or compact (Pixels: what [ReadCompact] returns).
type Picture struct {
	Color  *ipt.Image // RGB planes on 0..255; grey inputs are replicated to 3 channels; nil when Pixels holds the image
	Alpha  []float32  // [H·W] on 0..255, nil when the input had no alpha or was fully opaque, or when Pixels holds the image
	Pixels *Pixels    // the decoded image, compact; nil when Color holds it
	Grey   bool       // the input had no colour: the output is written grey
	Deep   bool       // 16 bits per sample
	Format string     // the input's format: png, jpeg, gif, bmp, tiff, webp, ppm (P5/P6) or pam
	ICC    []byte     // embedded colour profile, nil if none
}

// Size is the picture's height and width.
func (p *Picture) Size() (h, w int) {
	if p.Pixels != nil {
		return p.Pixels.Size()
	}
	return p.Color.H, p.Color.W
}

// Source is what the tiler reads the colour planes from: Pixels, or Color.
func (p *Picture) Source() ipt.Source {
	if p.Pixels != nil {
		return p.Pixels
	}
	return p.Color
}

// Floats returns p with its pixels as float planes: p itself when they
// are, else a copy whose Color and Alpha are made from Pixels.
func (p *Picture) Floats() *Picture {
	if p.Pixels == nil {
		return p
	}
	q := *p
	q.Color, q.Pixels = ipt.ImageOf(p.Pixels), nil
	if p.Pixels.alpha {
		h, w := p.Pixels.Size()
		q.Alpha = make([]float32, h*w)
		rows := p.Pixels.alphaRows()
		for y := range h {
			copy(q.Alpha[y*w:], rows(y))
		}
	}
	return &q
}

// alphaRows returns what makes readers of p's alpha rows (each reads any
// row, valid until its next call) and the bytes a reader holds besides p,
// or nil when p has no alpha.
func (p *Picture) alphaRows() (func() func(y int) []float32, int64) {
	switch {
	case p.Alpha != nil:
		a, w := p.Alpha, p.Color.W
		return func() func(int) []float32 {
			return func(y int) []float32 { return a[y*w : (y+1)*w] }
		}, 0
	case p.Pixels != nil && p.Pixels.alpha:
		return p.Pixels.alphaRows, 16 * int64(p.Pixels.w)
	}
	return nil, 0
}

// Quantize clamps v to [0, 255] and rounds half to even, as the authors'
// code does before saving. NaN maps to 0.
func Quantize(v float32) uint8 {
	if v != v {
		return 0
	}
	return uint8(math.RoundToEven(float64(min(max(v, 0), 255))))
}

// quantize16 maps v on 0..255 to 16 bits: clamped, scaled by 257, rounded
// half to even; NaN maps to 0.
func quantize16(v float32) uint16 {
	if v != v {
		return 0
	}
	return uint16(math.RoundToEven(float64(min(max(v, 0), 255)) * 257))
}

// checkSize refuses dimensions that are empty or larger than MaxPixels.
func checkSize(w, h int64) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("image has no pixels (%d×%d)", w, h)
	}
	if w*h > maxPixels {
		return fmt.Errorf("image claims %d×%d pixels, more than the %d this tool accepts", w, h, maxPixels)
	}
	return nil
}
