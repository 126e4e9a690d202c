package train

import (
	"fmt"
	"math"
	"slices"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/ops"
)

// Batch is one task's samples: In [N, 3, P, P] (0..255), Target
// [N, 3, P·s, P·s] (s the task's scale). They are buffers of the backend
// that runs the step (its Alloc, or sub-slices), filled on the host before
// the step starts, when no queued work uses them (after its Sync): see
// Run.fillBatch.
type Batch struct {
	Task, N    int
	In, Target []float32
}

// Loss is the value of one batch's loss: L1 (mean |out − target|), the
// contrastive term (0 when lambda is 0) and Total = L1 + lambda·Contrastive.
type Loss struct{ L1, Contrastive, Total float64 }

// lnEps is the layer norms' epsilon (PyTorch's default, the authors' value).
const lnEps = 1e-5

// activations holds what one forward pass of a batch keeps for the backward
// (saved, one block; the list is at the top of net_backward.go) and the
// buffers both passes use as scratch (scratch, another block). It is sized
// for batch samples of any task of the config.
type activations struct {
	batch      int
	saved, scr []float32

	// Saved, per sample [N, …] where the convs run per sample.
	colour, f0, r1, f1, r2 []float32 // head: mean-shifted input, ResBlock inputs and ReLU outputs
	u                      []float32 // [N·L, d] unfolded head features (linear_encoding's input)
	stream                 [][]float32
	encS1, encS2           [][]float32 // layer-norm outputs (attention and FFN inputs)
	encH                   [][]float32 // [N·L, 4d] FFN hidden, after ReLU
	decS1, decQ1           [][]float32 // norm1 output; + query (self-attention q and k)
	decS2, decQ2           [][]float32 // norm2 output; + query (cross-attention q)
	decS3, decH            [][]float32
	mlpH                   []float32 // mlp_head hidden, after ReLU
	tok                    []float32 // body output tokens
	r                      []float32 // [N, C, P, P] tail input (folded tokens + head features)
	z1, z2                 []float32 // [N, C, …] pixel-shuffle outputs (inputs of the next conv)
	y, out                 []float32 // last conv output before add_mean; the output
	encAttn, decSelf       []*ops.AttentionCache
	decCross               []*ops.AttentionCache

	// Scratch.
	att, tmp       []float32 // [N·L, d]
	conv, up       []float32 // im2col; an upsampler conv's output before shuffling
	dx, dmem       []float32 // [N·L, d] gradients of the residual stream and of the memory
	ds, dq         []float32
	dh, da         []float32 // [N·L, 4d]
	dfeat, dout    []float32 // [N, C, P, P]; [N, 3, P·s, P·s]
	dc1, dc2       []float32 // per-sample conv gradients, the largest map of a tail
	feat, contrast []float32 // contrastive: normalised tokens [N·L, d], similarities [N·L, N·L]
	agrad          *ops.AttentionGrad
	// The output gradients of the heads' and tails' convolutions, kept for
	// their weight gradients (persample.go): per sample, 4 maps [C, P, P]
	// of a head (each ResBlock's two convs) and a tail's 3 (the last conv's
	// and up to two upsamplers').
	dHead, dTail []float32
	lanes        []*lane // per-worker scratch of the per-sample convs; lane 0 is the buffers above
}

// tailSizes gives, per sample, the largest pixel-shuffle outputs of the
// config's tails (first and second stage), the largest pre-shuffle conv
// output, and the largest output plane count (3·(P·s)²).
func tailSizes(c ipt.Config) (z1, z2, up, out int) {
	C, P := c.NFeats, c.PatchSize
	for _, s := range c.Scales {
		out = max(out, ipt.Colors*s*s*P*P)
		switch s {
		case 2, 3:
			z1 = max(z1, C*s*s*P*P)
			up = max(up, C*s*s*P*P)
		case 4:
			z1 = max(z1, C*4*P*P)
			z2 = max(z2, C*16*P*P)
			up = max(up, C*4*4*P*P)
		}
	}
	return
}

