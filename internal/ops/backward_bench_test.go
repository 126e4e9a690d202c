package ops

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"
)

// benchPaths runs f for every assembly path the machine has (the plain-Go
// one would take minutes), with that path active and its one-core FMA peak.
func benchPaths(b *testing.B, f func(b *testing.B, peak float64)) {
	for _, c := range kernelTable {
		if c.missing != "" || c.k == genericKernel {
			continue
		}
		old := activeKernel.Swap(c.k)
		if _, ok := peakCache[c.k.name]; !ok {
			peakCache[c.k.name] = PeakGFLOPS(20 * time.Millisecond)
		}
		b.Run(c.k.name, func(b *testing.B) {
			defer activeKernel.Store(activeKernel.Swap(c.k))
			f(b, peakCache[c.k.name])
		})
		activeKernel.Store(old)
	}
}

// reportFlops reports GFLOP/s and the percentage of the FMA peak of threads cores.
func reportFlops(b *testing.B, flops, peak float64, threads int) {
	g := flops * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(g, "GFLOP/s")
	b.ReportMetric(100*g/(peak*float64(threads)), "%peak")
}

// BenchmarkConv2dBackward times the backward of a ResBlock convolution of
// the released models (64→64, 5×5, on a 48×48 tile) next to its forward:
// the forward is one GEMM of 2·64·1600·2304 FLOP, the backward two
// (dWeight and dIn) plus im2col, col2im and the bias sums.
func BenchmarkConv2dBackward(b *testing.B) {
	const cin, cout, h, w, k = 64, 64, 48, 48, 5
	rng := rand.New(rand.NewPCG(1, 1))
	in, wt, bias := randSlice(rng, cin*h*w), randSlice(rng, cout*cin*k*k), randSlice(rng, cout)
	dOut, out := randSlice(rng, cout*h*w), zeros(cout*h*w)
	dIn, dW, dB := zeros(len(in)), zeros(len(wt)), zeros(cout)
	scratch := zeros(Conv2dScratch(cin, h, w, k))
	gemmFlops := 2 * float64(cout) * float64(cin*k*k) * float64(h*w)
	benchPaths(b, func(b *testing.B, peak float64) {
		for _, threads := range []int{1, 2} {
			e := Exec{Threads: threads}
			b.Run(fmt.Sprintf("forward/t%d", threads), func(b *testing.B) {
				for b.Loop() {
					e.Conv2d(out, in, cin, h, w, wt, bias, cout, k, scratch)
				}
				reportFlops(b, gemmFlops, peak, threads)
			})
			b.Run(fmt.Sprintf("backward/t%d", threads), func(b *testing.B) {
				for b.Loop() {
					e.Conv2dBackward(dIn, dW, dB, dOut, in, cin, h, w, wt, cout, k, scratch)
				}
				reportFlops(b, 2*gemmFlops, peak, threads)
			})
		}
	})
}

// BenchmarkLinearBackward times the backward of the released FFN's first
// layer on a batch of 8 tiles (2048 tokens, 576 → 2304) next to its
// forward: one GEMM forward, two (dX and dWeight) plus the bias sum back.
func BenchmarkLinearBackward(b *testing.B) {
	const m, in, outDim = 2048, 576, 2304
	rng := rand.New(rand.NewPCG(1, 2))
	x, wt, bias := randSlice(rng, m*in), randSlice(rng, outDim*in), randSlice(rng, outDim)
	dOut, out := randSlice(rng, m*outDim), zeros(m*outDim)
	dX, dW, dB := zeros(len(x)), zeros(len(wt)), zeros(outDim)
	gemmFlops := 2 * float64(m) * float64(in) * float64(outDim)
	benchPaths(b, func(b *testing.B, peak float64) {
		for _, threads := range []int{1, 2} {
			e := Exec{Threads: threads}
			b.Run(fmt.Sprintf("forward/t%d", threads), func(b *testing.B) {
				for b.Loop() {
					e.Linear(out, x, m, in, wt, bias, outDim)
				}
				reportFlops(b, gemmFlops, peak, threads)
			})
			b.Run(fmt.Sprintf("backward/t%d", threads), func(b *testing.B) {
				for b.Loop() {
					e.LinearBackward(dX, dW, dB, dOut, x, m, in, wt, outDim)
				}
				reportFlops(b, 2*gemmFlops, peak, threads)
			})
		}
	})
}

