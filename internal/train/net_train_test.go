package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/ops"
)

// gradConfig is the whole-model gradient check's net: C 4, P 6, p 3 → L 4,
// d 36, 2 heads, 1+1 layers, a ×2 tail (pixel shuffle) and a ×1 tail.
var gradConfig = ipt.Config{NFeats: 4, PatchSize: 6, PatchDim: 3, NumHeads: 2, EncLayers: 1, DecLayers: 1, Scales: []int{2, 1}}

// randomBatch draws N inputs uniform in [lo, hi) and targets equal to out
// (the net's output on them, if given) moved by ±(0.5..1.5), or uniform too.
func randomBatch(c ipt.Config, task, N int, lo, hi float32, out []float32, seed uint64) *Batch {
	rng := rand.New(rand.NewPCG(seed, 99))
	P, s := c.PatchSize, c.Scales[task]
	b := &Batch{Task: task, N: N, In: make([]float32, N*3*P*P), Target: make([]float32, N*3*P*s*P*s)}
	for i := range b.In {
		b.In[i] = lo + (hi-lo)*rng.Float32()
	}
	for i := range b.Target {
		if out != nil {
			off := 0.5 + rng.Float32()
			if rng.IntN(2) == 0 {
				off = -off
			}
			b.Target[i] = out[i] + off
		} else {
			b.Target[i] = lo + (hi-lo)*rng.Float32()
		}
	}
	return b
}

// forwardOut runs the training forward alone and returns a copy of its output.
func forwardOut(n *Net, b *Batch, e ops.Exec) []float32 {
	a := n.activationsFor(b.N)
	n.forward(b, a, e)
	return slices.Clone(a.out[:len(b.Target)])
}

// lossOnly is l1·L1 + lambda·contrastive of the net on b, forward only.
func lossOnly(n *Net, b *Batch, l1, lambda, tau float64) float64 {
	c := n.Config
	a := n.activationsFor(b.N)
	e := ops.Exec{Threads: 1}
	n.forward(b, a, e)
	loss := l1 * l1Loss(a.out[:len(b.Target)], b.Target, a.dout, 1)
	if lambda > 0 {
		L, d := c.SeqLen(), c.Dim()
		T := b.N * L * d
		loss += lambda * contrastiveLoss(a.stream[len(a.stream)-1], a.dmem[:T], b.N, L, d, tau, 1, a.feat, a.tmp, a.contrast, e)
	}
	return loss
}

// gradNet is a gradConfig net with the mean-shift biases at zero and a
// non-identity add_mean (fixed, but the gradient flows through it), so that
// values stay near 1 and float32 rounding stays far below the differences.
func gradNet(t *testing.T) *Net {
	t.Helper()
	n, err := NewNet(gradConfig, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sub_mean.bias", "add_mean.bias"} {
		v, _ := n.Tensor(k)
		clear(v)
	}
	w, _ := n.Tensor("add_mean.weight")
	copy(w, []float32{0.9, 0.2, -0.1, 0.1, 1.1, 0.3, -0.2, 0.1, 0.8})
	return n
}

// sampleIndices picks every index of a tensor of size k up to 40, else the
// first, the last and 38 random ones.
func sampleIndices(k int, rng *rand.Rand) []int {
	if k <= 40 {
		idx := make([]int, k)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := []int{0, k - 1}
	for range 38 {
		idx = append(idx, rng.IntN(k))
	}
	return idx
}

// checkNetGrads compares n.Grads with central differences of loss for
// sampled elements of every tensor (all of the small ones); it returns the
// number of elements checked.
//
// A step that carries a ReLU input across zero differentiates across the
// kink; such an element is tried again with a step ten times smaller and,
// since float32 rounding in the loss then weighs ten times more, atol ten
// times larger. At most 1% of the elements may need the second try.
func checkNetGrads(t *testing.T, n *Net, label string, loss func() float64, h float32, atol, rtol float64) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 5))
	checked, failed, retried := 0, 0, 0
	for _, k := range n.Keys() {
		if strings.Contains(k, "_mean.") {
			continue // fixed: never trained, no gradient
		}
		p, _ := n.Tensor(k)
		g, _ := n.GradTensor(k)
		for _, i := range sampleIndices(len(p), rng) {
			checked++
			if mismatch(k, i, g[i], centralDiff(p, i, h, loss), atol, rtol) == "" {
				continue
			}
			retried++
			if m := mismatch(k, i, g[i], centralDiff(p, i, h/10, loss), 10*atol, rtol); m != "" {
				failed++
				if failed <= 10 {
					t.Errorf("%s: %s", label, m)
				}
			}
		}
	}
	if failed > 0 {
		t.Errorf("%s: %d of %d elements off", label, failed, checked)
	}
	if retried > checked/100 {
		t.Errorf("%s: %d of %d elements needed a smaller step: more than kinks explain", label, retried, checked)
	}
	t.Logf("%s: %d elements checked, %d with the smaller step", label, checked, retried)
	return checked
}

