// Package builtin holds the models shipped inside the ipt binary: the
// .safetensors files of this folder, embedded when the binary is built
// (none is fine: the folder is embedded whole, so the build works either
// way), and scores.json, their measured scores, which
// scripts/make_builtin.sh writes beside them.
//
// Nothing is read until a command asks: a run that uses the user's own
// weights never touches the embedded bytes.
package builtin

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/weights"
)

// The pattern * takes every file of the folder (this source and the README
// too, a few kB), so it matches whether or not a model is there.
//
//go:embed *
var embedded embed.FS

// FS is where the built-in models are read from: this folder as embedded.
// Tests and IPT_BUILTIN put another folder in its place; nil means none.
var FS fs.FS = embedded

// ScoresFile is the name of the scores file beside the models.
const ScoresFile = "scores.json"

// Prefix marks a built-in model's name where a file name would go, in
// messages and in --weights builtin:NAME.
const Prefix = "builtin:"

// Names lists the model files (*.safetensors) of FS, sorted.
func Names() ([]string, error) {
	if FS == nil {
		return nil, nil
	}
	ents, err := fs.ReadDir(FS, ".")
	if err != nil {
		return nil, fmt.Errorf("built-in models: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.EqualFold(path.Ext(e.Name()), ".safetensors") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// Load reads the named built-in model. The heads are what the file records
// (ipt convert writes them), so there is no numHeads to pass. Errors start
// "weights: builtin:NAME: ".
func Load(name string) (*ipt.Model, error) {
	if FS == nil {
		return nil, fmt.Errorf("weights: %s%s: this ipt has no built-in models", Prefix, name)
	}
	r, size, closer, err := open(name)
	if errors.Is(err, fs.ErrNotExist) {
		names, _ := Names()
		if len(names) == 0 {
			return nil, fmt.Errorf("weights: %s%s: this ipt has no built-in models", Prefix, name)
		}
		return nil, fmt.Errorf("weights: %s%s: no such built-in model (there are %s)", Prefix, name, strings.Join(names, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("weights: %s%s: %w", Prefix, name, err)
	}
	defer closer.Close()
	ck, err := weights.LoadReader(r, size, Prefix+name)
	if err != nil {
		return nil, err
	}
	m, err := ipt.FromCheckpoint(ck, 0)
	if err != nil {
		return nil, fmt.Errorf("weights: %s%s: %w", Prefix, name, err)
	}
	return m, nil
}

// open gives random access to a file of FS: embedded files (and most
// others) read in place; anything else is read whole first.
func open(name string) (io.ReaderAt, int64, io.Closer, error) {
	f, err := FS.Open(name)
	if err != nil {
		return nil, 0, nil, unwrapPath(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, unwrapPath(err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, nil, errors.New("not a regular file")
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return ra, st.Size(), f, nil
	}
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, 0, nil, unwrapPath(err)
	}
	return bytes.NewReader(b), int64(len(b)), f, nil
}

// Scores are one model's measured figures, as scripts/make_builtin.sh
// writes them into scores.json (an object keyed by model file name).
type Scores struct {
	Measured     string             `json:"measured"` // when and how: commit, CPU, threads
	Rows         []Row              `json:"rows"`
	SecondsPerMP map[string]float64 `json:"seconds_per_mp"` // by task; SR per output megapixel
}

// Row is one line of ipt eval: a task on a test set.
type Row struct {
	Task     string   `json:"task"`   // sr2, sr3, sr4, dn50, derain…
	Data     string   `json:"data"`   // test set: Set5, Set14, CBSD68, Rain100L
	Metric   string   `json:"metric"` // psnr_y or psnr_rgb
	PSNR     float64  `json:"psnr"`
	Ensemble *float64 `json:"psnr_ensemble,omitempty"` // with --ensemble, when measured
	Flips    *float64 `json:"psnr_flips,omitempty"`    // with --flips, when measured
}

// ReadScores reads scores.json; a missing file is no scores, not an error.
func ReadScores() (map[string]Scores, error) {
	if FS == nil {
		return nil, nil
	}
	b, err := fs.ReadFile(FS, ScoresFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", Prefix, ScoresFile, unwrapPath(err))
	}
	var s map[string]Scores
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s%s: %w", Prefix, ScoresFile, err)
	}
	for name, sc := range s {
		for i, r := range sc.Rows {
			if r.Task == "" || r.Data == "" || (r.Metric != "psnr_y" && r.Metric != "psnr_rgb") {
				return nil, fmt.Errorf("%s%s: %s: row %d needs a task, data and a metric psnr_y or psnr_rgb", Prefix, ScoresFile, name, i+1)
			}
		}
	}
	return s, nil
}

// unwrapPath drops the *fs.PathError wrapper, whose path would repeat the name.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
