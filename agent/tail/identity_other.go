//go:build !unix

package tail

import (
	"fmt"
	"os"
	"runtime"
)

// inodeOf fails: file identity by device and inode needs a Unix system.
func inodeOf(fi os.FileInfo) (dev, ino, nlink uint64, err error) {
	return 0, 0, 0, fmt.Errorf("tail: %s: file identity by device and inode is not supported on %s", fi.Name(), runtime.GOOS)
}
