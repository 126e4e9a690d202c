package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// imageExts are the extensions a directory walk picks up.
var imageExts = []string{".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pam", ".pnm"}

func isImageName(name string) bool {
	return slices.Contains(imageExts, strings.ToLower(filepath.Ext(name)))
}

// expandInputs turns the command line's inputs into files: a name that
// exists is taken as it is; a directory gives the images in it (recursively
// with -r); a name that does not exist but holds glob characters is expanded
// (for shells that pass '*.png' through, and for Windows). Outputs of an
// earlier run (NAME.TASK.ext) found in directories are skipped.
func expandInputs(args []string, recursive bool, outSuffix string) ([]string, []error) {
	var files []string
	var errs []error
	for _, a := range args {
		st, err := os.Stat(a)
		switch {
		case err == nil && st.IsDir():
			found, err := walkImages(a, recursive, outSuffix)
			if err != nil {
				errs = append(errs, err)
			}
			if len(found) == 0 && err == nil {
				errs = append(errs, fmt.Errorf("%s: no images in this directory%s", a, map[bool]string{false: " (use -r to recurse)", true: ""}[recursive]))
			}
			files = append(files, found...)
		case err == nil:
			files = append(files, a)
		case strings.ContainsAny(a, "*?["):
			matches, gerr := filepath.Glob(a)
			if gerr != nil {
				errs = append(errs, fmt.Errorf("%s: bad pattern: %v", a, gerr))
			} else if len(matches) == 0 {
				errs = append(errs, fmt.Errorf("%s: no file matches", a))
			}
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && !st.IsDir() {
					files = append(files, m)
				}
			}
		default:
			// Reported when the input is opened, like any unreadable file.
			files = append(files, a)
		}
	}
	return files, errs
}

func walkImages(dir string, recursive bool, outSuffix string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if isImageName(name) && !strings.HasPrefix(name, ".") && !isOutputName(name, outSuffix) {
			found = append(found, p)
		}
		return nil
	})
	return found, err
}

// isOutputName reports names like photo.sr4.png that this command writes,
// so restoring a folder twice does not restore its own outputs.
func isOutputName(name, suffix string) bool {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	return strings.HasSuffix(base, "."+suffix)
}
