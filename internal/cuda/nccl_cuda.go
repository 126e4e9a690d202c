//go:build cuda

package cuda

// NCCL (libnccl.so.2), loaded only when a communicator is asked for:
// multi-GPU training. Signatures from nccl.h (NCCL 2.x); ncclComm_t and
// cudaStream_t are pointers, ncclUniqueId a 128-byte struct passed by value.

import (
	"fmt"
	"sync"
)

// nccl.h enum values.
const (
	ncclFloat32 = 7 // ncclFloat32 (ncclDataType_t)
	ncclSum     = 0 // ncclSum (ncclRedOp_t)
)

// ncclUniqueID is nccl.h's ncclUniqueId { char internal[NCCL_UNIQUE_ID_BYTES]; }.
type ncclUniqueID struct{ Internal UniqueID }

var nccl struct {
	once sync.Once
	err  error
	lib  *loaded

	ncclGetVersion     func(v *int32) int32
	ncclGetUniqueId    func(id *ncclUniqueID) int32
	ncclCommInitRank   func(comm *uintptr, nranks int32, id ncclUniqueID, rank int32) int32
	ncclAllReduce      func(send, recv DevicePtr, count uintptr, dtype, op int32, comm, stream uintptr) int32
	ncclCommDestroy    func(comm uintptr) int32
	ncclCommAbort      func(comm uintptr) int32
	ncclGetErrorString func(r int32) *byte
}

func loadNCCL() error {
	nccl.once.Do(func() {
		lib, err := open(NCCL)
		if err != nil {
			nccl.err = err
			return
		}
		n := &nccl
		nccl.err = lib.bind(
			sym{"ncclGetVersion", &n.ncclGetVersion},
			sym{"ncclGetUniqueId", &n.ncclGetUniqueId},
			sym{"ncclCommInitRank", &n.ncclCommInitRank},
			sym{"ncclAllReduce", &n.ncclAllReduce},
			sym{"ncclCommDestroy", &n.ncclCommDestroy},
			sym{"ncclCommAbort", &n.ncclCommAbort},
			sym{"ncclGetErrorString", &n.ncclGetErrorString},
		)
		n.lib = lib
	})
	return nccl.err
}

func ncclCheck(call string, r int32) error {
	if r == 0 {
		return nil
	}
	return &Error{Call: call, Code: int(r), Name: fmt.Sprintf("ncclResult_t %d", r), Text: goString(nccl.ncclGetErrorString(r))}
}

// NCCLVersion loads NCCL and returns its version: "2.21.5".
func NCCLVersion() (string, error) {
	if err := loadNCCL(); err != nil {
		return "", err
	}
	var v int32
	if err := ncclCheck("ncclGetVersion", nccl.ncclGetVersion(&v)); err != nil {
		return "", err
	}
	// nccl.h's NCCL_VERSION(X,Y,Z): X*10000 + Y*100 + Z since 2.9, X*1000 + Y*100 + Z before.
	if v >= 20900 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100), nil
	}
	return fmt.Sprintf("%d.%d.%d", v/1000, v%1000/100, v%100), nil
}

// NewUniqueID makes the identifier of a new communicator: rank 0 makes it
// and sends it to the other ranks (the training's rendezvous), which all
// pass it to NewComm.
func NewUniqueID() (UniqueID, error) {
	if err := loadNCCL(); err != nil {
		return UniqueID{}, err
	}
	var id ncclUniqueID
	err := ncclCheck("ncclGetUniqueId", nccl.ncclGetUniqueId(&id))
	return id.Internal, err
}

// Comm is this process's member of an NCCL communicator, on c's GPU and
// stream.
type Comm struct {
	ctx         *Context
	h           uintptr
	Ranks, Rank int
}

// NewComm joins communicator id as rank of nranks, on c's GPU. It blocks
// until every rank has joined. Close closes it (Context.Close does too).
func (c *Context) NewComm(id UniqueID, nranks, rank int) (*Comm, error) {
	if nranks < 1 || rank < 0 || rank >= nranks {
		return nil, fmt.Errorf("cuda: NewComm: rank %d of %d", rank, nranks)
	}
	if err := loadNCCL(); err != nil {
		return nil, err
	}
	m := &Comm{ctx: c, Ranks: nranks, Rank: rank}
	defer c.enter()() // NCCL takes the device of the current context
	if err := ncclCheck("ncclCommInitRank", nccl.ncclCommInitRank(&m.h, int32(nranks), ncclUniqueID{id}, int32(rank))); err != nil {
		return nil, err
	}
	c.comms = append(c.comms, m)
	return m, nil
}

// AllReduceSum queues, on the context's stream, recv = the sum over the
// ranks of send (n float32s each; send == recv works in place).
func (m *Comm) AllReduceSum(send, recv DevicePtr, n int) error {
	if n <= 0 {
		return nil
	}
	defer m.ctx.enter()()
	return ncclCheck("ncclAllReduce", nccl.ncclAllReduce(send, recv, uintptr(n), ncclFloat32, ncclSum, m.h, m.ctx.stream))
}

// Close waits for the queued work and leaves the communicator.
func (m *Comm) Close() error {
	if m.h == 0 {
		return nil
	}
	defer m.ctx.enter()()
	if err := check("cuStreamSynchronize", drv.cuStreamSynchronize(m.ctx.stream)); err != nil {
		return err
	}
	h := m.h
	m.h = 0
	return ncclCheck("ncclCommDestroy", nccl.ncclCommDestroy(h))
}

// Abort leaves the communicator at once (ncclCommAbort), without waiting
// for its collectives: after a failed one, whose peers may never answer.
func (m *Comm) Abort() error {
	if m.h == 0 {
		return nil
	}
	defer m.ctx.enter()()
	h := m.h
	m.h = 0
	return ncclCheck("ncclCommAbort", nccl.ncclCommAbort(h))
}
