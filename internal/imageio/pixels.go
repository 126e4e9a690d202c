package imageio

import (
	"encoding/binary"
	"image"
	"image/color"
)

// samples is a decoded image kept in a compact form (the decoder's image,
// or a netpbm file's samples), in the orientation it was stored in, that
// makes the float values of its pixels a row segment at a time.
type samples interface {
	size() (h, w int)
	// row writes the values on 0..255 of pixels x0 … x0+len(r)−1 of row y
	// into r, g and b and, unless a is nil, their alpha into a (255 where
	// the image has no alpha). It is safe for concurrent use.
	row(y, x0 int, r, g, b, a []float32)
	// opaque says the image has no alpha channel, or one it knows to be
	// opaque without converting it.
	opaque() bool
	bytes() int64
}

// Pixels is a decoded image as the decoder gave it, 1 to 8 bytes a pixel,
// with the EXIF orientation still to apply; it makes the float values of
// any crop on demand ([Pixels.Crop]), exactly those a conversion of the
// whole image to float planes gives. It is an [ipt.Source], so the tiler
// reads its tiles from it without the 12 bytes a pixel of float planes.
type Pixels struct {
	src    samples
	orient int  // EXIF orientation 2…8 to apply; 0 or 1 for none
	h, w   int  // as displayed
	alpha  bool // an alpha channel with a value other than 255
}

// newPixels wraps src, displayed with EXIF orientation orient.
func newPixels(src samples, orient int) *Pixels {
	p := &Pixels{src: src, orient: orient}
	p.h, p.w = src.size()
	if orient >= 5 && orient <= 8 {
		p.h, p.w = p.w, p.h
	}
	if !src.opaque() {
		next := p.alphaRows()
		for y := 0; y < p.h && !p.alpha; y++ {
			for _, v := range next(y) {
				if v != 255 {
					p.alpha = true
					break
				}
			}
		}
	}
	return p
}

// Size is the displayed size.
func (p *Pixels) Size() (h, w int) { return p.h, p.w }

// Bytes is the memory the decoded image holds.
func (p *Pixels) Bytes() int64 { return p.src.bytes() }

// HasAlpha says whether the image has an alpha channel that is not all
// opaque.
func (p *Pixels) HasAlpha() bool { return p.alpha }

// Crop writes the RGB values on 0..255 of the h×w window at (y, x) of the
// displayed image into dst ([3, h, w]): grey replicated to 3 channels.
func (p *Pixels) Crop(dst []float32, y, x, h, w int) {
	n := h * w
	p.crop(dst[:n], dst[n:2*n], dst[2*n:3*n], nil, y, x, h, w)
}

// alphaRows returns a reader of the alpha rows of the displayed image: any
// row, each valid until the next call. It holds 16 bytes a column.
func (p *Pixels) alphaRows() func(y int) []float32 {
	buf := make([]float32, 4*p.w)
	r, g, b, a := buf[:p.w], buf[p.w:2*p.w], buf[2*p.w:3*p.w], buf[3*p.w:]
	return func(y int) []float32 {
		p.crop(r, g, b, a, y, 0, 1, p.w)
		return a
	}
}

// crop writes the planes of the h×w window at (y, x) of the displayed
// image into r, g, b and, unless nil, a (each [h, w]).
func (p *Pixels) crop(r, g, b, a []float32, y, x, h, w int) {
	plane := func(pl []float32, i, n int) []float32 {
		if pl == nil {
			return nil
		}
		return pl[i : i+n]
	}
	if p.orient <= 1 || p.orient > 8 {
		for k := range h {
			i := k * w
			p.src.row(y+k, x, r[i:i+w], g[i:i+w], b[i:i+w], plane(a, i, w))
		}
		return
	}
	// Displayed pixel (dx, dy) is stored pixel (sx, sy): (dx, dy), or
	// (dy, dx) transposed, then mirrored along x or y. Orientations 2 to 8
	// are imaging's FlipH, Rotate180, FlipV, Transpose, Rotate270,
	// Transverse and Rotate90.
	transpose := p.orient >= 5
	flipX := p.orient == 2 || p.orient == 3 || p.orient == 7 || p.orient == 8
	flipY := p.orient == 3 || p.orient == 4 || p.orient == 6 || p.orient == 7
	sh, sw := p.src.size()
	// Each stored row of the window is a displayed row, or column when
	// transposed: lines of n pixels, at displayed positions from `along`.
	lines, n, along, across := h, w, y, x
	if transpose {
		lines, n, along, across = w, h, x, y
	}
	seg := make([]float32, 4*n)
	sr, sg, sb, sa := seg[:n], seg[n:2*n], seg[2*n:3*n], seg[3*n:]
	if a == nil {
		sa = nil
	}
	for k := range lines {
		sy := along + k
		sx0 := across // the first stored column read
		if flipY {
			sy = sh - 1 - sy
		}
		if flipX {
			sx0 = sw - across - n
		}
		p.src.row(sy, sx0, sr, sg, sb, sa)
		for i := range n {
			j := i // position along the line, displayed
			if flipX {
				j = n - 1 - i
			}
			d := k*w + j // displayed (k, j) in the window
			if transpose {
				d = j*w + k
			}
			r[d], g[d], b[d] = sr[i], sg[i], sb[i]
			if a != nil {
				a[d] = sa[i]
			}
		}
	}
}

