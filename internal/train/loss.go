package train

import (
	"math"

	"github.com/ipt-go/ipt/internal/ops"
)

// l1Loss returns mean |out − target| (PyTorch's L1Loss, mean reduction) and
// sets dOut to weight times its gradient, weight·sign(out − target)/len(out)
// (0 where they are equal, as torch.sign). The sum is in float64, in index
// order.
func l1Loss(out, target, dOut []float32, weight float64) float64 {
	var sum float64
	g := float32(weight / float64(len(out)))
	for i, o := range out {
		diff := float64(o) - float64(target[i])
		sum += math.Abs(diff)
		switch {
		case diff > 0:
			dOut[i] = g
		case diff < 0:
			dOut[i] = -g
		default:
			dOut[i] = 0
		}
	}
	return sum / float64(len(out))
}

// normEps bounds the norm a token is divided by (as torch's cosine
// similarity bounds it), so an all-zero token gives zeros, not NaN.
const normEps = 1e-8

// contrastiveLoss computes the paper's Eq. 5 on the tokens x ([N·L, d], N
// images of L patch features each, image-major):
//
//	l(j, i1, i2) = −log( exp(s(j i1, j i2)) / Σ_{k≠j} exp(s(j i1, k i2)) )
//	loss = 1/(N·L²) Σ_j Σ_i1 Σ_i2 l(j, i1, i2)
//
// with s the cosine similarity divided by tau. It adds weight times the
// gradient with respect to x into dx. N must be at least 2 (the sum over
// k ≠ j is empty otherwise).
//
// The tokens are normalised into F (rows f = x/|x|); every similarity is an
// entry of G = F·Fᵀ, one GEMM; the gradient with respect to G (softmax over
// k, minus one at k = j) becomes dF = (dG + dGᵀ)·F, a second GEMM, then
// goes through the normalisation: dx = (df − f·(f·df))/|x|. f, df, g and
// norms are scratch ([N·L, d] twice, [N·L, N·L], [N·L]).
func contrastiveLoss(x, dx []float32, N, L, d int, tau, weight float64, f, df, g []float32, norms []float64, e ops.Exec) float64 {
	rows := N * L
	f, g, norms = f[:rows*d], g[:rows*rows], norms[:rows]
	for i := range rows {
		row := x[i*d : (i+1)*d]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		nrm := max(math.Sqrt(ss), normEps)
		norms[i] = nrm
		inv := 1 / nrm
		for j, v := range row {
			f[i*d+j] = float32(float64(v) * inv)
		}
	}
	e.Sgemm(false, true, rows, rows, d, 1, f, d, f, d, 0, g, rows)

	// Each (j, i1, i2) is a softmax over the other images k ≠ j of the
	// logits g[j·L+i1, k·L+i2]/tau. The gradients overwrite g entry by
	// entry once read: every entry belongs to exactly one (j, i1, i2).
	var sum float64
	w := weight / (tau * float64(N*L*L))
	z := make([]float64, N)
	for j := range N {
		for i1 := range L {
			grow := g[(j*L+i1)*rows : (j*L+i1+1)*rows]
			for i2 := range L {
				m := math.Inf(-1)
				for k := range N {
					z[k] = float64(grow[k*L+i2]) / tau
					if k != j {
						m = max(m, z[k])
					}
				}
				var den float64
				for k := range N {
					if k != j {
						z[k] = math.Exp(z[k] - m)
						den += z[k]
					}
				}
				sum += m + math.Log(den) - z[j]
				for k := range N {
					if k == j {
						grow[k*L+i2] = float32(-w)
					} else {
						grow[k*L+i2] = float32(w * z[k] / den)
					}
				}
			}
		}
	}
	// G was symmetric, so dF = (dG + dGᵀ)·F; symmetrise dG in place.
	for i := range rows {
		for k := i + 1; k < rows; k++ {
			s := g[i*rows+k] + g[k*rows+i]
			g[i*rows+k], g[k*rows+i] = s, s
		}
		g[i*rows+i] *= 2
	}
	e.Sgemm(false, false, rows, d, rows, 1, g, rows, f, d, 0, df[:rows*d], d)
	for i := range rows {
		fr, dr, out := f[i*d:(i+1)*d], df[i*d:(i+1)*d], dx[i*d:(i+1)*d]
		var dot float64
		for j, v := range fr {
			dot += float64(v) * float64(dr[j])
		}
		inv := 1 / norms[i]
		for j, v := range fr {
			out[j] += float32((float64(dr[j]) - float64(v)*dot) * inv)
		}
	}
	return sum / float64(N*L*L)
}
