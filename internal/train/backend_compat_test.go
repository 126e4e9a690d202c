package train

import "github.com/ipt-go/ipt/internal/ops"

// The losses and the optimiser's loops moved into internal/ops (the CPU
// backend); these keep the names the older tests call them by.

// adamChunk and normChunk are the CPU backend's chunk sizes (ops.Exec's
// AdamUpdate and L2Norm).
const adamChunk, normChunk = 1 << 16, 1 << 14

func l1Loss(out, target, dOut []float32, weight float64) float64 {
	return ops.L1Loss(out, target, dOut, weight)
}

// contrastiveLoss is ops' ContrastiveLoss on e.
func contrastiveLoss(x, dx []float32, N, L, d int, tau, weight float64, f, df, g []float32, e ops.Exec) float64 {
	return e.ContrastiveLoss(x, dx, N, L, d, tau, weight, f, df, g)
}