// convScratch is the scratch length the largest convolution of the config
// needs on be (on the CPU the im2col, as ipt's workspace sizes it).
func convScratch(c ipt.Config, be ops.Backend) int {
	C, P := c.NFeats, c.PatchSize
	n := be.Conv2dScratch(C, P, P, 5)
	for _, s := range c.Scales {
		n = max(n, be.Conv2dScratch(C, s*P, s*P, 3))
		if s == 4 {
			n = max(n, be.Conv2dScratch(C, 2*P, 2*P, 3))
		}
	}
	return n
}

// layout cuts the saved and the scratch blocks with the two take functions
// (called first to count, then to carve), the conv scratch sized for be.
func (a *activations) layout(c ipt.Config, N int, be ops.Backend, save, scratch func(int) []float32) {
	C, P, L, d := c.NFeats, c.PatchSize, c.SeqLen(), c.Dim()
	E, D := c.EncLayers, c.DecLayers
	T := N * L * d
	tile := C * P * P
	z1, z2, up, out := tailSizes(c)
	a.colour = save(N * ipt.Colors * P * P)
	a.f0, a.r1, a.f1, a.r2 = save(N*tile), save(N*tile), save(N*tile), save(N*tile)
	a.u = save(T)
	a.stream = make([][]float32, 2*E+3*D+1)
	for i := range a.stream {
		a.stream[i] = save(T)
	}
	many := func(k, size int) [][]float32 {
		s := make([][]float32, k)
		for i := range s {
			s[i] = save(size)
		}
		return s
	}
	a.encS1, a.encS2, a.encH = many(E, T), many(E, T), many(E, 4*T)
	a.decS1, a.decQ1, a.decS2, a.decQ2, a.decS3, a.decH = many(D, T), many(D, T), many(D, T), many(D, T), many(D, T), many(D, 4*T)
	a.mlpH = save(4 * T)
	a.tok = save(T)
	a.r = save(N * tile)
	a.z1, a.z2 = save(N*z1), save(N*z2)
	a.y, a.out = save(N*out), save(N*out)

	a.att, a.tmp = scratch(T), scratch(T)
	a.conv, a.up = scratch(convScratch(c, be)), scratch(up)
	a.dx, a.dmem, a.ds, a.dq = scratch(T), scratch(T), scratch(T), scratch(T)
	a.dh, a.da = scratch(4*T), scratch(4*T)
	a.dfeat, a.dout = scratch(N*tile), scratch(N*out)
	big := max(tile, z1, z2, up, out)
	a.dc1, a.dc2 = scratch(big), scratch(big)
	a.feat = scratch(T)
	if N >= 2 {
		a.contrast = scratch(N * L * N * L)
	}
	a.dHead, a.dTail = scratch(N*4*tile), scratch(N*(out+z1+z2))
	a.lanes = []*lane{{conv: a.conv, tmp: a.tmp[:min(tile, len(a.tmp))], up: a.up, dc1: a.dc1, dc2: a.dc2}}
}

// headSlots returns sample s's kept output gradients of its head's convs:
// for ResBlock r, that of conv 2 (dr2[r]) and of conv 1 (da[r]).
func (a *activations) headSlots(s, tile int) (dr2, da [2][]float32) {
	h := a.dHead[s*4*tile : (s+1)*4*tile]
	for r := range 2 {
		dr2[r], da[r] = h[2*r*tile:(2*r+1)*tile], h[(2*r+1)*tile:(2*r+2)*tile]
	}
	return
}

// tailSlots returns sample s's kept output gradients of its tail's convs:
// the last conv's (dy, out values) and each upsampler's (du[j], z1 and z2
// values: an upsampler's output has as many values as its shuffle's).
func (a *activations) tailSlots(s, out, z1, z2 int) (dy []float32, du [2][]float32) {
	n := out + z1 + z2
	t := a.dTail[s*n : (s+1)*n]
	return t[:out], [2][]float32{t[out : out+z1], t[out+z1:]}
}

// newActivations sizes the buffers of a forward and backward pass of N
// samples of any task of c on the CPU.
func newActivations(c ipt.Config, N int) *activations { return newActivationsOn(ops.CPU{}, c, N) }

