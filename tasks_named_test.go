package main

import (
	"strings"
	"testing"

	"github.com/ipt-go/ipt/internal/ipt"
)

// TestSelectNamedTask: a checkpoint that names its tasks (ipt train's) is
// served by name, whatever the order of its heads.
func TestSelectNamedTask(t *testing.T) {
	c := ipt.Config{Scales: []int{4, 1, 1, 1}, TaskNames: []string{"sr4", "derain", "dn15", "dn50"}}
	for _, tc := range []struct {
		j    job
		want int
	}{
		{job{name: "sr4", scale: 4}, 0},
		{job{name: "derain", scale: 1, derain: true}, 1},
		{job{name: "denoise15", scale: 1, sigma: 15}, 2},
		{job{name: "denoise50", scale: 1, sigma: 50}, 3},
		{job{name: "denoise40", scale: 1, sigma: 40}, 3}, // nearest
	} {
		got, err := selectTask(c, tc.j, -1, "ck.safetensors")
		if err != nil || got != tc.want {
			t.Errorf("%s: head %d, %v; want %d", tc.j.name, got, err, tc.want)
		}
	}
	if _, err := selectTask(c, job{name: "sr2", scale: 2}, -1, "ck.safetensors"); err == nil || !strings.Contains(err.Error(), "trained for sr4, derain, dn15, dn50") {
		t.Errorf("sr2 from a checkpoint without it: %v", err)
	}
	c = ipt.Config{Scales: []int{1}, TaskNames: []string{"dn30"}}
	if _, err := selectTask(c, job{name: "derain", scale: 1, derain: true}, -1, "ck.safetensors"); err == nil {
		t.Error("derain from a dn30 checkpoint: no error")
	}
	c = ipt.Config{Scales: []int{1}, TaskNames: []string{"sr2"}}
	if _, err := selectTask(c, job{name: "sr2", scale: 2}, -1, "ck.safetensors"); err == nil || !strings.Contains(err.Error(), "scale ×1") {
		t.Errorf("a name that contradicts the tail: %v", err)
	}
}

// TestSelectBlindDenoiser: a head trained for a range of noise levels
// (dnA-B) serves the levels it holds, after a head trained for exactly the
// level and before the nearest other one; outside its range it is ranked
// by its nearer end. Among built-in models, sigmaMiss ranks them the same.
func TestSelectBlindDenoiser(t *testing.T) {
	c := ipt.Config{Scales: []int{1, 1, 1, 1}, TaskNames: []string{"derain", "dn30", "dn5-75", "dn50"}}
	for _, tc := range []struct {
		sigma, want int
		note        string
	}{
		{30, 1, ""},
		{50, 3, ""},
		{25, 2, ""},
		{5, 2, ""},
		{75, 2, ""},
		{31, 2, ""},
		{80, 2, "using the σ5–75 head"},
		{200, 2, "using the σ5–75 head"},
	} {
		j := job{name: "denoise", scale: 1, sigma: tc.sigma}
		got, notes, err := chooseHead(c, j, -1, "ck.safetensors")
		if err != nil || got != tc.want {
			t.Errorf("σ%d: head %d, %v; want %d", tc.sigma, got, err, tc.want)
		}
		if note := strings.Join(notes, "; "); (tc.note == "") != (note == "") || !strings.Contains(note, tc.note) {
			t.Errorf("σ%d: notes %q; want %q", tc.sigma, note, tc.note)
		}
		if miss := sigmaMiss(c, got, j); miss != sigmaGap(namedSigmaHeads(c)[got-1], tc.sigma) {
			t.Errorf("σ%d: sigmaMiss %d", tc.sigma, miss)
		}
	}
	// Three one-task models, as built in: each level goes to the same
	// model as within one checkpoint.
	models := []ipt.Config{
		{Scales: []int{1}, TaskNames: []string{"dn30"}},
		{Scales: []int{1}, TaskNames: []string{"dn5-75"}},
		{Scales: []int{1}, TaskNames: []string{"dn50"}},
	}
	for sigma, want := range map[int]int{30: 0, 50: 2, 15: 1, 40: 1, 90: 1, 1: 1} {
		best, bestMiss := -1, 0
		for i, m := range models {
			if miss := sigmaMiss(m, 0, job{scale: 1, sigma: sigma}); best < 0 || miss < bestMiss {
				best, bestMiss = i, miss
			}
		}
		if best != want {
			t.Errorf("σ%d: model %s; want %s", sigma, models[best].TaskNames[0], models[want].TaskNames[0])
		}
	}
}
