package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// testKernel is one micro-kernel under test, with the contract of SgemmGeneric.
type testKernel struct {
	name   string
	mr, nr int
	fn     func(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)
	// missing is non-empty when this machine or build cannot run the kernel.
	missing string
}

// kernels lists every kernel: the generic ones here, the assembly ones from
// sgemm_amd64_test.go.
var kernels = []testKernel{
	genericKernel(6, 16),
	genericKernel(12, 32),
	genericKernel(5, 7),
	{name: "Sgemm1x6Go", mr: 1, nr: 6, fn: Sgemm1x6Go},
}

func genericKernel(mr, nr int) testKernel {
	return testKernel{
		name: fmt.Sprintf("generic%dx%d", mr, nr), mr: mr, nr: nr,
		fn: func(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
			SgemmGeneric(mr, nr, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta)
		},
	}
}

// requireKernels fails the test when a kernel named in IPT_TEST_REQUIRE
// (comma-separated substrings such as "AVX2,AVX512") cannot run here, so
// that CI notices a path it meant to cover being skipped.
func requireKernels(t *testing.T, skipped []string) {
	for _, want := range strings.Split(os.Getenv("IPT_TEST_REQUIRE"), ",") {
		want = strings.TrimSpace(want)
		if want == "" {
			continue
		}
		for _, s := range skipped {
			if strings.Contains(strings.ToLower(s), strings.ToLower(want)) {
				t.Errorf("IPT_TEST_REQUIRE=%s but %s", os.Getenv("IPT_TEST_REQUIRE"), s)
			}
		}
	}
}

const canary = float32(-12345.678)

func TestKernels(t *testing.T) {
	var covered, skipped []string
	for _, kern := range kernels {
		if kern.missing != "" {
			skipped = append(skipped, kern.name+" skipped: "+kern.missing)
			continue
		}
		covered = append(covered, kern.name)
		t.Run(kern.name, func(t *testing.T) { testKernelCases(t, kern) })
	}
	t.Logf("covered: %s", strings.Join(covered, ", "))
	for _, s := range skipped {
		t.Log(s)
	}
	requireKernels(t, skipped)
}

func testKernelCases(t *testing.T, kern testKernel) {
	rng := rand.New(rand.NewPCG(1, 2))
	mr, nr := kern.mr, kern.nr
	type layout struct {
		name     string
		rsa, csa int // strides of A
		ldb      int // row stride of B
	}
	for _, k := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 63, 64, 65, 256, 257} {
		layouts := []layout{
			{"packed", 1, mr, nr},
			{"rowmajor", k + 3, 1, nr},              // A[i][p] in place, lda = k+3
			{"colmajor", 1, mr + 5, nr + 9},         // Aᵀ in place, lda = mr+5; B in place
			{"rowmajor-wide", 2*k + 1, 1, 3*nr + 1}, // odd strides
		}
		for _, lay := range layouts {
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.5, 0}, {-1.5, 0.25}, {2, -1}, {1, float32(math.Copysign(0, -1))}} {
				alpha, beta := ab[0], ab[1]
				name := fmt.Sprintf("k=%d/%s/alpha=%g/beta=%g", k, lay.name, alpha, beta)
				aoff := 3 // A starts at an odd offset in its slice
				alen := aoff + (mr-1)*lay.rsa + max(k-1, 0)*lay.csa + 1
				a := make([]float32, alen)
				for i := range a {
					a[i] = rng.Float32()*2 - 1
				}
				b := make([]float32, max(k-1, 0)*lay.ldb+nr)
				for i := range b {
					b[i] = rng.Float32()*2 - 1
				}
				ldc := nr + 3
				coff := 5
				c := make([]float32, coff+mr*ldc+7)
				for i := range c {
					c[i] = canary
				}
				for i := 0; i < mr; i++ {
					for j := 0; j < nr; j++ {
						if beta == 0 {
							c[coff+i*ldc+j] = float32(math.NaN())
						} else {
							c[coff+i*ldc+j] = rng.Float32()*2 - 1
						}
					}
				}
				want := make([]float64, mr*nr)
				for i := 0; i < mr; i++ {
					for j := 0; j < nr; j++ {
						var s, mag float64
						for p := 0; p < k; p++ {
							x := float64(a[aoff+i*lay.rsa+p*lay.csa]) * float64(b[p*lay.ldb+j])
							s += x
							mag += math.Abs(x)
						}
						w := float64(alpha) * s
						if beta != 0 {
							w += float64(beta) * float64(c[coff+i*ldc+j])
						}
						want[i*nr+j] = w
					}
				}
				kern.fn(k, a[aoff:], lay.rsa, lay.csa, b, lay.ldb, c[coff:], ldc, alpha, beta)
				checkTile(t, name, c, coff, ldc, mr, nr, want, k)
			}
		}
	}
}

