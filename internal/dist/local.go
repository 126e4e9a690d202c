package dist

import (
	"fmt"
	"sync"
)

// NewLocal returns the n ranks of an in-process group: each a Comm for one
// goroutine. AllReduceSum waits for every rank, then sets each buffer to
// b₀ + b₁ + … + bₙ₋₁ added in rank order, element by element, so the
// result is the same on every rank and from run to run. It stands in for
// NCCL in tests.
func NewLocal(n int) []Comm {
	g := &localGroup{n: n, bufs: make([][]float32, n)}
	g.cond = sync.NewCond(&g.mu)
	comms := make([]Comm, n)
	for r := range n {
		comms[r] = &localComm{g: g, rank: r}
	}
	return comms
}

type localGroup struct {
	n    int
	mu   sync.Mutex
	cond *sync.Cond

	gen     int         // collectives completed
	arrived int         // ranks waiting in the current one
	bufs    [][]float32 // their buffers, by rank
	sum     []float32   // the result of collective gen−1
	err     error       // and its error
	left    bool        // a rank has closed: the group is over
	closed  int         // which (when left)
}

type localComm struct {
	g    *localGroup
	rank int
}

func (c *localComm) Rank() int { return c.rank }
func (c *localComm) Size() int { return c.g.n }

func (c *localComm) AllReduceSum(buf []float32) error {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.left {
		return fmt.Errorf("all-reduce on rank %d: %w (rank %d)", c.rank, ErrClosed, g.closed)
	}
	gen := g.gen
	g.bufs[c.rank] = buf
	g.arrived++
	if g.arrived == g.n {
		g.sum, g.err = nil, nil
		for r, b := range g.bufs {
			if len(b) != len(buf) {
				g.err = fmt.Errorf("all-reduce: rank %d has %d values, rank %d has %d", r, len(b), c.rank, len(buf))
				break
			}
		}
		if g.err == nil {
			g.sum = make([]float32, len(buf))
			copy(g.sum, g.bufs[0])
			for _, b := range g.bufs[1:] {
				for i, v := range b {
					g.sum[i] += v
				}
			}
		}
		clear(g.bufs)
		g.arrived = 0
		g.gen++
		g.cond.Broadcast()
	} else {
		for g.gen == gen && !g.left {
			g.cond.Wait()
		}
		if g.gen == gen { // a rank left before the sum was made
			return fmt.Errorf("all-reduce on rank %d: %w (rank %d)", c.rank, ErrClosed, g.closed)
		}
	}
	if g.err != nil {
		return g.err
	}
	copy(buf, g.sum)
	return nil
}

func (c *localComm) Close() error {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.left {
		g.left, g.closed = true, c.rank
		g.cond.Broadcast()
	}
	return nil
}
