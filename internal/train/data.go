package train

import (
	"container/list"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/ipt-go/ipt/internal/imageio"
	"github.com/ipt-go/ipt/internal/ipt"
)

// Data is a training set: the image files under some folders, decoded on
// demand and kept in a cache bounded by CacheBytes of decoded (compact, 1
// to 8 bytes a pixel) images, so the set is never held whole.
type Data struct {
	Files []string // the usable images, sorted
	sides []int    // the smaller side of each of Files
	cache *imageCache

	mu     sync.Mutex
	bySide map[int][]int // indices into Files of the images with sides ≥ the key
}

// CacheBytes bounds the decoded images Data keeps: 256 MiB, about 60 of
// DIV2K's 2K images or all 491 of ../shared/datasets/train.
const CacheBytes = 256 << 20

// imageExts are the extensions picked up in data folders: the formats
// internal/imageio reads.
var imageExts = []string{".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pam", ".pnm"}

// OpenData lists the images under dirs, recursively, and keeps those whose
// sides are both at least minSide (the largest crop the tasks take); the
// others, and files that cannot be read, are reported through warn and
// skipped. A folder that cannot be read or holds no image, or a set with no
// usable image, is an error naming it.
func OpenData(dirs []string, minSide, threads int, warn func(string)) (*Data, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no data folder: name one or more with --data")
	}
	var files []string
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", dir, trimPathError(err))
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%s: not a folder", dir)
		}
		n := len(files)
		err = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("%s: %v", path, trimPathError(err))
			}
			if !e.IsDir() && slices.Contains(imageExts, strings.ToLower(filepath.Ext(path))) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == n {
			return nil, fmt.Errorf("%s: no images in this folder (%s)", dir, strings.Join(imageExts, " "))
		}
	}
	slices.Sort(files)
	files = slices.Compact(files) // a folder named twice, or inside another
	ok := make([]bool, len(files))
	sides := make([]int, len(files))
	msgs := make([]string, len(files))
	var g errgroup.Group
	g.SetLimit(max(1, threads))
	for i, f := range files {
		g.Go(func() error {
			h, w, err := imageSize(f)
			switch {
			case err != nil:
				msgs[i] = fmt.Sprintf("%s: %v, skipped", f, err)
			case min(h, w) < minSide:
				msgs[i] = fmt.Sprintf("%s: %d×%d is smaller than a %d×%d crop, skipped", f, w, h, minSide, minSide)
			default:
				ok[i], sides[i] = true, min(h, w)
			}
			return nil
		})
	}
	g.Wait()
	d := &Data{cache: newImageCache(CacheBytes), bySide: map[int][]int{}}
	for i, f := range files {
		if ok[i] {
			d.Files = append(d.Files, f)
			d.sides = append(d.sides, sides[i])
		} else if warn != nil {
			warn(msgs[i])
		}
	}
	if len(d.Files) == 0 {
		return nil, fmt.Errorf("%s: no usable image (each needs both sides at least %d pixels)", strings.Join(dirs, ", "), minSide)
	}
	return d, nil
}

// AtLeast lists (as indices into Files) the images whose sides are both at
// least side: those a side×side crop can be cut from. Tasks with larger
// crops (×4 SR) draw from fewer images than the others.
func (d *Data) AtLeast(side int) []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if idx, ok := d.bySide[side]; ok {
		return idx
	}
	idx := []int{}
	for i, s := range d.sides {
		if s >= side {
			idx = append(idx, i)
		}
	}
	d.bySide[side] = idx
	return idx
}

// imageSize reads an image's dimensions from its header where the Go
// decoders can (PNG, JPEG, GIF, BMP, TIFF, WebP), else by decoding it. A
// JPEG's EXIF orientation may swap the two; callers only compare the
// smaller side.
func imageSize(path string) (h, w int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, trimPathError(err)
	}
	defer f.Close()
	if cfg, _, err := image.DecodeConfig(f); err == nil {
		return cfg.Height, cfg.Width, nil
	}
	if _, err := f.Seek(0, 0); err != nil {
		return 0, 0, err
	}
	p, err := imageio.ReadCompact(f)
	if err != nil {
		return 0, 0, err
	}
	h, w = p.Size()
	return h, w, nil
}

func trimPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Stream is the random stream of one draw of a run: sample (≥ 0, counted
// over the step's micro-batches: micro-batch k of size B holds samples
// k·B … k·B+B−1) of optimiser step step, or the step's task (sample −1).
// It depends on nothing else, so a step's batch is the same whatever ran
// before it, on any number of threads, and --accum K --batch B draws the
// samples of --batch K·B: runs are reproducible and a resumed run
// continues exactly.
func Stream(seed uint64, step, sample int) *rand.Rand {
	return rand.New(rand.NewPCG(seed^mix64(uint64(step)), mix64(uint64(int64(sample)))))
}

// mix64 is SplitMix64's finaliser: nearby inputs give unrelated outputs.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Sampler says how a sample is made from a drawn image: a Side×Side crop
// at a uniformly random place, transformed by Augment(crop, k) for a
// uniformly random k in 0..7 (the dihedral group), then given to Degrade
// for the model's input. Both get the sample's stream after those draws.
type Sampler struct {
	Side    int
	Augment func(img *ipt.Image, k int) *ipt.Image
	Degrade func(clean *ipt.Image, rng *rand.Rand) *ipt.Image
}

// Samples makes samples first … first+n−1 of step: for each, an image
// drawn uniformly from those of Files large enough for s's crop
// (AtLeast(s.Side)), then the crop, augmentation and input.
// The images are decoded on up to threads goroutines; the result does not
// depend on how many.
func (d *Data) Samples(s Sampler, seed uint64, step, first, n, threads int) (clean, in []*ipt.Image, err error) {
	clean, in = make([]*ipt.Image, n), make([]*ipt.Image, n)
	pool := d.AtLeast(s.Side)
	if len(pool) == 0 {
		return nil, nil, fmt.Errorf("no training image is %d×%d or larger", s.Side, s.Side)
	}
	var g errgroup.Group
	g.SetLimit(max(1, threads))
	for i := range n {
		g.Go(func() error {
			rng := Stream(seed, step, first+i)
			file := d.Files[pool[rng.IntN(len(pool))]]
			pic, err := d.cache.get(file)
			if err != nil {
				return err
			}
			h, w := pic.Size()
			if min(h, w) < s.Side {
				return fmt.Errorf("%s: %d×%d is smaller than a %d×%d crop", file, w, h, s.Side, s.Side)
			}
			y, x := rng.IntN(h-s.Side+1), rng.IntN(w-s.Side+1)
			crop := ipt.NewImage(s.Side, s.Side)
			pic.Source().Crop(crop.Pix, y, x, s.Side, s.Side)
			c := s.Augment(crop, rng.IntN(8))
			clean[i], in[i] = c, s.Degrade(c, rng)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return clean, in, nil
}

// imageCache keeps decoded images, least recently used dropped first once
// they take more than limit bytes. Concurrent gets of one file decode it
// once.
type imageCache struct {
	limit int64

	mu      sync.Mutex
	bytes   int64
	lru     *list.List // of *cacheEntry, most recent first
	entries map[string]*list.Element
}

type cacheEntry struct {
	file  string
	ready chan struct{} // closed when pic or err is set
	pic   *imageio.Picture
	err   error
	bytes int64
	done  bool // decoded (under imageCache.mu)
}

func newImageCache(limit int64) *imageCache {
	return &imageCache{limit: limit, lru: list.New(), entries: map[string]*list.Element{}}
}

func (c *imageCache) get(file string) (*imageio.Picture, error) {
	c.mu.Lock()
	if el, ok := c.entries[file]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.mu.Unlock()
		<-e.ready
		return e.pic, e.err
	}
	e := &cacheEntry{file: file, ready: make(chan struct{})}
	c.entries[file] = c.lru.PushFront(e)
	c.mu.Unlock()

	e.pic, e.err = readPicture(file)
	if e.pic != nil {
		e.bytes = e.pic.Source().Bytes()
	}
	close(e.ready)

	c.mu.Lock()
	defer c.mu.Unlock()
	e.done = true
	if e.err != nil { // not kept: the next get tries again
		if el, ok := c.entries[file]; ok && el.Value == e {
			c.lru.Remove(el)
			delete(c.entries, file)
		}
		return nil, e.err
	}
	c.bytes += e.bytes
	// Oldest first, skipping e and images still being decoded.
	for el := c.lru.Back(); el != nil && c.bytes > c.limit; {
		prev := el.Prev()
		if old := el.Value.(*cacheEntry); old != e && old.done && old.err == nil {
			c.lru.Remove(el)
			delete(c.entries, old.file)
			c.bytes -= old.bytes
		}
		el = prev
	}
	return e.pic, nil
}

func readPicture(file string) (*imageio.Picture, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, trimPathError(err))
	}
	defer f.Close()
	p, err := imageio.ReadCompact(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return p, nil
}
