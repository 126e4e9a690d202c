package ipt

// Image is a planar float image, [3, H, W], values on the 0..255 scale.
type Image struct {
	H, W int
	Pix  []float32
}

// NewImage allocates a zero h×w colour image.
func NewImage(h, w int) *Image { return &Image{H: h, W: w, Pix: make([]float32, Colors*h*w)} }

// crop copies the h×w window at (y, x) into dst ([3, h, w]).
func (im *Image) crop(dst []float32, y, x, h, w int) {
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
			src := im.Pix[(c*im.H+reflect(y, im.H))*im.W:]
			dst := out.Pix[(c*h+y)*w : (c*h+y+1)*w]
			for x := range dst {
				dst[x] = src[reflect(x, im.W)]
			}
		}
	}
	return out
}

// reflect maps any index to [0, n) by symmetric reflection (period 2n).
func reflect(i, n int) int {
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
	im.crop(out.Pix, 0, 0, h, w)
	return out
}
