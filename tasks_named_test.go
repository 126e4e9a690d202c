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
