package ops

// Sgemm computes C = alpha·op(A)·op(B) + beta·C in single precision, row-major.
// op(A) is m×k (A is m×k with leading dimension lda, or k×m when transA);
// op(B) is k×n (B is k×n with leading dimension ldb, or n×k when transB).
// C is m×n with leading dimension ldc. beta == 0 means C is only written, never read.
//
// The summation order over k depends only on k (never on the number of
// threads), so results are identical however the work is split.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmRef(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmRef is the plain-Go reference: the specification every fast path is tested against.
func SgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(crow)
		} else if beta != 1 {
			for j := range crow {
				crow[j] *= beta
			}
		}
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
