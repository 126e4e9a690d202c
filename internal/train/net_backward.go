package train

// What the forward keeps for the backward (activations.saved), in the order
// the forward writes it; N samples, T = N·L·d values of a token matrix,
// tile = C·P·P. Every entry is the input of an op whose backward needs it
// (a conv's or linear's input for its weight gradient, a ReLU's output for
// its mask, a layer norm's input for its statistics), nothing else:
//
//	head, per sample   colour [3,P,P] (sub_mean output), f0 (head conv output),
//	                   r1 (ReLU in ResBlock 1), f1 (ResBlock 1 output), r2 (ReLU in ResBlock 2)
//	body, batch        u [T] (unfolded head features: linear_encoding's input)
//	                   the residual stream before and after each sub-layer: 2E+3D+1 × T
//	                   (stream[0] = x + pos, stream[2E] = encoder output = the decoder's memory,
//	                   the last = decoder output = mlp_head's input and the contrastive features)
//	  encoder layer    s1 = norm1(x), s2 = norm2(x) [T each], FFN hidden after ReLU [4T],
//	                   attention cache (Q, K, V, context [T each], probabilities [N·heads·L²])
//	  decoder layer    s1 = norm1(x), q1 = s1 + query, s2 = norm2(x), q2 = s2 + query, s3 = norm3(x)
//	                   [T each], FFN hidden [4T], two attention caches (self, cross)
//	                   mlp_head hidden [4T], the body output tokens [T]
//	tail, per sample   r [tile] (folded tokens + head features), the pixel-shuffle outputs,
//	                   y (last conv output), the output
//
// ActivationBytes gives the total; at the released size (C 64, P 48, p 3,
// 12 heads, 12+12 layers) it is 345 MiB a sample (2.7 GiB at batch 8; see
// TestActivationBytesReleased), 55% of it the attention caches.
//
// The backward runs the forward in reverse: the losses' gradients into
// the outputs, the tails per sample (their gradient with respect to the
// folded tokens and the head features), the body on the whole batch as one
// [N·L, d] token matrix, the heads per sample. Parameter gradients are added
// into n.Grads by the ops' backwards, which add; per-sample ones in sample
// order, so the result does not depend on the thread count. The per-sample
// parts run samples side by side on the CPU (persample.go), keeping each
// conv's output gradient (dHead, dTail) for the weight gradients, which
// follow layer by layer.

import (
	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/ops"
)

// ForwardBackward runs the batch, computes L1 (mean |out − target|) +
// lambda·contrastive (paper Eq. 5 on the decoder's output tokens, cosine
// similarity / tau; needs N ≥ 2), and ADDS the gradients of Total into
// n.Grads. e runs the ops: the net's backend (Backend, MoveTo) or, for a
// net on the CPU, any ops.CPU, whose Threads do not change a bit of the
// result. b's buffers are e's too; their values must be in place (written
// after a Sync) when it is called.
func (n *Net) ForwardBackward(b *Batch, lambda, tau float64, e ops.Backend) (Loss, error) {
	return n.forwardBackward(b, 1, lambda, tau, e)
}

// forwardBackward is ForwardBackward with a weight on the L1 term (the
// tests take the contrastive term alone with l1 = 0).
func (n *Net) forwardBackward(b *Batch, l1, lambda, tau float64, e ops.Backend) (Loss, error) {
	if err := n.check(b, lambda, tau); err != nil {
		return Loss{}, err
	}
	c := n.Config
	a := n.activationsFor(b.N)
	n.forward(b, a, e)
	N, L, d := b.N, c.SeqLen(), c.Dim()
	T := N * L * d
	s := c.Scales[b.Task]
	outLen := N * ipt.Colors * c.PatchSize * s * c.PatchSize * s
	var loss Loss
	loss.L1 = e.L1Loss(a.out[:outLen], b.Target, a.dout[:outLen], l1)
	// dmem holds lambda·∂contrastive/∂xdec until the backward reaches xdec.
	e.Zero(a.dmem[:T])
	if lambda > 0 {
		xdec := a.stream[len(a.stream)-1]
		loss.Contrastive = e.ContrastiveLoss(xdec, a.dmem, N, L, d, tau, lambda, a.feat, a.tmp, a.contrast)
	}
	loss.Total = l1*loss.L1 + lambda*loss.Contrastive
	e.Zero(a.dx[:T])
	n.tailsBackward(b, a, e)
	n.bodyBackward(b.Task, N, a, e)
	n.headsBackward(b, a, e)
	return loss, nil
}