func TestForwardBackwardGradCheck(t *testing.T) {
	const lambda, tau = 0.1, 0.5
	for task, name := range []string{"x2", "x1"} {
		t.Run(name, func(t *testing.T) {
			n := gradNet(t)
			e := ops.Exec{Threads: 1}
			b := randomBatch(gradConfig, task, 2, 0, 1, nil, uint64(task))
			// Targets far from the outputs: L1 has no kink within reach.
			b = randomBatch(gradConfig, task, 2, 0, 1, forwardOut(n, b, e), uint64(task))
			n.ZeroGrads()
			loss, err := n.ForwardBackward(b, lambda, tau, e)
			if err != nil {
				t.Fatal(err)
			}
			if want := lossOnly(n, b, 1, lambda, tau); loss.Total != want {
				t.Errorf("Total %g, forward alone %g", loss.Total, want)
			}
			got := checkNetGrads(t, n, name, func() float64 { return lossOnly(n, b, 1, lambda, tau) }, 1e-3, 2e-5, 1e-2)
			mags := make([]float64, 0, len(n.Grads))
			for _, v := range n.Grads {
				if v != 0 {
					mags = append(mags, math.Abs(float64(v)))
				}
			}
			slices.Sort(mags)
			t.Logf("%d parameter elements checked; nonzero |gradient| median %.3g, 10th percentile %.3g", got, mags[len(mags)/2], mags[len(mags)/10])
		})
	}
}

func TestForwardMatchesModel(t *testing.T) {
	tiny, _ := loadTinyNet(t)
	rnd, err := NewNet(gradConfig, 11)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Net{rnd, tiny} {
		m, err := n.Model()
		if err != nil {
			t.Fatal(err)
		}
		for task := range n.Config.Tasks() {
			e := ops.Exec{Threads: 2}
			b := randomBatch(n.Config, task, 2, 0, 255, nil, uint64(task))
			want := modelForward(t, m, task, b.In, b.N, e)
			if got := forwardOut(n, b, e); !slices.Equal(got, want) {
				t.Errorf("%v task %d: training forward differs from ipt's Forward", n.Config, task)
			}
		}
	}
}

