package ipt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/ipt-go/ipt/internal/ops"
)

// lazyBackend stands in for a GPU: ops.CPU on one thread whose ops run only
// at Sync, in the order queued, as a device's queued kernels would. A host
// read of an output before the Sync after its op sees stale values, and a
// host write to an input before its op has run changes what the op sees, so
// either shows as outputs that differ from the CPU's. It also checks that
// every buffer an op is given lies in a live allocation of its own Alloc,
// and that nothing is freed while work is queued. Ops the forward pass is
// not expected to call run eagerly through the embedded CPU, which would
// equally break the outputs.
type lazyBackend struct {
	ops.CPU

	mu      sync.Mutex
	queue   []func()
	live    map[*float32]int // live allocations: first element → length
	calls   map[string]int
	batches []int // the batch of every MultiHeadAttention call
	syncs   int
	errs    []string
}

func newLazyBackend() *lazyBackend {
	return &lazyBackend{CPU: ops.CPU{Threads: 1}, live: map[*float32]int{}, calls: map[string]int{}}
}

func (b *lazyBackend) fail(format string, a ...any) {
	if len(b.errs) < 10 {
		b.errs = append(b.errs, fmt.Sprintf(format, a...))
	}
}

// owned says whether x lies inside a live allocation.
func (b *lazyBackend) owned(x []float32) bool {
	if len(x) == 0 {
		return true
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(x)))
	for start, n := range b.live {
		s := uintptr(unsafe.Pointer(start))
		if p >= s && p+4*uintptr(len(x)) <= s+4*uintptr(n) {
			return true
		}
	}
	return false
}

// enqueue records a call of op on bufs and queues run.
func (b *lazyBackend) enqueue(op string, run func(), bufs ...[]float32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls[op]++
	for i, x := range bufs {
		if !b.owned(x) {
			b.fail("%s: argument %d (%d values) is not a buffer of the backend", op, i, len(x))
		}
	}
	b.queue = append(b.queue, run)
}

func (b *lazyBackend) Alloc(n int) []float32 {
	x := make([]float32, n)
	if n > 0 {
		b.mu.Lock()
		b.live[&x[0]] = n
		b.mu.Unlock()
	}
	return x
}

func (b *lazyBackend) Free(x []float32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(x) == 0 {
		return
	}
	if len(b.queue) > 0 {
		b.fail("Free with %d ops queued", len(b.queue))
	}
	if n, ok := b.live[&x[0]]; !ok || n != len(x) {
		b.fail("Free of %d values that are not a whole live allocation", len(x))
	}
	delete(b.live, &x[0])
}

func (b *lazyBackend) Sync() error {
	b.mu.Lock()
	q := b.queue
	b.queue = nil
	b.syncs++
	b.mu.Unlock()
	for _, run := range q {
		run()
	}
	return nil
}

func (b *lazyBackend) Zero(x []float32) { b.enqueue("Zero", func() { b.CPU.Zero(x) }, x) }
func (b *lazyBackend) Copy(dst, src []float32) {
	b.enqueue("Copy", func() { b.CPU.Copy(dst, src) }, dst, src)
}
func (b *lazyBackend) Add(dst, src []float32) {
	b.enqueue("Add", func() { b.CPU.Add(dst, src) }, dst, src)
}
func (b *lazyBackend) AddTo(dst, x, y []float32) {
	b.enqueue("AddTo", func() { b.CPU.AddTo(dst, x, y) }, dst, x, y)
}
func (b *lazyBackend) ReLU(x []float32) { b.enqueue("ReLU", func() { b.CPU.ReLU(x) }, x) }
func (b *lazyBackend) AddBiasReLU(x, bias []float32) {
	b.enqueue("AddBiasReLU", func() { b.CPU.AddBiasReLU(x, bias) }, x, bias)
}

func (b *lazyBackend) Conv2d(out, in []float32, cin, h, w int, weight, bias []float32, cout, k int, scratch []float32) {
	b.enqueue("Conv2d", func() { b.CPU.Conv2d(out, in, cin, h, w, weight, bias, cout, k, scratch) }, out, in, weight, bias, scratch)
}

func (b *lazyBackend) Linear(out, x []float32, m, in int, weight, bias []float32, outDim int) {
	b.enqueue("Linear", func() { b.CPU.Linear(out, x, m, in, weight, bias, outDim) }, out, x, weight, bias)
}

