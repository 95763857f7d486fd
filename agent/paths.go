package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// AllowList holds the paths an agent may read, from --allow-path. An entry
// is a glob ("/var/log/**/*.log") or a directory ("/var/log"), which allows
// everything below it.
type AllowList struct {
	patterns []string
}

// NewAllowList checks and cleans the patterns. Relative patterns are an
// error: what they mean would depend on the agent's working directory.
func NewAllowList(patterns []string) (*AllowList, error) {
	a := &AllowList{}
	for _, p := range patterns {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("--allow-path %q: want an absolute path or glob", p)
		}
		if !doublestar.ValidatePattern(p) {
			return nil, fmt.Errorf("--allow-path %q: malformed glob", p)
		}
		a.patterns = append(a.patterns, filepath.Clean(p))
	}
	return a, nil
}

// Allows reports whether path, which must already have its symbolic links
// resolved, is inside the list.
func (a *AllowList) Allows(path string) bool {
	for _, p := range a.patterns {
		if path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
		if ok, _ := doublestar.Match(p, path); ok {
			return true
		}
	}
	return false
}

// String lists the patterns, for messages.
func (a *AllowList) String() string { return strings.Join(a.patterns, ", ") }

// match is one file a scan found.
type match struct {
	path     string      // as globbed
	resolved string      // symbolic links resolved
	info     os.FileInfo // of the resolved file, as the scan saw it
}

// scan returns the regular files matching any of paths and none of exclude,
// sorted, and the paths refused because they resolve outside allow. Globs
// that match nothing are not an error: files appear later.
func scan(paths, exclude []string, allow *AllowList) (files []match, refused []string, err error) {
	seen := map[string]bool{}
	dirs := map[string]string{} // directory as globbed → resolved
	for _, pattern := range paths {
		found, gerr := doublestar.FilepathGlob(pattern, doublestar.WithFilesOnly(), doublestar.WithFailOnIOErrors())
		if gerr != nil && len(found) == 0 {
			// An unreadable directory on the way is reported but does
			// not stop the other patterns.
			err = fmt.Errorf("glob %q: %w", pattern, gerr)
		}
		for _, p := range found {
			if excluded(p, exclude) {
				continue
			}
			resolved, fi, rerr := resolve(p, dirs)
			if rerr != nil {
				continue // gone between glob and resolve
			}
			if seen[resolved] {
				continue
			}
			seen[resolved] = true
			if !allow.Allows(resolved) {
				refused = append(refused, p)
				continue
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			files = append(files, match{path: p, resolved: resolved, info: fi})
		}
	}
	slices.SortFunc(files, func(a, b match) int { return strings.Compare(a.path, b.path) })
	slices.Sort(refused)
	return files, refused, err
}

// resolve returns path with symbolic links resolved and the file's
// information. The directories of one scan are resolved once: resolving
// every path component of 10,000 files every scan interval was most of an
// idle agent's work.
func resolve(path string, dirs map[string]string) (string, os.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		resolved, err := filepath.EvalSymlinks(path)
		if err != nil {
			return "", nil, err
		}
		fi, err = os.Stat(resolved)
		return resolved, fi, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	rdir, ok := dirs[dir]
	if !ok {
		if rdir, err = filepath.EvalSymlinks(dir); err != nil {
			return "", nil, err
		}
		dirs[dir] = rdir
	}
	return filepath.Join(rdir, base), fi, nil
}

func excluded(path string, exclude []string) bool {
	for _, x := range exclude {
		if ok, _ := doublestar.PathMatch(x, path); ok {
			return true
		}
	}
	return false
}

// staticPrefix returns the part of a glob before its first meta character,
// cut back to a directory: the directory whose allowance can be checked
// before any file exists.
func staticPrefix(pattern string) string {
	i := strings.IndexAny(pattern, "*?[{\\")
	if i < 0 {
		// A plain file name: its directory is what can be watched before
		// the file exists.
		return filepath.Dir(pattern)
	}
	return filepath.Dir(pattern[:i] + "x")
}

// refusedPatterns returns the patterns whose fixed directory part lies
// outside allow even before symbolic links: nothing under them can ever be
// tailed, so the entry's status says so at once.
func refusedPatterns(paths []string, allow *AllowList) []string {
	var out []string
	for _, p := range paths {
		dir := staticPrefix(p)
		if resolved, err := filepath.EvalSymlinks(dir); err == nil {
			dir = resolved
		}
		if allow.Allows(dir) || allow.Allows(p) || allowsSomethingBelow(allow, dir) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// allowsSomethingBelow reports whether some allowed pattern lies inside dir
// (a spec for "/var/**/*.log" with --allow-path /var/log is fine: the files
// under /var/log are tailed).
func allowsSomethingBelow(a *AllowList, dir string) bool {
	for _, p := range a.patterns {
		if strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/") {
			return true
		}
	}
	return false
}
