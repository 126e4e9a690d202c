//go:build cuda

package cuda

// The backend's device on a real GPU: the Context's calls, and the waits
// that make frees safe.

import "github.com/ipt-go/ipt/internal/cuda/kernels"

type ctxDevice struct {
	c     *Context
	funcs map[string]*Function
}

func (d *ctxDevice) floats(n int) ([]float32, error) {
	if !d.c.ConcurrentManaged {
		// Floats clears the memory from the host, which such a GPU does
		// not allow while kernels run.
		if err := d.c.Synchronize(); err != nil {
			return nil, err
		}
	}
	s, err := d.c.Floats(n)
	if err != nil {
		return nil, err
	}
	// The pages start on the host (Floats clears them there); move them
	// now rather than fault them over one by one in the first kernel. A
	// hint: its failure (a GPU without prefetch) changes no result. Not
	// where the host may not touch managed memory while the GPU works:
	// callers write a new buffer at once (Net.MoveTo), with nothing queued.
	if d.c.ConcurrentManaged {
		_ = d.c.Prefetch(s, true)
	}
	return s, nil
}

// freeFloats and free wait for the queued work first: it may still use
// the memory, and cuMemFree does not wait for a stream.
func (d *ctxDevice) freeFloats(s []float32) error {
	if err := d.c.Synchronize(); err != nil {
		return err
	}
	return d.c.FreeFloats(s)
}

func (d *ctxDevice) alloc(n int) (DevicePtr, error) { return d.c.Alloc(n) }

func (d *ctxDevice) free(p DevicePtr) error {
	if p == 0 {
		return nil
	}
	if err := d.c.Synchronize(); err != nil {
		return err
	}
	return d.c.Free(p)
}

func (d *ctxDevice) copyOut(dst []float32, src DevicePtr) error { return d.c.CopyOut(dst, src) }

func (d *ctxDevice) launch(k *kernels.Kernel, grid int64, args []any) error {
	f := d.funcs[k.Name]
	if f == nil {
		var err error
		if f, err = d.c.Function(k.Name); err != nil {
			return err
		}
		d.funcs[k.Name] = f
	}
	return d.c.Launch(f, Dim3{X: int(grid)}, Dim3{X: kernels.BlockSize}, 0, args...)
}

func (d *ctxDevice) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	return d.c.Sgemm(transA, transB, m, n, k, alpha, Ptr(a), lda, Ptr(b), ldb, beta, Ptr(c), ldc)
}

func (d *ctxDevice) sgemmBatched(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC, batch int) error {
	return d.c.SgemmStridedBatched(transA, transB, m, n, k, alpha, Ptr(a), lda, strideA, Ptr(b), ldb, strideB, beta, Ptr(c), ldc, strideC, batch)
}

func (d *ctxDevice) synchronize() error { return d.c.Synchronize() }

func (d *ctxDevice) close() error { return d.c.Close() }
