// Package train trains IPT networks: the trainable network (parameters,
// gradients, forward with saved activations, backward, losses) and, built on
// it, the optimiser and the training loop.
package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/ops"
	"github.com/ipt-go/ipt/internal/weights"
)

// Net holds an IPT model's parameters and their gradients, each in one
// contiguous []float32 block, with views per state_dict key in the authors'
// order (the layout of ipt.Config.ParamShapes). The fixed mean shifts
// (sub_mean, add_mean) are the first values of Params and are not trained:
// their gradients stay zero (Trainable leaves them out).
//
// A Net is used by one goroutine at a time: ForwardBackward keeps its
// activations in buffers of the Net.
//
// Params, Grads and the activations are buffers of the net's backend (see
// MoveTo; a new net's is the CPU). The views of Tensor, GradTensor,
// Trainable and Model are sub-slices of them; on a device, read or write
// their values from Go only after the backend's Sync.
type Net struct {
	Config        ipt.Config
	Params, Grads []float32

	keys   []string
	shapes map[string][]int
	offs   map[string]int // offset of each tensor in Params and Grads
	fixed  int            // values of the mean shifts at the start of Params

	p, g  netViews // typed views into Params and Grads
	model *ipt.Model
	acts  *activations // sized for the last batch run
	be    ops.Backend  // holds Params, Grads and acts
}

// newNet allocates a zeroed net of cfg on the CPU with its views.
func newNet(cfg ipt.Config) (*Net, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, shapes := cfg.ParamShapes()
	n := &Net{Config: cfg, keys: keys, shapes: shapes, offs: make(map[string]int, len(keys))}
	total := 0
	for _, k := range keys {
		n.offs[k] = total
		total += numel(shapes[k])
		if strings.HasSuffix(k, "_mean.weight") || strings.HasSuffix(k, "_mean.bias") {
			if n.fixed != n.offs[k] {
				return nil, fmt.Errorf("train: mean shift %s is not at the start of the parameters", k)
			}
			n.fixed = total
		}
	}
	n.be = ops.CPU{}
	n.Params = n.be.Alloc(total)
	n.Grads = n.be.Alloc(total)
	n.p = n.views(n.Params)
	n.g = n.views(n.Grads)
	return n, nil
}

// Backend is the backend that holds the net's buffers and runs its ops.
func (n *Net) Backend() ops.Backend { return n.be }

// MoveTo moves the net onto be: Params and Grads are copied into buffers
// of be (after a Sync of the old backend), the old ones freed, the
// activations and the model of Model dropped. Views taken before (Tensor,
// Trainable, …) no longer belong to the net.
func (n *Net) MoveTo(be ops.Backend) error {
	if err := n.be.Sync(); err != nil {
		return err
	}
	params, grads := be.Alloc(len(n.Params)), be.Alloc(len(n.Grads))
	copy(params, n.Params)
	copy(grads, n.Grads)
	if n.acts != nil {
		n.acts.free(n.be)
		n.acts = nil
	}
	n.be.Free(n.Params)
	n.be.Free(n.Grads)
	n.be, n.Params, n.Grads = be, params, grads
	n.p, n.g = n.views(n.Params), n.views(n.Grads)
	n.model = nil
	return nil
}

func numel(s []int) int {
	n := 1
	for _, v := range s {
		n *= v
	}
	return n
}

// NewNet builds a net of cfg initialised as PyTorch initialises the authors'
// modules, deterministically for a seed: convolutions and linear layers
// uniform ±1/√fan_in (weights and biases), attention in_proj Xavier-uniform
// (±√(6/(d+3d))), out_proj as a linear layer, layer norms 1 and 0, the
// query and position embeddings (nn.Embedding) N(0, 1), the mean shifts as
// the authors set them.
func NewNet(cfg ipt.Config, seed uint64) (*Net, error) {
	n, err := newNet(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x1f83d9abfb41bd6b))
	mean := [3]float32{0.4488, 0.4371, 0.4040}
	uniform := func(v []float32, bound float64) {
		for i := range v {
			v[i] = float32((rng.Float64()*2 - 1) * bound)
		}
	}
	for _, k := range n.keys {
		v, s := n.Tensor(k)
		switch {
		case strings.HasSuffix(k, "_mean.weight"):
			for i := 0; i < 3; i++ {
				v[i*3+i] = 1
			}
		case k == "sub_mean.bias" || k == "add_mean.bias":
			sign := float32(-255)
			if k == "add_mean.bias" {
				sign = 255
			}
			for i := range v {
				v[i] = sign * mean[i]
			}
		case strings.Contains(k, ".norm"):
			if strings.HasSuffix(k, ".weight") {
				for i := range v {
					v[i] = 1
				}
			}
		case strings.HasSuffix(k, "in_proj_weight"):
			uniform(v, math.Sqrt(6/float64(s[0]+s[1])))
		case k == "body.query_embed.weight" || k == "body.position_encoding.pe.weight":
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
		default:
			w := s
			if len(s) == 1 {
				_, w = n.Tensor(strings.TrimSuffix(k, ".bias") + ".weight")
			}
			uniform(v, 1/math.Sqrt(float64(numel(w[1:]))))
		}
	}
	return n, nil
}

