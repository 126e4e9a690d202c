package ops

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipt-go/ipt/internal/asm"
)

// gemmKernel is one micro-kernel and its cache blocking.
type gemmKernel struct {
	name   string
	mr, nr int // micro-tile
	mc     int // rows of A per L2-resident block (multiple of mr)
	kc     int // depth of a packed panel (the k blocking)
	nc     int // columns of B per L3-resident panel (multiple of nr)
	// tuning names the CPU family the blocking was chosen for (and any
	// cut for smaller caches), for ipt version; "" for the built-in values.
	tuning string
	// tile computes one full mr×nr tile with the contract of
	// asm.SgemmGeneric. The driver guarantees the extents of a, b and c.
	tile func(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)
	// half, if not nil, is tile at half the width, mr×nr/2, with the same
	// arithmetic for each element: the driver runs it on a last sliver of
	// at most nr/2 columns, where tile would spend half or more of its FMAs
	// on padding (the attention's head products, n = 36, and on AVX-512
	// n = 48, end in one).
	half func(k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)
	// rows, if not nil (mr = 1 only), computes m tiles down one sliver of
	// B in one call, SgemmGeneric(m, nr, …): a call per tile costs too
	// much beside a short k.
	rows func(m, k int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)
	// packB packs B even where the driver would read it in place.
	packB bool
	// transpose8, if not nil, packs 8 rows at a time (see asm.Transpose8AVX).
	transpose8 func(dst []float32, ldd int, src []float32, lds, n int)
	// copySlivers, if not nil, is copySliversGo for the kernel's mr and nr
	// (packCols's copying of whole slivers).
	copySlivers func(dst, src []float32, ld, rows, n, w int)
	// The row and element-wise kernels of the same instruction set.
	rowKernels
	// peak runs the matching FMA-throughput loop: n trips of flopsPerTrip.
	peak         func(n int)
	flopsPerTrip int
}

// rowKernels are the kernels of the ops between the products; the Go ones
// (goRowKernels) are the references. softmax replaces a row x by
// exp(x − max x) and returns its sum (softmaxUnnormalised); add is Add;
// addBiasReLU is AddRowBias then ReLU; layerNormRow is one row of LayerNorm;
// scale is Scale; softmaxBackward is softmaxBackwardRowDot. The rest are
// training's: lnNormalise, lnAccumulate and lnDx are the element-wise passes
// of the layer-norm backward (layerNormNormaliseGo, …); adam is AdamUpdate,
// addTo AddTo, reluBackward ReLUBackward, reluBackwardTo ReLUBackwardTo.
type rowKernels struct {
	softmax         func(x []float32) float32
	add             func(dst, src []float32)
	addBiasReLU     func(x, bias []float32)
	layerNormRow    func(out, x, gamma, beta []float32, eps float64)
	scale           func(x []float32, s float32)
	softmaxBackward func(dy, p []float32, s float32)
	lnNormalise     func(h []float64, x []float32, mean, inv float64)
	lnAccumulate    func(sb, sg, h []float64, dy []float32)
	lnDx            func(dx, dy, gamma []float32, h []float64, m1, m2, inv float64)
	adam            func(p, g, m, v []float32, c AdamCoefs)
	addTo           func(dst, a, b []float32)
	reluBackward    func(dX, dOut, y []float32)
	reluBackwardTo  func(dst, dOut, y []float32)
}

var goRowKernels = rowKernels{
	softmax:         softmaxUnnormalised,
	add:             addGo,
	addBiasReLU:     addBiasReLUGo,
	layerNormRow:    layerNormRowGo,
	scale:           scaleGo,
	softmaxBackward: softmaxBackwardRowDot,
	lnNormalise:     layerNormNormaliseGo,
	lnAccumulate:    layerNormAccumulateGo,
	lnDx:            layerNormDxGo,
	adam:            adamUpdateGo,
	addTo:           addToGo,
	reluBackward:    reluBackwardGo,
	reluBackwardTo:  reluBackwardToGo,
}

// kernelChoice is one entry of the kernel table.
type kernelChoice struct {
	k       *gemmKernel
	missing string // why this CPU or build cannot run it; "" if it can
	auto    bool   // may be chosen without being asked for
}

// The plain-Go path: asm.Sgemm1x6RowsGo, whose six sums stay in registers
// (see there why 1×6); its blocks are small enough for any cache. B is
// always packed: read in place, each k step of a 6-wide sliver would use 24
// bytes of a new cache line (past 1 KiB rows, of a new page), and the tile
// has constant offsets for packed B.
var genericKernel = &gemmKernel{
	name: "generic", mr: 1, nr: 6, mc: 96, kc: 256, nc: 4080,
	tile:         asm.Sgemm1x6Go,
	rows:         asm.Sgemm1x6RowsGo,
	packB:        true,
	rowKernels:   goRowKernels,
	peak:         peakGeneric,
	flopsPerTrip: 2 * 12,
}

var (
	kernelTable  []kernelChoice // generic first, then the platform's (cpu_amd64.go, cpu_arm64.go)
	activeKernel atomic.Pointer[gemmKernel]
	kernelErr    error
)

func init() {
	kernelTable = append([]kernelChoice{{k: genericKernel, auto: true}}, platformKernels()...)
	activeKernel.Store(defaultKernel())
	kernelErr = applyKernelEnv(os.Getenv("IPT_CPU"))
}

// applyKernelEnv applies the value of IPT_CPU ("" leaves the default).
func applyKernelEnv(env string) error {
	if env == "" {
		return nil
	}
	if err := SetKernel(env); err != nil {
		return fmt.Errorf("IPT_CPU=%s: %w; using %s", env, err, Kernel())
	}
	return nil
}

