package imageio

import (
	"math"

	"golang.org/x/image/draw"
)

// alphaScaler resizes an h×w alpha plane to nh×nw one output row at a time.
// It computes exactly what x/image/draw.CatmullRom.Scale computes from and
// to 16-bit grey images with draw.Src (pixel centres aligned, values clamped
// to 0..255): the plane quantized to 16 bits (so 16-bit alpha keeps its
// depth), a horizontal pass over each source row, a vertical pass over
// those, rounded to 16 bits; the same float64 operations in the same order,
// as the tests check against draw itself. Where Scale keeps the horizontal
// pass of the whole image (nw × h entries of 32 bytes, 8 to 16 bytes an
// output pixel for ×4 to ×2), this keeps only the source rows the current
// output row needs: 4 when enlarging.
type alphaScaler struct {
	src    func(y int) []float32 // row y of the [h, w] plane on 0..255
	w      int
	hd, vd distrib
	opaque []float64   // the horizontal pass of the (opaque) alpha channel of grey
	keep   []int32     // per output row, the first source row it or a later one needs
	rows   []scaledRow // consecutive source rows
	spare  [][]float64
	out    []float32
	y      int // next output row
}

// scaledRow is the horizontal pass of source row sy, nw values.
type scaledRow struct {
	sy int32
	v  []float64
}

// newAlphaScaler resizes the h×w plane whose rows src reads (each valid
// until the next call) to nh×nw.
func newAlphaScaler(src func(y int) []float32, h, w, nh, nw int) *alphaScaler {
	z := &alphaScaler{
		src: src, w: w,
		hd:  newDistrib(draw.CatmullRom, int32(nw), int32(w)),
		vd:  newDistrib(draw.CatmullRom, int32(nh), int32(h)),
		out: make([]float32, nw),
	}
	// A grey pixel reads as RGBA64 {v, v, v, 0xffff}: the colour channels
	// are equal, and the alpha channel is the same for every row.
	z.opaque = make([]float64, nw)
	for x, s := range z.hd.sources {
		var pa float64
		for _, c := range z.hd.contribs[s.i:s.j] {
			pa += float64(float64(0xffff) * c.weight)
		}
		z.opaque[x] = pa * s.invTotalWeightFFFF
	}
	// Weights that vanish are left out, so the first source row needed can
	// go back by one from an output row to the next.
	z.keep = make([]int32, nh)
	low := int32(h)
	for y := nh - 1; y >= 0; y-- {
		if s := z.vd.sources[y]; s.j > s.i {
			low = min(low, z.vd.contribs[s.i].coord)
		}
		z.keep[y] = low
	}
	return z
}

// row returns the next output row (rows come in order, 0 first), on 0..255:
// float32(v)/257 of the 16-bit result v. It is reused by the next call.
func (z *alphaScaler) row() []float32 {
	s := z.vd.sources[z.y]
	cs := z.vd.contribs[s.i:s.j]
	if len(cs) > 0 {
		z.load(cs[0].coord, cs[len(cs)-1].coord, z.keep[z.y])
	}
	z.y++
	for dx := range z.out {
		var pr, pa float64
		for _, c := range cs {
			pr += float64(z.scaled(c.coord)[dx] * c.weight)
			pa += float64(z.opaque[dx] * c.weight)
		}
		if pr > pa {
			pr = pa
		}
		z.out[dx] = float32(ftou(pr*s.invTotalWeight)) / 257
	}
	return z.out
}

// load makes z.rows hold the horizontal passes of source rows lo…hi,
// dropping those before keep.
func (z *alphaScaler) load(lo, hi, keep int32) {
	for len(z.rows) > 0 && (z.rows[0].sy < keep || z.rows[0].sy > lo) {
		z.spare = append(z.spare, z.rows[0].v)
		z.rows = z.rows[1:]
	}
	next := lo
	if n := len(z.rows); n > 0 {
		next = z.rows[n-1].sy + 1
	}
	for sy := next; sy <= hi; sy++ {
		var v []float64
		if n := len(z.spare); n > 0 {
			v, z.spare = z.spare[n-1], z.spare[:n-1]
		} else {
			v = make([]float64, len(z.out))
		}
		row := z.src(int(sy))
		for x, s := range z.hd.sources {
			var pr float64
			for _, c := range z.hd.contribs[s.i:s.j] {
				pr += float64(float64(quantize16(row[c.coord])) * c.weight)
			}
			v[x] = pr * s.invTotalWeightFFFF
		}
		z.rows = append(z.rows, scaledRow{sy, v})
	}
}

func (z *alphaScaler) scaled(sy int32) []float64 {
	return z.rows[sy-z.rows[0].sy].v
}

// The rest is x/image/draw's, copied because it is not exported
// (Copyright 2015 The Go Authors, BSD licence).

// source is a range of contribs, their inverse total weight, and that ITW
// divided by 0xffff.
type source struct {
	i, j               int32
	invTotalWeight     float64
	invTotalWeightFFFF float64
}

// contrib is the weight of a column or row.
type contrib struct {
	coord  int32
	weight float64
}

// distrib measures how source pixels are distributed over destination pixels.
type distrib struct {
	sources  []source
	contribs []contrib
}

// newDistrib returns a distrib that distributes sw source columns (or rows)
// over dw destination columns (or rows).
func newDistrib(q *draw.Kernel, dw, sw int32) distrib {
	scale := float64(sw) / float64(dw)
	halfWidth, kernelArgScale := q.Support, 1.0
	// When shrinking, broaden the effective kernel support so that we still
	// visit every source pixel.
	if scale > 1 {
		halfWidth *= scale
		kernelArgScale = 1 / scale
	}
	n, sources := int32(0), make([]source, dw)
	for x := range sources {
		center := float64((float64(x)+0.5)*scale) - 0.5
		i := int32(math.Floor(center - halfWidth))
		if i < 0 {
			i = 0
		}
		j := int32(math.Ceil(center + halfWidth))
		if j > sw {
			j = sw
			if j < i {
				j = i
			}
		}
		sources[x] = source{i: i, j: j, invTotalWeight: center}
		n += j - i
	}
	contribs := make([]contrib, 0, n)
	for k, b := range sources {
		totalWeight := 0.0
		l := int32(len(contribs))
		for coord := b.i; coord < b.j; coord++ {
			t := abs((b.invTotalWeight - float64(coord)) * kernelArgScale)
			if t >= q.Support {
				continue
			}
			weight := q.At(t)
			if weight == 0 {
				continue
			}
			totalWeight += weight
			contribs = append(contribs, contrib{coord, weight})
		}
		totalWeight = 1 / totalWeight
		sources[k] = source{
			i:                  l,
			j:                  int32(len(contribs)),
			invTotalWeight:     totalWeight,
			invTotalWeightFFFF: totalWeight / 0xffff,
		}
	}
	return distrib{sources, contribs}
}

func abs(f float64) float64 {
	if f < 0 {
		f = -f
	}
	return f
}

// ftou converts the range [0.0, 1.0] to [0, 0xffff].
func ftou(f float64) uint16 {
	i := int32(float64(0xffff*f) + 0.5)
	if i > 0xffff {
		return 0xffff
	}
	if i > 0 {
		return uint16(i)
	}
	return 0
}
