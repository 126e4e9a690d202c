package train

import (
	"fmt"
	"math"

	"github.com/ipt-go/ipt/internal/ops"
)

// Adam is torch.optim.Adam (no weight decay, no amsgrad) over one flat
// parameter block: M and V are the first and second moments, T the number
// of updates taken. M and V are buffers of a backend: the CPU's (NewAdam)
// or the one MoveTo moved them to.
type Adam struct {
	Beta1, Beta2, Eps float64
	M, V              []float32
	T                 int

	be ops.Backend // holds M and V; nil: the CPU
}

// NewAdam returns Adam with β 0.9/0.999 and ε 1e-8 for n parameters.
func NewAdam(n int) *Adam {
	be := ops.CPU{}
	return &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, M: be.Alloc(n), V: be.Alloc(n)}
}

// MoveTo moves the moments onto be, as Net.MoveTo moves a net.
func (a *Adam) MoveTo(be ops.Backend) error {
	old := a.backend()
	if err := old.Sync(); err != nil {
		return err
	}
	m, v := be.Alloc(len(a.M)), be.Alloc(len(a.V))
	copy(m, a.M)
	copy(v, a.V)
	old.Free(a.M)
	old.Free(a.V)
	a.M, a.V, a.be = m, v, be
	return nil
}

func (a *Adam) backend() ops.Backend {
	if a.be == nil {
		return ops.CPU{}
	}
	return a.be
}

// Step makes update T+1 with learning rate lr on the CPU, on up to threads
// goroutines (0: ops' default): StepOn(ops.CPU{Threads: threads}, …).
func (a *Adam) Step(params, grads []float32, lr float64, threads int) error {
	return a.StepOn(ops.CPU{Threads: threads}, params, grads, lr)
}

// StepOn makes update T+1 with learning rate lr on be, which holds params,
// grads and the moments. The bias corrections are computed in float64 and
// rounded to float32 once, as PyTorch passes them as Python floats to
// float32 kernels; then per element, each operation rounded to float32 and
// none fused (ops.AdamUpdate, vectorised where the CPU allows, with the same
// bits as its Go loop):
//
//	m = β1·m + (1−β1)·g
//	v = β2·v + ((1−β2)·g)·g
//	p = p − (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + ε)
//
// Elements are independent, so the result does not depend on threads.
func (a *Adam) StepOn(be ops.Backend, params, grads []float32, lr float64) error {
	if len(params) != len(grads) || len(params) != len(a.M) || len(params) != len(a.V) {
		return fmt.Errorf("adam: %d params, %d grads, %d/%d moments", len(params), len(grads), len(a.M), len(a.V))
	}
	a.T++
	t := float64(a.T)
	be.AdamUpdate(params, grads, a.M, a.V, ops.AdamCoefs{
		B1: float32(a.Beta1), C1: float32(1 - a.Beta1),
		B2: float32(a.Beta2), C2: float32(1 - a.Beta2),
		BC2:  float32(math.Sqrt(1 - math.Pow(a.Beta2, t))),
		Eps:  float32(a.Eps),
		Step: float32(lr / (1 - math.Pow(a.Beta1, t))),
	})
	return nil
}

// GradNorm is the global L2 norm of g, summed in float64, on the CPU
// (ops.L2Norm: the same for any threads).
func GradNorm(g []float32, threads int) float64 { return ops.CPU{Threads: threads}.L2Norm(g) }

// ClipGrads is ClipGradsOn on the CPU, on up to threads goroutines.
func ClipGrads(g []float32, maxNorm float64, threads int) float64 {
	return ClipGradsOn(ops.CPU{Threads: threads}, g, maxNorm)
}

// ClipGradsOn scales g (a buffer of be) so that its global norm is at most
// maxNorm, as the authors' MindSpore code (ClipByGlobalNorm) does:
// g·maxNorm/max(norm, maxNorm), the factor rounded to float32 once.
// maxNorm 0 disables it. It returns the norm before clipping.
func ClipGradsOn(be ops.Backend, g []float32, maxNorm float64) float64 {
	norm := be.L2Norm(g)
	if maxNorm <= 0 || norm <= maxNorm {
		return norm
	}
	be.Scale(g, float32(maxNorm/norm))
	return norm
}
