//go:build cuda

package cuda

// The backend's own code (launch sequences, kernel arguments, GEMM shapes
// and strides, buffer layouts, aliasing, workspaces, sticky errors) checked
// without a GPU: its device is the kernels' CPU emulator, one process per
// launch, with ops.Sgemm for cuBLAS (whose row-major meaning the GPU test
// TestGPUSgemm checks against ops.SgemmRef). Every buffer a launch gets is
// copied with canaries past its end, and only the values the kernel
// changed are copied back, so writes out of bounds, into const inputs or
// into a neighbour through an overlapping argument show up. The GEMMs
// check that their operands lie within the slices they were given, which
// on the GPU is all the bounds there are.

import (
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/cuda/kernels"
	"github.com/ipt-go/ipt/internal/cuda/kernels/emu"
	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/ops"
	"github.com/ipt-go/ipt/internal/ops/opstest"
	"github.com/ipt-go/ipt/internal/train"
)

// emuDevice is the backend's device on the emulator. Managed memory is Go
// memory; device memory (the doubles) gets made-up addresses, 2³² apart.
type emuDevice struct {
	t        *testing.T
	e        *emu.Emulator
	mem      map[DevicePtr][]float64
	next     DevicePtr
	launches map[string]int
}

func newEmuBackend(t *testing.T) (*Backend, *emuDevice) {
	t.Helper()
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ not found on PATH: the backend's emulator tests need g++ (C++20)")
	}
	names := make([]string, len(kernels.Kernels))
	for i, k := range kernels.Kernels {
		names[i] = k.Name
	}
	e, err := emu.Build(gxx, t.TempDir(), kernels.Source, names)
	if err != nil {
		t.Fatal(err)
	}
	d := &emuDevice{t: t, e: e, mem: map[DevicePtr][]float64{}, next: 1 << 40, launches: map[string]int{}}
	b, err := newBackend(d)
	if err != nil {
		t.Fatal(err)
	}
	return b, d
}

func (d *emuDevice) floats(n int) ([]float32, error) { return make([]float32, n), nil }
func (d *emuDevice) freeFloats([]float32) error      { return nil }

func (d *emuDevice) alloc(n int) (DevicePtr, error) {
	p := d.next
	d.next += 1 << 32
	d.mem[p] = make([]float64, (n+1)/2)
	return p, nil
}

func (d *emuDevice) free(p DevicePtr) error {
	if p == 0 {
		return nil
	}
	if _, ok := d.mem[p]; !ok {
		return fmt.Errorf("free(%#x): not allocated", p)
	}
	delete(d.mem, p)
	return nil
}

// doubles is the device memory from p to the end of its allocation.
func (d *emuDevice) doubles(p DevicePtr) ([]float64, error) {
	for base, m := range d.mem {
		if p >= base && p < base+DevicePtr(8*len(m)) {
			if (p-base)%8 != 0 {
				return nil, fmt.Errorf("%#x: not a double's address", p)
			}
			return m[(p-base)/8:], nil
		}
	}
	return nil, fmt.Errorf("%#x: no device memory there", p)
}

func (d *emuDevice) copyOut(dst []float32, src DevicePtr) error {
	m, err := d.doubles(src)
	if err != nil {
		return err
	}
	if len(dst) > 2*len(m) {
		return fmt.Errorf("copyOut: %d values past the allocation", len(dst))
	}
	for i := range dst {
		bits := math.Float64bits(m[i/2]) >> (32 * (i % 2))
		dst[i] = math.Float32frombits(uint32(bits))
	}
	return nil
}

const emuCanaries = 8

var emuCanary = math.Float32frombits(0x7fc0dead)

