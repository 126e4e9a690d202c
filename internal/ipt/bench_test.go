package ipt

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkForwardReleased times released-size ×1 tiles through the same
// path a restoration takes; it reports ms per tile.
func BenchmarkForwardReleased(b *testing.B) {
	m, err := RandomModel(ReleasedConfig(1), 1)
	if err != nil {
		b.Fatal(err)
	}
	const n = 4
	P := m.Config.PatchSize
	rng := rand.New(rand.NewPCG(3, 4))
	in := make([]float32, n*Colors*P*P)
	for i := range in {
		in[i] = rng.Float32() * 255
	}
	out := make([]float32, len(in))
	r := &Runner{Model: m}
	b.ResetTimer()
	for b.Loop() {
		if err := r.ForwardTiles(context.Background(), in, n, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*n), "ms/tile")
}
