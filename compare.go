package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/ipt-go/ipt/internal/imageio"
	"github.com/ipt-go/ipt/internal/ipt"
	"github.com/ipt-go/ipt/internal/quality"
)

type compareCmd struct {
	Image     string `arg:"" name:"image" placeholder:"A" help:"Image to measure, e.g. a restored one."`
	Reference string `arg:"" name:"reference" placeholder:"B" help:"Reference image of the same size, e.g. the clean one."`
	Shave     int    `placeholder:"N" help:"Pixels left out at each border (the scale, for SR as in the paper; default 0)."`
	JSON      bool   `name:"json" help:"Print one JSON object: psnr_rgb, psnr_y, ssim."`
}

// metric is a figure for JSON: +Inf (identical images) and NaN (too small
// for SSIM's window) are written as null, which JSON can hold.
type metric float64

func (m metric) MarshalJSON() ([]byte, error) {
	if math.IsInf(float64(m), 0) || math.IsNaN(float64(m)) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(m), 'f', 6, 64), nil
}

// scores are the figures of one pair.
type scores struct {
	PSNRRGB metric `json:"psnr_rgb"`
	PSNRY   metric `json:"psnr_y"`
	SSIM    metric `json:"ssim"`
}

func measure(a, b *ipt.Image, shave int) scores {
	rgb, y := quality.PSNR(a, b, shave)
	return scores{metric(rgb), metric(y), metric(quality.SSIM(a, b, shave))}
}

// fmtMetric prints a figure for the table: inf for identical images, n/a
// for SSIM of an image smaller than its window.
func fmtMetric(v metric, prec int) string {
	switch {
	case math.IsInf(float64(v), 1):
		return "inf"
	case math.IsNaN(float64(v)):
		return "n/a"
	}
	return strconv.FormatFloat(float64(v), 'f', prec, 64)
}

// Run prints PSNR (RGB and Y) and SSIM of one pair. Alpha is ignored; grey
// images count as three equal channels.
func (c *compareCmd) Run() error {
	if c.Shave < 0 {
		return usageError{fmt.Errorf("--shave %d: must not be negative", c.Shave)}
	}
	a, err := readColor(c.Image)
	if err != nil {
		return err
	}
	b, err := readColor(c.Reference)
	if err != nil {
		return err
	}
	if a.H != b.H || a.W != b.W {
		return fmt.Errorf("%s is %d×%d but %s is %d×%d: compare needs images of one size", c.Image, a.W, a.H, c.Reference, b.W, b.H)
	}
	if 2*c.Shave >= a.H || 2*c.Shave >= a.W {
		return usageError{fmt.Errorf("--shave %d leaves no pixel of the %d×%d images", c.Shave, a.W, a.H)}
	}
	s := measure(a, b, c.Shave)
	if c.JSON {
		out, err := json.Marshal(s)
		if err != nil {
			return err
		}
		fmt.Println(string(out))
		return nil
	}
	fmt.Printf("psnr_rgb %s dB  psnr_y %s dB  ssim %s\n", fmtMetric(s.PSNRRGB, 4), fmtMetric(s.PSNRY, 4), fmtMetric(s.SSIM, 4))
	return nil
}

// readColor reads an image file's colour planes; errors name the file.
func readColor(path string) (*ipt.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", path, trimPath(err))
	}
	defer f.Close()
	p, err := imageio.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return p.Color, nil
}