func (d *emuDevice) launch(k *kernels.Kernel, grid int64, args []any) error {
	d.launches[k.Name]++
	call := make([]any, len(args))
	before := make([]any, len(args)) // each copy as it went in
	for i, a := range args {
		if j := slices.IndexFunc(args[:i], func(b any) bool { return sameArg(a, b) }); j >= 0 {
			call[i], before[i] = call[j], before[j] // one buffer: the emulator aliases it
			continue
		}
		switch v := a.(type) {
		case []float32:
			if v == nil {
				call[i] = []float32(nil)
				continue
			}
			c := append(slices.Clone(v), make([]float32, emuCanaries)...)
			for j := len(v); j < len(c); j++ {
				c[j] = emuCanary
			}
			call[i], before[i] = c, slices.Clone(c)
		case DevicePtr:
			m, err := d.doubles(v)
			if err != nil {
				return fmt.Errorf("kernel %s: argument %s: %v", k.Name, k.Params[i].Name, err)
			}
			call[i], before[i] = slices.Clone(m), slices.Clone(m)
		default:
			call[i] = a
		}
	}
	if err := d.e.Run(k.Name, grid, kernels.BlockSize, 0, call...); err != nil {
		return err
	}
	for i, a := range args {
		if j := slices.IndexFunc(args[:i], func(b any) bool { return sameArg(a, b) }); j >= 0 {
			continue
		}
		p := k.Params[i]
		switch v := a.(type) {
		case []float32:
			if v == nil {
				continue
			}
			got, was := call[i].([]float32), before[i].([]float32)
			for j := len(v); j < len(got); j++ {
				if math.Float32bits(got[j]) != math.Float32bits(emuCanary) {
					return fmt.Errorf("kernel %s wrote past the end of %s (%d values)", k.Name, p.Name, len(v))
				}
			}
			for j := range v {
				if math.Float32bits(got[j]) != math.Float32bits(was[j]) {
					if p.Const && !aliased(args, i) {
						return fmt.Errorf("kernel %s changed its const input %s", k.Name, p.Name)
					}
					v[j] = got[j]
				}
			}
		case DevicePtr:
			m, _ := d.doubles(v)
			got, was := call[i].([]float64), before[i].([]float64)
			for j := range m {
				if math.Float64bits(got[j]) != math.Float64bits(was[j]) {
					if p.Const {
						return fmt.Errorf("kernel %s changed its const input %s", k.Name, p.Name)
					}
					m[j] = got[j]
				}
			}
		}
	}
	return nil
}

// sameArg is whether a and b are the same buffer argument.
func sameArg(a, b any) bool {
	switch x := a.(type) {
	case []float32:
		y, ok := b.([]float32)
		return ok && len(x) > 0 && len(x) == len(y) && &x[0] == &y[0]
	case DevicePtr:
		y, ok := b.(DevicePtr)
		return ok && x == y
	}
	return false
}

// aliased is whether argument i is also passed as another argument.
func aliased(args []any, i int) bool {
	for j, b := range args {
		if j != i && sameArg(args[i], b) {
			return true
		}
	}
	return false
}

