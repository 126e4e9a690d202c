package ipt

// Image is a planar float image, [3, H, W], values on the 0..255 scale.
type Image struct {
	H, W int
	Pix  []float32
}

// NewImage allocates a zero h×w colour image.
func NewImage(h, w int) *Image { return &Image{H: h, W: w, Pix: make([]float32, Colors*h*w)} }

// Source is an image the tiler reads a crop at a time: whole float planes
// (an *Image), or an image kept in a compact form (8 or 16 bits a sample)
// that makes the float values of a crop when asked.
type Source interface {
	// Size is the image's height and width.
	Size() (h, w int)
	// Crop writes the values of the h×w window at (y, x), on 0..255, into
	// dst ([3, h, w]). The tiler calls it from several goroutines at once.
	Crop(dst []float32, y, x, h, w int)
	// Bytes is the memory the image holds.
	Bytes() int64
}

// Size is im's height and width.
func (im *Image) Size() (h, w int) { return im.H, im.W }

// Bytes is the memory of im's planes: 12 bytes a pixel.
func (im *Image) Bytes() int64 { return 4 * int64(len(im.Pix)) }

// ImageOf returns src as whole float planes: src itself when it is an
// *Image, else a copy made with src.Crop.
func ImageOf(src Source) *Image {
	if im, ok := src.(*Image); ok {
		return im
	}
	h, w := src.Size()
	im := NewImage(h, w)
	src.Crop(im.Pix, 0, 0, h, w)
	return im
}

// Crop copies the h×w window at (y, x) into dst ([3, h, w]).
func (im *Image) Crop(dst []float32, y, x, h, w int) {
	for c := 0; c < Colors; c++ {
		for r := 0; r < h; r++ {
			src := im.Pix[(c*im.H+y+r)*im.W+x:]
			copy(dst[(c*h+r)*w:(c*h+r+1)*w], src[:w])
		}
	}
}

// flipH reverses the columns (the authors' "v", flip left-right).
func (im *Image) flipH() *Image {
	out := NewImage(im.H, im.W)
	for r := 0; r < Colors*im.H; r++ {
		src, dst := im.Pix[r*im.W:(r+1)*im.W], out.Pix[r*im.W:(r+1)*im.W]
		for x, v := range src {
			dst[im.W-1-x] = v
		}
	}
	return out
}

// flipV reverses the rows (the authors' "h", flip up-down).
func (im *Image) flipV() *Image {
	out := NewImage(im.H, im.W)
	for c := 0; c < Colors; c++ {
		for y := 0; y < im.H; y++ {
			copy(out.Pix[(c*im.H+im.H-1-y)*im.W:][:im.W], im.Pix[(c*im.H+y)*im.W:][:im.W])
		}
	}
	return out
}

// transpose swaps rows and columns (the authors' "t").
func (im *Image) transpose() *Image {
	out := NewImage(im.W, im.H)
	for c := 0; c < Colors; c++ {
		src, dst := im.Pix[c*im.H*im.W:], out.Pix[c*im.H*im.W:]
		for y := 0; y < im.H; y++ {
			for x := 0; x < im.W; x++ {
				dst[x*im.H+y] = src[y*im.W+x]
			}
		}
	}
	return out
}

// padTo returns im extended to at least h×w by mirror reflection about the
// bottom and right edges (edge pixels repeated, as numpy's "symmetric"),
// which keeps image statistics near the border natural for the model.
func (im *Image) padTo(h, w int) *Image {
	if im.H >= h && im.W >= w {
		return im
	}
	h, w = max(h, im.H), max(w, im.W)
	out := NewImage(h, w)
	for c := 0; c < Colors; c++ {
		for y := 0; y < h; y++ {
			src := im.Pix[(c*im.H+Reflect(y, im.H))*im.W:]
			dst := out.Pix[(c*h+y)*w : (c*h+y+1)*w]
			for x := range dst {
				dst[x] = src[Reflect(x, im.W)]
			}
		}
	}
	return out
}

// Reflect maps any index to [0, n) by symmetric reflection with the edge
// sample repeated (period 2n; MATLAB's aux = [1:n, n:-1:1], 0-based).
func Reflect(i, n int) int {
	m := i % (2 * n)
	if m < 0 {
		m += 2 * n
	}
	if m >= n {
		m = 2*n - 1 - m
	}
	return m
}

// cropOut returns the top-left h×w part of im.
func (im *Image) cropOut(h, w int) *Image {
	if im.H == h && im.W == w {
		return im
	}
	out := NewImage(h, w)
	im.Crop(out.Pix, 0, 0, h, w)
	return out
}
