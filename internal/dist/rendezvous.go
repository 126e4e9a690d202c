package dist

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"
)

// IDSize is the size of NCCL's unique id (NCCL_UNIQUE_ID_BYTES).
const IDSize = 128

// The rendezvous protocol. A rank other than 0 connects to rank 0 and
// sends its hello: magic, version, id size, world size, rank (big-endian
// uint16, uint16, uint32, uint32). Rank 0 answers magic, version, a status
// (0: the id follows, IDSize bytes; 1: an error message follows, a uint16
// length then the text) and closes.
const (
	rdzvMagic   = "IPT-RDZV"
	rdzvVersion = 1
	helloSize   = len(rdzvMagic) + 2 + 2 + 4 + 4
	ioTimeout   = 10 * time.Second // for one connection's hello and answer
)

// Exchange gives every rank of e rank 0's id (IDSize bytes): rank 0 listens
// on e.Addr, sends id to each other rank as it connects and returns once
// all Size−1 have it; the others connect (retrying while rank 0 is not yet
// listening) and return the id they were sent. Either fails, with an error
// naming the address and the ranks concerned, when the group is not
// complete within timeout, when a rank disagrees about the world size or
// the protocol, or when ctx ends. A run alone (Size 1) returns id.
func Exchange(ctx context.Context, e Env, id []byte, timeout time.Duration) ([]byte, error) {
	if e.Size == 1 {
		return id, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if e.Rank == 0 {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", e.Addr)
		if err != nil {
			return nil, fmt.Errorf("rendezvous: rank 0 cannot listen on %s: %v", e.Addr, err)
		}
		defer ln.Close()
		return id, Serve(ctx, ln, e.Size, id, timeout)
	}
	return Fetch(ctx, e.Addr, e.Rank, e.Size, timeout)
}

// Serve is rank 0's side of Exchange on ln, until the Size−1 other ranks
// have the id or ctx ends (timeout is only for the message).
func Serve(ctx context.Context, ln net.Listener, size int, id []byte, timeout time.Duration) error {
	if len(id) != IDSize {
		return fmt.Errorf("rendezvous: an id of %d bytes, want %d", len(id), IDSize)
	}
	addr := ln.Addr().String()
	done := make(chan error, 1)
	served := make([]bool, size)
	served[0] = true
	go func() {
		left := size - 1
		for left > 0 {
			conn, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			rank, err := serveConn(conn, size, id, served)
			switch {
			case errors.Is(err, errNotRendezvous):
				continue // something else knocked: not a rank
			case err != nil:
				done <- fmt.Errorf("rendezvous on %s: %v", addr, err)
				return
			}
			served[rank] = true
			left--
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		ln.Close()
		<-done
		var missing []string
		for r, ok := range served {
			if !ok {
				missing = append(missing, fmt.Sprint(r))
			}
		}
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("rendezvous on %s: rank %s of %d never arrived within %v", addr, strings.Join(missing, ", "), size, timeout)
		}
		return fmt.Errorf("rendezvous on %s: %w (waiting for rank %s)", addr, context.Cause(ctx), strings.Join(missing, ", "))
	}
}

var errNotRendezvous = errors.New("not a rendezvous hello")

// serveConn reads one hello and answers it: the id, or why not.
func serveConn(conn net.Conn, size int, id []byte, served []bool) (int, error) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	var h [helloSize]byte
	if _, err := io.ReadFull(conn, h[:]); err != nil || string(h[:len(rdzvMagic)]) != rdzvMagic {
		return 0, errNotRendezvous
	}
	p := h[len(rdzvMagic):]
	version, idSize := binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
	world, rank := int(binary.BigEndian.Uint32(p[4:])), int(binary.BigEndian.Uint32(p[8:]))
	var refuse string
	switch {
	case version != rdzvVersion:
		refuse = fmt.Sprintf("rank %d speaks rendezvous version %d, rank 0 version %d (run the same ipt everywhere)", rank, version, rdzvVersion)
	case idSize != IDSize:
		refuse = fmt.Sprintf("rank %d expects a %d-byte id, rank 0 has %d (run the same ipt everywhere)", rank, idSize, IDSize)
	case world != size:
		refuse = fmt.Sprintf("rank %d has world size %d, rank 0 has %d", rank, world, size)
	case rank < 1 || rank >= size:
		refuse = fmt.Sprintf("rank %d of world size %d cannot join (rank 0 is this one)", rank, size)
	case served[rank]:
		refuse = fmt.Sprintf("rank %d arrived twice (two processes with one rank)", rank)
	}
	reply := binary.BigEndian.AppendUint16([]byte(rdzvMagic), rdzvVersion)
	reply = append(reply, 0)
	if refuse != "" {
		reply[len(reply)-1] = 1
		reply = binary.BigEndian.AppendUint16(reply, uint16(len(refuse)))
		reply = append(reply, refuse...)
	} else {
		reply = append(reply, id...)
	}
	if _, err := conn.Write(reply); err != nil && refuse == "" {
		return 0, fmt.Errorf("rank %d: %v", rank, err)
	}
	if refuse != "" {
		return 0, errors.New(refuse)
	}
	return rank, nil
}

// Fetch is the side of Exchange of a rank other than 0: it connects to
// addr (retrying while nothing listens there) until ctx ends.
func Fetch(ctx context.Context, addr string, rank, size int, timeout time.Duration) ([]byte, error) {
	hello := []byte(rdzvMagic)
	hello = binary.BigEndian.AppendUint16(hello, rdzvVersion)
	hello = binary.BigEndian.AppendUint16(hello, IDSize)
	hello = binary.BigEndian.AppendUint32(hello, uint32(size))
	hello = binary.BigEndian.AppendUint32(hello, uint32(rank))
	var last error
	for {
		id, err := fetchOnce(ctx, addr, hello)
		if err == nil {
			return id, nil
		}
		var refused refusedError
		if errors.As(err, &refused) {
			return nil, fmt.Errorf("rendezvous %s: rank 0 refused rank %d: %s", addr, rank, string(refused))
		}
		last = err
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return nil, fmt.Errorf("rendezvous %s: rank %d got no id from rank 0 within %v (last: %v)", addr, rank, timeout, last)
			}
			return nil, fmt.Errorf("rendezvous %s: %w", addr, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type refusedError string

func (e refusedError) Error() string { return string(e) }

func fetchOnce(ctx context.Context, addr string, hello []byte) ([]byte, error) {
	conn, err := (&net.Dialer{Timeout: ioTimeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := conn.Write(hello); err != nil {
		return nil, err
	}
	head := make([]byte, len(rdzvMagic)+3)
	if _, err := io.ReadFull(conn, head); err != nil {
		return nil, err
	}
	if string(head[:len(rdzvMagic)]) != rdzvMagic {
		return nil, refusedError("its answer is not ipt's rendezvous (another service on that port?)")
	}
	if v := binary.BigEndian.Uint16(head[len(rdzvMagic):]); v != rdzvVersion {
		return nil, refusedError(fmt.Sprintf("it speaks rendezvous version %d, this process %d (run the same ipt everywhere)", v, rdzvVersion))
	}
	if head[len(head)-1] != 0 {
		var n [2]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return nil, err
		}
		msg := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(conn, msg); err != nil {
			return nil, err
		}
		return nil, refusedError(msg)
	}
	id := make([]byte, IDSize)
	if _, err := io.ReadFull(conn, id); err != nil {
		return nil, err
	}
	return slices.Clip(id), nil
}