func (b *lazyBackend) LayerNorm(out, x []float32, m, d int, gamma, beta []float32, eps float64) {
	b.enqueue("LayerNorm", func() { b.CPU.LayerNorm(out, x, m, d, gamma, beta, eps) }, out, x, gamma, beta)
}

func (b *lazyBackend) NewAttentionScratch(batch, lq, lk, d, heads int) *ops.AttentionScratch {
	return ops.NewAttentionScratchWith(b.Alloc, batch, lq, lk, d, 1)
}

func (b *lazyBackend) MultiHeadAttention(out, xq, xk, xv []float32, batch, lq, lk, d, heads int, inProj, outProj []float32, s *ops.AttentionScratch) {
	q, k, v, ctx, scores, sums := s.Buffers()
	b.mu.Lock()
	b.batches = append(b.batches, batch)
	b.mu.Unlock()
	b.enqueue("MultiHeadAttention", func() {
		b.CPU.MultiHeadAttention(out, xq, xk, xv, batch, lq, lk, d, heads, inProj, outProj, s)
	}, out, xq, xk, xv, inProj, outProj, q, k, v, ctx, scores, sums)
}

func (b *lazyBackend) PixelShuffle(out, in []float32, c, h, w, r int) {
	b.enqueue("PixelShuffle", func() { b.CPU.PixelShuffle(out, in, c, h, w, r) }, out, in)
}

func (b *lazyBackend) Unfold(out, in []float32, c, h, w, p int) {
	b.enqueue("Unfold", func() { b.CPU.Unfold(out, in, c, h, w, p) }, out, in)
}

func (b *lazyBackend) Fold(out, tokens []float32, c, h, w, p int) {
	b.enqueue("Fold", func() { b.CPU.Fold(out, tokens, c, h, w, p) }, out, tokens)
}

// check reports the backend's complaints and that nothing is left queued.
func (b *lazyBackend) check(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		t.Error(e)
	}
	if len(b.queue) > 0 {
		t.Errorf("%d ops still queued after the run", len(b.queue))
	}
}

// loadTinyOn loads the tiny fixture afresh (not the shared cached model)
// and moves it to be.
func loadTinyOn(t *testing.T, be ops.Backend) *Model {
	t.Helper()
	f := fixtures[0]
	m, err := Load(filepath.Join(f.dir, f.weights), f.heads)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.MoveTo(be); err != nil {
		t.Fatal(err)
	}
	return m
}

func randomImage(rng *rand.Rand, h, w int) *Image {
	img := NewImage(h, w)
	for i := range img.Pix {
		img.Pix[i] = rng.Float32() * 255
	}
	return img
}