// gemmNeed is the values a row-major rows×cols operand of leading
// dimension ld spans.
func gemmNeed(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

func gemmCheck(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
	ar, ac, br, bc := m, k, k, n
	if transA {
		ar, ac = k, m
	}
	if transB {
		br, bc = n, k
	}
	for _, o := range []struct {
		name           string
		s              []float32
		rows, cols, ld int
	}{{"A", a, ar, ac, lda}, {"B", b, br, bc, ldb}, {"C", c, m, n, ldc}} {
		if o.ld < max(1, o.cols) {
			return fmt.Errorf("sgemm: ld%s %d for %d columns", strings.ToLower(o.name), o.ld, o.cols)
		}
		if need := gemmNeed(o.rows, o.cols, o.ld); len(o.s) < need {
			return fmt.Errorf("sgemm %v %v %d×%d×%d: %s spans %d values, the slice has %d", transA, transB, m, n, k, o.name, need, len(o.s))
		}
	}
	return nil
}

func (d *emuDevice) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	d.launches["sgemm"]++
	if err := gemmCheck(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); err != nil {
		return err
	}
	if m > 0 && n > 0 {
		ops.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
	return nil
}

func (d *emuDevice) sgemmBatched(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC, batch int) error {
	d.launches["sgemmBatched"]++
	for i := range batch {
		sub := func(s []float32, off int) []float32 {
			if off > len(s) {
				return nil
			}
			return s[off:]
		}
		x, y, z := sub(a, i*strideA), sub(b, i*strideB), sub(c, i*strideC)
		if err := gemmCheck(transA, transB, m, n, k, x, lda, y, ldb, z, ldc); err != nil {
			return fmt.Errorf("batch %d of %d: %v", i, batch, err)
		}
		if m > 0 && n > 0 {
			ops.Sgemm(transA, transB, m, n, k, alpha, x, lda, y, ldb, beta, z, ldc)
		}
	}
	return nil
}

func (d *emuDevice) synchronize() error { return nil }
func (d *emuDevice) close() error       { return nil }

// TestBackendEmulated is the conformance suite on the emulated backend.
// Tolerance 1e-5 as on the GPU: the GEMMs here are the CPU's, but the
// backend groups some of them otherwise (the attention's projections one
// by one, dWeight accumulated by the GEMM), and the kernels' sums are
// trees.
func TestBackendEmulated(t *testing.T) {
	b, d := newEmuBackend(t)
	opstest.Check(t, b, 1e-5)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	t.Logf("launches: %v", d.launches)
	for _, k := range kernels.Kernels {
		if d.launches[k.Name] == 0 {
			t.Logf("kernel %s: not used by the backend", k.Name)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if len(d.mem) != 0 {
		t.Errorf("Close left %d device allocations", len(d.mem))
	}
}

// The convolutions in bands (scratch for fewer rows than the image), which
// the suite does not reach: it gives Conv2dScratch's whole image.
func TestBackendConvBands(t *testing.T) {
	b, _ := newEmuBackend(t)
	cin, cout, h, w, k := 3, 5, 7, 6, 3
	rng := func(n int, seed float32) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(math.Sin(float64(seed) + float64(i)*0.37))
		}
		return s
	}
	in, wt, bias, dOut := rng(cin*h*w, 1), rng(cout*cin*k*k, 2), rng(cout, 3), rng(cout*h*w, 4)
	for _, rows := range []int{1, 3} {
		scratch := make([]float32, cin*k*k*w*rows)
		put := func(s []float32) []float32 { x := b.Alloc(len(s)); copy(x, s); return x }
		out := b.Alloc(cout * h * w)
		b.Conv2d(out, put(in), cin, h, w, put(wt), put(bias), cout, k, put(scratch))
		want := make([]float32, cout*h*w)
		ops.Conv2dRef(want, in, cin, h, w, wt, bias, cout, k)
		dIn, dW, dB := b.Alloc(len(in)), b.Alloc(len(wt)), b.Alloc(cout)
		b.Conv2dBackward(dIn, dW, dB, put(dOut), put(in), cin, h, w, put(wt), cout, k, put(scratch))
		wIn, wW, wB := make([]float32, len(in)), make([]float32, len(wt)), make([]float32, cout)
		ops.Conv2dBackwardRef(wIn, wW, wB, dOut, in, cin, h, w, wt, cout, k)
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name      string
			got, want []float32
		}{{"out", out, want}, {"dIn", dIn, wIn}, {"dWeight", dW, wW}, {"dBias", dB, wB}} {
			for i := range c.want {
				if math.Abs(float64(c.got[i]-c.want[i])) > 1e-5*max(1, math.Abs(float64(c.want[i]))) {
					t.Fatalf("bands of %d rows: %s[%d] = %g, want %g", rows, c.name, i, c.got[i], c.want[i])
				}
			}
		}
	}
}