// checkTile compares the mr×nr tile at c[off:] (row stride ldc) with want and
// checks that every other element of c still holds the canary.
func checkTile(t *testing.T, name string, c []float32, off, ldc, mr, nr int, want []float64, k int) {
	t.Helper()
	tol := 1e-6 * float64(k+4)
	bad := 0
	for idx, v := range c {
		r, col := (idx-off)/ldc, (idx-off)%ldc
		inTile := idx >= off && r < mr && col < nr
		if !inTile {
			if v != canary {
				t.Errorf("%s: canary at c[%d] overwritten with %g", name, idx, v)
				return
			}
			continue
		}
		w := want[r*nr+col]
		if math.IsNaN(float64(v)) || math.Abs(float64(v)-w) > tol*(1+math.Abs(w)) {
			if bad++; bad <= 3 {
				t.Errorf("%s: c[%d][%d] = %g, want %g", name, r, col, v, w)
			}
		}
	}
}

// TestSgemm1x6GoIsGeneric: the register-blocked Go tiles compute the same
// bits as SgemmGeneric, their specification (same products, same order),
// on every k around the 4-step unrolling, 0 to 3 rows, and every layout
// the driver uses (its own, A row-major with B packed, has a path of its
// own).
func TestSgemm1x6GoIsGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for k := 0; k <= 19; k++ {
		for _, st := range [][3]int{{k, 1, 6}, {k + 1, 1, 6}, {1, k, 6}, {1, 7, 9}, {2*k + 3, 3, 13}, {k + 2, 1, 7}} {
			rsa, csa, ldb := st[0], st[1], st[2]
			for m := 0; m <= 3; m++ {
				a := make([]float32, max(m-1, 0)*rsa+max(k-1, 0)*csa+1)
				if k == 0 {
					a = nil // nothing may be read
				}
				b := make([]float32, max(k-1, 0)*ldb+6)
				for i := range a {
					a[i] = rng.Float32()*2 - 1
				}
				for i := range b {
					b[i] = rng.Float32()*2 - 1
				}
				for _, ab := range [][2]float32{{1, 0}, {-0.75, 1.5}} {
					want := make([]float32, 3*8)
					got := make([]float32, 3*8)
					for i := range want {
						want[i] = rng.Float32()
						got[i] = want[i]
					}
					SgemmGeneric(m, 6, k, a, rsa, csa, b, ldb, want, 8, ab[0], ab[1])
					if m == 1 {
						Sgemm1x6Go(k, a, rsa, csa, b, ldb, got, 8, ab[0], ab[1])
					} else {
						Sgemm1x6RowsGo(m, k, a, rsa, csa, b, ldb, got, 8, ab[0], ab[1])
					}
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("m=%d k=%d strides %v alpha,beta %v: c[%d] = %v, SgemmGeneric gives %v", m, k, st, ab, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestSgemm1x6GoChecksExtents: a too-short A or B panics on the bounds
// check before any unchecked load.
func TestSgemm1x6GoChecksExtents(t *testing.T) {
	// k = 8, csa = 2, ldb = 6; two rows rsa = 20 apart.
	for _, tc := range []struct {
		name    string
		m, a, b int
	}{{"short A", 1, 7 * 2, 6 * 8}, {"short B", 1, 7*2 + 1, 6*8 - 1}, {"short second row of A", 2, 20 + 7*2, 6 * 8}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			Sgemm1x6RowsGo(tc.m, 8, make([]float32, tc.a), 20, 2, make([]float32, tc.b), 6, make([]float32, 12), 6, 1, 0)
		}()
	}
}
