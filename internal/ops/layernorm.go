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
