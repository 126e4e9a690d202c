package synth

import "github.com/ipt-go/ipt/internal/ipt"

// Crop returns a copy of the h×w window of img at (y, x). The window must
// lie inside img; callers choose it from img's size.
func Crop(img *ipt.Image, y, x, h, w int) *ipt.Image {
	out := ipt.NewImage(h, w)
	img.Crop(out.Pix, y, x, h, w)
	return out
}

// Dihedral returns one of the 8 flips and rotations of img, k in 0..7 (taken
// mod 8): flipped left-right when bit 0 of k is set, then up-down when bit 1
// is, then transposed when bit 2 is. It is the order of the authors'
// self-ensemble (SPEC §3): k = 0 is img itself (a copy), 3 the half turn, 4
// the transpose. Dihedral(Dihedral(img, k), DihedralInverse(k)) is img.
func Dihedral(img *ipt.Image, k int) *ipt.Image {
	k &= 7
	flipX, flipY, transpose := k&1 != 0, k&2 != 0, k&4 != 0
	oh, ow := img.H, img.W
	if transpose {
		oh, ow = ow, oh
	}
	out := ipt.NewImage(oh, ow)
	for c := range ipt.Colors {
		src := img.Pix[c*img.H*img.W : (c+1)*img.H*img.W]
		dst := out.Pix[c*oh*ow : (c+1)*oh*ow]
		for y := range img.H {
			sy := y
			if flipY {
				sy = img.H - 1 - y
			}
			for x := range img.W {
				sx := x
				if flipX {
					sx = img.W - 1 - x
				}
				if transpose {
					dst[x*ow+y] = src[sy*img.W+sx]
				} else {
					dst[y*ow+x] = src[sy*img.W+sx]
				}
			}
		}
	}
	return out
}

// DihedralInverse is the j with Dihedral(Dihedral(img, k), j) = img: k
// itself for the flips, and for a transposed k the flips swapped (a
// left-right flip before the transpose is an up-down flip after it).
func DihedralInverse(k int) int {
	k &= 7
	if k < 4 {
		return k
	}
	return 4 | (k&1)<<1 | (k&2)>>1
}
