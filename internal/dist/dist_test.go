package dist

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLocalSum: every rank gets b₀ + b₁ + b₂ added in rank order, bit for
// bit the same on each, over several collectives.
func TestLocalSum(t *testing.T) {
	const n, size = 3, 1000
	comms := NewLocal(n)
	rng := rand.New(rand.NewPCG(1, 2))
	in := make([][][]float32, 4) // collective, rank, values
	for c := range in {
		in[c] = make([][]float32, n)
		for r := range n {
			in[c][r] = make([]float32, size)
			for i := range size {
				in[c][r][i] = float32(rng.NormFloat64() * float64(1+1000*(i%3)))
			}
		}
	}
	out := make([][][]float32, n) // rank, collective, values
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			for c := range in {
				buf := append([]float32(nil), in[c][r]...)
				if errs[r] = comms[r].AllReduceSum(buf); errs[r] != nil {
					return
				}
				out[r] = append(out[r], buf)
			}
		})
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	for c := range in {
		for r := 1; r < n; r++ {
			if !equal(out[r][c], out[0][c]) {
				t.Fatalf("collective %d: rank %d's sum differs from rank 0's", c, r)
			}
		}
		for i := range size {
			want := in[c][0][i] + in[c][1][i]
			want += in[c][2][i]
			if out[0][c][i] != want {
				t.Fatalf("collective %d [%d]: %v, want %v (rank order)", c, i, out[0][c][i], want)
			}
		}
	}
}

func equal(a, b []float32) bool {
	return len(a) == len(b) && string(f32bytes(a)) == string(f32bytes(b))
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// TestLocalErrors: buffers of different lengths fail on every rank; a rank
// that closes releases the others with ErrClosed instead of a hang.
func TestLocalErrors(t *testing.T) {
	comms := NewLocal(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() { errs[r] = comms[r].AllReduceSum(make([]float32, 3+r)) })
	}
	wg.Wait()
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "values") {
			t.Errorf("rank %d with a buffer of another length: %v", r, err)
		}
	}

	comms = NewLocal(3)
	got := make(chan error, 2)
	for r := 1; r < 3; r++ {
		go func() { got <- comms[r].AllReduceSum(make([]float32, 4)) }()
	}
	time.Sleep(10 * time.Millisecond)
	comms[0].Close()
	for range 2 {
		select {
		case err := <-got:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("waiting rank after a close: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a rank still waits after another closed")
		}
	}
}

