package imageio

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"iter"

	"github.com/ipt-go/ipt/internal/ipt"
)

// rowReader hands out the rows of an Output in order, top to bottom, as the
// planes to write: grey (the mean of R, G and B) or R, G, B, then alpha. It
// runs the output's Bands as a coroutine, one band ahead at most.
type rowReader struct {
	o       *Output
	next    func() (*ipt.Image, error, bool)
	stop    func()
	band    *ipt.Image
	bandRow int // the band's next row
	y       int // rows handed out
	alpha   func() []float32
	grey    []float32
	planes  [][]float32
}

// errStopped ends the bands when the reader stops early.
var errStopped = errors.New("imageio: output abandoned")

// rows starts reading o; withAlpha adds o's alpha plane, if any. Call stop
// when done (finish does).
func (o *Output) rows(withAlpha bool) *rowReader {
	r := &rowReader{o: o, planes: make([][]float32, 0, 4)}
	r.next, r.stop = iter.Pull2(func(yield func(*ipt.Image, error) bool) {
		err := o.Color(func(b *ipt.Image) error {
			if !yield(b, nil) {
				return errStopped
			}
			return nil
		})
		if err != nil && err != errStopped {
			yield(nil, err)
		}
	})
	if withAlpha && o.alpha != nil {
		r.alpha = o.alpha()
	}
	if o.Grey {
		r.grey = make([]float32, o.W)
	}
	return r
}

// planeCount is how many planes o's rows have: 1 (grey) or 3, and alpha.
func (o *Output) planeCount(withAlpha bool) int {
	n := 3
	if o.Grey {
		n = 1
	}
	if withAlpha && o.alpha != nil {
		n++
	}
	return n
}

// read returns the planes of the next row, valid until the next call. An
// error of the bands is returned as it is.
func (r *rowReader) read() ([][]float32, error) {
	o := r.o
	if r.y == o.H {
		return nil, fmt.Errorf("imageio: row %d of a %d-row picture read", r.y, o.H)
	}
	if r.band == nil || r.bandRow == r.band.H {
		b, err, ok := r.next()
		switch {
		case err != nil:
			return nil, err
		case !ok:
			return nil, fmt.Errorf("imageio: the colour bands end at row %d of %d", r.y, o.H)
		case b.W != o.W || b.H < 1 || len(b.Pix) != ipt.Colors*b.H*b.W || r.y+b.H > o.H:
			return nil, fmt.Errorf("imageio: a %d×%d colour band at row %d of a %d×%d picture", b.W, b.H, r.y, o.W, o.H)
		}
		r.band, r.bandRow = b, 0
	}
	b, w, y := r.band, o.W, r.bandRow
	R, G, B := b.Pix[y*w:][:w], b.Pix[(b.H+y)*w:][:w], b.Pix[(2*b.H+y)*w:][:w]
	r.planes = r.planes[:0]
	if r.grey != nil {
		for x := range r.grey {
			r.grey[x] = (R[x] + G[x] + B[x]) / 3
		}
		r.planes = append(r.planes, r.grey)
	} else {
		r.planes = append(r.planes, R, G, B)
	}
	if r.alpha != nil {
		r.planes = append(r.planes, r.alpha())
	}
	r.bandRow++
	r.y++
	return r.planes, nil
}

// finish checks, once every row was read, that the bands ended there
// without an error, and stops the reader.
func (r *rowReader) finish() error {
	defer r.stop()
	if r.y != r.o.H {
		return fmt.Errorf("imageio: %d rows of %d written", r.y, r.o.H)
	}
	_, err, ok := r.next()
	if err == nil && ok {
		err = fmt.Errorf("imageio: the colour bands go on past row %d", r.o.H)
	}
	return err
}

// newRaster allocates the image type the encoders write best for rows of n
// planes: Gray or Gray16 for grey, RGBA or RGBA64 (opaque) for colour,
// NRGBA or NRGBA64 with alpha (grey with alpha as RGBA with equal
// channels, since neither image/png nor x/image/tiff writes grey+alpha).
func newRaster(n int, deep bool, r image.Rectangle) image.Image {
	switch {
	case n == 1 && deep:
		return image.NewGray16(r)
	case n == 1:
		return image.NewGray(r)
	case n == 3 && deep:
		return image.NewRGBA64(r)
	case n == 3:
		return image.NewRGBA(r)
	case deep:
		return image.NewNRGBA64(r)
	}
	return image.NewNRGBA(r)
}

