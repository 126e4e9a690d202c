package ipt

import (
	"fmt"

	"github.com/ipt-go/ipt/internal/ops"
)

// Workspace holds every buffer one forward pass of up to Batch tiles needs,
// on the backend of the model it was made for. A workspace is used by one
// goroutine at a time; keep one per worker and reuse it, so steady-state
// inference allocates nothing.
type Workspace struct {
	Batch int
	// Exec sets the threads of the matrix products of a forward pass run
	// in this workspace on the CPU (0: ops.Threads()). The output does not
	// depend on it. Another backend ignores it.
	Exec  ops.Exec
	owner *Model      // the model it was sized for
	be    ops.Backend // its backend when it was made; nil: the CPU

	x, t1, t2  []float32 // [C, P, P] per-tile feature maps
	feat       []float32 // [B, C, P, P] head outputs
	conv       []float32 // im2col scratch
	tok, s2, q []float32 // [B·L, d] token matrices
	mem, att   []float32
	hidden     []float32 // [B·L, 4d]
	attn       *ops.AttentionScratch
	up1, up2   []float32 // tail buffers
	colour     []float32 // [3, P, P] mean-shifted input tile
}

// workspaceSizes gives the length of every buffer of a workspace for
// batch tiles: per-tile maps, token matrices, im2col scratch, tail buffers.
func (c Config) workspaceSizes(batch int) (tileMap, feat, tokens, convScratch, up int) {
	C, P := c.NFeats, c.PatchSize
	tileMap = C * P * P
	feat = batch * tileMap
	tokens = batch * c.SeqLen() * c.Dim()
	// The largest unrolled convolution is a 5×5 head conv at P×P or a 3×3
	// tail conv at the largest intermediate size; the largest tail tensor
	// has s²·C·P² values, before or after shuffling.
	convScratch = ops.Conv2dScratch(C, P, P, 5)
	up = tileMap
	for _, s := range c.Scales {
		up = max(up, s*s*tileMap)
		convScratch = max(convScratch, ops.Conv2dScratch(C, s*P, s*P, 3))
		if s == 4 {
			convScratch = max(convScratch, ops.Conv2dScratch(C, 2*P, 2*P, 3))
		}
	}
	return
}

// WorkspaceBytes is the memory one workspace for batch tiles takes.
func (c Config) WorkspaceBytes(batch int) int64 {
	tileMap, feat, tokens, convScratch, up := c.workspaceSizes(batch)
	// 3 tile maps, the features, 5 token matrices + 4 in the attention
	// scratch + the 4×-wide hidden layer, L² attention scores, two tail
	// buffers and the mean-shifted input tile.
	L := c.SeqLen()
	n := 3*tileMap + feat + (5+4+4)*tokens + L*L + convScratch + 2*up + Colors*c.PatchSize*c.PatchSize
	return 4 * int64(n)
}

// NewWorkspace sizes a workspace for batches of up to batch tiles of m, its
// buffers from the Alloc of m's backend (Go slices on the CPU).
func (m *Model) NewWorkspace(batch int) *Workspace {
	c := m.Config
	tileMap, feat, tokens, convScratch, up := c.workspaceSizes(batch)
	L, d := c.SeqLen(), c.Dim()
	alloc := func(n int) []float32 { return make([]float32, n) }
	var attn *ops.AttentionScratch
	if m.be != nil {
		alloc = m.be.Alloc
		attn = m.be.NewAttentionScratch(batch, L, L, d, c.NumHeads)
	} else {
		attn = ops.NewAttentionScratch(batch, L, L, d)
	}
	return &Workspace{
		Batch:  batch,
		owner:  m,
		be:     m.be,
		x:      alloc(tileMap),
		t1:     alloc(tileMap),
		t2:     alloc(tileMap),
		feat:   alloc(feat),
		conv:   alloc(convScratch),
		tok:    alloc(tokens),
		s2:     alloc(tokens),
		q:      alloc(tokens),
		mem:    alloc(tokens),
		att:    alloc(tokens),
		hidden: alloc(4 * tokens),
		attn:   attn,
		up1:    alloc(up),
		up2:    alloc(up),
		colour: alloc(Colors * c.PatchSize * c.PatchSize),
	}
}

