package cuda

// ipt's row-major GEMM as cuBLAS's column-major call, in plain Go (both
// builds) so the operand swap and the argument checks are tested without
// a GPU.

import (
	"fmt"
	"math"
)

// cublasOperation_t (cublas_api.h).
const (
	opN int32 = 0 // CUBLAS_OP_N
	opT int32 = 1 // CUBLAS_OP_T
)

// colGemm is one column-major (strided-batched) cuBLAS GEMM.
type colGemm struct {
	opA, opB int32
	m, n, k  int32
	a        DevicePtr
	lda      int32
	strideA  int64
	b        DevicePtr
	ldb      int32
	strideB  int64
	c        DevicePtr
	ldc      int32
	strideC  int64
	batch    int32
}

// rowMajorGemm maps C = alpha·op(A)·op(B) + beta·C on row-major matrices
// (ops.Sgemm's meaning; strides in elements between the batch's matrices)
// to cuBLAS. A row-major matrix read column-major is its transpose, so
// cuBLAS computes Cᵀ = op(B)ᵀ·op(A)ᵀ: the operands swap, m and n swap,
// the transposes and leading dimensions stay with their matrices.
func rowMajorGemm(transA, transB bool, m, n, k int, a DevicePtr, lda, strideA int, b DevicePtr, ldb, strideB int, c DevicePtr, ldc, strideC, batch int) (colGemm, error) {
	aCols, bCols := k, n // row-major A is m×k, or k×m when transposed
	if transA {
		aCols = m
	}
	if transB {
		bCols = k
	}
	for _, v := range []struct {
		name     string
		val, min int
	}{
		{"m", m, 0}, {"n", n, 0}, {"k", k, 0}, {"batch", batch, 0},
		{"lda", lda, max(1, aCols)}, {"ldb", ldb, max(1, bCols)}, {"ldc", ldc, max(1, n)},
		{"strideA", strideA, 0}, {"strideB", strideB, 0}, {"strideC", strideC, 0},
	} {
		if v.val < v.min {
			return colGemm{}, fmt.Errorf("cuda: Sgemm: %s = %d, want at least %d", v.name, v.val, v.min)
		}
		if v.name[0] != 's' && v.val > math.MaxInt32 { // cuBLAS takes them as C ints
			return colGemm{}, fmt.Errorf("cuda: Sgemm: %s = %d does not fit cuBLAS's int", v.name, v.val)
		}
	}
	op := func(t bool) int32 {
		if t {
			return opT
		}
		return opN
	}
	return colGemm{
		opA: op(transB), opB: op(transA),
		m: int32(n), n: int32(m), k: int32(k),
		a: b, lda: int32(ldb), strideA: int64(strideB),
		b: a, ldb: int32(lda), strideB: int64(strideA),
		c: c, ldc: int32(ldc), strideC: int64(strideC),
		batch: int32(batch),
	}, nil
}
