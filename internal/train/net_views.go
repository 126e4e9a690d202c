package train

import (
	"fmt"

	"github.com/ipt-go/ipt/internal/ipt"
)

// The typed views below cut one block (Params or Grads) into the model's
// layers, so the forward reads weights and the backward adds gradients
// through the same names.

// convView is a k×k convolution with bias, weight [cout, cin, k, k].
type convView struct {
	w, b         []float32
	cin, cout, k int
}

type headView struct {
	first convView
	res   [2][2]convView // ResBlock r: conv 0, conv 2
}

// tailView is the upsampler (zero, one or two conv + pixel-shuffle stages)
// and the last conv to colours.
type tailView struct {
	scale, shuffle int
	up             []convView
	last           convView
}

type attnView struct{ inProj, outProj []float32 }

type normView struct{ gamma, beta []float32 }

type ffnView struct{ w1, b1, w2, b2 []float32 }

type encView struct {
	self         attnView
	ffn          ffnView
	norm1, norm2 normView
}

type decView struct {
	self, cross         attnView
	ffn                 ffnView
	norm1, norm2, norm3 normView
}

type netViews struct {
	subMean, addMean convView
	heads            []headView
	tails            []tailView
	linW, linB       []float32
	mlp              ffnView
	query, pos       []float32
	enc              []encView
	dec              []decView
}

// views cuts block (Params or Grads) into layers.
func (n *Net) views(block []float32) netViews {
	get := func(k string) []float32 {
		v, _ := n.view(block, k)
		if v == nil {
			panic("train: no tensor " + k) // ParamShapes and this file disagree: a bug
		}
		return v
	}
	cv := func(prefix string, cin, cout, k int) convView {
		return convView{get(prefix + ".weight"), get(prefix + ".bias"), cin, cout, k}
	}
	cfg := n.Config
	C := cfg.NFeats
	var v netViews
	v.subMean = cv("sub_mean", ipt.Colors, ipt.Colors, 1)
	v.addMean = cv("add_mean", ipt.Colors, ipt.Colors, 1)
	for t, s := range cfg.Scales {
		var h headView
		h.first = cv(fmt.Sprintf("head.%d.0", t), ipt.Colors, C, 3)
		for r := range h.res {
			p := fmt.Sprintf("head.%d.%d.body.", t, r+1)
			h.res[r] = [2]convView{cv(p+"0", C, C, 5), cv(p+"2", C, C, 5)}
		}
		v.heads = append(v.heads, h)
		tl := tailView{scale: s}
		switch s {
		case 2, 3:
			tl.up = []convView{cv(fmt.Sprintf("tail.%d.0.0", t), C, s*s*C, 3)}
			tl.shuffle = s
		case 4:
			tl.up = []convView{cv(fmt.Sprintf("tail.%d.0.0", t), C, 4*C, 3), cv(fmt.Sprintf("tail.%d.0.2", t), C, 4*C, 3)}
			tl.shuffle = 2
		}
		tl.last = cv(fmt.Sprintf("tail.%d.1", t), C, ipt.Colors, 3)
		v.tails = append(v.tails, tl)
	}
	v.linW, v.linB = get("body.linear_encoding.weight"), get("body.linear_encoding.bias")
	v.mlp = ffnView{get("body.mlp_head.0.weight"), get("body.mlp_head.0.bias"), get("body.mlp_head.3.weight"), get("body.mlp_head.3.bias")}
	v.query = get("body.query_embed.weight")
	v.pos = get("body.position_encoding.pe.weight")
	ffn := func(p string) ffnView {
		return ffnView{get(p + "linear1.weight"), get(p + "linear1.bias"), get(p + "linear2.weight"), get(p + "linear2.bias")}
	}
	attn := func(p string) attnView { return attnView{get(p + ".in_proj_weight"), get(p + ".out_proj.weight")} }
	norm := func(p string) normView { return normView{get(p + ".weight"), get(p + ".bias")} }
	for l := 0; l < cfg.EncLayers; l++ {
		p := fmt.Sprintf("body.encoder.layers.%d.", l)
		v.enc = append(v.enc, encView{attn(p + "self_attn"), ffn(p), norm(p + "norm1"), norm(p + "norm2")})
	}
	for l := 0; l < cfg.DecLayers; l++ {
		p := fmt.Sprintf("body.decoder.layers.%d.", l)
		v.dec = append(v.dec, decView{attn(p + "self_attn"), attn(p + "multihead_attn"), ffn(p), norm(p + "norm1"), norm(p + "norm2"), norm(p + "norm3")})
	}
	return v
}