// Free returns the workspace's buffers to its backend (on the CPU it does
// nothing: the garbage collector frees them). The workspace must not be used
// after, nor freed while queued work may use it.
func (ws *Workspace) Free() {
	if ws.be == nil {
		return
	}
	q, k, v, ctx, scores, sums := ws.attn.Buffers()
	for _, buf := range [][]float32{ws.x, ws.t1, ws.t2, ws.feat, ws.conv, ws.tok, ws.s2, ws.q, ws.mem, ws.att, ws.hidden,
		ws.up1, ws.up2, ws.colour, q, k, v, ctx, scores, sums} {
		ws.be.Free(buf)
	}
	*ws = Workspace{}
}

// backend is the backend the workspace's forward passes run on.
func (ws *Workspace) backend() ops.Backend {
	if ws.be != nil {
		return ws.be
	}
	return ws.Exec
}

// Forward runs task's head, the body and task's tail on n tiles: in is
// [n, 3, P, P] on the 0..255 scale, out receives [n, 3, P·s, P·s] (s the
// task's scale), unclamped. n must not exceed ws.Batch. On a backend other
// than the CPU, in and out are its buffers and Forward may return before
// the work is done: read out after the backend's Sync.
func (m *Model) Forward(task int, in []float32, n int, out []float32, ws *Workspace) error {
	c := m.Config
	if task < 0 || task >= c.Tasks() {
		return fmt.Errorf("task %d out of range: the model has %d", task, c.Tasks())
	}
	if ws.owner != m || n > ws.Batch {
		return fmt.Errorf("forward: workspace for %d tiles of another model used for %d tiles", ws.Batch, n)
	}
	if ws.be != m.be {
		return fmt.Errorf("forward: workspace made before the model moved to another backend")
	}
	P, C, s := c.PatchSize, c.NFeats, c.Scales[task]
	plane, fplane := Colors*P*P, C*P*P
	oplane := Colors * P * s * P * s
	if len(in) < n*plane || len(out) < n*oplane {
		return fmt.Errorf("forward: buffers too small for %d tiles", n)
	}
	be := ws.backend()
	h := &m.heads[task]
	for b := 0; b < n; b++ {
		m.conv1(be, ws.colour, in[b*plane:(b+1)*plane], m.subMean, P, P, ws)
		f := ws.feat[b*fplane : (b+1)*fplane]
		m.conv1(be, f, ws.colour, h.first, P, P, ws)
		for r := range h.res {
			m.resBlock(be, f, &h.res[r], ws)
		}
	}
	m.body(be, task, n, ws)
	t := &m.tails[task]
	L, d := c.SeqLen(), c.Dim()
	for b := 0; b < n; b++ {
		// Fold tile b's tokens back to [C, P, P] and add the residual f.
		r := ws.x
		be.Fold(r, ws.tok[b*L*d:(b+1)*L*d], C, P, P, c.PatchDim)
		be.Add(r, ws.feat[b*fplane:(b+1)*fplane])
		m.tail(be, out[b*oplane:(b+1)*oplane], r, t, ws)
	}
	return nil
}

func (m *Model) conv1(be ops.Backend, out, in []float32, cv conv, h, w int, ws *Workspace) {
	be.Conv2d(out, in, cv.cin, h, w, cv.w, cv.b, cv.cout, cv.k, ws.conv)
}

// resBlock computes f += conv(relu(conv(f))) in place.
func (m *Model) resBlock(be ops.Backend, f []float32, rb *resBlock, ws *Workspace) {
	P := m.Config.PatchSize
	m.conv1(be, ws.t1, f, rb.c1, P, P, ws)
	be.ReLU(ws.t1)
	m.conv1(be, ws.t2, ws.t1, rb.c2, P, P, ws)
	be.Add(f, ws.t2)
}