// tailsBackward takes a.dout back through each sample's tail: the gradient
// of the tail input r goes to the body output tokens (a.dx, through Fold)
// and to the head features (a.dfeat, the residual). The samples' input
// gradients first, in parallel, then the weight gradients layer by layer
// (persample.go).
func (n *Net) tailsBackward(b *Batch, a *activations, e ops.Backend) {
	c, p, g := n.Config, &n.p, &n.g
	C, P, L, d := c.NFeats, c.PatchSize, c.SeqLen(), c.Dim()
	tile := C * P * P
	t, gt := &p.tails[b.Task], &g.tails[b.Task]
	s := t.scale
	oplane := ipt.Colors * P * s * P * s
	z1, z2, _, outMax := tailSizes(c)
	k := len(t.up)
	// The inputs of the last conv (k) and of each upsampler (j < k), and
	// their sides: r, then the shuffle outputs.
	inputs := func(i int) (ins [3][]float32, sides [3]int) {
		ins[0], sides[0] = a.r[i*tile:(i+1)*tile], P
		for j := range t.up {
			z := a.z1
			if j == 1 {
				z = a.z2
			}
			sd := sides[j] * t.shuffle
			ins[j+1], sides[j+1] = z[i*C*sd*sd:(i+1)*C*sd*sd], sd
		}
		return
	}
	a.parallel(b.N, e, func(i int, e ops.Backend, l *lane) {
		back := func(dIn, dOut, in []float32, cv convView, side int) {
			e.Conv2dBackward(dIn, nil, nil, dOut, in, cv.cin, side, side, cv.w, cv.cout, cv.k, l.conv)
		}
		ins, sides := inputs(i)
		dys, dus := a.tailSlots(i, outMax, z1, z2)
		// out = add_mean(y): fixed weights, only the input gradient.
		dy := dys[:oplane]
		e.Zero(dy)
		back(dy, a.dout[i*oplane:(i+1)*oplane], a.y[i*oplane:(i+1)*oplane], p.addMean, sides[k])
		bufA, bufB := l.dc1, l.dc2
		dz := bufA[:C*sides[k]*sides[k]]
		e.Zero(dz)
		back(dz, dy, ins[k], t.last, sides[k])
		for j := k - 1; j >= 0; j-- {
			sd := sides[j]
			du := dus[j][:t.up[j].cout*sd*sd]
			e.Zero(du)
			e.PixelShuffleBackward(du, dz, C, sd, sd, t.shuffle)
			dprev := bufB[:C*sd*sd]
			e.Zero(dprev)
			back(dprev, du, ins[j], t.up[j], sd)
			dz, bufA, bufB = dprev, bufB, bufA
		}
		// dz is now ∂/∂r: r = Fold(tokens) + feat.
		e.Copy(a.dfeat[i*tile:(i+1)*tile], dz[:tile])
		e.FoldBackward(a.dx[i*L*d:(i+1)*L*d], dz[:tile], C, P, P, c.PatchDim)
	})
	// Layer k is the last conv, j < k the upsamplers.
	a.parallel(k+1, e, func(layer int, e ops.Backend, l *lane) {
		cv, gv := t.last, gt.last
		if layer < k {
			cv, gv = t.up[layer], gt.up[layer]
		}
		for i := range b.N {
			ins, sides := inputs(i)
			dys, dus := a.tailSlots(i, outMax, z1, z2)
			dOut := dys[:oplane]
			if layer < k {
				dOut = dus[layer][:cv.cout*sides[layer]*sides[layer]]
			}
			e.Conv2dBackward(nil, gv.w, gv.b, dOut, ins[layer], cv.cin, sides[layer], sides[layer], cv.w, cv.cout, cv.k, l.conv)
		}
	})
}