// setRow quantizes the planes of a row ([Quantize], quantize16) into row y
// of m, made by newRaster for as many planes.
func setRow(m image.Image, y int, planes [][]float32) {
	if len(planes) == 2 { // grey and alpha
		planes = [][]float32{planes[0], planes[0], planes[0], planes[1]}
	}
	switch m := m.(type) {
	case *image.Gray:
		row := m.Pix[m.PixOffset(0, y):][:len(planes[0])]
		for i, v := range planes[0] {
			row[i] = Quantize(v)
		}
	case *image.Gray16:
		row := m.Pix[m.PixOffset(0, y):][:2*len(planes[0])]
		for i, v := range planes[0] {
			q := quantize16(v)
			row[2*i], row[2*i+1] = byte(q>>8), byte(q)
		}
	case *image.RGBA:
		fill8(m.Pix[m.PixOffset(0, y):], planes)
	case *image.NRGBA:
		fill8(m.Pix[m.PixOffset(0, y):], planes)
	case *image.RGBA64:
		fill16(m.Pix[m.PixOffset(0, y):], planes)
	case *image.NRGBA64:
		fill16(m.Pix[m.PixOffset(0, y):], planes)
	}
}

// fill8 interleaves 3 or 4 planes into 8-bit RGBA samples (alpha 255 when
// there are 3).
func fill8(pix []byte, planes [][]float32) {
	for i := range planes[0] {
		s := pix[4*i : 4*i+4]
		s[0], s[1], s[2], s[3] = Quantize(planes[0][i]), Quantize(planes[1][i]), Quantize(planes[2][i]), 255
		if len(planes) == 4 {
			s[3] = Quantize(planes[3][i])
		}
	}
}

// fill16 interleaves 3 or 4 planes into 16-bit big-endian RGBA samples.
func fill16(pix []byte, planes [][]float32) {
	for i := range planes[0] {
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

// raster reads all of o's rows into the image newRaster makes for them: for
// the encoders that need the whole picture at once.
func (o *Output) raster(deep, withAlpha bool) (image.Image, error) {
	rows := o.rows(withAlpha)
	defer rows.stop()
	m := newRaster(o.planeCount(withAlpha), deep, image.Rect(0, 0, o.W, o.H))
	for y := range o.H {
		planes, err := rows.read()
		if err != nil {
			return nil, err
		}
		setRow(m, y, planes)
	}
	return m, rows.finish()
}

// lazyRows is how many rows a lazyImage keeps: image/jpeg reads 16 rows
// (one row of 16×16 blocks) at a time, image/png one.
const lazyRows = 16

// lazyImage is the image newRaster would make, but whose rows are made as
// an encoder asks for them, top to bottom; it keeps the last lazyRows rows.
// Encoders that take any image.Image and read it from the top (image/png,
// image/jpeg for colour) write it as they would the raster, byte for byte,
// through its At method. When the rows cannot be made, At panics with an
// abort, which Output.Write recovers.
type lazyImage struct {
	rows   *rowReader
	ring   []image.Image // 1-row rasters
	bounds image.Rectangle
	opaque bool
	made   int // rows made
}

// abort carries an error of the colour bands out of an encoder.
type abort struct{ err error }

// lazy starts reading o's rows into a lazyImage. opaque is what its
// Opaque method says (the encoders ask it rather than scan the pixels).
func (o *Output) lazy(deep, withAlpha, opaque bool) *lazyImage {
	m := &lazyImage{rows: o.rows(withAlpha), bounds: image.Rect(0, 0, o.W, o.H), opaque: opaque}
	m.ring = make([]image.Image, min(lazyRows, o.H))
	for i := range m.ring {
		m.ring[i] = newRaster(o.planeCount(withAlpha), deep, image.Rect(0, 0, o.W, 1))
	}
	return m
}

func (m *lazyImage) ColorModel() color.Model { return m.ring[0].ColorModel() }
func (m *lazyImage) Bounds() image.Rectangle { return m.bounds }
func (m *lazyImage) Opaque() bool            { return m.opaque }

func (m *lazyImage) At(x, y int) color.Color {
	for y >= m.made {
		planes, err := m.rows.read()
		if err != nil {
			panic(abort{err})
		}
		setRow(m.ring[m.made%len(m.ring)], 0, planes)
		m.made++
	}
	if y < m.made-len(m.ring) {
		panic(fmt.Sprintf("imageio: the encoder went back to row %d after row %d", y, m.made-1))
	}
	return m.ring[y%len(m.ring)].At(x, 0)
}