// TestBackwardTimings prints median GFLOP/s of the convolution and linear
// forwards and backwards above on every assembly path, and GFLOP per
// CPU-second (which other processes on a shared machine disturb less) as a
// percentage of one core's FMA peak. It runs only with IPT_GEMM_TIMINGS=1
// (IPT_GEMM_REPS=n, IPT_GEMM_THREADS=1|2 as for TestSgemmTimings).
func TestBackwardTimings(t *testing.T) {
	if os.Getenv("IPT_GEMM_TIMINGS") == "" {
		t.Skip("set IPT_GEMM_TIMINGS=1")
	}
	reps := 15
	if r, err := strconv.Atoi(os.Getenv("IPT_GEMM_REPS")); err == nil {
		reps = r
	}
	rng := rand.New(rand.NewPCG(1, 3))
	const cin, cout, h, w, k = 64, 64, 48, 48, 5
	in, wt, bias := randSlice(rng, cin*h*w), randSlice(rng, cout*cin*k*k), randSlice(rng, cout)
	dOut, out := randSlice(rng, cout*h*w), zeros(cout*h*w)
	dIn, dW, dB := zeros(len(in)), zeros(len(wt)), zeros(cout)
	scratch := zeros(Conv2dScratch(cin, h, w, k))
	const m, lin, lout = 2048, 576, 2304
	x, lw, lb := randSlice(rng, m*lin), randSlice(rng, lout*lin), randSlice(rng, lout)
	ldOut, lOut := randSlice(rng, m*lout), zeros(m*lout)
	dX, ldW, ldB := zeros(len(x)), zeros(len(lw)), zeros(lout)
	convFlops := 2 * float64(cout*cin*k*k) * float64(h*w)
	linFlops := 2 * float64(m) * float64(lin) * float64(lout)
	for _, c := range kernelTable {
		if c.missing != "" || c.k == genericKernel {
			continue
		}
		old := activeKernel.Swap(c.k)
		peak := PeakGFLOPS(50 * time.Millisecond)
		for _, threads := range gemmTimingThreads() {
			e := Exec{Threads: threads}
			for _, op := range []struct {
				name  string
				flops float64
				run   func()
			}{
				{"conv5x5 64→64 48×48 forward ", convFlops, func() { e.Conv2d(out, in, cin, h, w, wt, bias, cout, k, scratch) }},
				{"conv5x5 64→64 48×48 backward", 2 * convFlops, func() { e.Conv2dBackward(dIn, dW, dB, dOut, in, cin, h, w, wt, cout, k, scratch) }},
				{"linear 2048×576→2304 forward ", linFlops, func() { e.Linear(lOut, x, m, lin, lw, lb, lout) }},
				{"linear 2048×576→2304 backward", 2 * linFlops, func() { e.LinearBackward(dX, ldW, ldB, ldOut, x, m, lin, lw, lout) }},
			} {
				med, perCPU := timeOp(op.run, op.flops, reps)
				t.Logf("%-6s t%d %s  median %6.1f GFLOP/s  per CPU-second %6.1f (%4.1f%% of the %.1f peak)",
					c.k.name, threads, op.name, med, perCPU, 100*perCPU/peak, peak)
			}
		}
		activeKernel.Store(old)
	}
}

// timeOp runs op reps times (after a warm-up), each time for at least
// 20ms, and returns the median GFLOP/s and GFLOP per CPU-second.
func timeOp(op func(), flops float64, reps int) (median, perCPU float64) {
	op()
	start := time.Now()
	op()
	inner := max(1, int(20*time.Millisecond/max(time.Since(start), time.Microsecond)))
	var g []float64
	cpu0 := cpuTime()
	for range reps {
		start := time.Now()
		for range inner {
			op()
		}
		g = append(g, flops*float64(inner)/time.Since(start).Seconds()/1e9)
	}
	cpu := cpuTime() - cpu0
	sort.Float64s(g)
	return g[len(g)/2], flops * float64(inner*reps) / max(cpu.Seconds(), 1e-9) / 1e9
}
