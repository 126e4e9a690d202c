package train

import (
	"fmt"
	"testing"
	"time"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/ops"
)

// BenchmarkTrainStep times a whole optimiser step of `ipt train` on a batch
// of 8 ×2 samples: forward, L1 + 0.1·contrastive, backward, clipping at norm
// 1 and Adam, what scripts/bench_train_torch.py times in PyTorch
// (scripts/bench_train_vs_torch.sh runs both alternately). The data are
// random: the speed does not depend on them.
func BenchmarkTrainStep(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  ipt.Config
	}{
		{"tiny", ipt.Config{NFeats: 16, PatchSize: 24, PatchDim: 3, NumHeads: 4, EncLayers: 1, DecLayers: 1, Scales: []int{2}}},
		{"small", ipt.Config{NFeats: 32, PatchSize: 48, PatchDim: 3, NumHeads: 8, EncLayers: 2, DecLayers: 2, Scales: []int{2}}},
		{"released", ipt.ReleasedConfig(2)},
	} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", bc.name, threads), func(b *testing.B) {
				const batch = 8
				n, err := NewNet(bc.cfg, 1)
				if err != nil {
					b.Fatal(err)
				}
				data := randomBatch(bc.cfg, 0, batch, 0, 255, nil, 1)
				params, _ := n.Trainable()
				adam := NewAdam(len(params))
				step := func() {
					n.ZeroGrads()
					if _, err := n.ForwardBackward(data, 0.1, 0.07, ops.Exec{Threads: threads}); err != nil {
						b.Fatal(err)
					}
					params, grads := n.Trainable()
					ClipGrads(grads, 1, threads)
					if err := adam.Step(params, grads, 5e-5, threads); err != nil {
						b.Fatal(err)
					}
				}
				step() // allocates the activations
				var wall time.Duration
				for b.Loop() {
					t0 := time.Now()
					step()
					wall += time.Since(t0)
				}
				b.ReportMetric(float64(b.N*batch)/wall.Seconds(), "samples/s")
			})
		}
	}
}
