package train

import (
	"sync"

	"github.com/ipt-go/ipt/internal/ops"
)

// The heads and tails run sample by sample: convolutions of a few dozen
// output channels, whose products are too small to share well between
// threads (split over 2 threads, the small config's heads and tails took
// 40% longer than on one). So on the CPU the samples run side by side
// instead, each on one thread (its share, with more threads than samples)
// with scratch of its own (a lane). Each
// sample's ops are those of the sequential loop and write only that
// sample's buffers, so the bits are the same on any number of threads.
//
// The weight gradients of the heads and tails are what the samples share:
// each is a sum over the samples, in sample order. The backward therefore
// first takes every sample's input gradients through them (in parallel),
// keeping the output gradient of each convolution, then adds the weight
// gradients layer by layer, each layer's over the samples in order (the
// layers in parallel): the additions into each gradient are those of the
// sequential loop, in the same order.

// lane is the scratch of one sample's convolutions.
type lane struct {
	conv     []float32 // im2col
	tmp      []float32 // a ResBlock's second conv output [C, P, P]
	up       []float32 // an upsampler's output before the shuffle
	dc1, dc2 []float32 // a tail's gradients, the largest map
}

// lane returns the scratch of worker w: lane 0 is the activations' own
// buffers (on any backend); the others, for CPU workers only, are made on
// first use.
func (a *activations) lane(w int) *lane {
	for len(a.lanes) <= w {
		l0 := a.lanes[0]
		a.lanes = append(a.lanes, &lane{
			conv: make([]float32, len(l0.conv)), tmp: make([]float32, len(l0.tmp)), up: make([]float32, len(l0.up)),
			dc1: make([]float32, len(l0.dc1)), dc2: make([]float32, len(l0.dc2)),
		})
	}
	return a.lanes[w]
}

// parallel runs f(i, e, lane) for i in [0, n): in order on e itself with
// lane 0, unless e is the CPU with several threads, when up to that many
// goroutines take the i in turn, each with a CPU of its share of the
// threads (one, unless there are more threads than i) and a lane of its
// own. The calls for different i must write different buffers.
func (a *activations) parallel(n int, e ops.Backend, f func(i int, e ops.Backend, l *lane)) {
	threads, workers := 1, 1
	if ex, ok := e.(ops.Exec); ok {
		threads = ex.Threads
		if threads <= 0 {
			threads = ops.Threads()
		}
		workers = min(threads, n)
	}
	if workers <= 1 {
		for i := range n {
			f(i, e, a.lane(0))
		}
		return
	}
	a.lane(workers - 1) // made here, not by the workers
	each := ops.Exec{Threads: threads / workers}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				f(i, each, a.lanes[w])
			}
		})
	}
	wg.Wait()
}