func TestFirstHost(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"node07", "node07"},
		{"a1,b2", "a1"},
		{"node[01-04,07]", "node01"},
		{"node[07-09,12],gpu3", "node07"},
		{"gpu[3,5-6]", "gpu3"},
		{"rack[2-3]-n[01-04],x", "rack2-n01"},
		{"n[1-2]-ib", "n1-ib"},
		{" host.example.org ", "host.example.org"},
	} {
		if got, err := FirstHost(c.in); err != nil || got != c.want {
			t.Errorf("FirstHost(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "node[01-02", "node]", "n[]", "n[1[2]]", ",a"} {
		if got, err := FirstHost(bad); err == nil {
			t.Errorf("FirstHost(%q) = %q, want an error", bad, got)
		}
	}
}

func TestResolve(t *testing.T) {
	none := Flags{-1, -1, -1, ""}
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		name  string
		flags Flags
		env   func(string) string
		want  Env
	}{
		{"alone", none, env(), Env{0, 1, 0, "", "a run alone"}},
		{"flags", Flags{1, 2, 0, "h:1234"}, env(), Env{1, 2, 0, "h:1234", "flags"}},
		{"local rank defaults to rank", Flags{3, 4, -1, "h:1"}, env(), Env{3, 4, 3, "h:1", "flags"}},
		{"torchrun", none, env("RANK", "5", "WORLD_SIZE", "8", "LOCAL_RANK", "1", "MASTER_ADDR", "10.0.0.2", "MASTER_PORT", "29400"),
			Env{5, 8, 1, "10.0.0.2:29400", "torchrun's RANK, WORLD_SIZE"}},
		{"torchrun, ipv6, default port", none, env("RANK", "0", "WORLD_SIZE", "2", "MASTER_ADDR", "fe80::1"),
			Env{0, 2, 0, "[fe80::1]:29500", "torchrun's RANK, WORLD_SIZE"}},
		{"flags over torchrun", Flags{-1, -1, -1, "x:9"}, env("RANK", "1", "WORLD_SIZE", "2", "MASTER_ADDR", "m"),
			Env{1, 2, 1, "x:9", "flags and torchrun's RANK, WORLD_SIZE"}},
		{"slurm", none, env("SLURM_PROCID", "6", "SLURM_NTASKS", "8", "SLURM_LOCALID", "2", "SLURM_JOB_NODELIST", "gpu[07-08]"),
			Env{6, 8, 2, "gpu07:29500", "Slurm's SLURM_PROCID, SLURM_NTASKS"}},
		{"slurm step list first, MASTER_PORT", none, env("SLURM_PROCID", "1", "SLURM_NTASKS", "2", "SLURM_STEP_NODELIST", "a[3-4]", "SLURM_JOB_NODELIST", "a[1-4]", "MASTER_PORT", "7000"),
			Env{1, 2, 1, "a3:7000", "Slurm's SLURM_PROCID, SLURM_NTASKS"}},
		{"slurm with MASTER_ADDR", none, env("SLURM_PROCID", "1", "SLURM_NTASKS", "2", "SLURM_JOB_NODELIST", "a[1-2]", "MASTER_ADDR", "b"),
			Env{1, 2, 1, "b:29500", "Slurm's SLURM_PROCID, SLURM_NTASKS"}},
		{"torchrun over slurm", none, env("RANK", "1", "WORLD_SIZE", "2", "MASTER_ADDR", "m", "SLURM_PROCID", "0", "SLURM_NTASKS", "1"),
			Env{1, 2, 1, "m:29500", "torchrun's RANK, WORLD_SIZE"}},
	} {
		got, err := Resolve(c.flags, c.env)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	for _, c := range []struct {
		name  string
		flags Flags
		env   func(string) string
		want  string
	}{
		{"no rank", Flags{-1, 2, -1, "h:1"}, env(), "no rank"},
		{"rank too big", Flags{2, 2, -1, "h:1"}, env(), "ranks are 0 … 1"},
		{"world 0", Flags{0, 0, -1, "h:1"}, env(), "world size 0"},
		{"no address", none, env("RANK", "0", "WORLD_SIZE", "2"), "no rendezvous address"},
		{"bad count", none, env("RANK", "x", "WORLD_SIZE", "2"), `RANK="x": not a count`},
		{"bad port", Flags{0, 2, 0, "h:99999"}, env(), "port"},
		{"no port", Flags{0, 2, 0, "h"}, env(), "HOST:PORT"},
		{"bad node list", none, env("SLURM_PROCID", "0", "SLURM_NTASKS", "2", "SLURM_JOB_NODELIST", "a[1-2"), "SLURM_JOB_NODELIST"},
	} {
		if got, err := Resolve(c.flags, c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %+v, %v; want an error with %q", c.name, got, err, c.want)
		}
	}
}

func TestDeviceFor(t *testing.T) {
	for _, c := range []struct {
		dev  string
		lr   int
		want string
	}{{"cuda", 3, "cuda:3"}, {"cuda:1", 3, "cuda:1"}, {"cpu", 2, "cpu"}} {
		if got := DeviceFor(c.dev, c.lr); got != c.want {
			t.Errorf("DeviceFor(%q, %d) = %q, want %q", c.dev, c.lr, got, c.want)
		}
	}
}

func testID() []byte {
	id := make([]byte, IDSize)
	for i := range id {
		id[i] = byte(i*7 + 3)
	}
	return id
}

// freeAddr is a localhost address nothing listens on (just now).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestExchange: four ranks, the others started before rank 0 listens, all
// get rank 0's id.
func TestExchange(t *testing.T) {
	addr := freeAddr(t)
	const n = 4
	ids := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := n - 1; r >= 0; r-- {
		wg.Go(func() {
			id := make([]byte, IDSize)
			if r == 0 {
				time.Sleep(300 * time.Millisecond) // the others retry meanwhile
				id = testID()
			}
			ids[r], errs[r] = Exchange(context.Background(), Env{Rank: r, Size: n, Addr: addr}, id, 10*time.Second)
		})
	}
	wg.Wait()
	for r := range n {
		if errs[r] != nil || !bytes.Equal(ids[r], testID()) {
			t.Errorf("rank %d: %v, id %x", r, errs[r], ids[r][:4])
		}
	}
}

// TestExchangeErrors: a rank that never comes, rank 0 that never listens,
// a rank with another world size or rank 0's rank, and a client of
// another protocol version: each a one-line error naming what.
func TestExchangeErrors(t *testing.T) {
	ctx := context.Background()
	addr := freeAddr(t)
	// Rank 0 of 3; only rank 1 comes.
	done := make(chan error, 1)
	go func() {
		_, err := Exchange(ctx, Env{Rank: 0, Size: 3, Addr: addr}, testID(), 500*time.Millisecond)
		done <- err
	}()
	if _, err := Exchange(ctx, Env{Rank: 1, Size: 3, Addr: addr}, nil, 5*time.Second); err != nil {
		t.Errorf("rank 1: %v", err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "rank 2 of 3 never arrived within 500ms") {
		t.Errorf("rank 0 without rank 2: %v", err)
	}

	// Nobody listens.
	_, err := Exchange(ctx, Env{Rank: 1, Size: 2, Addr: freeAddr(t)}, nil, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "got no id from rank 0 within 300ms") {
		t.Errorf("rank 1 alone: %v", err)
	}

	for _, c := range []struct {
		rank, size int
		want       string
	}{
		{1, 3, "rank 1 has world size 3, rank 0 has 2"},
		{0, 2, "rank 0 of world size 2 cannot join"},
	} {
		addr := freeAddr(t)
		go func() {
			_, err := Exchange(ctx, Env{Rank: 0, Size: 2, Addr: addr}, testID(), 5*time.Second)
			done <- err
		}()
		_, err := Fetch(ctx, addr, c.rank, c.size, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rank %d of %d, fetching: %v", c.rank, c.size, err)
		}
		if err := <-done; err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rank %d of %d, serving: %v", c.rank, c.size, err)
		}
	}

	// Another version, and a stranger first (ignored).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- Serve(ctx, ln, 2, testID(), time.Second) }()
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		c.Close()
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	hello := binary.BigEndian.AppendUint16([]byte(rdzvMagic), rdzvVersion+1)
	hello = binary.BigEndian.AppendUint16(hello, IDSize)
	hello = binary.BigEndian.AppendUint32(hello, 2)
	hello = binary.BigEndian.AppendUint32(hello, 1)
	c.Write(hello)
	c.Close()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "version 2, rank 0 version 1") {
		t.Errorf("a client of another version: %v", err)
	}
}
