package ops

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Threads and per-thread memory of Sgemm. Sgemm's caller computes one part
// of C itself and hands the others to a pool of persistent worker goroutines,
// each with its own packing buffers; the caller's buffers come from a free
// list. Nothing is allocated per call once the buffers have grown to the
// largest problem seen.

var gemmThreads atomic.Int64 // 0: runtime.GOMAXPROCS

// SetThreads sets how many goroutines one Sgemm call may use (n < 1 restores
// the default, runtime.GOMAXPROCS). The result does not depend on it.
// Concurrent Sgemm calls each use up to n.
func SetThreads(n int) {
	gemmThreads.Store(int64(max(n, 0)))
}

// Threads returns the number of goroutines one Sgemm call may use.
func Threads() int {
	if n := gemmThreads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// gemmTask is the part rows [i0, i1) × columns [j0, j1) of call g.
type gemmTask struct {
	g              *gemmCall
	i0, i1, j0, j1 int
}

var (
	workQueue   = make(chan gemmTask, 256)
	workersMu   sync.Mutex
	workerCount int
)

// startWorkers makes sure at least n workers are running.
func startWorkers(n int) {
	workersMu.Lock()
	for ; workerCount < n; workerCount++ {
		go gemmWorker()
	}
	workersMu.Unlock()
}

func gemmWorker() {
	ws := new(workspace)
	for t := range workQueue {
		t.g.run(ws, t.i0, t.i1, t.j0, t.j1)
		t.g.pending.Done()
	}
}

// workspace is one thread's packing memory (and, for a caller, the call).
type workspace struct {
	a     []float32 // packed A block: mc×kc
	aedge []float32 // one packed A sliver: mr×kc
	b     []float32 // packed B panel: kc×nc
	bedge []float32 // one packed B sliver: kc×nr
	tmp   []float32 // an edge tile of C: mr×nr (a column of mc with a rows kernel)
	call  gemmCall
}

// reserve grows the buffers to hold a kc-deep block of mc rows and nc columns.
func (ws *workspace) reserve(kern *gemmKernel, kc, nc, mc int) {
	grow := func(s *[]float32, n int) {
		if cap(*s) < n {
			*s = make([]float32, n)
		}
		*s = (*s)[:cap(*s)]
	}
	grow(&ws.a, mc*kc)
	grow(&ws.aedge, kern.mr*kc)
	grow(&ws.b, nc*kc)
	grow(&ws.bedge, kern.nr*kc)
	tiles := kern.mr
	if kern.rows != nil {
		tiles = mc
	}
	grow(&ws.tmp, tiles*kern.nr)
}

var (
	freeMu         sync.Mutex
	freeWorkspaces []*workspace
)

func getWorkspace() *workspace {
	freeMu.Lock()
	defer freeMu.Unlock()
	if n := len(freeWorkspaces); n > 0 {
		ws := freeWorkspaces[n-1]
		freeWorkspaces = freeWorkspaces[:n-1]
		return ws
	}
	return new(workspace)
}

func putWorkspace(ws *workspace) {
	freeMu.Lock()
	freeWorkspaces = append(freeWorkspaces, ws)
	freeMu.Unlock()
}