// bodyBackward takes a.dx (∂/∂ body output tokens) back through the
// transformer, with a.dmem holding the contrastive gradient at the decoder
// output on entry, and adds the result, through Unfold, into a.dfeat.
func (n *Net) bodyBackward(task, N int, a *activations, e ops.Backend) {
	c, p, g := n.Config, &n.p, &n.g
	C, P, L, d, H := c.NFeats, c.PatchSize, c.SeqLen(), c.Dim(), c.NumHeads
	rows := N * L
	T := rows * d
	dx, dmem, ds, dq := a.dx[:T], a.dmem[:T], a.ds[:T], a.dq[:T]
	// tok = xdec + mlp_head(xdec), then the contrastive term at xdec.
	xdec := a.stream[len(a.stream)-1]
	ffnBackward(dx, dx, xdec, a.mlpH, rows, d, &p.mlp, &g.mlp, a, e)
	e.Add(dx, dmem)
	e.Zero(dmem)
	E := len(p.enc)
	mem := a.stream[2*E]
	dqpos := g.query[task*L*d : (task+1)*L*d]
	for l := len(p.dec) - 1; l >= 0; l-- {
		lv, lg := &p.dec[l], &g.dec[l]
		x0, x1, x2 := a.stream[2*E+3*l], a.stream[2*E+3*l+1], a.stream[2*E+3*l+2]
		s1, q1, q2, s3 := a.decS1[l], a.decQ1[l], a.decQ2[l], a.decS3[l]
		// x3 = x2 + ffn(norm3(x2))
		e.Zero(ds)
		ffnBackward(dx, ds, s3, a.decH[l], rows, d, &lv.ffn, &lg.ffn, a, e)
		e.LayerNormBackward(dx, lg.norm3.gamma, lg.norm3.beta, ds, x2, rows, d, lv.norm3.gamma, lnEps)
		// x2 = x1 + cross(q = norm2(x1) + query, k = v = mem)
		e.Zero(dq)
		e.MultiHeadAttentionBackward(dq, dmem, dmem, lg.cross.inProj, lg.cross.outProj, dx, q2, mem, mem, N, L, L, d, H, lv.cross.inProj, lv.cross.outProj, a.decCross[l], a.agrad)
		addQueryGrad(dqpos, dq, e)
		e.LayerNormBackward(dx, lg.norm2.gamma, lg.norm2.beta, dq, x1, rows, d, lv.norm2.gamma, lnEps)
		// x1 = x0 + self(q = k = norm1(x0) + query, v = norm1(x0))
		e.Zero(dq)
		e.Zero(ds)
		e.MultiHeadAttentionBackward(dq, dq, ds, lg.self.inProj, lg.self.outProj, dx, q1, q1, s1, N, L, L, d, H, lv.self.inProj, lv.self.outProj, a.decSelf[l], a.agrad)
		addQueryGrad(dqpos, dq, e)
		e.Add(ds, dq)
		e.LayerNormBackward(dx, lg.norm1.gamma, lg.norm1.beta, ds, x0, rows, d, lv.norm1.gamma, lnEps)
	}
	// The encoder output is the decoder's input and its memory.
	e.Add(dx, dmem)
	for l := E - 1; l >= 0; l-- {
		lv, lg := &p.enc[l], &g.enc[l]
		xin, xmid := a.stream[2*l], a.stream[2*l+1]
		s1, s2 := a.encS1[l], a.encS2[l]
		e.Zero(ds)
		ffnBackward(dx, ds, s2, a.encH[l], rows, d, &lv.ffn, &lg.ffn, a, e)
		e.LayerNormBackward(dx, lg.norm2.gamma, lg.norm2.beta, ds, xmid, rows, d, lv.norm2.gamma, lnEps)
		e.Zero(ds)
		e.MultiHeadAttentionBackward(ds, ds, ds, lg.self.inProj, lg.self.outProj, dx, s1, s1, s1, N, L, L, d, H, lv.self.inProj, lv.self.outProj, a.encAttn[l], a.agrad)
		e.LayerNormBackward(dx, lg.norm1.gamma, lg.norm1.beta, ds, xin, rows, d, lv.norm1.gamma, lnEps)
	}
	// stream[0] = linear_encoding(u) + u + pos
	for s := range N {
		e.Add(g.pos, dx[s*L*d:(s+1)*L*d])
	}
	du := dq
	e.Copy(du, dx)
	e.LinearBackward(du, g.linW, g.linB, dx, a.u, rows, d, p.linW, d)
	for s := range N {
		e.UnfoldBackward(a.dfeat[s*C*P*P:(s+1)*C*P*P], du[s*L*d:(s+1)*L*d], C, P, P, c.PatchDim)
	}
}

