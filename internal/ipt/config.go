package ipt

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Config is the shape of an IPT model. Everything but NumHeads can be read
// off a checkpoint's tensor shapes (SPEC §2); NumHeads (12 in every released
// file) must be given.
type Config struct {
	NFeats    int   // C: feature channels of heads and tails
	PatchSize int   // P: side of the square tiles the model sees
	PatchDim  int   // p: side of the patches that become tokens
	NumHeads  int   // attention heads
	EncLayers int   // transformer encoder layers
	DecLayers int   // transformer decoder layers
	Scales    []int // one per task: 2, 3, 4 for super-resolution, 1 otherwise

	// TaskNames, when known, names what each head was trained for (sr2,
	// dn30, derain, …): checkpoints of ipt train record it in their
	// metadata as "tasks"; the released files do not.
	TaskNames []string
}

// Colors is the number of image channels every IPT head and tail uses.
const Colors = 3

// Dim is the token width d = C·p².
func (c Config) Dim() int { return c.NFeats * c.PatchDim * c.PatchDim }

// SeqLen is the number of tokens per tile, L = (P/p)².
func (c Config) SeqLen() int { g := c.PatchSize / c.PatchDim; return g * g }

// Tasks is the number of head/tail/query triples.
func (c Config) Tasks() int { return len(c.Scales) }

// Validate reports a config the forward pass cannot run.
func (c Config) Validate() error {
	switch {
	case c.NFeats <= 0 || c.PatchSize <= 0 || c.PatchDim <= 0:
		return fmt.Errorf("config: n_feats %d, patch_size %d, patch_dim %d must be positive", c.NFeats, c.PatchSize, c.PatchDim)
	case c.PatchSize%c.PatchDim != 0:
		return fmt.Errorf("config: patch_size %d is not a multiple of patch_dim %d", c.PatchSize, c.PatchDim)
	case c.NumHeads <= 0 || c.Dim()%c.NumHeads != 0:
		return fmt.Errorf("config: %d heads do not divide the token width %d", c.NumHeads, c.Dim())
	case c.EncLayers < 0 || c.DecLayers < 0:
		return fmt.Errorf("config: negative layer count")
	case len(c.Scales) == 0:
		return fmt.Errorf("config: no tasks")
	}
	for i, s := range c.Scales {
		if s != 1 && s != 2 && s != 3 && s != 4 {
			return fmt.Errorf("config: task %d has scale %d; IPT tails support 1, 2, 3 and 4", i, s)
		}
	}
	return nil
}

// String describes the config the way the authors' option names do.
func (c Config) String() string {
	return fmt.Sprintf("n_feats %d, patch_size %d, patch_dim %d, heads %d, layers %d+%d, scales %v",
		c.NFeats, c.PatchSize, c.PatchDim, c.NumHeads, c.EncLayers, c.DecLayers, c.Scales)
}

// Metadata encodes the config as string pairs for a safetensors header.
func (c Config) Metadata() map[string]string {
	sc := make([]string, len(c.Scales))
	for i, s := range c.Scales {
		sc[i] = strconv.Itoa(s)
	}
	m := map[string]string{
		"format":     "ipt",
		"n_feats":    strconv.Itoa(c.NFeats),
		"patch_size": strconv.Itoa(c.PatchSize),
		"patch_dim":  strconv.Itoa(c.PatchDim),
		"num_heads":  strconv.Itoa(c.NumHeads),
		"enc_layers": strconv.Itoa(c.EncLayers),
		"dec_layers": strconv.Itoa(c.DecLayers),
		"scale":      strings.Join(sc, ","),
	}
	if len(c.TaskNames) > 0 {
		m["tasks"] = strings.Join(c.TaskNames, ",")
	}
	return m
}

// shape is a tensor shape; key → shape tables describe a checkpoint.
type shape []int

