package tail

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func waitWake(t *testing.T, s *Subscription, what string) {
	t.Helper()
	select {
	case <-s.C:
	case <-time.After(waitFor):
		t.Fatalf("no wake-up for %s", what)
	}
}

func TestWatcher(t *testing.T) {
	w, err := NewWatcher(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	other := filepath.Join(dir, "other.log")
	writeFile(t, path, "")
	writeFile(t, other, "")

	file, err := w.Subscribe(path)
	if err != nil {
		t.Fatal(err)
	}
	dirSub, err := w.SubscribeDir(dir)
	if err != nil {
		t.Fatal(err)
	}

	appendFile(t, path, "x\n")
	waitWake(t, file, "a write to the file")
	waitWake(t, dirSub, "a write in the directory")

	// An event for another file wakes the directory, not the file.
	appendFile(t, other, "y\n")
	waitWake(t, dirSub, "a write to another file")
	select {
	case <-file.C:
		t.Fatal("a write to other.log woke the subscriber of app.log")
	default:
	}

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	waitWake(t, file, "a rename of the file")

	file.Close()
	dirSub.Close()
	file.Close() // harmless twice
	w.mu.Lock()
	left := len(w.dirs)
	w.mu.Unlock()
	if left != 0 {
		t.Errorf("%d directories still watched after every subscription closed", left)
	}
}

func TestWatcherSubscribeMissingDirectory(t *testing.T) {
	w, err := NewWatcher(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Subscribe(filepath.Join(t.TempDir(), "nope", "app.log")); err == nil {
		t.Error("Subscribe in a missing directory succeeded")
	}
}

// TestWatcherDirectoryRecreated: when a watched directory is deleted its
// watch goes with it; a later Subscribe there watches the new directory.
func TestWatcherDirectoryRecreated(t *testing.T) {
	w, err := NewWatcher(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "app.log")
	first, err := w.Subscribe(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for {
		w.mu.Lock()
		watched := w.dirs[dir].watched
		w.mu.Unlock()
		if !watched {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deletion of the watched directory was not noticed")
		}
		time.Sleep(time.Millisecond)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	second, err := w.Subscribe(path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	for len(second.C) > 0 {
		<-second.C
	}
	writeFile(t, path, "x\n")
	waitWake(t, second, "a file created in the re-created directory")
}
