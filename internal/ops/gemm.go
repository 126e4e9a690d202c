package ops

import "fmt"

// Sgemm computes C = alpha·op(A)·op(B) + beta·C in single precision, row-major.
// op(A) is m×k (A is m×k with leading dimension lda, or k×m when transA);
// op(B) is k×n (B is k×n with leading dimension ldb, or n×k when transB).
// C is m×n with leading dimension ldc. beta == 0 means C is only written, never read.
//
// The summation order over k depends only on k (never on the number of
// threads), so results are identical however the work is split.
//
// It panics, naming the argument, if a dimension is negative, a leading
// dimension is too small or a slice too short. As in BLAS, alpha == 0 or
// k == 0 leaves beta·C without reading A or B.
//
// Sgemm is the BLIS loop nest (gemm_driver.go) around the micro-kernel of
// the path chosen in cpu.go, on up to SetThreads goroutines; tiny products
// take a direct loop instead.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Exec{}.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Exec says how the ops called through it run: on up to Threads goroutines
// per call (0: the package default, SetThreads). Results do not depend on
// it. The package-level functions are those of Exec{}; an Exec of its own
// lets concurrent callers (one Runner per model, several batches at once)
// choose their thread counts without touching each other's.
type Exec struct {
	Threads int
}

func (e Exec) threads() int {
	if e.Threads > 0 {
		return e.Threads
	}
	return Threads()
}

// Sgemm is Sgemm on e's threads.
func (e Exec) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(activeKernel.Load(), e.threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmRef is the plain-Go reference: the specification every fast path is tested against.
func SgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		scaleC(1, n, beta, crow, n)
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if transB {
				for j := range crow {
					crow[j] += av * b[j*ldb+p]
				}
			} else {
				brow := b[p*ldb : p*ldb+n]
				for j, bv := range brow {
					crow[j] += av * bv
				}
			}
		}
	}
}

// checkSgemm panics unless the arguments describe matrices inside the slices.
func checkSgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("ops.Sgemm: negative dimension: m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
}

// checkMatrix checks the operand whose op() is rows×cols (stored transposed
// when trans).
func checkMatrix(name string, trans bool, rows, cols int, s []float32, ld int) {
	if trans {
		rows, cols = cols, rows
	}
	if ld < cols {
		panic(fmt.Sprintf("ops.Sgemm: leading dimension of %s is %d, want at least %d (trans=%v)", name, ld, cols, trans))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("ops.Sgemm: %s has %d elements, want at least %d for %d×%d with leading dimension %d (trans=%v)",
			name, len(s), need, rows, cols, ld, trans))
	}
}

// scaleC sets C = beta·C (C = 0 when beta == 0, without reading C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(crow)
		} else if beta != 1 {
			for j := range crow {
				crow[j] *= beta
			}
		}
	}
}

// sgemmSmall is the direct loop for products too small to repay packing:
// C = alpha·op(A)·op(B) + beta·C, one dot product per element of C, summed
// in k order.
func sgemmSmall(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	// Strides of op(A) (i, p) and op(B) (p, j).
	ars, acs := lda, 1
	if transA {
		ars, acs = 1, lda
	}
	brs, bcs := ldb, 1
	if transB {
		brs, bcs = 1, ldb
	}
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		for j := range crow {
			var sum float32
			ai, bj := i*ars, j*bcs
			for p := 0; p < k; p++ {
				sum += a[ai+p*acs] * b[p*brs+bj]
			}
			if beta == 0 {
				crow[j] = alpha * sum
			} else {
				crow[j] = beta*crow[j] + alpha*sum
			}
		}
	}
}
