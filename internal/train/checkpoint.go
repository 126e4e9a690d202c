package train

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/weights"
)

// State is what a checkpoint records, besides the weights and Adam's
// moments, to continue a run exactly: the steps done and every setting
// that shapes the steps to come.
type State struct {
	Step     int    // optimiser steps done
	Seed     uint64 // of the run's random streams (see Stream)
	Batch    int    // samples per micro-batch
	Accum    int    // micro-batches per optimiser step (over all ranks of a data-parallel run)
	Schedule Schedule
	Clip     float64 // global gradient norm bound, 0 for none
	Lambda   float64 // weight of the contrastive loss
	Tau      float64 // its temperature
}

// Checkpoint metadata keys and tensor prefixes of the training state; the
// model loader skips tensors under ipt.TrainPrefix.
const (
	momentM = ipt.TrainPrefix + "adam_m."
	momentV = ipt.TrainPrefix + "adam_v."
)

// WriteCheckpoint writes n's weights under the released key names, the
// config (with the task names) and st in the metadata, and a's moments as
// tensors under train.adam_m. and train.adam_v., to path as safetensors
// (through a temporary file, synced and renamed: path keeps its previous
// content if anything fails). a may be nil (weights only).
func WriteCheckpoint(path string, n *Net, a *Adam, st State) error {
	md := n.Config.Metadata()
	keys := n.Keys()
	tensors := make(map[string]*weights.Tensor, 3*len(keys))
	for _, k := range keys {
		v, s := n.Tensor(k)
		tensors[k] = &weights.Tensor{Shape: s, DType: weights.F32, F32: v}
	}
	if a != nil {
		params, _ := n.Trainable()
		if len(a.M) != len(params) {
			return fmt.Errorf("%s: Adam has %d moments for %d parameters", path, len(a.M), len(params))
		}
		fixed := len(n.Params) - len(params)
		off := 0
		for _, k := range keys {
			v, s := n.Tensor(k)
			lo := off - fixed
			off += len(v)
			if lo < 0 {
				continue // a mean shift: not trained
			}
			tensors[momentM+k] = &weights.Tensor{Shape: s, DType: weights.F32, F32: a.M[lo : lo+len(v)]}
			tensors[momentV+k] = &weights.Tensor{Shape: s, DType: weights.F32, F32: a.V[lo : lo+len(v)]}
		}
		// Moments after all weights, M and V of each tensor together.
		mv := make([]string, 0, 2*len(keys))
		for _, k := range keys {
			if _, ok := tensors[momentM+k]; ok {
				mv = append(mv, momentM+k, momentV+k)
			}
		}
		keys = append(keys, mv...)
		st.put(md, a)
	}
	return weights.WriteSafetensors(path, keys, tensors, md)
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// put records st and a's settings in md.
func (st State) put(md map[string]string, a *Adam) {
	md["train.step"] = strconv.Itoa(st.Step)
	md["train.seed"] = strconv.FormatUint(st.Seed, 10)
	md["train.batch"] = strconv.Itoa(st.Batch)
	md["train.accum"] = strconv.Itoa(st.Accum)
	md["train.schedule"] = st.Schedule.Kind
	md["train.lr"] = fmtFloat(st.Schedule.LR)
	md["train.schedule_steps"] = strconv.Itoa(st.Schedule.Steps)
	md["train.warmup"] = strconv.Itoa(st.Schedule.Warmup)
	md["train.clip"] = fmtFloat(st.Clip)
	md["train.lambda"] = fmtFloat(st.Lambda)
	md["train.tau"] = fmtFloat(st.Tau)
	md["train.adam_t"] = strconv.Itoa(a.T)
	md["train.adam_beta1"] = fmtFloat(a.Beta1)
	md["train.adam_beta2"] = fmtFloat(a.Beta2)
	md["train.adam_eps"] = fmtFloat(a.Eps)
}

// ReadCheckpoint loads a checkpoint as a Net (any file ipt loads; numHeads
// as for ipt.Load), with its task names, and the training state when it
// has one (a checkpoint of ipt train): then st and a are set, else nil.
func ReadCheckpoint(path string, numHeads int) (n *Net, a *Adam, st *State, err error) {
	ck, err := weights.Load(path)
	if err != nil {
		return nil, nil, nil, err
	}
	n, err = NetFromCheckpoint(ck, numHeads)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	if _, ok := ck.Metadata["train.step"]; !ok {
		return n, nil, nil, nil
	}
	a, st, err = readState(ck, n)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: training state: %w", path, err)
	}
	return n, a, st, nil
}

func readState(ck *weights.Checkpoint, n *Net) (*Adam, *State, error) {
	md := ck.Metadata
	var firstErr error
	get := func(key string) string {
		v, ok := md[key]
		if !ok && firstErr == nil {
			firstErr = fmt.Errorf("metadata %s missing", key)
		}
		return v
	}
	integer := func(key string) int {
		s := get(key)
		v, err := strconv.Atoi(s)
		if (err != nil || v < 0) && firstErr == nil {
			firstErr = fmt.Errorf("metadata %s %q: not a count", key, s)
		}
		return v
	}
	float := func(key string) float64 {
		s := get(key)
		v, err := strconv.ParseFloat(s, 64)
		if (err != nil || math.IsNaN(v) || math.IsInf(v, 0)) && firstErr == nil {
			firstErr = fmt.Errorf("metadata %s %q: not a number", key, s)
		}
		return v
	}
	st := &State{
		Step:  integer("train.step"),
		Batch: integer("train.batch"),
		Accum: integer("train.accum"),
		Schedule: Schedule{
			Kind:   get("train.schedule"),
			LR:     float("train.lr"),
			Steps:  integer("train.schedule_steps"),
			Warmup: integer("train.warmup"),
		},
		Clip:   float("train.clip"),
		Lambda: float("train.lambda"),
		Tau:    float("train.tau"),
	}
	seed, err := strconv.ParseUint(get("train.seed"), 10, 64)
	if err != nil && firstErr == nil {
		firstErr = fmt.Errorf("metadata train.seed %q: not a seed", md["train.seed"])
	}
	st.Seed = seed
	params, _ := n.Trainable()
	a := &Adam{Beta1: float("train.adam_beta1"), Beta2: float("train.adam_beta2"), Eps: float("train.adam_eps"),
		T: integer("train.adam_t"), M: make([]float32, len(params)), V: make([]float32, len(params))}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	if err := st.Schedule.Validate(); err != nil {
		return nil, nil, err
	}
	fixed := len(n.Params) - len(params)
	off := 0
	want := map[string]bool{}
	for _, k := range n.Keys() {
		v, s := n.Tensor(k)
		lo := off - fixed
		off += len(v)
		if lo < 0 {
			continue
		}
		for _, mv := range []struct {
			name string
			dst  []float32
		}{{momentM + k, a.M}, {momentV + k, a.V}} {
			want[mv.name] = true
			t, ok := ck.Tensors[mv.name]
			switch {
			case !ok:
				return nil, nil, fmt.Errorf("missing tensor %s", mv.name)
			case !slices.Equal(t.Shape, s) || t.F32 == nil:
				return nil, nil, fmt.Errorf("%s: shape %v %s, want %v F32", mv.name, t.Shape, t.DType, s)
			}
			copy(mv.dst[lo:lo+len(v)], t.F32)
		}
	}
	for k := range ck.Tensors {
		if strings.HasPrefix(k, ipt.TrainPrefix) && !want[k] {
			return nil, nil, fmt.Errorf("unexpected tensor %s", k)
		}
	}
	return a, st, nil
}
