//go:build unix

package tail

import (
	"fmt"
	"os"
	"syscall"
)

// inodeOf returns the device, inode and link count of fi, which must come
// from a stat of a file on this system.
func inodeOf(fi os.FileInfo) (dev, ino, nlink uint64, err error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, fmt.Errorf("tail: %s: no device and inode in %T", fi.Name(), fi.Sys())
	}
	return uint64(st.Dev), uint64(st.Ino), uint64(st.Nlink), nil
}