// TestDeviceRunnerMatchesCPU restores images on a stand-in device, with
// both tilers and the self-ensemble, and checks the outputs are the CPU's
// bit for bit, that the forward passes ran on the backend's buffers through
// its methods, one batch of the planned size at a time, and that closing
// the runner gives back all but the weights.
func TestDeviceRunnerMatchesCPU(t *testing.T) {
	cpu, _ := loadTiny(t)
	be := newLazyBackend()
	m := loadTinyOn(t, be)
	weightBufs := len(be.live)
	if weightBufs == 0 {
		t.Fatal("MoveTo allocated nothing on the backend")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		task     int
		h, w     int
		tiling   Tiling
		ensemble Ensemble
		batch    int
		mem      bool
	}{
		{0, 50, 61, TilingOfficial, NoEnsemble, 3, false},
		{2, 37, 30, TilingBlend, NoEnsemble, 0, false},
		{3, 41, 29, TilingBlend, EnsembleX8, 2, false},
		{2, 30, 33, TilingBlend, EnsembleFlips, 2, false},
		{1, 55, 47, TilingOfficial, NoEnsemble, 0, true},
		{3, 13, 9, TilingOfficial, NoEnsemble, 0, false}, // smaller than a tile
	} {
		name := fmt.Sprintf("task %d %dx%d %s ensemble %v batch %d mem %v", c.task, c.h, c.w, c.tiling, c.ensemble, c.batch, c.mem)
		img := randomImage(rng, c.h, c.w)
		want, err := (&Runner{Model: cpu, Task: c.task, Threads: 2, Batch: 5}).Restore(context.Background(), img, c.tiling, c.ensemble)
		if err != nil {
			t.Fatal(err)
		}
		r := &Runner{Model: m, Task: c.task, Backend: be, Batch: c.batch}
		if c.mem {
			r.MemLimit = r.deviceBatchBytes(4) + 100 // room for 4 tiles, not 5
		}
		var progress []int
		r.Progress = func(done, total int) { progress = append(progress, done) }
		be.batches = nil
		syncs := be.syncs
		got, err := r.Restore(context.Background(), img, c.tiling, c.ensemble)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		be.check(t)
		if n, ok := sameBits(got.Pix, want.Pix); !ok || got.H != want.H || got.W != want.W {
			t.Errorf("%s: %d×%d output differs from the CPU's (first at %d)", name, got.W, got.H, n)
		}
		// Every forward pass's attention calls (enc + 2·dec a pass) saw one
		// batch; all but the last of an image are of the planned size.
		B, workers, _, err := r.plan(1000)
		if err != nil || workers != 1 {
			t.Fatalf("%s: plan: %d workers, %v", name, workers, err)
		}
		perPass := cpu.Config.EncLayers + 2*cpu.Config.DecLayers
		if len(be.batches) == 0 || len(be.batches)%perPass != 0 {
			t.Fatalf("%s: %d attention calls", name, len(be.batches))
		}
		for _, n := range be.batches {
			if n > B {
				t.Errorf("%s: a batch of %d tiles, planned at most %d", name, n, B)
			}
		}
		if c.ensemble == NoEnsemble {
			tiles := 0
			for _, n := range be.batches {
				tiles += n
			}
			tiles /= perPass
			if want, _ := r.planDevice(tiles); be.batches[0] != want {
				t.Errorf("%s: first batch of %d tiles, want the %d planned for %d tiles", name, be.batches[0], want, tiles)
			}
		}
		if c.mem && B != 4 {
			t.Errorf("%s: batches of %d tiles planned, want the 4 the budget allows", name, B)
		}
		if passes := len(be.batches) / perPass; be.syncs-syncs < passes+1 {
			t.Errorf("%s: %d Syncs for %d forward passes", name, be.syncs-syncs, passes)
		}
		if len(progress) == 0 {
			t.Errorf("%s: no progress reported", name)
		}
		r.Close()
		if len(be.live) != weightBufs {
			t.Errorf("%s: %d buffers live after Close, want the %d of the weights", name, len(be.live), weightBufs)
		}
	}
	for _, op := range []string{"Conv2d", "Linear", "LayerNorm", "MultiHeadAttention", "Add", "AddTo", "AddBiasReLU", "ReLU", "Unfold", "Fold", "PixelShuffle", "Copy"} {
		if be.calls[op] == 0 {
			t.Errorf("the backend's %s was never called", op)
		}
	}
}

// TestDeviceForwardTilesAndStream runs ForwardTiles and a streamed
// restoration on the stand-in device against the CPU.
func TestDeviceForwardTilesAndStream(t *testing.T) {
	cpu, _ := loadTiny(t)
	be := newLazyBackend()
	m := loadTinyOn(t, be)
	P, task := cpu.Config.PatchSize, 1
	s := cpu.Config.Scales[task]
	const n = 7
	rng := rand.New(rand.NewPCG(7, 8))
	in := randomImage(rng, n*Colors*P, P).Pix
	want, got := make([]float32, n*Colors*P*s*P*s), make([]float32, n*Colors*P*s*P*s)
	if err := (&Runner{Model: cpu, Task: task, Threads: 3}).ForwardTiles(context.Background(), in, n, want); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Model: m, Task: task, Backend: be, Batch: 2}
	if err := r.ForwardTiles(context.Background(), in, n, got); err != nil {
		t.Fatal(err)
	}
	be.check(t)
	if k, ok := sameBits(got, want); !ok {
		t.Errorf("ForwardTiles: differs from the CPU's (first at %d)", k)
	}
	img := cropOnly{randomImage(rng, 70, 45)}
	wantImg, _ := streamed(t, &Runner{Model: cpu, Task: task, Threads: 2}, img)
	gotImg, _ := streamed(t, r, img)
	be.check(t)
	if k, ok := sameBits(gotImg.Pix, wantImg.Pix); !ok {
		t.Errorf("Stream: differs from the CPU's (first at %d)", k)
	}
	r.Close()
}