// decoded is a decoder's image.
type decoded struct {
	m   image.Image
	lut *[256][4]float32 // a palette's values, for *image.Paletted
}

func newDecoded(m image.Image) *decoded {
	d := &decoded{m: m}
	if pm, ok := m.(*image.Paletted); ok {
		d.lut = new([256][4]float32)
		for i := range d.lut { // indices past the palette read as opaque black
			d.lut[i][3] = 255
		}
		for i, pc := range pm.Palette[:min(len(pm.Palette), 256)] {
			c := color.NRGBA64Model.Convert(pc).(color.NRGBA64)
			d.lut[i] = [4]float32{float32(c.R) / d16, float32(c.G) / d16, float32(c.B) / d16, float32(c.A) / d16}
		}
	}
	return d
}

// d16 maps 16-bit samples to 0..255.
const d16 = 257

func (d *decoded) size() (int, int) {
	b := d.m.Bounds()
	return b.Dy(), b.Dx()
}

func (d *decoded) opaque() bool {
	o, ok := d.m.(interface{ Opaque() bool })
	return ok && o.Opaque()
}

func (d *decoded) bytes() int64 {
	b := d.m.Bounds()
	px := int64(b.Dx()) * int64(b.Dy())
	switch m := d.m.(type) {
	case *image.Gray:
		return int64(len(m.Pix))
	case *image.Gray16:
		return int64(len(m.Pix))
	case *image.RGBA:
		return int64(len(m.Pix))
	case *image.RGBA64:
		return int64(len(m.Pix))
	case *image.NRGBA:
		return int64(len(m.Pix))
	case *image.NRGBA64:
		return int64(len(m.Pix))
	case *image.CMYK:
		return int64(len(m.Pix))
	case *image.Paletted:
		return int64(len(m.Pix)) + 4<<10
	case *image.YCbCr:
		return int64(len(m.Y) + len(m.Cb) + len(m.Cr))
	case *image.NYCbCrA:
		return int64(len(m.Y) + len(m.Cb) + len(m.Cr) + len(m.A))
	}
	return 8 * px
}

