package ipt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ipt-go/ipt/internal/weights"
)

// DefaultNumHeads is the number of attention heads of every released IPT
// checkpoint; it is the one hyperparameter the weights do not record.
const DefaultNumHeads = 12

// Load reads a checkpoint (.pt/.pth in either PyTorch format, or
// .safetensors) and builds the model it holds. numHeads 0 means: the
// safetensors metadata's num_heads if present, else DefaultNumHeads.
func Load(path string, numHeads int) (*Model, error) {
	ck, err := weights.Load(path)
	if err != nil {
		return nil, err
	}
	m, err := FromCheckpoint(ck, numHeads)
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	return m, nil
}

// FromCheckpoint builds a model from loaded tensors; see Load for numHeads.
func FromCheckpoint(ck *weights.Checkpoint, numHeads int) (*Model, error) {
	if numHeads == 0 {
		numHeads = DefaultNumHeads
		if v, ok := ck.Metadata["num_heads"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("metadata num_heads %q is not a positive integer", v)
			}
			numHeads = n
		}
	}
	shapes := make(map[string][]int, len(ck.Tensors))
	values := make(map[string][]float32, len(ck.Tensors))
	for k, t := range ck.Tensors {
		shapes[k] = t.Shape
		if t.F32 == nil && !ignored(k) {
			return nil, fmt.Errorf("%s: dtype %s, want a floating-point tensor", k, t.DType)
		}
		values[k] = t.F32
	}
	cfg, err := InferConfig(shapes, numHeads)
	if err != nil {
		return nil, err
	}
	if v, ok := ck.Metadata["tasks"]; ok {
		names := strings.Split(v, ",")
		if len(names) != cfg.Tasks() || slices.Contains(names, "") {
			return nil, fmt.Errorf("metadata tasks %q does not name the %d tasks of the weights", v, cfg.Tasks())
		}
		cfg.TaskNames = names
	}
	return NewModel(cfg, shapes, values)
}

// Tensors returns the model's weights under the authors' state_dict keys,
// in their order, for writing a checkpoint.
func (m *Model) Tensors() ([]string, map[string]*weights.Tensor) {
	keys, shapes := m.Config.expectedShapes()
	out := make(map[string]*weights.Tensor, len(keys))
	for _, k := range keys {
		out[k] = &weights.Tensor{Shape: shapes[k], DType: "F32", F32: m.raw[k]}
	}
	return keys, out
}

// PositionIDs is the key of the buffer the authors' model registers beside the
// position embedding (torch.arange(L) as int64, shape [1, L]): unused by the
// forward pass, but in their state_dict.
const PositionIDs = "body.position_encoding.position_ids"

// StateDict returns what the authors' model.state_dict() holds for this
// model, in its order: Tensors plus the position_ids buffer just before the
// position embedding, so that their load_state_dict(strict=True) accepts it.
func (m *Model) StateDict() ([]string, map[string]*weights.Tensor) {
	keys, out := m.Tensors()
	L := m.Config.SeqLen()
	ids := make([]int64, L)
	for i := range ids {
		ids[i] = int64(i)
	}
	out[PositionIDs] = &weights.Tensor{Shape: []int{1, L}, DType: weights.I64, I64: ids}
	i := slices.Index(keys, "body.position_encoding.pe.weight")
	return slices.Insert(keys, i, PositionIDs), out
}

// TrainPrefix starts the names of the training state a checkpoint written
// by ipt train carries besides the weights (Adam's moments): the model
// loader skips them, so such a checkpoint serves as weights too.
const TrainPrefix = "train."

// ignored reports a buffer some checkpoints carry that the forward pass
// does not use, or training state.
func ignored(key string) bool {
	return slices.Contains(ignoredKeys, key) || strings.HasPrefix(key, TrainPrefix)
}
