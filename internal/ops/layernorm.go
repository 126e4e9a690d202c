package ops

import "math"

// LayerNorm normalises each of the m rows of x ([m, d]) to zero mean and unit
// variance (biased variance, as PyTorch) and applies gamma and beta:
// out = (x - mean) / sqrt(var + eps) · gamma + beta. out may alias x.
//
// Mean and variance are accumulated in float64 so the result does not depend
// on summation order beyond float32 rounding of the output.
func LayerNorm(out, x []float32, m, d int, gamma, beta []float32, eps float64) {
	norm := activeKernel.Load().layerNormRow
	gamma, beta = gamma[:d], beta[:d]
	for r := 0; r < m; r++ {
		norm(out[r*d:(r+1)*d], x[r*d:(r+1)*d], gamma, beta, eps)
	}
}

// LayerNorm is LayerNorm on e's threads, a chunk of rows each: rows are
// independent, so the values are the same on any number of threads.
func (e Exec) LayerNorm(out, x []float32, m, d int, gamma, beta []float32, eps float64) {
	parallelChunks(m, chunkRows(d), e.threads(), func(lo, hi int) {
		LayerNorm(out[lo*d:hi*d], x[lo*d:hi*d], hi-lo, d, gamma, beta, eps)
	})
}

// layerNormRowGo is one row of LayerNorm in Go, the reference for the
// vector versions. len(out), len(gamma) and len(beta) are len(row).
func layerNormRowGo(o, row, gamma, beta []float32, eps float64) {
	d := len(row)
	var sum float64
	for _, v := range row {
		sum += float64(v)
	}
	mean := sum / float64(d)
	var ss float64
	for _, v := range row {
		dv := float64(v) - mean
		ss += dv * dv
	}
	inv := 1 / math.Sqrt(ss/float64(d)+eps)
	for j, v := range row {
		o[j] = float32((float64(v)-mean)*inv)*gamma[j] + beta[j]
	}
}

// LayerNormBackward is the backward of LayerNorm: given dOut = ∂L/∂out
// ([m, d]) it adds ∂L/∂x to dX, ∂L/∂gamma to dGamma and ∂L/∂beta to dBeta
// (each [d]), skipping nil outputs (x and gamma may be nil when dBeta is
// the only one); none may alias the inputs or each other. The mean and
// 1/std of each row are recomputed from x in float64, as the forward
// computes them, so no cache is needed. With x̂ = (x−mean)/std
// and g = dOut·gamma, row by row:
//
//	dX     += (g − mean(g) − x̂·mean(g·x̂)) / std
//	dGamma += dOut·x̂,   dBeta += dOut      (summed over rows in float64)
func LayerNormBackward(dX, dGamma, dBeta, dOut, x []float32, m, d int, gamma []float32, eps float64) {
	Exec{Threads: 1}.LayerNormBackward(dX, dGamma, dBeta, dOut, x, m, d, gamma, eps)
}

// LayerNormBackward is LayerNormBackward on e's threads, with the same
// bits on any number: dX row by row (rows are independent), then dGamma and
// dBeta column by column (each column's sum over rows in row order, as on
// one thread), from the rows' mean and 1/std kept by the first pass. One
// thread does both in one pass over the rows.
func (e Exec) LayerNormBackward(dX, dGamma, dBeta, dOut, x []float32, m, d int, gamma []float32, eps float64) {
	if d == 0 {
		return
	}
	threads := min(e.threads(), max(1, m*d/lossChunk))
	if threads <= 1 {
		layerNormBackwardRows(dX, dGamma, dBeta, dOut, x, 0, m, d, gamma, eps, nil)
		return
	}
	var moments []float64 // each row's mean and 1/std, for dGamma
	if dGamma != nil {
		moments = make([]float64, 2*m)
	}
	if dX != nil || moments != nil {
		parallelChunks(m, chunkRows(d), threads, func(lo, hi int) {
			layerNormBackwardRows(dX, nil, nil, dOut, x, lo, hi, d, gamma, eps, moments)
		})
	}
	if dGamma == nil && dBeta == nil {
		return
	}
	// Each thread sums its columns over the rows in row order, as the
	// one-thread pass does (the same kernels on a row's part), walking the
	// rows rather than down the columns.
	kern := activeKernel.Load()
	parallelChunks(d, max(8, (d+threads-1)/threads), threads, func(j0, j1 int) {
		sg, sb, h := make([]float64, j1-j0), make([]float64, j1-j0), make([]float64, j1-j0)
		for r := 0; r < m; r++ {
			dy := dOut[r*d+j0 : r*d+j1]
			if moments == nil { // dBeta alone: x and gamma may be nil
				addWiden(sb, dy)
				continue
			}
			kern.lnNormalise(h, x[r*d+j0:r*d+j1], moments[2*r], moments[2*r+1])
			kern.lnAccumulate(sb, sg, h, dy)
		}
		for j := j0; j < j1; j++ {
			if dGamma != nil {
				dGamma[j] += float32(sg[j-j0])
			}
			if dBeta != nil {
				dBeta[j] += float32(sb[j-j0])
			}
		}
	})
}