func (s shape) String() string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.Itoa(v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// ParamShapes lists every tensor of the model for this config by its
// state_dict key, in the authors' order, with its shape: the layout a
// trainer lays its parameter block out in. The shapes are fresh copies.
func (c Config) ParamShapes() ([]string, map[string][]int) {
	keys, m := c.expectedShapes()
	out := make(map[string][]int, len(m))
	for k, s := range m {
		out[k] = append([]int(nil), s...)
	}
	return keys, out
}

// expectedShapes lists every tensor the authors' model has for this config,
// in their state_dict order, with its shape (SPEC §2).
func (c Config) expectedShapes() ([]string, map[string]shape) {
	C, d, L := c.NFeats, c.Dim(), c.SeqLen()
	var keys []string
	m := map[string]shape{}
	add := func(k string, s ...int) { keys = append(keys, k); m[k] = s }
	add("sub_mean.weight", 3, 3, 1, 1)
	add("sub_mean.bias", 3)
	add("add_mean.weight", 3, 3, 1, 1)
	add("add_mean.bias", 3)
	for t := range c.Scales {
		add(fmt.Sprintf("head.%d.0.weight", t), C, Colors, 3, 3)
		add(fmt.Sprintf("head.%d.0.bias", t), C)
		for r := 1; r <= 2; r++ {
			for _, j := range []int{0, 2} {
				add(fmt.Sprintf("head.%d.%d.body.%d.weight", t, r, j), C, C, 5, 5)
				add(fmt.Sprintf("head.%d.%d.body.%d.bias", t, r, j), C)
			}
		}
	}
	add("body.linear_encoding.weight", d, d)
	add("body.linear_encoding.bias", d)
	add("body.mlp_head.0.weight", 4*d, d)
	add("body.mlp_head.0.bias", 4*d)
	add("body.mlp_head.3.weight", d, 4*d)
	add("body.mlp_head.3.bias", d)
	add("body.query_embed.weight", len(c.Scales), L*d)
	ffn := func(p string) {
		add(p+"linear1.weight", 4*d, d)
		add(p+"linear1.bias", 4*d)
		add(p+"linear2.weight", d, 4*d)
		add(p+"linear2.bias", d)
	}
	attn := func(p string) {
		add(p+".in_proj_weight", 3*d, d)
		add(p+".out_proj.weight", d, d)
	}
	norms := func(p string, n int) {
		for i := 1; i <= n; i++ {
			add(fmt.Sprintf("%snorm%d.weight", p, i), d)
			add(fmt.Sprintf("%snorm%d.bias", p, i), d)
		}
	}
	for n := 0; n < c.EncLayers; n++ {
		p := fmt.Sprintf("body.encoder.layers.%d.", n)
		attn(p + "self_attn")
		ffn(p)
		norms(p, 2)
	}
	for n := 0; n < c.DecLayers; n++ {
		p := fmt.Sprintf("body.decoder.layers.%d.", n)
		attn(p + "self_attn")
		attn(p + "multihead_attn")
		ffn(p)
		norms(p, 3)
	}
	add("body.position_encoding.pe.weight", L, d)
	for t, s := range c.Scales {
		switch s {
		case 2, 3:
			add(fmt.Sprintf("tail.%d.0.0.weight", t), s*s*C, C, 3, 3)
			add(fmt.Sprintf("tail.%d.0.0.bias", t), s*s*C)
		case 4:
			for _, j := range []int{0, 2} {
				add(fmt.Sprintf("tail.%d.0.%d.weight", t, j), 4*C, C, 3, 3)
				add(fmt.Sprintf("tail.%d.0.%d.bias", t, j), 4*C)
			}
		}
		add(fmt.Sprintf("tail.%d.1.weight", t), Colors, C, 3, 3)
		add(fmt.Sprintf("tail.%d.1.bias", t), Colors)
	}
	return keys, m
}

// ignoredKeys are buffers some checkpoints carry that the forward pass does not use.
var ignoredKeys = []string{PositionIDs}

// InferConfig reads a config off tensor shapes (SPEC §2). numHeads is not in
// the shapes and is passed through. The result is only a proposal: Load
// checks every tensor against it.
func InferConfig(shapes map[string][]int, numHeads int) (Config, error) {
	get := func(k string, rank int) ([]int, error) {
		s, ok := shapes[k]
		if !ok {
			return nil, fmt.Errorf("missing tensor %s", k)
		}
		if len(s) != rank {
			return nil, fmt.Errorf("%s: shape %v, want rank %d", k, shape(s), rank)
		}
		return s, nil
	}
	c := Config{NumHeads: numHeads}
	h0, err := get("head.0.0.weight", 4)
	if err != nil {
		return c, err
	}
	c.NFeats = h0[0]
	pe, err := get("body.position_encoding.pe.weight", 2)
	if err != nil {
		return c, err
	}
	L, d := pe[0], pe[1]
	if c.NFeats <= 0 || d%c.NFeats != 0 {
		return c, fmt.Errorf("body.position_encoding.pe.weight: width %d is not a multiple of n_feats %d", d, c.NFeats)
	}
	c.PatchDim = isqrt(d / c.NFeats)
	grid := isqrt(L)
	if c.PatchDim < 1 || c.PatchDim*c.PatchDim*c.NFeats != d || grid < 1 || grid*grid != L {
		return c, fmt.Errorf("body.position_encoding.pe.weight: shape %v does not fit n_feats %d (need [(P/p)², C·p²])", shape(pe), c.NFeats)
	}
	c.PatchSize = c.PatchDim * grid
	c.EncLayers = countIndexed(shapes, "body.encoder.layers.")
	c.DecLayers = countIndexed(shapes, "body.decoder.layers.")
	tasks := countIndexed(shapes, "head.")
	for t := 0; t < tasks; t++ {
		c.Scales = append(c.Scales, tailScale(shapes, t, c.NFeats))
	}
	return c, c.Validate()
}

// countIndexed returns 1 + the largest N among keys "prefixN.…".
func countIndexed(shapes map[string][]int, prefix string) int {
	n := 0
	for k := range shapes {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(num); err == nil && i >= 0 && i < 1<<16 {
			n = max(n, i+1)
		}
	}
	return n
}

// tailScale reads task t's scale off its upsampler layers: none → 1; one conv
// to s²·C channels → s; two convs to 4C → 4. Shapes that fit nothing give 0,
// which Validate rejects.
func tailScale(shapes map[string][]int, t, C int) int {
	first, ok := shapes[fmt.Sprintf("tail.%d.0.0.weight", t)]
	if !ok {
		return 1
	}
	if len(first) != 4 || C <= 0 || first[0]%C != 0 {
		return 0
	}
	s2 := first[0] / C
	if _, ok := shapes[fmt.Sprintf("tail.%d.0.2.weight", t)]; ok {
		if s2 == 4 {
			return 4
		}
		return 0
	}
	switch s2 {
	case 4:
		return 2
	case 9:
		return 3
	}
	return 0
}

func isqrt(n int) int {
	if n < 0 {
		return -1
	}
	r := int(math.Sqrt(float64(n)))
	for r*r > n {
		r--
	}
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// checkShapes compares a checkpoint against the config strictly: every
// expected tensor present with its exact shape, nothing unexpected.
func (c Config) checkShapes(shapes map[string][]int) error {
	keys, want := c.expectedShapes()
	for _, k := range keys {
		got, ok := shapes[k]
		if !ok {
			return fmt.Errorf("missing tensor %s %v", k, want[k])
		}
		if !slices.Equal(got, want[k]) {
			return fmt.Errorf("%s: shape %v, want %v", k, shape(got), want[k])
		}
	}
	var extra []string
	for k := range shapes {
		if _, ok := want[k]; !ok && !ignored(k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		more := ""
		if len(extra) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(extra)-1)
		}
		return fmt.Errorf("unexpected tensor %s %v%s", extra[0], shape(shapes[extra[0]]), more)
	}
	return nil
}
