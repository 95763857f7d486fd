package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestAllowList(t *testing.T) {
	a, err := NewAllowList([]string{"/var/log", "/srv/*/logs/**"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want bool
	}{
		{"/var/log", true},
		{"/var/log/syslog", true},
		{"/var/log/nginx/access.log", true},
		{"/var/logs/x.log", false}, // a sibling sharing the prefix is not inside
		{"/etc/passwd", false},
		{"/srv/web/logs/a/b.log", true},
		{"/srv/web/data/b.log", false},
	} {
		if got := a.Allows(c.path); got != c.want {
			t.Errorf("Allows(%q) = %v, want %v", c.path, got, c.want)
		}
	}
	for _, bad := range []struct{ in, want string }{
		{"var/log", `--allow-path "var/log": want an absolute path or glob`},
		{"/var/[log", `--allow-path "/var/[log": malformed glob`},
	} {
		if _, err := NewAllowList([]string{bad.in}); err == nil || err.Error() != bad.want {
			t.Errorf("NewAllowList(%q) error = %v, want %q", bad.in, err, bad.want)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestScanMatchesExcludesAndRefusesSymlinksOutside(t *testing.T) {
	root := t.TempDir()
	allowed := filepath.Join(root, "logs")
	outside := filepath.Join(root, "secret")
	write(t, filepath.Join(allowed, "a.log"), "a\n")
	write(t, filepath.Join(allowed, "deep", "b.log"), "b\n")
	write(t, filepath.Join(allowed, "old.log.gz"), "z")
	write(t, filepath.Join(outside, "passwd"), "x\n")
	if err := os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(allowed, "evil.log")); err != nil {
		t.Fatal(err)
	}
	allow, _ := NewAllowList([]string{allowed})

	files, refused, err := scan([]string{filepath.Join(allowed, "**", "*.log*")}, []string{"**/*.gz"}, allow)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.path)
	}
	want := []string{filepath.Join(allowed, "a.log"), filepath.Join(allowed, "deep", "b.log")}
	if !slices.Equal(got, want) {
		t.Fatalf("scan files = %q, want %q", got, want)
	}
	if want := []string{filepath.Join(allowed, "evil.log")}; !slices.Equal(refused, want) {
		t.Fatalf("scan refused = %q, want %q (a symlink resolving outside the allow list)", refused, want)
	}
}

func TestRefusedPatterns(t *testing.T) {
	allow, _ := NewAllowList([]string{"/var/log"})
	got := refusedPatterns([]string{"/var/log/*.log", "/etc/*.conf", "/var/**/*.log", "/home/u/app.log"}, allow)
	want := []string{"/etc/*.conf", "/home/u/app.log"}
	if !slices.Equal(got, want) {
		t.Fatalf("refusedPatterns = %q, want %q", got, want)
	}
}

func TestStaticPrefixIsAWatchableDirectory(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/var/log/web/access.log", "/var/log/web"}, // a plain file: its directory, watchable before it exists
		{"/var/log/web/*.log", "/var/log/web"},
		{"/var/log/**/*.log", "/var/log"},
		{"/srv/app-*/logs/a.log", "/srv"},
	} {
		if got := staticPrefix(c.in); got != c.want {
			t.Errorf("staticPrefix(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
