package ipt

import (
	"fmt"

	"github.com/ipt-go/ipt/internal/ops"
)

// conv is a k×k convolution with bias, weight [cout, cin, k, k].
type conv struct {
	w, b         []float32
	cin, cout, k int
}

type resBlock struct{ c1, c2 conv }

type head struct {
	first conv
	res   [2]resBlock
}

// tail is the upsampler (zero, one or two conv + pixel-shuffle stages) and
// the final conv to colours.
type tail struct {
	scale   int
	up      []conv
	shuffle int // pixel-shuffle factor after each up conv
	last    conv
}

type attention struct{ inProj, outProj []float32 }

type layerNorm struct{ gamma, beta []float32 }

type feedForward struct{ w1, b1, w2, b2 []float32 }

type encoderLayer struct {
	self         attention
	ffn          feedForward
	norm1, norm2 layerNorm
}

type decoderLayer struct {
	self, cross         attention
	ffn                 feedForward
	norm1, norm2, norm3 layerNorm
}

// Model is an IPT network with weights, ready to run. It is read-only once
// built, so one Model serves any number of concurrent forward passes. Its
// weights are Go slices, for the CPU, until MoveTo puts them on another
// backend.
type Model struct {
	Config  Config
	subMean conv
	addMean conv
	heads   []head
	tails   []tail
	linEnc  struct{ w, b []float32 }
	mlpHead feedForward
	query   []float32 // [tasks, L·d]
	pos     []float32 // [L, d]
	enc     []encoderLayer
	dec     []decoderLayer

	raw map[string][]float32 // every tensor by state_dict key
	be  ops.Backend          // the backend holding raw; nil: the CPU
}

// NewModel builds a model from named float32 tensors whose shapes have been
// given in shapes. It checks strictly that the tensors are exactly those of
// cfg: a missing, unexpected or mis-shaped tensor is an error naming the key.
// The slices are used in place, not copied.
func NewModel(cfg Config, shapes map[string][]int, tensors map[string][]float32) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.checkShapes(shapes); err != nil {
		return nil, err
	}
	for k, s := range shapes {
		if t, ok := tensors[k]; ok && !ignored(k) && len(t) != numel(s) {
			return nil, fmt.Errorf("%s: %d values for shape %v", k, len(t), shape(s))
		}
	}
	m := &Model{Config: cfg}
	m.setTensors(tensors)
	return m, nil
}

// setTensors makes tensors the model's weights, in place.
func (m *Model) setTensors(tensors map[string][]float32) {
	cfg := m.Config
	m.raw = tensors
	m.heads, m.tails, m.enc, m.dec = nil, nil, nil, nil
	get := func(k string) []float32 { return tensors[k] }
	mkConv := func(prefix string, cin, cout, k int) conv {
		return conv{w: get(prefix + ".weight"), b: get(prefix + ".bias"), cin: cin, cout: cout, k: k}
	}
	C := cfg.NFeats
	m.subMean = mkConv("sub_mean", Colors, Colors, 1)
	m.addMean = mkConv("add_mean", Colors, Colors, 1)
	for t, s := range cfg.Scales {
		var h head
		h.first = mkConv(fmt.Sprintf("head.%d.0", t), Colors, C, 3)
		for r := range h.res {
			p := fmt.Sprintf("head.%d.%d.body.", t, r+1)
			h.res[r] = resBlock{mkConv(p+"0", C, C, 5), mkConv(p+"2", C, C, 5)}
		}
		m.heads = append(m.heads, h)
		tl := tail{scale: s}
		switch s {
		case 2, 3:
			tl.up = []conv{mkConv(fmt.Sprintf("tail.%d.0.0", t), C, s*s*C, 3)}
			tl.shuffle = s
		case 4:
			tl.up = []conv{mkConv(fmt.Sprintf("tail.%d.0.0", t), C, 4*C, 3), mkConv(fmt.Sprintf("tail.%d.0.2", t), C, 4*C, 3)}
			tl.shuffle = 2
		}
		tl.last = mkConv(fmt.Sprintf("tail.%d.1", t), C, Colors, 3)
		m.tails = append(m.tails, tl)
	}
	m.linEnc.w, m.linEnc.b = get("body.linear_encoding.weight"), get("body.linear_encoding.bias")
	m.mlpHead = feedForward{get("body.mlp_head.0.weight"), get("body.mlp_head.0.bias"), get("body.mlp_head.3.weight"), get("body.mlp_head.3.bias")}
	m.query = get("body.query_embed.weight")
	m.pos = get("body.position_encoding.pe.weight")
	ffn := func(p string) feedForward {
		return feedForward{get(p + "linear1.weight"), get(p + "linear1.bias"), get(p + "linear2.weight"), get(p + "linear2.bias")}
	}
	attn := func(p string) attention { return attention{get(p + ".in_proj_weight"), get(p + ".out_proj.weight")} }
	norm := func(p string) layerNorm { return layerNorm{get(p + ".weight"), get(p + ".bias")} }
	for n := 0; n < cfg.EncLayers; n++ {
		p := fmt.Sprintf("body.encoder.layers.%d.", n)
		m.enc = append(m.enc, encoderLayer{attn(p + "self_attn"), ffn(p), norm(p + "norm1"), norm(p + "norm2")})
	}
	for n := 0; n < cfg.DecLayers; n++ {
		p := fmt.Sprintf("body.decoder.layers.%d.", n)
		m.dec = append(m.dec, decoderLayer{attn(p + "self_attn"), attn(p + "multihead_attn"), ffn(p), norm(p + "norm1"), norm(p + "norm2"), norm(p + "norm3")})
	}
}

// isCPU says whether b is the CPU: nil or an ops.CPU.
func isCPU(b ops.Backend) bool {
	if b == nil {
		return true
	}
	_, ok := b.(ops.CPU)
	return ok
}

// Backend is the backend holding the weights: nil for the CPU, else the
// one given to MoveTo.
func (m *Model) Backend() ops.Backend { return m.be }

// MoveTo copies the weights into buffers from b's Alloc and frees those of
// the backend they were on; forward passes then run on b, in workspaces
// made after the move. To the CPU (nil or an ops.CPU) from the CPU it does
// nothing: the weights stay the slices the model was built with. It must not
// run while forward passes do.
func (m *Model) MoveTo(b ops.Backend) error {
	if isCPU(b) {
		b = nil
	}
	if b == m.be {
		return nil
	}
	var old ops.Backend = ops.CPU{}
	if m.be != nil {
		old = m.be
	}
	if err := old.Sync(); err != nil {
		return err
	}
	var to ops.Backend = ops.CPU{}
	if b != nil {
		to = b
	}
	moved := make(map[string][]float32, len(m.raw))
	for k, t := range m.raw {
		moved[k] = t
		if len(t) > 0 {
			moved[k] = to.Alloc(len(t))
		}
	}
	// Alloc may queue the zeroing: the host writes after a Sync.
	if err := to.Sync(); err != nil {
		return err
	}
	for k, t := range m.raw {
		if len(t) > 0 {
			copy(moved[k], t)
			old.Free(t)
		}
	}
	m.be = b
	m.setTensors(moved)
	return nil
}

func numel(s []int) int {
	n := 1
	for _, v := range s {
		n *= v
	}
	return n
}

// Bytes is the memory the weights take.
func (m *Model) Bytes() int64 {
	var n int64
	for _, t := range m.raw {
		n += 4 * int64(len(t))
	}
	return n
}
