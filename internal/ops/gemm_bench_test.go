package ops

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gemmBenchShapes are the products IPT computes (SPEC §1: d = 576, FFN 2304,
// 256 tokens a tile, 12 heads of 48, convolutions on 48×48 tiles).
var gemmBenchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
	lda, ldb       int
}{
	{"linear-2048x2304x576-tB", false, true, 2048, 2304, 576, 576, 576},
	{"linear-2048x576x2304-tB", false, true, 2048, 576, 2304, 2304, 2304},
	{"linear-256x576x576-tB", false, true, 256, 576, 576, 576, 576},
	// Training's backward: dW = dYᵀ·X (k = batch 8 × 256 tokens) and dX = dY·W.
	{"dW-2304x576x2048-tA", true, false, 2304, 576, 2048, 2304, 576},
	{"dW-576x576x2048-tA", true, false, 576, 576, 2048, 576, 576},
	{"dX-2048x576x2304", false, false, 2048, 576, 2304, 2304, 576},
	{"attn-scores-256x256x48-tB", false, true, 256, 256, 48, 1728, 1728},
	{"attn-out-256x48x256", false, false, 256, 48, 256, 256, 1728},
	{"conv5x5-64x2304x1600", false, false, 64, 2304, 1600, 1600, 2304},
	{"conv3x3-64x2304x576", false, false, 64, 2304, 576, 576, 2304},
	{"conv-head-64x2304x27", false, false, 64, 2304, 27, 27, 2304},
	{"small-16x16x16", false, false, 16, 16, 16, 16, 16},
}

var peakCache = map[string]float64{}

// BenchmarkSgemm times the driver on IPT's shapes for every path and 1 and
// 2 threads, reporting GFLOP/s and the percentage of the measured FMA peak
// (one core's peak times the threads).
func BenchmarkSgemm(b *testing.B) {
	for _, c := range kernelTable {
		if c.missing != "" {
			continue
		}
		kern := c.k
		if _, ok := peakCache[kern.name]; !ok {
			old := activeKernel.Swap(kern)
			peakCache[kern.name] = PeakGFLOPS(20 * time.Millisecond)
			activeKernel.Store(old)
		}
		for _, s := range gemmBenchShapes {
			if kern == genericKernel && s.m*s.n*s.k > 1<<26 {
				continue // minutes of plain Go
			}
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/t%d", kern.name, s.name, threads), func(b *testing.B) {
					ar, br := s.m, s.k
					if s.transA {
						ar = s.k
					}
					if s.transB {
						br = s.n
					}
					a := make([]float32, ar*s.lda)
					bb := make([]float32, br*s.ldb)
					cc := make([]float32, s.m*s.n)
					for i := range a {
						a[i] = float32(i%13) * 0.01
					}
					for i := range bb {
						bb[i] = float32(i%11) * 0.01
					}
					sgemm(kern, threads, s.transA, s.transB, s.m, s.n, s.k, 1, a, s.lda, bb, s.ldb, 0, cc, s.n)
					b.ResetTimer()
					for range b.N {
						sgemm(kern, threads, s.transA, s.transB, s.m, s.n, s.k, 1, a, s.lda, bb, s.ldb, 0, cc, s.n)
					}
					gflops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N) / b.Elapsed().Seconds() / 1e9
					b.ReportMetric(gflops, "GFLOP/s")
					b.ReportMetric(100*gflops/(peakCache[kern.name]*float64(threads)), "%peak")
				})
			}
		}
	}
}

// TestSgemmTimings prints best and median GFLOP/s of every path on IPT's
// shapes; it runs only with IPT_GEMM_TIMINGS=1 (optionally IPT_GEMM_SHAPES=
// substring, IPT_GEMM_REPS=n). Medians resist a noisy shared machine better
// than go test -bench's means.
func TestSgemmTimings(t *testing.T) {
	if os.Getenv("IPT_GEMM_TIMINGS") == "" {
		t.Skip("set IPT_GEMM_TIMINGS=1")
	}
	reps := 15
	if r, err := strconv.Atoi(os.Getenv("IPT_GEMM_REPS")); err == nil {
		reps = r
	}
	for _, c := range kernelTable {
		// The plain-Go path only when asked for by name: minutes otherwise.
		if c.missing != "" || c.k == genericKernel && os.Getenv("IPT_GEMM_KERNEL") != "generic" {
			continue
		}
		kern := c.k
		if !strings.Contains(kern.name, os.Getenv("IPT_GEMM_KERNEL")) {
			continue
		}
		if blk := os.Getenv("IPT_GEMM_BLOCKS"); blk != "" { // mc,kc,nc for tuning
			k2 := *kern
			if _, err := fmt.Sscanf(blk, "%d,%d,%d", &k2.mc, &k2.kc, &k2.nc); err != nil {
				t.Fatalf("IPT_GEMM_BLOCKS=%s: %v", blk, err)
			}
			kern = &k2
		}
		for _, s := range gemmBenchShapes {
			if !strings.Contains(s.name, os.Getenv("IPT_GEMM_SHAPES")) {
				continue
			}
			for _, threads := range gemmTimingThreads() {
				best, med, cpu := timeSgemm(kern, threads, s.transA, s.transB, s.m, s.n, s.k, s.lda, s.ldb, reps)
				t.Logf("%-7s %-28s t%d  best %6.1f  median %6.1f GFLOP/s  per CPU-second %6.1f", kern.name, s.name, threads, best, med, cpu)
			}
		}
	}
}

// timeSgemm runs one product reps times (after a warm-up) for at least
// 20ms each and returns the best and median GFLOP/s, and GFLOP per second
// of CPU time used (which other processes on the machine disturb less).
func timeSgemm(kern *gemmKernel, threads int, transA, transB bool, m, n, k, lda, ldb, reps int) (best, median, perCPU float64) {
	ar, br := m, k
	if transA {
		ar = k
	}
	if transB {
		br = n
	}
	a := make([]float32, ar*lda)
	b := make([]float32, br*ldb)
	c := make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%13) * 0.01
	}
	for i := range b {
		b[i] = float32(i%11) * 0.01
	}
	run := func() { sgemm(kern, threads, transA, transB, m, n, k, 1, a, lda, b, ldb, 0, c, n) }
	run()
	start := time.Now()
	run()
	inner := max(1, int(20*time.Millisecond/max(time.Since(start), time.Microsecond)))
	var g []float64
	cpu0 := cpuTime()
	for range reps {
		start := time.Now()
		for range inner {
			run()
		}
		g = append(g, 2*float64(m)*float64(n)*float64(k)*float64(inner)/time.Since(start).Seconds()/1e9)
	}
	cpu := cpuTime() - cpu0
	sort.Float64s(g)
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(inner*reps)
	return g[len(g)-1], g[len(g)/2], flops / max(cpu.Seconds(), 1e-9) / 1e9
}

func gemmTimingThreads() []int {
	switch os.Getenv("IPT_GEMM_THREADS") {
	case "1":
		return []int{1}
	case "2":
		return []int{2}
	}
	return []int{1, 2}
}