// TestContrastiveChangesGradients checks that lambda > 0 changes the
// gradients by exactly lambda times the contrastive term's own gradient,
// and that gradient against central differences of the contrastive loss.
func TestContrastiveChangesGradients(t *testing.T) {
	const lambda, tau = 0.1, 0.07
	n := gradNet(t)
	e := ops.Exec{Threads: 1}
	b := randomBatch(gradConfig, 0, 3, 0, 1, nil, 4)
	b = randomBatch(gradConfig, 0, 3, 0, 1, forwardOut(n, b, e), 4)
	run := func(l1, lam float64) ([]float32, Loss) {
		n.ZeroGrads()
		loss, err := n.forwardBackward(b, l1, lam, tau, e)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(n.Grads), loss
	}
	with, lw := run(1, lambda)
	without, l0 := run(1, 0)
	only, lc := run(0, 1)
	if lw.L1 != l0.L1 || lw.Contrastive != lc.Contrastive || l0.Contrastive != 0 || lw.Total != lw.L1+lambda*lw.Contrastive {
		t.Errorf("losses: with %+v, without %+v, contrastive alone %+v", lw, l0, lc)
	}
	var scale float64
	for _, v := range with {
		scale = max(scale, math.Abs(float64(v)))
	}
	changed := 0
	for i := range with {
		diff := float64(with[i]) - float64(without[i])
		want := lambda * float64(only[i])
		if math.Abs(diff-want) > 1e-6*scale+1e-3*math.Abs(want) {
			t.Fatalf("grad[%d]: with − without = %g, lambda·contrastive = %g", i, diff, want)
		}
		if only[i] != 0 {
			changed++
		}
	}
	// The term acts on the decoder output: mlp_head, the tails and the
	// other task's head get nothing from it; every tensor before it does.
	for _, k := range n.Keys() {
		g, _ := n.view(only, k)
		nonzero := slices.ContainsFunc(g, func(v float32) bool { return v != 0 })
		after := strings.HasPrefix(k, "body.mlp_head.") || strings.HasPrefix(k, "tail.") ||
			strings.HasPrefix(k, "head.1.") || strings.Contains(k, "_mean.")
		if nonzero == after {
			t.Errorf("%s: contrastive gradient nonzero = %v", k, nonzero)
		}
	}
	t.Logf("%d of %d gradient values moved by the contrastive term", changed, len(only))
	n.ZeroGrads()
	if _, err := n.forwardBackward(b, 0, 1, tau, e); err != nil {
		t.Fatal(err)
	}
	// The loss differentiated here is contrastiveRef, in float64 from the
	// decoder output, so only the forward's float32 rounding is noise.
	c := n.Config
	ref := func() float64 {
		forwardOut(n, b, e)
		return contrastiveRef(n.acts.stream[len(n.acts.stream)-1], b.N, c.SeqLen(), c.Dim(), tau)
	}
	checkNetGrads(t, n, "contrastive", ref, 3e-4, 2e-4, 1e-2)
}

// TestForwardBackwardThreads: the loss and gradients are the same bits on
// any number of threads, for every kind of tail; 7 threads over 3 samples
// give the per-sample workers 2 threads each (persample.go).
func TestForwardBackwardThreads(t *testing.T) {
	cfg := ipt.Config{NFeats: 8, PatchSize: 12, PatchDim: 3, NumHeads: 4, EncLayers: 2, DecLayers: 2, Scales: []int{3, 4, 1, 2}}
	n, err := NewNet(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	for task := range cfg.Tasks() {
		b := randomBatch(cfg, task, 3, 0, 255, nil, 9)
		var ref []float32
		var refLoss Loss
		for _, threads := range []int{1, 2, 3, 7} {
			n.ZeroGrads()
			loss, err := n.ForwardBackward(b, 0.1, 0.07, ops.Exec{Threads: threads})
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref, refLoss = slices.Clone(n.Grads), loss
				continue
			}
			if loss != refLoss || !slices.Equal(n.Grads, ref) {
				t.Errorf("task %d: %d threads give other gradients or loss (%+v, 1 thread %+v)", task, threads, loss, refLoss)
			}
		}
	}
}

