package ipt

import (
	"math"
	"math/rand/v2"
	"strings"
)

// RandomModel builds a model of config c with seeded random weights drawn
// like PyTorch's default initialisation (uniform ±1/√fan_in; layer norms 1
// and 0; the mean shifts as the authors set them). It is for benchmarks and
// tests of shapes: its outputs mean nothing.
func RandomModel(c Config, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	keys, shapes := c.expectedShapes()
	tensors := make(map[string][]float32, len(keys))
	shapeMap := make(map[string][]int, len(keys))
	mean := [3]float32{0.4488, 0.4371, 0.4040}
	for _, k := range keys {
		s := shapes[k]
		shapeMap[k] = s
		v := make([]float32, numel(s))
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
		case strings.Contains(k, "norm") && strings.HasSuffix(k, ".weight"):
			for i := range v {
				v[i] = 1
			}
		case strings.Contains(k, "norm"):
			// bias: zero
		default:
			fanIn := 1
			if len(s) > 1 {
				fanIn = numel(s[1:])
			} else if w, ok := shapes[strings.TrimSuffix(k, ".bias")+".weight"]; ok {
				fanIn = numel(w[1:])
			}
			bound := float32(1 / math.Sqrt(float64(fanIn)))
			for i := range v {
				v[i] = (rng.Float32()*2 - 1) * bound
			}
		}
		tensors[k] = v
	}
	return NewModel(c, shapeMap, tensors)
}

// ReleasedConfig is the shape of the authors' released checkpoints, with the
// given task scales (e.g. []int{4} for IPT_sr4.pt, []int{1} for denoising).
func ReleasedConfig(scales ...int) Config {
	return Config{NFeats: 64, PatchSize: 48, PatchDim: 3, NumHeads: DefaultNumHeads, EncLayers: 12, DecLayers: 12, Scales: scales}
}
