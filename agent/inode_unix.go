//go:build unix

package agent

import (
	"os"
	"syscall"
)

// sameInode reports whether fi describes the inode ino.
func sameInode(fi os.FileInfo, ino uint64) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Ino) == ino
}

// sameDevice reports whether fi is on device dev.
func sameDevice(fi os.FileInfo, dev uint64) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev
}