// layerNormBackwardRows is LayerNormBackward's pass over rows [lo, hi): it
// adds into dX, and into dGamma and dBeta when they are not nil (the one-
// thread form, lo = 0 and hi = m); when moments is not nil it keeps each
// row's mean and 1/std there for the column pass.
//
// Each row's four float64 sums (mean, variance, mean(g), mean(g·x̂)) are
// chains of dependent adds; rows go four at a time so that four chains run
// side by side, each summed in the one-row order, so the bits do not depend
// on the grouping. A last group of fewer rows repeats its last row in the
// chains and discards those sums. The element-wise passes (x̂, the column
// sums, dX) run in the kernel's lnNormalise, lnAccumulate and lnDx.
func layerNormBackwardRows(dX, dGamma, dBeta, dOut, x []float32, lo, hi, d int, gamma []float32, eps float64, moments []float64) {
	var sg, sb []float64 // dGamma, dBeta sums over rows
	if dGamma != nil {
		sg = make([]float64, d)
	}
	if dBeta != nil {
		sb = make([]float64, d)
	}
	var xh [4][]float64 // the rows' x̂
	if dX != nil || dGamma != nil || moments != nil {
		buf := make([]float64, 4*d)
		for i := range xh {
			xh[i] = buf[i*d : (i+1)*d]
		}
	}
	kern := activeKernel.Load()
	for r := lo; r < hi; r += 4 {
		g := min(4, hi-r) // real rows in the group
		var dys [4][]float32
		for i := range 4 {
			k := r + min(i, g-1)
			dys[i] = dOut[k*d : (k+1)*d]
		}
		if xh[0] == nil { // dBeta alone
			for i := range g {
				addWiden(sb, dys[i])
			}
			continue
		}
		var xs [4][]float32
		for i := range 4 {
			k := r + min(i, g-1)
			xs[i] = x[k*d : (k+1)*d]
		}
		mean, inv := rowMoments4(xs, eps)
		for i := range g {
			if moments != nil {
				moments[2*(r+i)], moments[2*(r+i)+1] = mean[i], inv[i]
			}
			if dX == nil && sg == nil { // the moments, and perhaps dBeta
				if sb != nil {
					addWiden(sb, dys[i])
				}
				continue
			}
			kern.lnNormalise(xh[i], xs[i], mean[i], inv[i])
			switch {
			case sb != nil && sg != nil:
				kern.lnAccumulate(sb, sg, xh[i], dys[i])
			case sb != nil:
				addWiden(sb, dys[i])
			case sg != nil:
				for j, v := range dys[i][:d] {
					sg[j] += float64(v) * xh[i][j]
				}
			}
		}
		if dX == nil {
			continue
		}
		xhs := xh
		for i := g; i < 4; i++ {
			xhs[i] = xh[g-1]
		}
		m1, m2 := gradMoments4(dys, gamma[:d], xhs)
		for i := range g {
			kern.lnDx(dX[(r+i)*d:(r+i+1)*d], dys[i], gamma[:d], xh[i], m1[i], m2[i], inv[i])
		}
	}
	for j, s := range sg {
		dGamma[j] += float32(s)
	}
	for j, s := range sb {
		dBeta[j] += float32(s)
	}
}

// The element-wise passes of layerNormBackwardRows over one row, in Go:
// the references for the kernels' lnNormalise, lnAccumulate and lnDx.

// layerNormNormaliseGo sets h = x̂ = (x − mean)·inv.
func layerNormNormaliseGo(h []float64, x []float32, mean, inv float64) {
	for j, v := range x[:len(h)] {
		h[j] = (float64(v) - mean) * inv
	}
}

// addWiden adds v to s element by element, in float64 (dBeta's sums).
func addWiden(s []float64, v []float32) {
	for j, x := range v[:len(s)] {
		s[j] += float64(x)
	}
}

// layerNormAccumulateGo adds dy to sb (dBeta's sums) and dy·h to sg
// (dGamma's).
func layerNormAccumulateGo(sb, sg, h []float64, dy []float32) {
	sg, h = sg[:len(sb)], h[:len(sb)]
	for j, v := range dy[:len(sb)] {
		sb[j] += float64(v)
		sg[j] += float64(v) * h[j]
	}
}

