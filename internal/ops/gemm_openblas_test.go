package ops

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// openblasScript times numpy's float32 matmul x·wᵀ (OpenBLAS sgemm with
// transB) on request: each line on stdin is a repeat count, each reply the
// GFLOP/s over those repeats.
const openblasScript = `
import sys, time
import numpy as np
m, n, k = map(int, sys.argv[1:4])
rng = np.random.default_rng(0)
x = rng.random((m, k), dtype=np.float32)
w = rng.random((n, k), dtype=np.float32)
out = np.empty((m, n), dtype=np.float32)
np.matmul(x, w.T, out=out)
print("ready", flush=True)
for line in sys.stdin:
    reps = int(line)
    t = time.perf_counter()
    for _ in range(reps):
        np.matmul(x, w.T, out=out)
    print(2.0 * m * n * k * reps / (time.perf_counter() - t) / 1e9, flush=True)
`

// TestSgemmVsOpenBLAS compares Sgemm with OpenBLAS's sgemm (through Debian's
// /usr/bin/python3 and numpy) on the FFN product 2048×2304×576 (transB),
// with 1 and 2 threads, alternating the two in rounds and printing medians:
//
//	IPT_GEMM_VS_OPENBLAS=1 go test -run SgemmVsOpenBLAS -v ./internal/ops
//
// IPT_GEMM_ROUNDS (default 9) sets the rounds, IPT_CPU the Go path.
// OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the Python
// process's environment so OpenBLAS picks its own kernels for this CPU;
// IPT_OPENBLAS_CORETYPE sets the peer's (Haswell: OpenBLAS's AVX2 kernel,
// the peer of IPT_CPU=avx2 on an AVX-512 machine).
func TestSgemmVsOpenBLAS(t *testing.T) {
	if os.Getenv("IPT_GEMM_VS_OPENBLAS") == "" {
		t.Skip("set IPT_GEMM_VS_OPENBLAS=1")
	}
	const m, n, k = 2048, 2304, 576
	rounds := 9
	if r, err := strconv.Atoi(os.Getenv("IPT_GEMM_ROUNDS")); err == nil {
		rounds = r
	}
	kern := activeKernel.Load()
	t.Logf("machine: %s; Go path %s; single-core FMA peak %.1f GFLOP/s", cpuName(), kern.name, PeakGFLOPS(0))
	for _, threads := range []int{1, 2} {
		py, err := startOpenBLAS(threads, m, n, k)
		if err != nil {
			t.Skipf("OpenBLAS via python3/numpy unavailable: %v", err)
		}
		var ours, theirs []float64
		for range rounds {
			_, med, _ := timeSgemm(kern, threads, false, true, m, n, k, k, k, 5)
			ours = append(ours, med)
			g, err := py.time(5)
			if err != nil {
				t.Fatal(err)
			}
			theirs = append(theirs, g)
		}
		py.close()
		mo, mt := median(ours), median(theirs)
		t.Logf("threads=%d  Sgemm(%s) median %.1f GFLOP/s  OpenBLAS median %.1f GFLOP/s  ratio %.1f%%  (rounds: ours %s; OpenBLAS %s)",
			threads, kern.name, mo, mt, 100*mo/mt, fmtAll(ours), fmtAll(theirs))
	}
}

type openblasProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startOpenBLAS(threads, m, n, k int) (*openblasProc, error) {
	cmd := exec.Command("/usr/bin/python3", "-c", openblasScript, fmt.Sprint(m), fmt.Sprint(n), fmt.Sprint(k))
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "OPENBLAS_") && !strings.HasPrefix(e, "OMP_NUM_THREADS=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, fmt.Sprintf("OPENBLAS_NUM_THREADS=%d", threads))
	if ct := os.Getenv("IPT_OPENBLAS_CORETYPE"); ct != "" {
		cmd.Env = append(cmd.Env, "OPENBLAS_CORETYPE="+ct)
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &openblasProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	if !p.out.Scan() || p.out.Text() != "ready" {
		p.close()
		return nil, fmt.Errorf("python3 numpy did not start")
	}
	return p, nil
}

// time runs reps products in 5 timed groups and returns the median GFLOP/s.
func (p *openblasProc) time(reps int) (float64, error) {
	var g []float64
	for range 5 {
		fmt.Fprintln(p.in, reps)
		if !p.out.Scan() {
			return 0, fmt.Errorf("python3 exited")
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(p.out.Text()), 64)
		if err != nil {
			return 0, err
		}
		g = append(g, v)
	}
	return median(g), nil
}

func (p *openblasProc) close() {
	p.in.Close()
	p.cmd.Wait()
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func fmtAll(x []float64) string {
	var parts []string
	for _, v := range x {
		parts = append(parts, fmt.Sprintf("%.0f", v))
	}
	return strings.Join(parts, " ")
}

func cpuName() string {
	c := cpuid.CPU
	return fmt.Sprintf("%s (%s family %d model %d, %d logical cores, AVX2 %v, AVX-512F %v)",
		c.BrandName, c.VendorString, c.Family, c.Model, c.LogicalCores, c.Supports(cpuid.AVX2), c.Supports(cpuid.AVX512F))
}
