package imageio

import "github.com/ipt-go/ipt/internal/ipt"

// Bands produces the colour planes of an image, top to bottom: it calls
// yield with consecutive bands of whole rows ([3, band.H, W] on 0..255; it
// may reuse a band once yield returns) and returns the first error, its own
// or yield's. [ipt.Runner.Stream] bound to its other arguments is one.
type Bands func(yield func(band *ipt.Image) error) error

// Output is a picture to write whose colour planes are produced while it is
// written ([Output.Write]), so that an image restored band by band never
// exists whole in floats.
type Output struct {
	H, W  int
	Color Bands
	Grey  bool   // written grey: the mean of R, G and B
	Deep  bool   // 16 bits per sample where the format allows
	ICC   []byte // colour profile, nil if none

	// alpha makes a reader of the alpha rows, in order, each valid until
	// the next; nil when there is no alpha.
	alpha      func() func() []float32
	alphaBytes int64 // what the alpha rows are made from
}

// Restored is the output of restoring p into an h×w image whose colour
// planes color produces: p's depth, greyness and colour profile, and p's
// alpha plane resized to h×w as [Picture.WithColor] resizes it, but row by
// row while the output is written, holding a few rows of the resize. A
// compact picture's alpha rows are made from its Pixels as they are needed.
func (p *Picture) Restored(h, w int, color Bands) *Output {
	o := &Output{H: h, W: w, Color: color, Grey: p.Grey, Deep: p.Deep, ICC: p.ICC}
	rows, held := p.alphaRows()
	if rows == nil {
		return o
	}
	ah, aw := p.Size()
	o.alphaBytes = held + 4*int64(len(p.Alpha)) // a float plane is counted here, Pixels by the tiler
	if ah == h && aw == w {
		o.alpha = func() func() []float32 { return inOrder(rows()) }
	} else {
		o.alpha = func() func() []float32 { return newAlphaScaler(rows(), ah, aw, h, w).row }
		// The scaler's rows and its weights (4 contributions of 16
		// bytes an output row and column when enlarging).
		o.alphaBytes += 8*8*int64(w) + 80*int64(h+w)
	}
	return o
}

// WithColor returns the output picture for a restored colour image c: c
// replaces the colour planes (and Pixels) and the alpha plane is resized
// to c's size with Catmull-Rom bicubic interpolation (kept as is when the
// size did not change); the other fields are p's. The resize works at
// 16-bit precision (x/image/draw.CatmullRom on 16-bit grey), so 16-bit
// alpha keeps its depth and 8-bit alpha is not rounded before the output
// is quantized.
func (p *Picture) WithColor(c *ipt.Image) *Picture {
	out := *p
	out.Color, out.Pixels, out.Alpha = c, nil, nil
	rows, _ := p.alphaRows()
	if rows == nil {
		return &out
	}
	h, w := p.Size()
	if p.Alpha != nil && c.H == h && c.W == w {
		out.Alpha = p.Alpha
		return &out
	}
	next := inOrder(rows())
	if c.H != h || c.W != w {
		next = newAlphaScaler(rows(), h, w, c.H, c.W).row
	}
	out.Alpha = make([]float32, c.H*c.W)
	for y := range c.H {
		copy(out.Alpha[y*c.W:], next())
	}
	return &out
}

// inOrder reads the rows read reads from the top, one a call.
func inOrder(read func(y int) []float32) func() []float32 {
	y := 0
	return func() []float32 {
		y++
		return read(y - 1)
	}
}

// alphaOpaque says whether every alpha value of o quantizes to opaque at
// the depth written (as the raster's Opaque method would find).
func (o *Output) alphaOpaque(deep bool) bool {
	if o.alpha == nil {
		return true
	}
	row := o.alpha()
	for range o.H {
		for _, v := range row() {
			if deep && quantize16(v) != 0xffff || !deep && Quantize(v) != 255 {
				return false
			}
		}
	}
	return true
}

// WriteBytes estimates the memory Write holds to write o as format, besides
// what o.Color holds: the alpha plane and its resize, the rows being
// encoded, and for TIFF, BMP and grey JPEG the whole picture quantized
// (1, 2, 4 or 8 bytes a pixel), for TIFF also its compressed data.
func (o *Output) WriteBytes(format string) int64 {
	px, w := int64(o.H)*int64(o.W), int64(o.W)
	n := o.alphaBytes + 4*w*4 + (lazyRows+1)*w*8
	bytesPerPixel := func(deep bool) int64 {
		b := int64(4)
		if o.planeCount(true) == 1 {
			b = 1
		}
		if deep {
			b *= 2
		}
		return b
	}
	switch format {
	case "tiff":
		n += 2 * px * bytesPerPixel(o.Deep)
	case "bmp":
		n += px * bytesPerPixel(false)
	case "jpeg":
		if o.Grey {
			n += px
		}
	}
	return n
}