// body runs the transformer on the head features of n tiles (ws.feat) and
// leaves its output tokens, before folding, in ws.tok.
func (m *Model) body(be ops.Backend, task, n int, ws *Workspace) {
	c := m.Config
	C, P, p, d, L := c.NFeats, c.PatchSize, c.PatchDim, c.Dim(), c.SeqLen()
	rows := n * L
	tokens := rows * d
	x, s2, q, mem, att, hid := ws.tok[:tokens], ws.s2[:tokens], ws.q[:tokens], ws.mem[:tokens], ws.att[:tokens], ws.hidden[:4*tokens]
	for b := 0; b < n; b++ {
		be.Unfold(s2[b*L*d:(b+1)*L*d], ws.feat[b*C*P*P:(b+1)*C*P*P], C, P, P, p)
	}
	// x = linear_encoding(x) + x, then the position embedding.
	be.Linear(x, s2, rows, d, m.linEnc.w, m.linEnc.b, d)
	be.Add(x, s2)
	pos := m.pos[:L*d]
	for b := 0; b < n; b++ {
		be.Add(x[b*L*d:(b+1)*L*d], pos)
	}
	for i := range m.enc {
		l := &m.enc[i]
		be.LayerNorm(s2, x, rows, d, l.norm1.gamma, l.norm1.beta, 1e-5)
		be.MultiHeadAttention(att, s2, s2, s2, n, L, L, d, c.NumHeads, l.self.inProj, l.self.outProj, ws.attn)
		be.Add(x, att)
		be.LayerNorm(s2, x, rows, d, l.norm2.gamma, l.norm2.beta, 1e-5)
		m.feedForward(be, x, s2, rows, &l.ffn, hid, att)
	}
	// The encoder output is the decoder's target and, unchanged, its memory.
	be.Copy(mem, x)
	qpos := m.query[task*L*d : (task+1)*L*d]
	for i := range m.dec {
		l := &m.dec[i]
		be.LayerNorm(s2, x, rows, d, l.norm1.gamma, l.norm1.beta, 1e-5)
		addQuery(be, q, s2, qpos)
		be.MultiHeadAttention(att, q, q, s2, n, L, L, d, c.NumHeads, l.self.inProj, l.self.outProj, ws.attn)
		be.Add(x, att)
		be.LayerNorm(s2, x, rows, d, l.norm2.gamma, l.norm2.beta, 1e-5)
		addQuery(be, q, s2, qpos)
		be.MultiHeadAttention(att, q, mem, mem, n, L, L, d, c.NumHeads, l.cross.inProj, l.cross.outProj, ws.attn)
		be.Add(x, att)
		be.LayerNorm(s2, x, rows, d, l.norm3.gamma, l.norm3.beta, 1e-5)
		m.feedForward(be, x, s2, rows, &l.ffn, hid, att)
	}
	// x = mlp_head(x) + x
	m.feedForward(be, x, x, rows, &m.mlpHead, hid, att)
}

// feedForward computes linear2(relu(linear1(in))) for rows tokens and adds it
// to x, using hid and tmp as scratch. in may alias x.
func (m *Model) feedForward(be ops.Backend, x, in []float32, rows int, f *feedForward, hid, tmp []float32) {
	d := m.Config.Dim()
	be.Linear(hid, in, rows, d, f.w1, nil, 4*d)
	be.AddBiasReLU(hid[:rows*4*d], f.b1)
	be.Linear(tmp, hid, rows, 4*d, f.w2, f.b2, d)
	be.Add(x, tmp)
}

// addQuery sets q = t + qpos for every sequence in t ([n·L, d]).
func addQuery(be ops.Backend, q, t, qpos []float32) {
	n := len(qpos)
	for off := 0; off < len(t); off += n {
		be.AddTo(q[off:off+n], t[off:off+n], qpos)
	}
}

// tail maps body features r ([C, P, P]) to the task's output ([3, P·s, P·s]),
// adding the mean back.
func (m *Model) tail(be ops.Backend, out, r []float32, t *tail, ws *Workspace) {
	C, side := m.Config.NFeats, m.Config.PatchSize
	cur := r
	for _, up := range t.up {
		m.conv1(be, ws.up1, cur, up, side, side, ws)
		be.PixelShuffle(ws.up2, ws.up1, C, side, side, t.shuffle)
		side *= t.shuffle
		cur = ws.up2
	}
	m.conv1(be, ws.up1, cur, t.last, side, side, ws)
	m.conv1(be, out, ws.up1[:Colors*side*side], m.addMean, side, side, ws)
}