// row converts as the whole-image conversion always has: colours read
// non-premultiplied so transparent pixels keep their colour where the
// format stores it, 16-bit samples divided by 257, YCbCr and CMYK
// converted to 8-bit RGB as image/color does.
func (d *decoded) row(y, x0 int, R, G, B, A []float32) {
	bd := d.m.Bounds()
	w := len(R)
	X, Y := bd.Min.X+x0, bd.Min.Y+y
	opaque := func() {
		if A != nil {
			for x := range A {
				A[x] = 255
			}
		}
	}
	switch m := d.m.(type) {
	case *image.Gray:
		for x, v := range m.Pix[m.PixOffset(X, Y):][:w] {
			R[x] = float32(v)
		}
		copy(G, R)
		copy(B, R)
		opaque()
	case *image.Gray16:
		row := m.Pix[m.PixOffset(X, Y):][:2*w]
		for x := range w {
			R[x] = float32(binary.BigEndian.Uint16(row[2*x:])) / d16
		}
		copy(G, R)
		copy(B, R)
		opaque()
	case *image.NRGBA:
		row := m.Pix[m.PixOffset(X, Y):][:4*w]
		for x := range w {
			s := row[4*x : 4*x+4]
			R[x], G[x], B[x] = float32(s[0]), float32(s[1]), float32(s[2])
			if A != nil {
				A[x] = float32(s[3])
			}
		}
	case *image.NRGBA64:
		row := m.Pix[m.PixOffset(X, Y):][:8*w]
		for x := range w {
			s := row[8*x : 8*x+8]
			R[x] = float32(binary.BigEndian.Uint16(s[0:])) / d16
			G[x] = float32(binary.BigEndian.Uint16(s[2:])) / d16
			B[x] = float32(binary.BigEndian.Uint16(s[4:])) / d16
			if A != nil {
				A[x] = float32(binary.BigEndian.Uint16(s[6:])) / d16
			}
		}
	case *image.RGBA:
		row := m.Pix[m.PixOffset(X, Y):][:4*w]
		for x := range w {
			s := row[4*x : 4*x+4]
			a := float32(s[3])
			R[x], G[x], B[x] = unpremul(float32(s[0]), a), unpremul(float32(s[1]), a), unpremul(float32(s[2]), a)
			if A != nil {
				A[x] = a
			}
		}
	case *image.RGBA64:
		row := m.Pix[m.PixOffset(X, Y):][:8*w]
		for x := range w {
			s := row[8*x : 8*x+8]
			a := float32(binary.BigEndian.Uint16(s[6:]))
			R[x] = unpremul(float32(binary.BigEndian.Uint16(s[0:])), a)
			G[x] = unpremul(float32(binary.BigEndian.Uint16(s[2:])), a)
			B[x] = unpremul(float32(binary.BigEndian.Uint16(s[4:])), a)
			if A != nil {
				A[x] = a / d16
			}
		}
	case *image.Paletted:
		for x, v := range m.Pix[m.PixOffset(X, Y):][:w] {
			e := &d.lut[v]
			R[x], G[x], B[x] = e[0], e[1], e[2]
			if A != nil {
				A[x] = e[3]
			}
		}
	case *image.YCbCr:
		for x := range w {
			yc := m.YCbCrAt(X+x, Y)
			r, g, b := color.YCbCrToRGB(yc.Y, yc.Cb, yc.Cr)
			R[x], G[x], B[x] = float32(r), float32(g), float32(b)
		}
		opaque()
	case *image.NYCbCrA:
		for x := range w {
			yc := m.YCbCrAt(X+x, Y)
			r, g, b := color.YCbCrToRGB(yc.Y, yc.Cb, yc.Cr)
			R[x], G[x], B[x] = float32(r), float32(g), float32(b)
			if A != nil {
				A[x] = float32(m.A[m.AOffset(X+x, Y)])
			}
		}
	case *image.CMYK:
		for x := range w {
			k := m.CMYKAt(X+x, Y)
			r, g, b := color.CMYKToRGB(k.C, k.M, k.Y, k.K)
			R[x], G[x], B[x] = float32(r), float32(g), float32(b)
		}
		opaque()
	default:
		for x := range w {
			c := color.NRGBA64Model.Convert(m.At(X+x, Y)).(color.NRGBA64)
			R[x], G[x], B[x] = float32(c.R)/d16, float32(c.G)/d16, float32(c.B)/d16
			if A != nil {
				A[x] = float32(c.A) / d16
			}
		}
	}
}

// unpremul returns the straight value on 0..255 of a sample v premultiplied
// by alpha a, both on the same scale (0..255 or 0..65535).
func unpremul(v, a float32) float32 {
	if a == 0 {
		return 0
	}
	return min(v*255/a, 255)
}

// pnmSamples is the samples of a PGM, PPM or PAM file: depth 1 to 4 (grey,
// grey and alpha, RGB, RGBA), 1 or 2 bytes each (big-endian).
type pnmSamples struct {
	pix              []byte
	h, w, depth, bps int
	maxval           float32
}

func (p *pnmSamples) size() (int, int) { return p.h, p.w }
func (p *pnmSamples) opaque() bool     { return p.depth%2 == 1 }
func (p *pnmSamples) bytes() int64     { return int64(len(p.pix)) }

// row scales samples v to v·255/maxval, at most 255: exact for maxval 255,
// v/257 for 65535.
func (p *pnmSamples) row(y, x0 int, R, G, B, A []float32) {
	w, depth := len(R), p.depth
	row := p.pix[(y*p.w+x0)*depth*p.bps:][:w*depth*p.bps]
	sample := func(k int) float32 {
		v := uint16(row[k])
		if p.bps == 2 {
			v = binary.BigEndian.Uint16(row[2*k:])
		}
		return min(float32(v)*255/p.maxval, 255)
	}
	for x := range w {
		k := x * depth
		switch depth {
		case 1, 2:
			R[x] = sample(k)
			G[x], B[x] = R[x], R[x]
		default:
			R[x], G[x], B[x] = sample(k), sample(k+1), sample(k+2)
		}
		if A != nil {
			A[x] = 255
			if depth%2 == 0 {
				A[x] = sample(k + depth - 1)
			}
		}
	}
}