func TestForwardBackwardAccumulates(t *testing.T) {
	n := gradNet(t)
	e := ops.Exec{Threads: 1}
	b := randomBatch(gradConfig, 0, 4, 0, 1, nil, 2)
	half := func(i int) *Batch {
		in, tg := len(b.In)/2, len(b.Target)/2
		return &Batch{Task: 0, N: 2, In: b.In[i*in : (i+1)*in], Target: b.Target[i*tg : (i+1)*tg]}
	}
	n.ZeroGrads()
	full, err := n.ForwardBackward(b, 0, 0, e)
	if err != nil {
		t.Fatal(err)
	}
	whole := slices.Clone(n.Grads)
	// The L1 mean of the batch is the average of its halves' means, so the
	// halves' gradients, added up by two calls, are twice the batch's.
	n.ZeroGrads()
	l0, err := n.ForwardBackward(half(0), 0, 0, e)
	if err != nil {
		t.Fatal(err)
	}
	l1, err := n.ForwardBackward(half(1), 0, 0, e)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs((l0.L1+l1.L1)/2-full.L1) > 1e-12*full.L1 {
		t.Errorf("L1 of the halves %g, %g; of the batch %g", l0.L1, l1.L1, full.L1)
	}
	var scale float64
	for _, v := range whole {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i, v := range n.Grads {
		if d := math.Abs(float64(v) - 2*float64(whole[i])); d > 1e-6*scale+1e-4*math.Abs(float64(v)) {
			t.Fatalf("grad[%d]: halves add to %g, twice the batch's is %g", i, v, 2*whole[i])
		}
	}
	n.ZeroGrads()
	if slices.ContainsFunc(n.Grads, func(v float32) bool { return v != 0 }) {
		t.Error("ZeroGrads left a gradient")
	}
}

func TestForwardBackwardBadInput(t *testing.T) {
	n, err := NewNet(gradConfig, 1)
	if err != nil {
		t.Fatal(err)
	}
	good := randomBatch(gradConfig, 0, 2, 0, 255, nil, 1)
	one := randomBatch(gradConfig, 0, 1, 0, 255, nil, 1)
	for _, tc := range []struct {
		b           *Batch
		lambda, tau float64
		want        string
	}{
		{one, 0.1, 0.07, "at least 2 samples"},
		{good, -1, 0.07, "lambda"},
		{good, 0.1, 0, "tau"},
		{&Batch{Task: 2, N: 2, In: good.In, Target: good.Target}, 0, 0, "task 2 out of range"},
		{&Batch{Task: 1, N: 2, In: good.In, Target: good.Target}, 0, 0, "target has"},
		{&Batch{Task: 0, N: 2, In: good.In[1:], Target: good.Target}, 0, 0, "input has"},
		{&Batch{Task: 0, N: 0}, 0, 0, "0 samples"},
	} {
		_, err := n.ForwardBackward(tc.b, tc.lambda, tc.tau, ops.Exec{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one saying %q", tc, err, tc.want)
		}
	}
	// A batch of one trains with lambda 0.
	if _, err := n.ForwardBackward(one, 0, 0.07, ops.Exec{}); err != nil {
		t.Error(err)
	}
}

func TestActivationBytesCountsTheBuffers(t *testing.T) {
	cfg := ipt.Config{NFeats: 8, PatchSize: 12, PatchDim: 3, NumHeads: 4, EncLayers: 2, DecLayers: 1, Scales: []int{4, 1}}
	a := newActivations(cfg, 3)
	saved := 4 * int64(len(a.saved))
	for _, c := range slices.Concat(a.encAttn, a.decSelf, a.decCross) {
		saved += c.Bytes()
	}
	scratch := 4 * int64(len(a.scr))
	if s, sc := ActivationBytes(cfg, 3); s != saved || sc != scratch {
		t.Errorf("ActivationBytes %d saved, %d scratch; the buffers hold %d, %d", s, sc, saved, scratch)
	}
}

func TestActivationBytesReleased(t *testing.T) {
	cfg := ipt.ReleasedConfig(2, 3, 4, 1, 1, 1)
	saved, scratch := ActivationBytes(cfg, 8)
	keys, shapes := cfg.ParamShapes()
	var params int64
	for _, k := range keys {
		params += int64(numel(shapes[k]))
	}
	// Params, grads and Adam's two moments.
	total := 4*4*params + saved + scratch
	t.Logf("released, batch 8: %d MB saved activations (%d MB a sample), %d MB scratch, %d MB parameters ×4; %d MB in all",
		saved>>20, saved/8>>20, scratch>>20, 4*params>>20, total>>20)
	if total >= 8e9 {
		t.Errorf("training the released config with batch 8 needs %d MB, over 8 GB", total>>20)
	}
}

// forwardFLOPs counts the floating-point operations (2 per multiply-add)
// of the forward of one sample of a task of scale s: every convolution,
// linear layer and attention product; the element-wise ops are left out.
func forwardFLOPs(c ipt.Config, s int) float64 {
	C, P, L, d := float64(c.NFeats), float64(c.PatchSize), float64(c.SeqLen()), float64(c.Dim())
	P2 := P * P
	f := 2 * (9*3*P2 + C*3*9*P2 + 4*C*C*25*P2) // sub_mean, head conv, 2 ResBlocks
	f += 2 * L * d * d                         // linear_encoding
	attn := 2 * (4*L*d*d + 2*L*L*d)            // projections; scores and context
	ffn := 2 * 8 * L * d * d
	f += float64(c.EncLayers)*(attn+ffn) + float64(c.DecLayers)*(2*attn+ffn) + ffn // + mlp_head
	S2 := float64(s*s) * P2
	switch s {
	case 2, 3:
		f += 2 * float64(s*s) * C * C * 9 * P2
	case 4:
		f += 2 * (4*C*C*9*P2 + 4*C*C*9*4*P2)
	}
	f += 2 * (3*C*9*S2 + 9*S2) // last conv, add_mean
	return f
}

// BenchmarkForwardBackward reports samples/s of a whole training step's
// forward and backward (lambda 0.1) at 1 and 2 threads, for the ×2 task of
// the configs of `ipt train --config`, and the forward's
// and the backward's GFLOP per CPU-second as a percentage of one core's FMA
// peak (ops.PeakGFLOPS): CPU time, not wall time, so that other load on the
// machine counts less. The backward is taken as twice the forward's FLOPs
// (dX and dW per product; the attention's four backward products per two
// forward). The released config runs a batch of 2 (each step takes seconds).
//
// %sus-fwd and %sus-bwd are the same against one core's sustained FMA rate
// (ops.SustainedGFLOPS over a second): the best burst that ops.PeakGFLOPS
// keeps is about 10% above what a long computation gets on a virtual machine
// (results/2026-11-30e-sustained-peak.txt).
func BenchmarkForwardBackward(b *testing.B) {
	peak := ops.PeakGFLOPS(200 * time.Millisecond)
	sustained := ops.SustainedGFLOPS(time.Second, 1)
	for _, bc := range []struct {
		name  string
		cfg   ipt.Config
		batch int
	}{
		{"tiny", ipt.Config{NFeats: 16, PatchSize: 24, PatchDim: 3, NumHeads: 4, EncLayers: 1, DecLayers: 1, Scales: []int{2}}, 8},
		{"small", ipt.Config{NFeats: 32, PatchSize: 48, PatchDim: 3, NumHeads: 8, EncLayers: 2, DecLayers: 2, Scales: []int{2}}, 8},
		{"released", ipt.ReleasedConfig(2), 2},
	} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", bc.name, threads), func(b *testing.B) {
				n, err := NewNet(bc.cfg, 1)
				if err != nil {
					b.Fatal(err)
				}
				batch := randomBatch(bc.cfg, 0, bc.batch, 0, 255, nil, 1)
				e := ops.Exec{Threads: threads}
				if _, err := n.ForwardBackward(batch, 0.1, 0.07, e); err != nil { // allocates the activations
					b.Fatal(err)
				}
				// Each iteration runs a forward on its own, then a step.
				var fwdCPU, allCPU, wall time.Duration
				for b.Loop() {
					c0 := cpuTime()
					n.forward(batch, n.acts, e)
					c1, t1 := cpuTime(), time.Now()
					if _, err := n.ForwardBackward(batch, 0.1, 0.07, e); err != nil {
						b.Fatal(err)
					}
					wall += time.Since(t1)
					fwdCPU += c1 - c0
					allCPU += cpuTime() - c1
				}
				steps := float64(b.N)
				b.ReportMetric(steps*float64(bc.batch)/wall.Seconds(), "samples/s")
				if fwdCPU > 0 && allCPU > fwdCPU {
					fl := forwardFLOPs(bc.cfg, bc.cfg.Scales[0]) * float64(bc.batch) * steps
					b.ReportMetric(100*fl/fwdCPU.Seconds()/1e9/peak, "%peak-fwd")
					b.ReportMetric(100*2*fl/(allCPU-fwdCPU).Seconds()/1e9/peak, "%peak-bwd")
					b.ReportMetric(100*fl/fwdCPU.Seconds()/1e9/sustained, "%sus-fwd")
					b.ReportMetric(100*2*fl/(allCPU-fwdCPU).Seconds()/1e9/sustained, "%sus-bwd")
				}
			})
		}
	}
}
