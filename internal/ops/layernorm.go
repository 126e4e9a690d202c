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
// (each [d]), skipping nil outputs; none may alias the inputs or each
// other. The mean and 1/std of each row are recomputed from x in float64,
// as the forward computes them, so no cache is needed. With x̂ = (x−mean)/std
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
	moments := make([]float64, 2*m) // each row's mean and 1/std
	parallelChunks(m, chunkRows(d), threads, func(lo, hi int) {
		layerNormBackwardRows(dX, nil, nil, dOut, x, lo, hi, d, gamma, eps, moments)
	})
	if dGamma == nil && dBeta == nil {
		return
	}
	parallelChunks(d, max(8, (d+threads-1)/threads), threads, func(j0, j1 int) {
		for j := j0; j < j1; j++ {
			var sg, sb float64
			for r := 0; r < m; r++ {
				dy := float64(dOut[r*d+j])
				sb += dy
				sg += dy * normalised(x[r*d+j], moments[2*r], moments[2*r+1])
			}
			if dGamma != nil {
				dGamma[j] += float32(sg)
			}
			if dBeta != nil {
				dBeta[j] += float32(sb)
			}
		}
	})
}

// layerNormBackwardRows is LayerNormBackward's pass over rows [lo, hi): it
// adds into dX, and into dGamma and dBeta when they are not nil (the one-
// thread form, lo = 0 and hi = m); when moments is not nil it keeps each
// row's mean and 1/std there for the column pass.
func layerNormBackwardRows(dX, dGamma, dBeta, dOut, x []float32, lo, hi, d int, gamma []float32, eps float64, moments []float64) {
	var sg, sb []float64 // dGamma, dBeta sums over rows
	if dGamma != nil {
		sg = make([]float64, d)
	}
	if dBeta != nil {
		sb = make([]float64, d)
	}
	var xh []float64 // the row's x̂
	if dX != nil || dGamma != nil || moments != nil {
		xh = make([]float64, d)
	}
	for r := lo; r < hi; r++ {
		dy := dOut[r*d : (r+1)*d]
		for j, v := range sb {
			sb[j] = v + float64(dy[j])
		}
		if xh == nil {
			continue
		}
		row := x[r*d : (r+1)*d]
		mean, inv := rowMoments(row, eps)
		if moments != nil {
			moments[2*r], moments[2*r+1] = mean, inv
		}
		for j, v := range row {
			xh[j] = normalised(v, mean, inv)
		}
		for j, v := range sg {
			sg[j] = v + float64(dy[j])*xh[j]
		}
		if dX == nil {
			continue
		}
		gamma := gamma[:d]
		var m1, m2 float64 // mean(g), mean(g·x̂)
		for j, v := range dy {
			g := float64(v) * float64(gamma[j])
			m1 += g
			m2 += g * xh[j]
		}
		m1 /= float64(d)
		m2 /= float64(d)
		dx := dX[r*d : (r+1)*d]
		for j, v := range dy {
			dx[j] += float32((float64(v)*float64(gamma[j]) - m1 - xh[j]*m2) * inv)
		}
	}
	for j, s := range sg {
		dGamma[j] += float32(s)
	}
	for j, s := range sb {
		dBeta[j] += float32(s)
	}
}

// normalised is x̂ = (v−mean)·inv, the one expression both passes of
// LayerNormBackward use, so they agree to the bit.
func normalised(v float32, mean, inv float64) float64 { return (float64(v) - mean) * inv }

// rowMoments returns the mean and 1/sqrt(var+eps) of row in float64, as
// layerNormRowGo computes them.
func rowMoments(row []float32, eps float64) (mean, inv float64) {
	var sum float64
	for _, v := range row {
		sum += float64(v)
	}
	mean = sum / float64(len(row))
	var ss float64
	for _, v := range row {
		dv := float64(v) - mean
		ss += dv * dv
	}
	return mean, 1 / math.Sqrt(ss/float64(len(row))+eps)
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
