package record

import "testing"

func TestEventIDIsStableAndDistinct(t *testing.T) {
	a := EventID("f1", 0)
	if len(a) != 32 {
		t.Fatalf("EventID length = %d, want 32", len(a))
	}
	if EventID("f1", 0) != a {
		t.Fatal("EventID is not deterministic")
	}
	seen := map[string]string{a: "f1@0"}
	for _, c := range []struct {
		file string
		off  int64
	}{{"f1", 1}, {"f2", 0}, {"f1", 1 << 40}, {"", 0}} {
		id := EventID(c.file, c.off)
		if prev, dup := seen[id]; dup {
			t.Fatalf("EventID(%q, %d) = %s collides with %s", c.file, c.off, id, prev)
		}
		seen[id] = c.file
	}
	// Pinned so that a change of the function, which would re-index every
	// replayed event under a new _id, cannot go unnoticed.
	if got, want := EventID("3f9a1c", 4096), "13d329dd89d5070604e7816319a094d1"; got != want {
		t.Fatalf("EventID(\"3f9a1c\", 4096) = %s, want %s", got, want)
	}
}

func TestKeyOfSeparatesHostsAndFiles(t *testing.T) {
	if string(KeyOf("h", "f")) == string(KeyOf("h", "g")) || string(KeyOf("h", "f")) == string(KeyOf("i", "f")) {
		t.Fatal("KeyOf does not separate hosts and files")
	}
	if string(KeyOf("h", "f")) != string(KeyOf("h", "f")) {
		t.Fatal("KeyOf is not deterministic")
	}
}
