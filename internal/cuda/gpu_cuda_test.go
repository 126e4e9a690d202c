//go:build cuda

package cuda

// Checks on a real GPU: skipped where none is found, failed instead when
// IPT_TEST_REQUIRE=cuda (the GPU host's run must not pass by skipping).

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/ops"
)

// noGPU skips the test when err says there is no usable GPU, or fails it
// under IPT_TEST_REQUIRE=cuda.
func noGPU(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("IPT_TEST_REQUIRE") == "cuda" {
		t.Fatalf("IPT_TEST_REQUIRE=cuda: %v", err)
	}
	t.Skipf("no GPU: %v", err)
}

func openGPU(t *testing.T, opts Options) *Context {
	t.Helper()
	c, err := Open(0, opts)
	noGPU(t, err)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Logf("GPU %s", c.Device)
	return c
}

const testKernels = `
extern "C" __global__ void axpy(int n, float a, const float* x, float* y) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) y[i] += a * x[i];
}
`

func randFloats(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func TestGPULibraries(t *testing.T) {
	openGPU(t, Options{})
	for _, l := range Libraries() {
		t.Logf("%s: %s %s %v", l.Library.Name, l.Path, l.Version, l.Err)
		if l.Library.Name != "NCCL" && l.Err != nil {
			t.Errorf("%s: %v", l.Library.Name, l.Err)
		}
	}
}

// Managed memory is one slice on both sides: the host writes, a kernel
// updates, the host reads; copies and fills round-trip.
func TestGPUMemoryAndKernel(t *testing.T) {
	c := openGPU(t, Options{Source: testKernels})
	const n = 1000
	x, err := c.Floats(n)
	if err != nil {
		t.Fatal(err)
	}
	defer c.FreeFloats(x)
	y, err := c.Floats(n)
	if err != nil {
		t.Fatal(err)
	}
	defer c.FreeFloats(y)
	for i := range x {
		x[i], y[i] = float32(i), 1
	}
	if err := c.Prefetch(x, true); err != nil {
		t.Fatal(err)
	}
	f, err := c.Function("axpy")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Launch(f, Dim3{X: (n + 255) / 256}, Dim3{X: 256}, 0, n, float32(2), x, Ptr(y)); err != nil {
		t.Fatal(err)
	}
	if err := c.Synchronize(); err != nil {
		t.Fatal(err)
	}
	for i := range y {
		if y[i] != 1+2*float32(i) {
			t.Fatalf("axpy: y[%d] = %v, want %v", i, y[i], 1+2*float32(i))
		}
	}

	d, err := c.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free(d)
	if err := c.CopyIn(d, x); err != nil {
		t.Fatal(err)
	}
	back := make([]float32, n)
	if err := c.CopyOut(back, d); err != nil {
		t.Fatal(err)
	}
	for i := range back {
		if back[i] != x[i] {
			t.Fatalf("CopyIn/CopyOut: [%d] = %v, want %v", i, back[i], x[i])
		}
	}
	if err := c.Fill(d, n, -0.5); err != nil {
		t.Fatal(err)
	}
	if err := c.CopyDevice(Ptr(y), d, n); err != nil {
		t.Fatal(err)
	}
	if err := c.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if y[0] != -0.5 || y[n-1] != -0.5 {
		t.Errorf("Fill+CopyDevice: y = %v … %v, want -0.5", y[0], y[n-1])
	}
	if _, err := c.Function("nonesuch"); err == nil {
		t.Error("Function(nonesuch) found a kernel")
	}
}

func TestGPUCompileError(t *testing.T) {
	c := openGPU(t, Options{})
	_, err := Open(c.Device.Index, Options{Source: "this is not C++", Name: "bad.cu"})
	if err == nil || !strings.Contains(err.Error(), "NVRTC_ERROR_COMPILATION") || !strings.Contains(err.Error(), "bad.cu") {
		t.Errorf("compile error: %v", err)
	}
}

// The GEMMs against ops.SgemmRef on odd shapes, both transposes, alpha and
// beta: fp32 within rounding, TF32 and BF16 within their precision.
func TestGPUSgemm(t *testing.T) {
	c := openGPU(t, Options{})
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range []struct {
		math Math
		tol  float64
	}{{FP32, 1e-5}, {TF32, 3e-3}, {BF16, 2e-2}} {
		if err := c.SetMath(m.math); err != nil {
			t.Fatal(err)
		}
		for _, s := range [][3]int{{1, 1, 1}, {7, 13, 5}, {64, 48, 129}, {127, 255, 33}} {
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				checkGemm(t, c, r, m.math, m.tol, s[0], s[1], s[2], tr[0], tr[1], 3)
			}
		}
	}
}

