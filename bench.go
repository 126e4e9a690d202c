package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/ops"
)

type benchCmd struct {
	Tiles     int    `default:"8" placeholder:"N" help:"48×48 tiles per timed run."`
	Runs      int    `default:"5" placeholder:"N" help:"Timed runs (the median is reported), after one warm-up run; on the CPU each is followed by an FMA loop as long as itself, for the sustained peak."`
	Threads   int    `placeholder:"N" help:"Cores to use (default: all)."`
	JSON      bool   `name:"json" help:"Print one JSON object."`
	Precision string `enum:"fp32,tf32,bf16" default:"fp32" help:"Arithmetic of the GPU's matrix products (fp32, tf32 or bf16); the CPU computes in fp32 only."`
	Device    device `default:"cpu" placeholder:"cpu|cuda|cuda:N" help:"What to time: cpu, cuda (the first GPU) or cuda:N (GPU N; ipt version lists them). The GPU needs a binary built with go build -tags cuda."`
}

// benchResult is what ipt bench reports; the JSON names are fixed for scripts.
type benchResult struct {
	Kernel      string  `json:"kernel"`
	Threads     int     `json:"threads"`
	Tiles       int     `json:"tiles"`
	Runs        int     `json:"runs"`
	MsPerTile   float64 `json:"ms_per_tile"`
	TileGFLOPS  float64 `json:"tile_gflops"`
	GemmGFLOPS  float64 `json:"gemm_gflops"`
	PeakGFLOPS  float64 `json:"peak_gflops"`
	PeakPercent float64 `json:"forward_percent_of_peak"`
	// The FMA loop run on as many cores for as long as each timed run,
	// right after it (median): the rate the machine gave a computation of
	// that length then, which the forward's rate is better read against on
	// a shared or virtual machine than the best short burst above.
	SustainedGFLOPS  float64 `json:"sustained_peak_gflops"`
	SustainedPercent float64 `json:"forward_percent_of_sustained_peak"`
	CPU              string  `json:"cpu"`
}

// flopsPerTile counts the multiply-adds (×2) of one forward pass of config c
// at scale 1: head and tail convolutions and the transformer's products.
func flopsPerTile(c ipt.Config) float64 {
	C, P, d, L := float64(c.NFeats), float64(c.PatchSize), float64(c.Dim()), float64(c.SeqLen())
	pix := P * P
	conv := pix * (3*C*9 + 4*C*C*25 + C*3*9 + 2*3*3) // head conv, 2 ResBlocks, tail conv, mean shifts
	attn := 4*L*d*d + 2*L*L*d                        // projections, scores and weighted sum
	ffn := 2 * L * d * 4 * d
	body := L*d*d + float64(c.EncLayers)*(attn+ffn) + float64(c.DecLayers)*(2*attn+ffn) + ffn
	return 2 * (conv + body)
}