// ffnBackward is the backward of linear2(relu(linear1(in))) (hid the saved
// ReLU output): given dOut, it adds the gradient with respect to in into dIn
// and the weights' into fg. The residual around it is the caller's: dOut is
// the residual stream's gradient, which passes through unchanged. dIn may
// be dOut (mlp_head, whose input is the stream itself): dOut is read only
// before dIn is written.
func ffnBackward(dOut, dIn, in, hid []float32, rows, d int, f, fg *ffnView, a *activations, e ops.Backend) {
	dh, da := a.dh[:rows*4*d], a.da[:rows*4*d]
	e.Zero(dh)
	e.LinearBackward(dh, fg.w2, fg.b2, dOut, hid, rows, 4*d, f.w2, d)
	e.ReLUBackwardTo(da, dh, hid)
	e.LinearBackward(dIn, fg.w1, fg.b1, da, in, rows, d, f.w1, 4*d)
}

// addQueryGrad adds the query gradient of every sequence of dq ([N·L, d])
// into dqpos ([L·d]), in sequence order.
func addQueryGrad(dqpos, dq []float32, e ops.Backend) {
	k := len(dqpos)
	for off := 0; off+k <= len(dq); off += k {
		e.Add(dqpos, dq[off:off+k])
	}
}

// headsBackward takes a.dfeat (∂/∂ head output) back through each sample's
// head, adding the weight gradients of its convs: the samples first, in
// parallel, keeping each conv's output gradient, then the weight gradients
// layer by layer (persample.go).
func (n *Net) headsBackward(b *Batch, a *activations, e ops.Backend) {
	c := n.Config
	C, P := c.NFeats, c.PatchSize
	tile, plane := C*P*P, ipt.Colors*P*P
	h, gh := &n.p.heads[b.Task], &n.g.heads[b.Task]
	ins := func(i int) [2][]float32 { return [2][]float32{a.f0[i*tile : (i+1)*tile], a.f1[i*tile : (i+1)*tile]} }
	relus := func(i int) [2][]float32 { return [2][]float32{a.r1[i*tile : (i+1)*tile], a.r2[i*tile : (i+1)*tile]} }
	a.parallel(b.N, e, func(i int, e ops.Backend, l *lane) {
		back := func(dIn, dOut, in []float32, cv convView) {
			e.Conv2dBackward(dIn, nil, nil, dOut, in, cv.cin, P, P, cv.w, cv.cout, cv.k, l.conv)
		}
		df := a.dfeat[i*tile : (i+1)*tile]
		dr2, da := a.headSlots(i, tile)
		for r := 1; r >= 0; r-- {
			// out = in + conv2(relu(conv1(in))): df is conv 2's output
			// gradient, kept before conv 1's input gradient is added to it.
			e.Copy(dr2[r], df)
			dr := l.dc1[:tile]
			e.Zero(dr)
			back(dr, df, relus(i)[r], h.res[r][1])
			e.ReLUBackwardTo(da[r], dr, relus(i)[r])
			back(df, da[r], ins(i)[r], h.res[r][0])
		}
	})
	// The layers in the order the sequential loop reached them: ResBlock 2's
	// conv 2 and conv 1, ResBlock 1's, then the first conv (whose output
	// gradient is the final df).
	a.parallel(5, e, func(layer int, e ops.Backend, l *lane) {
		for i := range b.N {
			dr2, da := a.headSlots(i, tile)
			var cv, gv convView
			var dOut, in []float32
			switch r := 1 - layer/2; {
			case layer == 4:
				cv, gv, dOut, in = h.first, gh.first, a.dfeat[i*tile:(i+1)*tile], a.colour[i*plane:(i+1)*plane]
			case layer%2 == 0:
				cv, gv, dOut, in = h.res[r][1], gh.res[r][1], dr2[r], relus(i)[r]
			default:
				cv, gv, dOut, in = h.res[r][0], gh.res[r][0], da[r], ins(i)[r]
			}
			e.Conv2dBackward(nil, gv.w, gv.b, dOut, in, cv.cin, P, P, cv.w, cv.cout, cv.k, l.conv)
		}
	})
}