func checkGemm(t *testing.T, c *Context, r *rand.Rand, mth Math, tol float64, m, n, k int, ta, tb bool, batch int) {
	t.Helper()
	lda, ldb, ldc := k+3, n+1, n+2
	if ta {
		lda = m + 3
	}
	if tb {
		ldb = k + 1
	}
	aRows, bRows := m, k
	if ta {
		aRows = k
	}
	if tb {
		bRows = n
	}
	sa, sb, sc := aRows*lda, bRows*ldb, m*ldc
	a, _ := c.Floats(sa * batch)
	b, _ := c.Floats(sb * batch)
	cm, _ := c.Floats(sc * batch)
	defer c.FreeFloats(a)
	defer c.FreeFloats(b)
	defer c.FreeFloats(cm)
	copy(a, randFloats(r, len(a)))
	copy(b, randFloats(r, len(b)))
	copy(cm, randFloats(r, len(cm)))
	want := append([]float32(nil), cm...)
	for i := range batch {
		ops.SgemmRef(ta, tb, m, n, k, 0.5, a[i*sa:], lda, b[i*sb:], ldb, -1.5, want[i*sc:], ldc)
	}
	// The first matrix by Sgemm, then the whole batch again from the
	// original C by the batched call.
	orig := append([]float32(nil), cm...)
	if err := c.Sgemm(ta, tb, m, n, k, 0.5, Ptr(a), lda, Ptr(b), ldb, -1.5, Ptr(cm), ldc); err != nil {
		t.Fatal(err)
	}
	if err := c.Synchronize(); err != nil {
		t.Fatal(err)
	}
	compare(t, "Sgemm", mth, tol, m, n, k, ta, tb, cm[:sc], want[:sc], ldc)
	copy(cm, orig)
	if err := c.SgemmStridedBatched(ta, tb, m, n, k, 0.5, Ptr(a), lda, sa, Ptr(b), ldb, sb, -1.5, Ptr(cm), ldc, sc, batch); err != nil {
		t.Fatal(err)
	}
	if err := c.Synchronize(); err != nil {
		t.Fatal(err)
	}
	compare(t, "SgemmStridedBatched", mth, tol, m, n, k, ta, tb, cm, want, ldc)
}

func compare(t *testing.T, what string, mth Math, tol float64, m, n, k int, ta, tb bool, got, want []float32, ldc int) {
	t.Helper()
	scale := math.Sqrt(float64(k)) + 1
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*scale || math.IsNaN(float64(got[i])) {
			t.Errorf("%s %v %dx%dx%d transA %v transB %v: [%d] (row %d) = %v, want %v", what, mth, m, n, k, ta, tb, i, i/ldc, got[i], want[i])
			return
		}
	}
}

// A communicator of one rank: the all-reduce is the identity.
func TestGPUNCCLOneRank(t *testing.T) {
	c := openGPU(t, Options{})
	v, err := NCCLVersion()
	if err != nil {
		t.Skipf("NCCL: %v", err)
	}
	t.Logf("NCCL %s", v)
	id, err := NewUniqueID()
	if err != nil {
		t.Fatal(err)
	}
	comm, err := c.NewComm(id, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := c.Floats(100)
	defer c.FreeFloats(x)
	for i := range x {
		x[i] = float32(i)
	}
	if err := comm.AllReduceSum(Ptr(x), Ptr(x), len(x)); err != nil {
		t.Fatal(err)
	}
	if err := c.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if x[99] != 99 {
		t.Errorf("all-reduce of one rank changed x[99] to %v", x[99])
	}
	if err := comm.Close(); err != nil {
		t.Error(err)
	}
}
