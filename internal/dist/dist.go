// Package dist is what data-parallel training needs besides the all-reduce
// itself: the Comm a training loop sums its gradients through, an
// in-process stand-in for tests, where a process learns its rank, world
// size, local rank and rendezvous address (flags, torchrun's or Slurm's
// environment), and the TCP rendezvous that hands NCCL's unique id from
// rank 0 to the others.
//
// The default build has no multi-process Comm: Join is nil and a world
// size above 1 is refused. The cuda build sets Join to one backed by NCCL
// (see Join).
package dist

import (
	"context"
	"errors"
	"time"
)

// Timeout bounds the rendezvous: the time the last rank may take to
// arrive.
const Timeout = 5 * time.Minute

// Comm is one process's (rank's) place in a group of Size processes that
// train one model together.
type Comm interface {
	Rank() int // 0 … Size()−1
	Size() int
	// AllReduceSum replaces buf, on every rank, by the element-wise sum of
	// every rank's buf. All ranks call it in the same order with buffers of
	// the same length; it returns when the sum is in buf.
	AllReduceSum(buf []float32) error
	// Close leaves the group. A rank that closes while others wait in
	// AllReduceSum makes their calls fail (with ErrClosed) rather than
	// hang.
	Close() error
}

// ErrClosed is returned by a collective of a group a rank has left.
var ErrClosed = errors.New("a rank left the group")

// Join joins the group that e describes and returns this process's Comm,
// on device (what DeviceFor made of --device and e.LocalRank). It is nil
// in the default build. The cuda build sets it (in an init function of a
// file with //go:build cuda) to a function that
//
//  1. on rank 0 makes NCCL's id (ncclGetUniqueId, IDSize bytes),
//  2. shares it with Exchange(ctx, e, id, Timeout) (rank 0 serves it on
//     e.Addr, the others fetch it),
//  3. selects the GPU device names (cudaSetDevice) and calls
//     ncclCommInitRank(e.Size, id, e.Rank),
//
// and returns a Comm whose AllReduceSum is ncclAllReduce(ncclFloat32,
// ncclSum) and whose Close is ncclCommAbort when a collective failed,
// else ncclCommDestroy.
var Join func(ctx context.Context, e Env, device string) (Comm, error)

// ErrNoBackend is the refusal of a world size above 1 by a build without
// a multi-process Comm (Join nil).
var ErrNoBackend = errors.New("data-parallel training needs the cuda build and NCCL (go build -tags cuda)")