// newActivationsOn is newActivations with every buffer from be.
func newActivationsOn(be ops.Backend, c ipt.Config, N int) *activations {
	a := &activations{batch: N}
	var ns, nc int
	a.layout(c, N, be, func(k int) []float32 { ns += k; return nil }, func(k int) []float32 { nc += k; return nil })
	a.saved, a.scr = be.Alloc(ns), be.Alloc(nc)
	ns, nc = 0, 0
	carve := func(block []float32, off *int) func(int) []float32 {
		return func(k int) []float32 { s := block[*off : *off+k : *off+k]; *off += k; return s }
	}
	a.layout(c, N, be, carve(a.saved, &ns), carve(a.scr, &nc))
	L, d, H := c.SeqLen(), c.Dim(), c.NumHeads
	for range c.EncLayers {
		a.encAttn = append(a.encAttn, be.NewAttentionCache(N, L, L, d, H))
	}
	for range c.DecLayers {
		a.decSelf = append(a.decSelf, be.NewAttentionCache(N, L, L, d, H))
		a.decCross = append(a.decCross, be.NewAttentionCache(N, L, L, d, H))
	}
	a.agrad = be.NewAttentionGrad(N, L, L, d)
	return a
}

// free returns a's buffers to be, which allocated them.
func (a *activations) free(be ops.Backend) {
	be.Free(a.saved)
	be.Free(a.scr)
	for _, c := range slices.Concat(a.encAttn, a.decSelf, a.decCross) {
		q, k, v, p, ctx, sums := c.Buffers()
		for _, buf := range [][]float32{q, k, v, p, ctx, sums} {
			be.Free(buf)
		}
	}
	dCtx, dQKVT, dP := a.agrad.Buffers()
	for _, buf := range [][]float32{dCtx, dQKVT, dP} {
		be.Free(buf)
	}
}

// activationsFor returns activations for a batch of N on the net's
// backend, reusing the last ones when N is the same.
func (n *Net) activationsFor(N int) *activations {
	if n.acts == nil || n.acts.batch != N {
		if n.acts != nil {
			n.acts.free(n.be)
			n.acts = nil // let the old ones go before allocating
		}
		n.acts = newActivationsOn(n.be, n.Config, N)
	}
	return n.acts
}

// check reports a batch ForwardBackward cannot run.
func (n *Net) check(b *Batch, lambda, tau float64) error {
	c := n.Config
	if b.Task < 0 || b.Task >= c.Tasks() {
		return fmt.Errorf("batch: task %d out of range: the net has %d", b.Task, c.Tasks())
	}
	if b.N < 1 {
		return fmt.Errorf("batch: %d samples", b.N)
	}
	P, s := c.PatchSize, c.Scales[b.Task]
	if want := b.N * ipt.Colors * P * P; len(b.In) != want {
		return fmt.Errorf("batch: input has %d values, want %d (%d×3×%d×%d)", len(b.In), want, b.N, P, P)
	}
	if want := b.N * ipt.Colors * P * s * P * s; len(b.Target) != want {
		return fmt.Errorf("batch: target has %d values, want %d (%d×3×%d×%d)", len(b.Target), want, b.N, P*s, P*s)
	}
	if math.IsNaN(lambda) || lambda < 0 {
		return fmt.Errorf("contrastive weight lambda %g: want ≥ 0", lambda)
	}
	if lambda > 0 {
		if b.N < 2 {
			return fmt.Errorf("contrastive loss needs a batch of at least 2 samples (got %d); use lambda 0 for batches of 1", b.N)
		}
		if !(tau > 0) || math.IsInf(tau, 0) {
			return fmt.Errorf("contrastive temperature tau %g: want > 0", tau)
		}
	}
	return nil
}