// TestDevicePlan checks the planning on a device: one worker, batches of
// DefaultDeviceBatch, of Batch, or as large as MemLimit allows, evened
// out; and the CPU's planning for an ops.CPU Backend.
func TestDevicePlan(t *testing.T) {
	m := &Model{Config: ReleasedConfig(2)}
	dev := newLazyBackend()
	r := &Runner{Model: m, Backend: dev}
	for _, c := range []struct {
		n, batch int
		mem      int64
		want     int
	}{
		{1, 0, 0, 1},
		{10, 0, 0, 10},
		{1000, 0, 0, 63}, // 16 batches of DefaultDeviceBatch, evened out
		{128, 0, 0, 64},
		{100, 7, 0, 7},
		{1000, 0, r.deviceBatchBytes(100), 100},
		{1000, 0, r.deviceBatchBytes(100) - 1, 100 - 9}, // 11 batches of ≤ 99
		{5000, 0, 1 << 50, maxDeviceBatch - 24},         // 5 batches of ≤ 1024
		{1000, 20, r.deviceBatchBytes(100), 20},
	} {
		r.Batch, r.MemLimit = c.batch, c.mem
		b, w, _, err := r.plan(c.n)
		if err != nil || b != c.want || w != 1 {
			t.Errorf("n %d, Batch %d, MemLimit %d: batch %d, %d workers, %v; want %d, 1", c.n, c.batch, c.mem, b, w, err, c.want)
		}
	}
	r.Batch, r.MemLimit = 0, r.deviceBatchBytes(1)-1
	if _, _, _, err := r.plan(10); err == nil || !strings.Contains(err.Error(), "device memory") {
		t.Errorf("a budget below one tile: %v", err)
	}
	if got := r.TileBytes(); got != r.deviceBatchBytes(1) {
		t.Errorf("TileBytes on a device %d, want %d", got, r.deviceBatchBytes(1))
	}
	cpu := &Runner{Model: m, Threads: 4}
	onCPU := &Runner{Model: m, Threads: 4, Backend: ops.CPU{Threads: 9}}
	for _, n := range []int{1, 3, 40} {
		b1, w1, e1, _ := cpu.plan(n)
		b2, w2, e2, _ := onCPU.plan(n)
		if b1 != b2 || w1 != w2 || e1 != e2 {
			t.Errorf("n %d: Backend ops.CPU plans %d×%d %v, nil %d×%d %v", n, b2, w2, e2, b1, w1, e1)
		}
	}
}

// TestDeviceNeedsTheWeights checks a runner refuses to run where the
// model's weights are not, and MoveTo to the CPU and back.
func TestDeviceNeedsTheWeights(t *testing.T) {
	cpu, ck := loadTiny(t)
	be := newLazyBackend()
	P := cpu.Config.PatchSize
	tile := tensor(t, ck, "patch.input").F32[:Colors*P*P]
	img := &Image{H: P, W: P, Pix: tile}
	_, err := (&Runner{Model: cpu, Backend: be}).Restore(context.Background(), img, TilingBlend, NoEnsemble)
	if err == nil || !strings.Contains(err.Error(), "MoveTo") {
		t.Errorf("a CPU model on a device runner: %v", err)
	}
	m := loadTinyOn(t, be)
	if _, err := (&Runner{Model: m}).Restore(context.Background(), img, TilingBlend, NoEnsemble); err == nil {
		t.Error("a device model on a CPU runner ran")
	}
	ws := m.NewWorkspace(1)
	if err := m.MoveTo(ops.CPU{}); err != nil {
		t.Fatal(err)
	}
	s := cpu.Config.Scales[0]
	out := make([]float32, Colors*P*s*P*s)
	if err := m.Forward(0, tile, 1, out, ws); err == nil {
		t.Error("a workspace from before MoveTo was accepted")
	}
	ws.Free()
	be.check(t)
	if len(be.live) != 0 {
		t.Errorf("%d buffers left on the backend after moving to the CPU", len(be.live))
	}
	want := make([]float32, len(out))
	if err := cpu.Forward(0, tile, 1, want, cpu.NewWorkspace(1)); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(0, tile, 1, out, m.NewWorkspace(1)); err != nil {
		t.Fatal(err)
	}
	if k, ok := sameBits(out, want); !ok {
		t.Errorf("back on the CPU: differs (first at %d)", k)
	}
	// On the CPU already, MoveTo keeps the slices.
	before := &m.raw["sub_mean.weight"][0]
	if err := m.MoveTo(nil); err != nil || &m.raw["sub_mean.weight"][0] != before {
		t.Errorf("MoveTo(nil) on the CPU: %v, slices moved: %v", err, &m.raw["sub_mean.weight"][0] != before)
	}
}