// layerNormDxGo adds (dy·gamma − m1 − h·m2)·inv, rounded to float32, to dx.
func layerNormDxGo(dx, dy, gamma []float32, h []float64, m1, m2, inv float64) {
	dy, gamma, h = dy[:len(dx)], gamma[:len(dx)], h[:len(dx)]
	for j, v := range dy {
		dx[j] += float32((float64(v)*float64(gamma[j]) - m1 - h[j]*m2) * inv)
	}
}

// rowMoments4 returns the mean and 1/sqrt(var+eps) of four rows of one
// length in float64, each as layerNormRowGo computes them, their sums side
// by side.
func rowMoments4(x [4][]float32, eps float64) (mean, inv [4]float64) {
	x0, x1, x2, x3 := x[0], x[1][:len(x[0])], x[2][:len(x[0])], x[3][:len(x[0])]
	n := float64(len(x0))
	var s0, s1, s2, s3 float64
	for j, v := range x0 {
		s0 += float64(v)
		s1 += float64(x1[j])
		s2 += float64(x2[j])
		s3 += float64(x3[j])
	}
	mean = [4]float64{s0 / n, s1 / n, s2 / n, s3 / n}
	var q0, q1, q2, q3 float64
	for j, v := range x0 {
		d0 := float64(v) - mean[0]
		d1 := float64(x1[j]) - mean[1]
		d2 := float64(x2[j]) - mean[2]
		d3 := float64(x3[j]) - mean[3]
		q0 += d0 * d0
		q1 += d1 * d1
		q2 += d2 * d2
		q3 += d3 * d3
	}
	for i, q := range [4]float64{q0, q1, q2, q3} {
		inv[i] = 1 / math.Sqrt(q/n+eps)
	}
	return mean, inv
}

// gradMoments4 returns mean(g) and mean(g·x̂), g = dy·gamma, of four rows,
// their sums side by side.
func gradMoments4(dy [4][]float32, gamma []float32, xh [4][]float64) (m1, m2 [4]float64) {
	d := len(gamma)
	y0, y1, y2, y3 := dy[0][:d], dy[1][:d], dy[2][:d], dy[3][:d]
	h0, h1, h2, h3 := xh[0][:d], xh[1][:d], xh[2][:d], xh[3][:d]
	var a0, a1, a2, a3, b0, b1, b2, b3 float64
	for j, gm := range gamma {
		w := float64(gm)
		g0, g1, g2, g3 := float64(y0[j])*w, float64(y1[j])*w, float64(y2[j])*w, float64(y3[j])*w
		a0 += g0
		a1 += g1
		a2 += g2
		a3 += g3
		b0 += g0 * h0[j]
		b1 += g1 * h1[j]
		b2 += g2 * h2[j]
		b3 += g3 * h3[j]
	}
	n := float64(d)
	return [4]float64{a0 / n, a1 / n, a2 / n, a3 / n}, [4]float64{b0 / n, b1 / n, b2 / n, b3 / n}
}

// LayerNormBackwardRef is the oracle for LayerNormBackward, from the
// Jacobian itself rather than its simplified form: with x̂ᵢ = (xᵢ−mean)/std,
// ∂x̂ᵢ/∂xⱼ = (δᵢⱼ − 1/d − x̂ᵢ·x̂ⱼ/d)/std, so dXⱼ = Σᵢ dOutᵢ·gammaᵢ·∂x̂ᵢ/∂xⱼ
// (O(d²) a row).
func LayerNormBackwardRef(dX, dGamma, dBeta, dOut, x []float32, m, d int, gamma []float32, eps float64) {
	xh := make([]float64, d)
	sg, sb := make([]float64, d), make([]float64, d) // over rows, added once
	for r := 0; r < m; r++ {
		row, dy := x[r*d:(r+1)*d], dOut[r*d:(r+1)*d]
		var mean float64
		for _, v := range row {
			mean += float64(v)
		}
		mean /= float64(d)
		var variance float64
		for _, v := range row {
			variance += (float64(v) - mean) * (float64(v) - mean)
		}
		variance /= float64(d)
		std := math.Sqrt(variance + eps)
		for j, v := range row {
			xh[j] = (float64(v) - mean) / std
			sg[j] += float64(dy[j]) * xh[j]
			sb[j] += float64(dy[j])
		}
		if dX == nil {
			continue
		}
		for j := 0; j < d; j++ {
			var s float64
			for i := 0; i < d; i++ {
				jac := -1/float64(d) - xh[i]*xh[j]/float64(d)
				if i == j {
					jac++
				}
				s += float64(dy[i]) * float64(gamma[i]) * jac / std
			}
			dX[r*d+j] += float32(s)
		}
	}
	for j := 0; j < d; j++ {
		if dGamma != nil {
			dGamma[j] += float32(sg[j])
		}
		if dBeta != nil {
			dBeta[j] += float32(sb[j])
		}
	}
}