// forward runs b through the net, keeping in a what the backward needs; the
// output is in a.out. It computes what ipt.Model.Forward computes, with the
// same ops in the same order, so the outputs are bit for bit the same.
func (n *Net) forward(b *Batch, a *activations, e ops.Backend) {
	c, p := n.Config, &n.p
	N, C, P, L, d := b.N, c.NFeats, c.PatchSize, c.SeqLen(), c.Dim()
	tile, plane := C*P*P, ipt.Colors*P*P
	h := &p.heads[b.Task]
	feat := a.dfeat // the head output is only needed until the tails; dfeat is free until the backward
	a.parallel(N, e, func(s int, e ops.Backend, l *lane) {
		conv := convOn(e, l)
		colour := a.colour[s*plane : (s+1)*plane]
		f0, r1, f1, r2 := a.f0[s*tile:(s+1)*tile], a.r1[s*tile:(s+1)*tile], a.f1[s*tile:(s+1)*tile], a.r2[s*tile:(s+1)*tile]
		f2 := feat[s*tile : (s+1)*tile]
		conv(colour, b.In[s*plane:(s+1)*plane], p.subMean, P)
		conv(f0, colour, h.first, P)
		resBlock(f1, f0, r1, l.tmp[:tile], h.res[0], conv, P, e)
		resBlock(f2, f1, r2, l.tmp[:tile], h.res[1], conv, P, e)
	})
	n.bodyForward(b.Task, N, feat, a, e)
	t := &p.tails[b.Task]
	s := t.scale
	oplane := ipt.Colors * P * s * P * s
	a.parallel(N, e, func(i int, e ops.Backend, l *lane) {
		conv := convOn(e, l)
		r := a.r[i*tile : (i+1)*tile]
		e.Fold(r, a.tok[i*L*d:(i+1)*L*d], C, P, P, c.PatchDim)
		e.Add(r, feat[i*tile:(i+1)*tile])
		cur, side := r, P
		for j, up := range t.up {
			conv(l.up, cur, up, side)
			z := a.z1
			if j == 1 {
				z = a.z2
			}
			size := C * side * t.shuffle * side * t.shuffle
			z = z[i*size : (i+1)*size]
			e.PixelShuffle(z, l.up, C, side, side, t.shuffle)
			cur, side = z, side*t.shuffle
		}
		y := a.y[i*oplane : (i+1)*oplane]
		conv(y, cur, t.last, side)
		conv(a.out[i*oplane:(i+1)*oplane], y, p.addMean, side)
	})
}

// convOn returns a conv that runs on e with l's im2col scratch.
func convOn(e ops.Backend, l *lane) func(out, in []float32, cv convView, side int) {
	return func(out, in []float32, cv convView, side int) {
		e.Conv2d(out, in, cv.cin, side, side, cv.w, cv.b, cv.cout, cv.k, l.conv)
	}
}

// resBlock computes out = in + conv2(relu(conv1(in))), keeping the ReLU
// output in r; tmp is scratch.
func resBlock(out, in, r, tmp []float32, rb [2]convView, conv func(out, in []float32, cv convView, side int), side int, e ops.Backend) {
	conv(r, in, rb[0], side)
	e.ReLU(r)
	conv(tmp, r, rb[1], side)
	e.AddTo(out, in, tmp)
}

