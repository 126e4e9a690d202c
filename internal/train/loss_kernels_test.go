package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"slices"
	"testing"

	"github.com/ipt-go/ipt/internal/cuda/kernels"
	"github.com/ipt-go/ipt/internal/cuda/kernels/emu"
	"github.com/ipt-go/ipt/internal/ops"
)

// TestLossKernels runs the CUDA kernels of the losses on the CPU emulator
// (internal/cuda/kernels/emu) and compares them with l1Loss and
// contrastiveLoss, which they must reproduce; the contrastive loss's GEMMs,
// cuBLAS's on the GPU, are ops.Sgemm here with the CPU's arguments.
func TestLossKernels(t *testing.T) {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ not found on PATH: the CUDA kernels' CPU-emulator tests need g++ (C++20); install g++ to run them")
	}
	names := []string{"l1_loss", "sum_f64_ordered", "l2_normalize_rows", "contrastive_softmax", "symmetrize_grad", "l2_normalize_rows_backward"}
	e, err := emu.Build(gxx, t.TempDir(), kernels.Source, names)
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...any) {
		t.Helper()
		k, _ := kernels.Lookup(name)
		grid, err := k.Grid(args...)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Run(name, grid, kernels.BlockSize, min(grid, 3), args...); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(x []float64) float64 {
		out := make([]float64, 1)
		run("sum_f64_ordered", out, x, int64(len(x)))
		return out[0]
	}
	rng := rand.New(rand.NewPCG(5, 6))
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}

	// L1: the gradient bit for bit, the loss to 1e-14 (chunk sums are
	// trees where the CPU's are in order).
	for _, n := range []int{1, 1000, kernels.Chunk + 5} {
		out, target := randn(n), randn(n)
		for i := 0; i < n; i += 7 {
			target[i] = out[i] // equal values: zero gradient
		}
		const weight = 0.7
		want := make([]float32, n)
		wantLoss := l1Loss(out, target, want, weight)
		dOut, parts := make([]float32, n), make([]float64, (n+kernels.Chunk-1)/kernels.Chunk)
		run("l1_loss", dOut, parts, out, target, int64(n), float32(weight/float64(n)))
		for i := range want {
			if math.Float32bits(dOut[i]) != math.Float32bits(want[i]) {
				t.Fatalf("l1_loss n %d: dOut[%d] = %g, want %g", n, i, dOut[i], want[i])
			}
		}
		if loss := sum(parts) / float64(n); math.Abs(loss-wantLoss) > 1e-14*wantLoss {
			t.Fatalf("l1_loss n %d: %v, want %v", n, loss, wantLoss)
		}
	}

	// Contrastive: the pipeline of contrastiveLoss with its scratch
	// compared step by step.
	for _, s := range []struct{ N, L, d int }{{2, 1, 7}, {3, 5, 300}, {2, 4, 33}} {
		N, L, d := s.N, s.L, s.d
		rows := N * L
		const tau, weight = 0.1, 0.3
		x := randn(rows * d)
		clear(x[:d]) // an all-zero token: the norm's lower bound
		dx0 := randn(rows * d)
		f, df, g, norms := make([]float32, rows*d), make([]float32, rows*d), make([]float32, rows*rows), make([]float64, rows)
		wantDx := slices.Clone(dx0)
		wantLoss := contrastiveLoss(x, wantDx, N, L, d, tau, weight, f, df, g, ops.Exec{Threads: 1})
		for i := range norms { // as ops.ContrastiveLoss: float64 sum of squares, at least 1e-8
			var ss float64
			for _, v := range x[i*d : (i+1)*d] {
				ss += float64(v) * float64(v)
			}
			norms[i] = max(math.Sqrt(ss), 1e-8)
		}

		name := fmt.Sprintf("contrastive N %d L %d d %d", N, L, d)
		gf, gnorms := make([]float32, rows*d), make([]float64, rows)
		run("l2_normalize_rows", gf, gnorms, x, int64(rows), int64(d))
		// Norms from float64 trees: the tokens nearly always round the same.
		for i := range f {
			if math.Abs(float64(gf[i]-f[i])) > 0x1p-24*math.Abs(float64(f[i])) {
				t.Fatalf("%s: f[%d] = %g, want %g", name, i, gf[i], f[i])
			}
		}
		for i := range norms {
			if math.Abs(gnorms[i]-norms[i]) > 1e-15*norms[i] {
				t.Fatalf("%s: norms[%d] = %v, want %v", name, i, gnorms[i], norms[i])
			}
		}
		gg := make([]float32, rows*rows)
		ops.Sgemm(false, true, rows, rows, d, 1, gf, d, gf, d, 0, gg, rows)
		rowloss := make([]float64, rows)
		w := weight / (tau * float64(N*L*L))
		run("contrastive_softmax", gg, rowloss, int64(N), int64(L), float64(tau), w)
		if loss := sum(rowloss) / float64(N*L*L); math.Abs(loss-wantLoss) > 1e-12*math.Abs(wantLoss) {
			t.Fatalf("%s: loss %v, want %v", name, loss, wantLoss)
		}
		run("symmetrize_grad", gg, int64(rows))
		// dG: the GPU's exp and log are not Go's: 1 float32 ulp of the
		// pair's larger term, twice.
		for i := range g {
			if math.Abs(float64(gg[i]-g[i])) > 0x1p-22*math.Abs(float64(g[i]))+1e-30 {
				t.Fatalf("%s: dG[%d] = %g, want %g", name, i, gg[i], g[i])
			}
		}
		gdf := make([]float32, rows*d)
		ops.Sgemm(false, false, rows, d, rows, 1, gg, rows, gf, d, 0, gdf, d)
		dx := slices.Clone(dx0)
		run("l2_normalize_rows_backward", dx, gf, gdf, gnorms, int64(rows), int64(d))
		// dx = (df − f·(f·df))/|x| cancels: 1e-5 of the row's largest
		// gradient term.
		for r := range rows {
			var m float64
			for j := range d {
				m = math.Max(m, math.Abs(float64(wantDx[r*d+j]-dx0[r*d+j])))
			}
			for j := range d {
				i := r*d + j
				if math.Abs(float64(dx[i]-wantDx[i])) > 1e-5*m+twoULPs(wantDx[i]) {
					t.Fatalf("%s: dx[%d] = %g, want %g (row's largest gradient %g)", name, i, dx[i], wantDx[i], m)
				}
			}
		}
	}
	t.Logf("%d launches", e.Runs())
}

// twoULPs is two float32 ulps at v's magnitude.
func twoULPs(v float32) float64 { return 0x1p-22 * math.Abs(float64(v)) }
