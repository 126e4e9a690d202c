package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress reports tiles done per image and overall: a bar redrawn in place
// on a terminal, one JSON object per line for wrappers, or nothing.
type progress struct {
	mode   string // "bar", "json" or "" (silent)
	w      io.Writer
	images int

	mu        sync.Mutex
	image     int
	name      string
	start     time.Time // of the current image
	runStart  time.Time
	lastDraw  time.Time
	doneFrac  float64 // images finished, as a count
	drewSince bool
}

func newProgress(mode string, w io.Writer, images int) *progress {
	return &progress{mode: mode, w: w, images: images, runStart: time.Now()}
}

// begin starts image i (0-based) of the run.
func (p *progress) begin(i int, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.image, p.name, p.start = i, name, time.Now()
}

// tiles is the Runner's callback.
func (p *progress) tiles(done, total int) {
	if p.mode == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	frac := float64(done) / float64(max(1, total))
	overall := (float64(p.image) + frac) / float64(max(1, p.images))
	eta := time.Duration(0)
	if overall > 0 {
		eta = time.Duration(float64(now.Sub(p.runStart)) * (1 - overall) / overall)
	}
	switch p.mode {
	case "json":
		line, _ := json.Marshal(map[string]any{
			"file": p.name, "image": p.image + 1, "images": p.images,
			"tiles_done": done, "tiles_total": total,
			"fraction": round3(overall), "eta_s": round3(eta.Seconds()),
		})
		fmt.Fprintf(p.w, "%s\n", line)
	case "bar":
		if done < total && now.Sub(p.lastDraw) < 100*time.Millisecond {
			return
		}
		p.lastDraw = now
		const width = 24
		filled := int(frac * width)
		bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
		fmt.Fprintf(p.w, "\r\033[K[%d/%d] %s %s %3.0f%% tiles %d/%d, all %3.0f%%, ETA %s",
			p.image+1, p.images, shorten(p.name, 32), bar, 100*frac, done, total, 100*overall, eta.Round(time.Second))
		p.drewSince = true
	}
}

// clear removes the bar before other stderr output and at the end.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "bar" && p.drewSince {
		fmt.Fprint(p.w, "\r\033[K")
		p.drewSince = false
	}
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