// NetFromCheckpoint builds a net from any checkpoint ipt can load (the
// released .pt files included), checked as strictly as ipt.FromCheckpoint
// checks it; numHeads as there (0: the metadata's, else 12). The values are
// copied; gradients start at zero.
func NetFromCheckpoint(ck *weights.Checkpoint, numHeads int) (*Net, error) {
	m, err := ipt.FromCheckpoint(ck, numHeads)
	if err != nil {
		return nil, err
	}
	n, err := newNet(m.Config)
	if err != nil {
		return nil, err
	}
	keys, tensors := m.Tensors()
	for _, k := range keys {
		dst, _ := n.Tensor(k)
		copy(dst, tensors[k].F32)
	}
	return n, nil
}

// Keys lists the tensors in the order of the parameter block.
func (n *Net) Keys() []string { return slices.Clone(n.keys) }

// Tensor returns the parameter values of key, a view into Params, and its
// shape; nil for an unknown key.
func (n *Net) Tensor(key string) (values []float32, shape []int) {
	return n.view(n.Params, key)
}

// GradTensor is Tensor for the gradients: a view into Grads.
func (n *Net) GradTensor(key string) (values []float32, shape []int) {
	return n.view(n.Grads, key)
}

func (n *Net) view(block []float32, key string) ([]float32, []int) {
	off, ok := n.offs[key]
	if !ok {
		return nil, nil
	}
	s := n.shapes[key]
	return block[off : off+numel(s) : off+numel(s)], slices.Clone(s)
}

// Trainable returns the parts of Params and Grads an optimiser updates: all
// but the fixed mean shifts at the start.
func (n *Net) Trainable() (params, grads []float32) {
	return n.Params[n.fixed:], n.Grads[n.fixed:]
}

// ZeroGrads sets every gradient to zero, on the net's backend.
func (n *Net) ZeroGrads() { n.be.Zero(n.Grads) }

// Model returns an inference model whose weights are views into Params: it
// sees every later change to them (for evaluation during training). It is
// built once and shared. It runs on the CPU: on another backend, Sync
// before using it, and not while a step runs.
func (n *Net) Model() (*ipt.Model, error) {
	if n.model != nil {
		return n.model, nil
	}
	tensors := make(map[string][]float32, len(n.keys))
	for _, k := range n.keys {
		tensors[k], _ = n.Tensor(k)
	}
	m, err := ipt.NewModel(n.Config, n.shapes, tensors)
	if err != nil {
		return nil, err
	}
	n.model = m
	return m, nil
}

// KeepTask returns a one-task net for fine-tuning: task t's head, tail and
// query row (as task 0) and the shared body, copied; gradients zero.
func (n *Net) KeepTask(t int) (*Net, error) {
	if t < 0 || t >= n.Config.Tasks() {
		return nil, fmt.Errorf("task %d out of range: the net has %d", t, n.Config.Tasks())
	}
	cfg := n.Config
	cfg.Scales = []int{n.Config.Scales[t]}
	out, err := newNet(cfg)
	if err != nil {
		return nil, err
	}
	for _, k := range out.keys {
		dst, _ := out.Tensor(k)
		src := k
		switch {
		case strings.HasPrefix(k, "head.0."):
			src = fmt.Sprintf("head.%d.", t) + strings.TrimPrefix(k, "head.0.")
		case strings.HasPrefix(k, "tail.0."):
			src = fmt.Sprintf("tail.%d.", t) + strings.TrimPrefix(k, "tail.0.")
		}
		v, _ := n.Tensor(src)
		if k == "body.query_embed.weight" {
			v = v[t*len(dst) : (t+1)*len(dst)]
		}
		if len(v) != len(dst) {
			return nil, fmt.Errorf("keep task %d: %s has %d values, want %d", t, src, len(v), len(dst))
		}
		copy(dst, v)
	}
	return out, nil
}

// AddLayers returns a deeper copy of the net for fine-tuning: k more
// encoder and k more decoder layers after its own, each starting as the
// identity. IPT's layers are pre-norm residual blocks (x + attn(norm(x)),
// x + ffn(norm(x))), so a layer whose attention output projections and
// second feed-forward layer are zero passes x through unchanged: the deeper
// net computes exactly what n computes. The new layers' other weights are
// initialised as NewNet(…, seed) initialises them, which gives the zeroed
// projections non-zero gradients from the first step. n's tensors are
// copied; gradients start at zero.
func (n *Net) AddLayers(k int, seed uint64) (*Net, error) {
	if k < 1 {
		return nil, fmt.Errorf("add layers: %d, must be at least 1", k)
	}
	cfg := n.Config
	cfg.EncLayers += k
	cfg.DecLayers += k
	out, err := NewNet(cfg, seed)
	if err != nil {
		return nil, err
	}
	for _, key := range out.keys {
		dst, _ := out.Tensor(key)
		if src, _ := n.Tensor(key); src != nil {
			if len(src) != len(dst) {
				return nil, fmt.Errorf("add layers: %s has %d values, want %d", key, len(src), len(dst))
			}
			copy(dst, src)
			continue
		}
		// A tensor of a new layer: zero the ones that write into the residual.
		if strings.HasSuffix(key, ".out_proj.weight") || strings.Contains(key, ".linear2.") {
			clear(dst)
		}
	}
	return out, nil
}