// defaultKernel is the last automatic kernel this machine can run.
func defaultKernel() *gemmKernel {
	best := genericKernel
	for _, c := range kernelTable {
		if c.auto && c.missing == "" {
			best = c.k
		}
	}
	return best
}

// SetKernel selects the GEMM path by name, or "auto" (or "") for the
// default. The paths, detected once per process and applied per Sgemm call:
//
//	generic  plain Go (asm.Sgemm1x6RowsGo); always available
//	avx2     asm.Sgemm6x16AVX2; needs AVX2 and FMA3
//	avx512   asm.Sgemm12x32AVX512; needs AVX-512F
//	neon     asm.Sgemm8x12NEON; arm64 (ASIMD)
//
// The default is the last of them the CPU can run.
//
// The environment variable IPT_CPU=generic|avx2|avx512|neon is applied the same
// way at start-up; when it cannot be honoured the default stays in force
// and KernelError says why.
//
// SetKernel returns an error, and changes nothing, when the name is unknown
// or this CPU (or a purego build) lacks the path. It is safe to call
// concurrently with Sgemm; calls in flight finish on the old path.
func SetKernel(name string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || name == "auto" {
		activeKernel.Store(defaultKernel())
		return nil
	}
	var names []string
	for _, c := range kernelTable {
		names = append(names, c.k.name)
		if c.k.name == name {
			if c.missing != "" {
				return fmt.Errorf("GEMM kernel %q not usable: %s", name, c.missing)
			}
			activeKernel.Store(c.k)
			return nil
		}
	}
	return fmt.Errorf("unknown GEMM kernel %q (want auto, %s)", name, strings.Join(names, ", "))
}

// Kernel returns the name of the GEMM path in use: generic, avx2, avx512 or
// neon.
func Kernel() string { return activeKernel.Load().name }

// KernelBlocking describes the cache blocking of the GEMM path in use and
// where it came from, e.g. "MR×NR 12×32, MC 144, KC 576, NC 4096; tuned
// for Zen 5".
func KernelBlocking() string {
	k := activeKernel.Load()
	s := fmt.Sprintf("MR×NR %d×%d, MC %d, KC %d, NC %d", k.mr, k.nr, k.mc, k.kc, k.nc)
	if k.tuning != "" {
		s += "; tuned for " + k.tuning
	}
	return s
}

// KernelError reports why the IPT_CPU environment variable could not be
// honoured at start-up (unknown name, or a path the CPU lacks), or nil.
// The process keeps running on the default path; the CLI should print it.
func KernelError() error { return kernelErr }

// Kernels returns the GEMM paths this machine and build can run, generic
// first; any of them can be passed to SetKernel.
func Kernels() []string {
	var names []string
	for _, c := range kernelTable {
		if c.missing == "" {
			names = append(names, c.k.name)
		}
	}
	return names
}

// PeakGFLOPS measures the single-core FMA throughput, in GFLOP/s, of the
// instruction set of the current GEMM path (a loop of independent vector
// FMAs, for about d; 50ms if d <= 0). It is the ceiling for one thread of
// Sgemm; multiply by the cores for the machine.
func PeakGFLOPS(d time.Duration) float64 {
	if d <= 0 {
		d = 50 * time.Millisecond
	}
	k := activeKernel.Load()
	k.peak(1000) // warm up (and wake the vector unit)
	best := 0.0
	for start := time.Now(); time.Since(start) < d; {
		const trips = 1 << 16
		t := time.Now()
		k.peak(trips)
		if g := float64(k.flopsPerTrip) * trips / time.Since(t).Seconds() / 1e9; g > best {
			best = g
		}
	}
	return best
}

// SustainedGFLOPS runs the same FMA loop on threads goroutines at once for
// about d (50ms if d <= 0) and returns their combined GFLOP/s over the whole
// time: what the cores deliver to a computation that long, interruptions
// included. PeakGFLOPS keeps the best 0.2ms burst, which no long computation
// sees on a machine whose cores are also taken now and then by something
// else (a virtual machine's host, say: a one-second loop on the 2-vCPU Zen 5
// VM of results/2026-11-30e-sustained-peak.txt ran at about 90% of the best
// burst).
func SustainedGFLOPS(d time.Duration, threads int) float64 {
	if d <= 0 {
		d = 50 * time.Millisecond
	}
	threads = max(threads, 1)
	k := activeKernel.Load()
	k.peak(1000)
	const trips = 1 << 16
	done := make([]int, threads) // loops each goroutine finished
	var wg sync.WaitGroup
	start := time.Now()
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d {
				k.peak(trips)
				done[t]++
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	loops := 0
	for _, n := range done {
		loops += n
	}
	return float64(k.flopsPerTrip) * trips * float64(loops) / elapsed.Seconds() / 1e9
}

var peakSink float32

// peakGeneric is the plain-Go stand-in for the FMA loops: n trips of 12
// independent multiply-adds, enough to keep both multipliers and both
// adders of a core busy. The chains start from different values: from
// equal ones the compiler merges them into one, which measured a single
// chain's latency.
func peakGeneric(n int) {
	s := peakSink
	x0, x1, x2, x3, x4, x5 := s, s+1, s+2, s+3, s+4, s+5
	x6, x7, x8, x9, x10, x11 := s+6, s+7, s+8, s+9, s+10, s+11
	y, z := s+1, s+0.5
	for range n {
		x0 = x0*y + z
		x1 = x1*y + z
		x2 = x2*y + z
		x3 = x3*y + z
		x4 = x4*y + z
		x5 = x5*y + z
		x6 = x6*y + z
		x7 = x7*y + z
		x8 = x8*y + z
		x9 = x9*y + z
		x10 = x10*y + z
		x11 = x11*y + z
	}
	peakSink = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11
}