// bodyForward runs the transformer on the head features feat ([N, C, P, P])
// and leaves its output tokens in a.tok.
func (n *Net) bodyForward(task, N int, feat []float32, a *activations, e ops.Backend) {
	c, p := n.Config, &n.p
	C, P, L, d, H := c.NFeats, c.PatchSize, c.SeqLen(), c.Dim(), c.NumHeads
	rows := N * L
	T := rows * d
	for s := range N {
		e.Unfold(a.u[s*L*d:(s+1)*L*d], feat[s*C*P*P:(s+1)*C*P*P], C, P, P, c.PatchDim)
	}
	x := a.stream[0]
	e.Linear(x, a.u, rows, d, p.linW, p.linB, d)
	e.Add(x, a.u)
	for s := range N {
		e.Add(x[s*L*d:(s+1)*L*d], p.pos)
	}
	att, tmp := a.att[:T], a.tmp[:T]
	for l := range p.enc {
		lv := &p.enc[l]
		xin, xmid, xout := a.stream[2*l], a.stream[2*l+1], a.stream[2*l+2]
		s1, s2 := a.encS1[l], a.encS2[l]
		e.LayerNorm(s1, xin, rows, d, lv.norm1.gamma, lv.norm1.beta, lnEps)
		e.MultiHeadAttentionTrain(att, s1, s1, s1, N, L, L, d, H, lv.self.inProj, lv.self.outProj, a.encAttn[l])
		e.AddTo(xmid, xin, att)
		e.LayerNorm(s2, xmid, rows, d, lv.norm2.gamma, lv.norm2.beta, lnEps)
		feedForward(xout, xmid, s2, a.encH[l], tmp, rows, d, &lv.ffn, e)
	}
	E := len(p.enc)
	mem := a.stream[2*E]
	qpos := p.query[task*L*d : (task+1)*L*d]
	for l := range p.dec {
		lv := &p.dec[l]
		x0, x1, x2, x3 := a.stream[2*E+3*l], a.stream[2*E+3*l+1], a.stream[2*E+3*l+2], a.stream[2*E+3*l+3]
		s1, q1, s2, q2, s3 := a.decS1[l], a.decQ1[l], a.decS2[l], a.decQ2[l], a.decS3[l]
		e.LayerNorm(s1, x0, rows, d, lv.norm1.gamma, lv.norm1.beta, lnEps)
		addQuery(q1, s1, qpos, e)
		e.MultiHeadAttentionTrain(att, q1, q1, s1, N, L, L, d, H, lv.self.inProj, lv.self.outProj, a.decSelf[l])
		e.AddTo(x1, x0, att)
		e.LayerNorm(s2, x1, rows, d, lv.norm2.gamma, lv.norm2.beta, lnEps)
		addQuery(q2, s2, qpos, e)
		e.MultiHeadAttentionTrain(att, q2, mem, mem, N, L, L, d, H, lv.cross.inProj, lv.cross.outProj, a.decCross[l])
		e.AddTo(x2, x1, att)
		e.LayerNorm(s3, x2, rows, d, lv.norm3.gamma, lv.norm3.beta, lnEps)
		feedForward(x3, x2, s3, a.decH[l], tmp, rows, d, &lv.ffn, e)
	}
	// tok = mlp_head(xdec) + xdec
	xdec := a.stream[len(a.stream)-1]
	feedForward(a.tok, xdec, xdec, a.mlpH, tmp, rows, d, &p.mlp, e)
}

// feedForward computes out = x + linear2(relu(linear1(in))) for rows
// tokens, keeping the ReLU output in hid; tmp is scratch. It runs the ops
// of ipt's feed-forward in the same order.
func feedForward(out, x, in, hid, tmp []float32, rows, d int, f *ffnView, e ops.Backend) {
	e.Linear(hid, in, rows, d, f.w1, nil, 4*d)
	e.AddBiasReLU(hid[:rows*4*d], f.b1)
	e.Linear(tmp, hid, rows, 4*d, f.w2, f.b2, d)
	e.AddTo(out, x, tmp)
}

// addQuery sets q = t + qpos for every sequence of t ([N·L, d]).
func addQuery(q, t, qpos []float32, e ops.Backend) {
	k := len(qpos)
	for off := 0; off < len(t); off += k {
		e.AddTo(q[off:off+k], t[off:off+k], qpos)
	}
}

// ActivationBytes is the memory the forward of a batch of N samples keeps
// for the backward (the list at the top of net_backward.go: the saved block
// and the attention caches, each Q, K, V and context [N·L, d] and the
// probabilities [N·heads·L²], as ops.AttentionCache.Bytes counts), and the scratch both passes use besides
// (token-sized buffers, im2col, the contrastive similarities [N·L]², the
// heads' and tails' kept gradients). On the CPU with T threads, up to T−1
// more lanes of per-sample conv scratch (persample.go: an im2col, an
// upsampler's output and two tail maps; 43 MB each at the released size)
// come on top.
func ActivationBytes(c ipt.Config, N int) (saved, scratch int64) {
	var a activations
	var ns, nc int64
	a.layout(c, N, ops.CPU{}, func(k int) []float32 { ns += int64(k); return nil }, func(k int) []float32 { nc += int64(k); return nil })
	L, d := int64(c.SeqLen()), int64(c.Dim())
	attn := int64(c.EncLayers + 2*c.DecLayers)
	ns += attn * (4*int64(N)*L*d + int64(N)*int64(c.NumHeads)*L*L + L) // + the softmax sums of one sequence
	return 4 * ns, 4 * nc
}
