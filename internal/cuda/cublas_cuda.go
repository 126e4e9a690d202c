//go:build cuda

package cuda

// cuBLAS (libcublas.so.12 or .11, with its libcublasLt beside it): the
// GEMMs, row-major as ipt's ops.Sgemm. Signatures from cublas_api.h
// (CUDA 12.x, the same in 11.x); cublasHandle_t and cudaStream_t are
// pointers, int is a C int, long long int an int64.

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"
)

// status is a cublasStatus_t (CUBLAS_STATUS_SUCCESS = 0).
type status int32

// Enum values of cublas_api.h and library_types.h.
const (
	mathDefault      = 0  // CUBLAS_DEFAULT_MATH
	mathTF32         = 3  // CUBLAS_TF32_TENSOR_OP_MATH
	computeFast16BF  = 75 // CUBLAS_COMPUTE_32F_FAST_16BF
	dataR32F         = 0  // CUDA_R_32F (cudaDataType)
	gemmDefault      = -1 // CUBLAS_GEMM_DEFAULT (cublasGemmAlgo_t)
	propMajorVersion = 0  // MAJOR_VERSION (libraryPropertyType)
	propMinorVersion = 1  // MINOR_VERSION
	propPatchLevel   = 2  // PATCH_LEVEL
)

// blasStatusNames are cublasStatus_t's names (cublas_api.h).
var blasStatusNames = map[status]string{
	1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
	7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH",
	11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

var blas struct {
	once sync.Once
	err  error
	lib  *loaded

	cublasCreate      func(h *uintptr) status
	cublasDestroy     func(h uintptr) status
	cublasSetStream   func(h, stream uintptr) status
	cublasSetMathMode func(h uintptr, mode int32) status
	cublasGetProperty func(prop int32, v *int32) status
	cublasSgemm       func(h uintptr, opA, opB int32, m, n, k int32, alpha *float32,
		a DevicePtr, lda int32, b DevicePtr, ldb int32, beta *float32, c DevicePtr, ldc int32) status
	cublasSgemmStridedBatched func(h uintptr, opA, opB int32, m, n, k int32, alpha *float32,
		a DevicePtr, lda int32, strideA int64, b DevicePtr, ldb int32, strideB int64,
		beta *float32, c DevicePtr, ldc int32, strideC int64, batch int32) status
	cublasGemmEx func(h uintptr, opA, opB int32, m, n, k int32, alpha unsafe.Pointer,
		a DevicePtr, aType, lda int32, b DevicePtr, bType, ldb int32, beta unsafe.Pointer,
		c DevicePtr, cType, ldc int32, compute, algo int32) status
	cublasGemmStridedBatchedEx func(h uintptr, opA, opB int32, m, n, k int32, alpha unsafe.Pointer,
		a DevicePtr, aType, lda int32, strideA int64, b DevicePtr, bType, ldb int32, strideB int64,
		beta unsafe.Pointer, c DevicePtr, cType, ldc int32, strideC int64, batch int32, compute, algo int32) status
}

// loadCUBLAS opens cuBLAS once a process: cuBLASLt first, from cuBLAS's
// folder and of its major version, so cuBLAS's own load of it by soname
// finds it even when the folder is not on the loader's path.
func loadCUBLAS() error {
	blas.once.Do(func() {
		path, err := search().Find(CUBLAS)
		if err != nil {
			blas.err = err
			return
		}
		lt := filepath.Join(filepath.Dir(path), strings.Replace(filepath.Base(path), "libcublas", "libcublasLt", 1))
		if _, err := openPath(CUBLASLt, lt); err != nil {
			blas.err = err
			return
		}
		lib, err := openPath(CUBLAS, path)
		if err != nil {
			blas.err = err
			return
		}
		b := &blas
		blas.err = lib.bind(
			sym{"cublasCreate_v2", &b.cublasCreate},
			sym{"cublasDestroy_v2", &b.cublasDestroy},
			sym{"cublasSetStream_v2", &b.cublasSetStream},
			sym{"cublasSetMathMode", &b.cublasSetMathMode},
			sym{"cublasGetProperty", &b.cublasGetProperty},
			sym{"cublasSgemm_v2", &b.cublasSgemm},
			sym{"cublasSgemmStridedBatched", &b.cublasSgemmStridedBatched},
			sym{"cublasGemmEx", &b.cublasGemmEx},
			sym{"cublasGemmStridedBatchedEx", &b.cublasGemmStridedBatchedEx},
		)
		b.lib = lib
	})
	return blas.err
}

func blasCheck(call string, s status) error {
	if s == 0 {
		return nil
	}
	name, ok := blasStatusNames[s]
	if !ok {
		name = fmt.Sprintf("cublasStatus_t %d", int(s))
	}
	return &Error{Call: call, Code: int(s), Name: name}
}

// blasVersion is cuBLAS's "12.4.5".
func blasVersion() string {
	var v [3]int32
	for i, p := range []int32{propMajorVersion, propMinorVersion, propPatchLevel} {
		if blas.cublasGetProperty(p, &v[i]) != 0 {
			return ""
		}
	}
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
}

// SetMath sets the arithmetic of c's GEMMs.
func (c *Context) SetMath(m Math) error {
	defer c.enter()()
	return c.setMath(m)
}

// Math is the arithmetic of c's GEMMs.
func (c *Context) Math() Math { return c.math }

func (c *Context) setMath(m Math) error {
	mode := int32(mathDefault)
	switch m {
	case FP32, BF16: // BF16 goes through cublasGemmEx's compute type instead
	case TF32:
		mode = mathTF32
	default:
		return fmt.Errorf("cuda: %v is no GEMM arithmetic", m)
	}
	if err := blasCheck("cublasSetMathMode", blas.cublasSetMathMode(c.blas, mode)); err != nil {
		return err
	}
	c.math = m
	return nil
}

// Sgemm queues C = alpha·op(A)·op(B) + beta·C on c's stream, with
// ops.Sgemm's meaning: row-major, op(A) m×k (A is m×k with leading
// dimension lda, or k×m when transA), op(B) k×n, C m×n with leading
// dimension ldc; in the Context's Math. beta == 0 writes C without
// reading it (cuBLAS's rule too, so NaNs in C do not survive).
func (c *Context) Sgemm(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int, b DevicePtr, ldb int, beta float32, cm DevicePtr, ldc int) error {
	g, err := rowMajorGemm(transA, transB, m, n, k, a, lda, 0, b, ldb, 0, cm, ldc, 0, 1)
	if err != nil || m == 0 || n == 0 {
		return err
	}
	defer c.enter()()
	if c.math == BF16 {
		return blasCheck("cublasGemmEx", blas.cublasGemmEx(c.blas, g.opA, g.opB, g.m, g.n, g.k,
			unsafe.Pointer(&alpha), g.a, dataR32F, g.lda, g.b, dataR32F, g.ldb,
			unsafe.Pointer(&beta), g.c, dataR32F, g.ldc, computeFast16BF, gemmDefault))
	}
	return blasCheck("cublasSgemm_v2", blas.cublasSgemm(c.blas, g.opA, g.opB, g.m, g.n, g.k,
		&alpha, g.a, g.lda, g.b, g.ldb, &beta, g.c, g.ldc))
}

// SgemmStridedBatched is batch Sgemms at once: the i-th multiplies the
// matrices at a + i·strideA and b + i·strideB into c + i·strideC (strides
// in float32s; 0 shares one matrix across the batch), as attention's
// per-head products need.
func (c *Context) SgemmStridedBatched(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda, strideA int, b DevicePtr, ldb, strideB int, beta float32, cm DevicePtr, ldc, strideC, batch int) error {
	g, err := rowMajorGemm(transA, transB, m, n, k, a, lda, strideA, b, ldb, strideB, cm, ldc, strideC, batch)
	if err != nil || m == 0 || n == 0 || batch == 0 {
		return err
	}
	defer c.enter()()
	if c.math == BF16 {
		return blasCheck("cublasGemmStridedBatchedEx", blas.cublasGemmStridedBatchedEx(c.blas, g.opA, g.opB, g.m, g.n, g.k,
			unsafe.Pointer(&alpha), g.a, dataR32F, g.lda, g.strideA, g.b, dataR32F, g.ldb, g.strideB,
			unsafe.Pointer(&beta), g.c, dataR32F, g.ldc, g.strideC, g.batch, computeFast16BF, gemmDefault))
	}
	return blasCheck("cublasSgemmStridedBatched", blas.cublasSgemmStridedBatched(c.blas, g.opA, g.opB, g.m, g.n, g.k,
		&alpha, g.a, g.lda, g.strideA, g.b, g.ldb, g.strideB, &beta, g.c, g.ldc, g.strideC, g.batch))
}
