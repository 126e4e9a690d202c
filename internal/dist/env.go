package dist

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Env is where a process stands in a data-parallel run.
type Env struct {
	Rank      int    // 0 … Size−1; rank 0 serves the rendezvous and writes the checkpoints
	Size      int    // processes (the world size), 1 for a run alone
	LocalRank int    // rank among the processes on this host: picks the GPU (DeviceFor)
	Addr      string // HOST:PORT of rank 0's rendezvous; empty when Size is 1
	From      string // where the values came from, for messages
}

// Flags are the command line's --rank, --world-size, --local-rank and
// --dist-addr: −1 (or "") where not given.
type Flags struct {
	Rank, WorldSize, LocalRank int
	Addr                       string
}

// DefaultPort is the rendezvous port when MASTER_ADDR comes without
// MASTER_PORT, or the address from Slurm's node list: torchrun's default.
const DefaultPort = 29500

// Resolve works out a process's Env: each value from its flag when given,
// else from the environment a launcher set, else that of a run alone
// (rank 0 of 1). The environment is torchrun's when RANK or WORLD_SIZE is
// set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), else
// Slurm's when SLURM_PROCID and SLURM_NTASKS are (as srun sets them in each
// task: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, and the address from
// MASTER_ADDR, else the first host of SLURM_STEP_NODELIST or
// SLURM_JOB_NODELIST, on MASTER_PORT or DefaultPort). The local rank
// defaults to the rank (right when every process is on one host).
func Resolve(f Flags, getenv func(string) string) (Env, error) {
	e := Env{Rank: f.Rank, Size: f.WorldSize, LocalRank: f.LocalRank, Addr: f.Addr}
	var from []string
	if f.Rank >= 0 || f.WorldSize >= 0 || f.LocalRank >= 0 || f.Addr != "" {
		from = append(from, "flags")
	}
	var firstErr error
	count := func(dst *int, key string) {
		s := getenv(key)
		if *dst >= 0 || s == "" || firstErr != nil {
			return
		}
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 0 {
			firstErr = fmt.Errorf("%s=%q: not a count", key, s)
			return
		}
		*dst = v
	}
	masterAddr := func() {
		if e.Addr != "" || getenv("MASTER_ADDR") == "" {
			return
		}
		e.Addr = net.JoinHostPort(getenv("MASTER_ADDR"), port(getenv))
	}
	switch {
	case getenv("RANK") != "" || getenv("WORLD_SIZE") != "":
		from = append(from, "torchrun's RANK, WORLD_SIZE")
		count(&e.Rank, "RANK")
		count(&e.Size, "WORLD_SIZE")
		count(&e.LocalRank, "LOCAL_RANK")
		masterAddr()
	case getenv("SLURM_PROCID") != "" && getenv("SLURM_NTASKS") != "":
		from = append(from, "Slurm's SLURM_PROCID, SLURM_NTASKS")
		count(&e.Rank, "SLURM_PROCID")
		count(&e.Size, "SLURM_NTASKS")
		count(&e.LocalRank, "SLURM_LOCALID")
		masterAddr()
		for _, key := range []string{"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST"} {
			if list := getenv(key); e.Addr == "" && list != "" && firstErr == nil {
				host, err := FirstHost(list)
				if err != nil {
					firstErr = fmt.Errorf("%s=%q: %v", key, list, err)
					break
				}
				e.Addr = net.JoinHostPort(host, port(getenv))
			}
		}
	}
	if firstErr != nil {
		return Env{}, firstErr
	}
	e.From = strings.Join(from, " and ")
	if e.From == "" {
		e.From = "a run alone"
	}
	if e.Size < 0 {
		e.Size = 1
	}
	switch {
	case e.Size == 0:
		return Env{}, fmt.Errorf("world size 0 (from %s): must be at least 1", e.From)
	case e.Rank < 0 && e.Size > 1:
		return Env{}, fmt.Errorf("world size %d (from %s) but no rank: give --rank or set RANK", e.Size, e.From)
	case e.Rank < 0:
		e.Rank = 0
	case e.Rank >= e.Size:
		return Env{}, fmt.Errorf("rank %d (from %s) of world size %d: ranks are 0 … %d", e.Rank, e.From, e.Size, e.Size-1)
	}
	if e.LocalRank < 0 {
		e.LocalRank = e.Rank
	}
	if e.Size == 1 {
		return e, nil
	}
	if e.Addr == "" {
		return Env{}, fmt.Errorf("world size %d (from %s) but no rendezvous address: give --dist-addr HOST:PORT or set MASTER_ADDR and MASTER_PORT", e.Size, e.From)
	}
	if err := checkAddr(e.Addr); err != nil {
		return Env{}, err
	}
	return e, nil
}

func port(getenv func(string) string) string {
	if p := strings.TrimSpace(getenv("MASTER_PORT")); p != "" {
		return p
	}
	return strconv.Itoa(DefaultPort)
}

func checkAddr(addr string) error {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("rendezvous address %q: want HOST:PORT", addr)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("rendezvous address %q: port %q is not 1 … 65535", addr, p)
	}
	if host == "" {
		return fmt.Errorf("rendezvous address %q: no host", addr)
	}
	return nil
}

// FirstHost is the first host of a Slurm node list: "node07" of "node07",
// "a1,b2" or "node[07-09,12],gpu3"; each bracketed range list gives its
// first value as written (zero padding kept), so "rack[2-3]-n[01-04]" is
// "rack2-n01".
func FirstHost(list string) (string, error) {
	list = strings.TrimSpace(list)
	var b strings.Builder
	for i := 0; i < len(list); i++ {
		switch c := list[i]; {
		case c == '[':
			end := strings.IndexByte(list[i:], ']')
			if end < 0 {
				return "", errors.New("unclosed bracket")
			}
			if strings.IndexByte(list[i+1:i+end], '[') >= 0 {
				return "", errors.New("nested brackets")
			}
			first, _, _ := strings.Cut(list[i+1:i+end], ",")
			first, _, _ = strings.Cut(first, "-")
			if first == "" {
				return "", errors.New("empty bracket")
			}
			b.WriteString(first)
			i += end
		case c == ']':
			return "", errors.New("unopened bracket")
		case c == ',':
			i = len(list)
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "", errors.New("no host")
	}
	return b.String(), nil
}

// DeviceFor is the device a process of local rank localRank trains on when
// --device is device: cuda without an index is cuda:localRank (one GPU per
// process on a host); cpu and cuda:N are themselves.
func DeviceFor(device string, localRank int) string {
	if device == "cuda" {
		return "cuda:" + strconv.Itoa(localRank)
	}
	return device
}