// Run times the released-size ×1 model on random weights and the GEMM of
// its FFN shape, and measures the FMA peak of the machine.
func (b *benchCmd) Run() error {
	if err := b.Device.check("bench"); err != nil {
		return err
	}
	if b.Tiles < 1 || b.Runs < 1 || b.Threads < 0 {
		return usageError{fmt.Errorf("--tiles and --runs must be positive")}
	}
	if !b.Device.GPU && b.Precision != "fp32" {
		return usageError{fmt.Errorf("--precision %s needs --device cuda: the CPU computes in fp32", b.Precision)}
	}
	threads := b.Threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	cfg := ipt.ReleasedConfig(1)
	model, err := ipt.RandomModel(cfg, 1)
	if err != nil {
		return err
	}
	P := cfg.PatchSize
	rng := rand.New(rand.NewPCG(1, 2))
	in := make([]float32, b.Tiles*3*P*P)
	for i := range in {
		in[i] = rng.Float32() * 255
	}
	out := make([]float32, len(in))
	r := &ipt.Runner{Model: model, Task: 0, Threads: threads}
	release, gpuName, err := b.Device.runner(r, b.Precision)
	if err != nil {
		return err
	}
	defer release()
	if b.Device.GPU {
		r.Batch = b.Tiles // one forward pass of all the tiles
	}
	tile := func() time.Duration {
		start := time.Now()
		if err := r.ForwardTiles(context.Background(), in, b.Tiles, out); err != nil {
			panic(err)
		}
		return time.Since(start)
	}
	tile()
	var sustained []float64 // the FMA loop's rate after each timed run, on the CPU
	msPerTile := median(b.Runs, func() time.Duration {
		d := tile()
		if !b.Device.GPU {
			sustained = append(sustained, ops.SustainedGFLOPS(d, threads))
		}
		return d
	}).Seconds() * 1000 / float64(b.Tiles)

	// The FFN's first product at 8 tiles: [2048 × 576] · [2304 × 576]ᵀ.
	const m, n, k = 2048, 2304, 576
	a, w, c := make([]float32, m*k), make([]float32, n*k), make([]float32, m*n)
	for i := range a {
		a[i] = rng.Float32() - 0.5
	}
	for i := range w {
		w[i] = rng.Float32() - 0.5
	}
	gemm := func() time.Duration {
		start := time.Now()
		ops.Exec{Threads: threads}.Sgemm(false, true, m, n, k, 1, a, k, w, k, 0, c, n)
		return time.Since(start)
	}
	kernel, machine := ops.Kernel(), cpuName()
	if be := r.Backend; be != nil {
		// The same product on the GPU, as the forward runs it (Linear:
		// x·Wᵀ), timed to its end.
		ga, gw, gc := be.Alloc(m*k), be.Alloc(n*k), be.Alloc(m*n)
		if err := be.Sync(); err != nil {
			return err
		}
		copy(ga, a)
		copy(gw, w)
		gemm = func() time.Duration {
			start := time.Now()
			be.Linear(gc, ga, m, k, gw, nil, n)
			if err := be.Sync(); err != nil {
				panic(err)
			}
			return time.Since(start)
		}
		defer func() { be.Free(ga); be.Free(gw); be.Free(gc) }()
		kernel, machine = "cuda "+b.Precision, gpuName
	}
	gemm()
	gemmGF := 2 * m * n * k / median(max(b.Runs, 5), gemm).Seconds() / 1e9

	tileGF := flopsPerTile(cfg) / (msPerTile / 1000) / 1e9
	// The CPU's FMA peak, best burst and sustained; a GPU's is not measured.
	var peak, percent, sus, susPercent float64
	if !b.Device.GPU {
		peak = ops.PeakGFLOPS(200*time.Millisecond) * float64(threads)
		percent = 100 * tileGF / peak
		sus = middle(sustained)
		susPercent = 100 * tileGF / sus
	}
	res := benchResult{
		Kernel: kernel, Threads: threads, Tiles: b.Tiles, Runs: b.Runs,
		MsPerTile: round3(msPerTile), TileGFLOPS: round3(tileGF), GemmGFLOPS: round3(gemmGF),
		PeakGFLOPS: round3(peak), PeakPercent: round3(percent),
		SustainedGFLOPS: round3(sus), SustainedPercent: round3(susPercent), CPU: machine,
	}
	if b.JSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("kernel %s, %d threads, %s\n", res.Kernel, threads, res.CPU)
	fmt.Printf("released-size ×1 forward: %.1f ms per 48×48 tile (median of %d runs of %d tiles), %.1f GFLOP/s\n", res.MsPerTile, b.Runs, b.Tiles, res.TileGFLOPS)
	fmt.Printf("GEMM 2048×576 · 576×2304: %.1f GFLOP/s\n", res.GemmGFLOPS)
	if !b.Device.GPU {
		fmt.Printf("FMA peak: %.1f GFLOP/s (best short burst); the forward runs at %.0f%% of it\n", res.PeakGFLOPS, res.PeakPercent)
		fmt.Printf("FMA loop sustained as long as a run, after each: %.1f GFLOP/s; the forward runs at %.0f%% of it\n", res.SustainedGFLOPS, res.SustainedPercent)
	}
	return nil
}

func median(runs int, f func() time.Duration) time.Duration {
	d := make([]time.Duration, runs)
	for i := range d {
		d[i] = f()
	}
	return middle(d)
}

// middle sorts xs and returns its middle element (the upper one of an even
// count), the median the bench reports.
func middle[T cmp.Ordered](xs []T) T {
	slices.Sort(xs)
	return xs[len(xs)/2]
}
