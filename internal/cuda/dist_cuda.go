//go:build cuda

package cuda

// dist.Join for the GPU build: data-parallel training over NCCL, on the
// stream of the backend the process trains on.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/ipt-go/ipt/internal/dist"
)

func init() { dist.Join = join }

// The open backends by GPU, for join: the command opens the backend (and
// moves the net onto it) before it joins the group, and the communicator
// must queue on that backend's stream, after the gradients' kernels.
var opened struct {
	sync.Mutex
	m map[int]*Backend
}

func registerBackend(index int, b *Backend) {
	opened.Lock()
	defer opened.Unlock()
	if opened.m == nil {
		opened.m = map[int]*Backend{}
	}
	opened.m[index] = b
}

func unregisterBackend(index int, b *Backend) {
	opened.Lock()
	defer opened.Unlock()
	if opened.m[index] == b {
		delete(opened.m, index)
	}
}

// join is dist.Join: rank 0 makes NCCL's id, dist.Exchange hands it to the
// others, and every rank joins the communicator on its backend's GPU.
func join(ctx context.Context, e dist.Env, device string) (dist.Comm, error) {
	idx, err := strconv.Atoi(strings.TrimPrefix(device, "cuda:"))
	if !strings.HasPrefix(device, "cuda:") || err != nil {
		return nil, fmt.Errorf("data-parallel training runs on GPUs through NCCL: --device %s cannot (use --device cuda)", device)
	}
	opened.Lock()
	b := opened.m[idx]
	opened.Unlock()
	if b == nil || b.ctx == nil {
		return nil, fmt.Errorf("data-parallel training: no backend is open on GPU %d", idx)
	}
	var id UniqueID
	if e.Rank == 0 {
		if id, err = NewUniqueID(); err != nil {
			return nil, err
		}
	}
	got, err := dist.Exchange(ctx, e, id[:], dist.Timeout)
	if err != nil {
		return nil, err
	}
	if len(got) != len(id) {
		return nil, fmt.Errorf("rendezvous: an id of %d bytes, want %d", len(got), len(id))
	}
	copy(id[:], got)
	m, err := b.ctx.NewComm(id, e.Size, e.Rank)
	if err != nil {
		return nil, fmt.Errorf("GPU %d, rank %d of %d: %w", idx, e.Rank, e.Size, err)
	}
	return &ncclComm{b: b, m: m}, nil
}

// ncclComm is dist.Comm over NCCL on a backend's stream.
type ncclComm struct {
	b      *Backend
	m      *Comm
	failed bool
}

func (c *ncclComm) Rank() int { return c.m.Rank }
func (c *ncclComm) Size() int { return c.m.Ranks }

// AllReduceSum sums buf over the ranks in place. A buffer of the backend
// (the gradients) is reduced where it lies; any other (the loop's loss
// sums and stop flag, Go memory the GPU cannot address) goes through the
// backend's workspace. It returns once the sum is in buf.
func (c *ncclComm) AllReduceSum(buf []float32) error {
	if len(buf) == 0 {
		return nil
	}
	b := c.b
	if err := b.Sync(); err != nil { // what wrote buf is done
		return c.fail(err)
	}
	if b.owns(buf) {
		if err := c.m.AllReduceSum(Ptr(buf), Ptr(buf), len(buf)); err != nil {
			return c.fail(err)
		}
		return c.fail(b.Sync())
	}
	ws := b.scratch(len(buf)) // no queued work uses it: synchronised above
	if err := b.Err(); err != nil {
		return c.fail(err)
	}
	copy(ws, buf)
	if err := c.m.AllReduceSum(Ptr(ws), Ptr(ws), len(ws)); err != nil {
		return c.fail(err)
	}
	if err := b.Sync(); err != nil {
		return c.fail(err)
	}
	copy(buf, ws)
	return nil
}

func (c *ncclComm) fail(err error) error {
	if err != nil {
		c.failed = true
	}
	return err
}

// Close leaves the group: ncclCommDestroy, or ncclCommAbort after a failed
// collective (the others may never finish theirs).
func (c *ncclComm) Close() error {
	if c.failed {
		return c.m.Abort()
	}
	return c.m.Close()
}