// Errors are sticky: the first is kept, later ops do nothing, Alloc still
// returns memory the host can use, Sync and the float64 results report.
func TestBackendStickyError(t *testing.T) {
	b, d := newEmuBackend(t)
	x := b.Alloc(10)
	b.Conv2d(b.Alloc(8*4*4), b.Alloc(3*4*4), 3, 4, 4, b.Alloc(8*3*9), nil, 8, 3, b.Alloc(5)) // scratch too short
	err := b.Sync()
	if err == nil || !strings.Contains(err.Error(), "scratch") {
		t.Fatalf("Sync after a bad Conv2d: %v", err)
	}
	n := d.launches["fill_f32"]
	x[0] = 1
	b.Zero(x)
	if d.launches["fill_f32"] != n || x[0] != 1 {
		t.Error("an op ran after the error")
	}
	if y := b.Alloc(7); len(y) != 7 {
		t.Errorf("Alloc(7) after an error: %d values", len(y))
	}
	if v := b.L2Norm(x); !math.IsNaN(v) {
		t.Errorf("L2Norm after an error: %g, want NaN", v)
	}
	if b.Sync() != err {
		t.Errorf("the error changed: %v", b.Sync())
	}
	b.Free(x)
	b.Free(make([]float32, 3)) // not the backend's: ignored
	if cerr := b.Close(); cerr != err {
		t.Errorf("Close: %v, want the sticky %v", cerr, err)
	}
	b.Zero(x) // after Close: nothing
}

// A kernel argument of the wrong type is refused, not passed as garbage.
func TestKernelArgs(t *testing.T) {
	k, _ := kernels.Lookup("scale_f32")
	args := []any{[]float32{1}, 1, float32(2)}
	if err := kernelArgs(k, args); err != nil {
		t.Fatal(err)
	}
	if _, ok := args[1].(int64); !ok {
		t.Errorf("the i64 argument is a %T, want int64", args[1])
	}
	for _, bad := range [][]any{
		{[]float32{1}, 1, 2.0},               // a double for a float
		{[]float32{1}, int32(1), float32(2)}, // a C int for an i64
		{DevicePtr(8), 1, float32(2)},        // a double* for a float*
		{[]float32{1}, 1},                    // too few
	} {
		if err := kernelArgs(k, bad); err == nil {
			t.Errorf("kernelArgs(%v): no error", bad)
		}
	}
}

// kernels.Options go to NVRTC without the options Open always gives it.
func TestKernelFlags(t *testing.T) {
	f := kernelFlags()
	for _, o := range nvrtcOptions {
		if slices.Contains(f, o) {
			t.Errorf("%s twice", o)
		}
	}
	if !slices.Contains(f, "--fmad=false") {
		t.Errorf("flags %v lack --fmad=false", f)
	}
}

// stepResult is what one training step leaves: the loss, the gradients
// and the weights after Adam.
type stepResult struct {
	loss          train.Loss
	grads, params []float32
}

// trainStep runs one step of a small two-task net (both tasks' tails, the
// contrastive loss on) on be, the net built on the CPU and moved there as
// ipt train does: the whole network's op sequence, checked as a whole.
func trainStep(t *testing.T, be ops.Backend, task int) stepResult {
	t.Helper()
	cfg := ipt.Config{NFeats: 8, PatchSize: 8, PatchDim: 2, NumHeads: 2, EncLayers: 2, DecLayers: 1, Scales: []int{2, 1}}
	net, err := train.NewNet(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	params, _ := net.Trainable()
	adam := train.NewAdam(len(params))
	if err := net.MoveTo(be); err != nil {
		t.Fatal(err)
	}
	if err := adam.MoveTo(be); err != nil {
		t.Fatal(err)
	}
	const N = 3
	P, s := cfg.PatchSize, cfg.Scales[task]
	b := &train.Batch{Task: task, N: N, In: be.Alloc(N * ipt.Colors * P * P), Target: be.Alloc(N * ipt.Colors * P * s * P * s)}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := range b.In {
		b.In[i] = float32(128 + 100*math.Sin(float64(i)*0.37))
	}
	for i := range b.Target {
		b.Target[i] = float32(128 + 100*math.Sin(float64(i)*0.11+1))
	}
	loss, err := net.ForwardBackward(b, 0.1, 0.07, be)
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	params, grads := net.Trainable()
	r := stepResult{loss: loss, grads: slices.Clone(grads)}
	if err := adam.StepOn(be, params, grads, 1e-3); err != nil {
		t.Fatal(err)
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	r.params = slices.Clone(params)
	return r
}

// compareSteps checks a step on a device against the CPU's: the losses and
// every gradient within tol (relative to the largest gradient), and the
// weights after Adam. Adam's first update is about ±lr whatever the
// gradient's size, so where a gradient is tiny (below 1e-4 of the largest)
// rounding may flip it: there the weights need only agree within 2·lr;
// elsewhere within 1e-3·lr (plus a float32 ulp of the weight).
func compareSteps(t *testing.T, got, want stepResult, tol float64) {
	t.Helper()
	for _, l := range []struct {
		name      string
		got, want float64
	}{{"L1", got.loss.L1, want.loss.L1}, {"contrastive", got.loss.Contrastive, want.loss.Contrastive}, {"total", got.loss.Total, want.loss.Total}} {
		if math.Abs(l.got-l.want) > tol*max(1, math.Abs(l.want)) {
			t.Errorf("%s loss %.9g, want %.9g", l.name, l.got, l.want)
		}
	}
	var gmax float64
	for _, g := range want.grads {
		gmax = max(gmax, math.Abs(float64(g)))
	}
	worst, at := 0.0, -1
	for i, g := range want.grads {
		if d := math.Abs(float64(got.grads[i] - g)); d > worst {
			worst, at = d, i
		}
	}
	t.Logf("loss %+v; largest gradient %.3g; gradients differ by at most %.3g (at %d)", want.loss, gmax, worst, at)
	if worst > tol*gmax {
		t.Errorf("gradient %d = %g, want %g (tolerance %g of the largest, %g)", at, got.grads[at], want.grads[at], tol, gmax)
	}
	const lr = 1e-3
	flips := 0
	for i, p := range want.params {
		d := math.Abs(float64(got.params[i] - p))
		switch {
		case math.Abs(float64(want.grads[i])) <= 1e-4*gmax:
			if d > 2.01*lr {
				t.Fatalf("weight %d = %g, want %g (tiny gradient): more than 2·lr apart", i, got.params[i], p)
			}
			if d > 1e-3*lr {
				flips++
			}
		case d > 1e-3*lr+ulp32(float64(p)):
			t.Fatalf("weight %d = %g after Adam, want %g (gradient %g, %g here)", i, got.params[i], p, want.grads[i], got.grads[i])
		}
	}
	t.Logf("%d weights of %d with a tiny gradient took another Adam step", flips, len(want.params))
}

func ulp32(v float64) float64 { return math.Max(math.Abs(v), 0x1p-126) * 0x1p-23 }

// TestBackendEmulatedStep: one training step, both tasks, on the emulated
// backend against the CPU.
func TestBackendEmulatedStep(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a training step on the emulator takes a while")
	}
	b, _ := newEmuBackend(t)
	for task := range 2 {
		compareSteps(t, trainStep(t, b, task), trainStep(t, ops.CPU{Threads: 1}, task), 1e-5)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBackendEmulatedParity: the authors' fixtures through the backend on
// the emulator, the GPU parity test's own check (TestGPUParity) shown to
// pass where the kernels and the backend are right; the direct forwards
// only (the tiler's cases, hundreds of tiles, take minutes emulated).
func TestBackendEmulatedParity(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the fixtures on the emulator take a while")
	}
	b, _ := newEmuBackend(t)
	checkParity(t, b, false)
}
