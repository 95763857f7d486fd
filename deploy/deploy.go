// Package deploy holds the files that run logpipe outside `logpipe dev`:
// compose.yaml (the tutorial's engines plus logpipe's daemons, for one
// machine), the systemd units with example environment files under
// systemd/, and the healthcheck command the container image uses.
//
// The Go code reads those files back: Compose parses compose.yaml, Units
// parses the systemd units, and CommandLines lists every logpipe and
// logpipectl command line they hold (and MarkdownCommands the ones in a
// document), so that the tests of cmd/logpipe and cmd/logpipectl can check
// each against the real commands and flags.
package deploy

import (
	"bufio"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// files are the deployment files, as committed.
//
//go:embed compose.yaml systemd
var files embed.FS

// The programs a CommandLine runs.
const (
	Logpipe    = "logpipe"
	Logpipectl = "logpipectl"
)

// CommandLine is one invocation of logpipe or logpipectl found in a file.
type CommandLine struct {
	// Where names the file and the place in it, for error messages:
	// "compose.yaml: service agent".
	Where string
	// Program is Logpipe or Logpipectl.
	Program string
	// Args are the arguments after the program name.
	Args []string
	// Env holds the LOGPIPE_* variables the invocation is given (compose
	// environment, or the unit's example EnvironmentFile), by name.
	Env map[string]string
}

func (c CommandLine) String() string {
	return c.Program + " " + strings.Join(c.Args, " ")
}

// Compose is the part of a compose file these checks read.
type Compose struct {
	Name     string              `json:"name"`
	Services map[string]*Service `json:"services"`
	Volumes  map[string]any      `json:"volumes"`
}

// Service is one compose service.
type Service struct {
	Image       string               `json:"image"`
	Build       *Build               `json:"build"`
	Hostname    string               `json:"hostname"`
	Entrypoint  Words                `json:"entrypoint"`
	Command     Words                `json:"command"`
	Environment Environment          `json:"environment"`
	Ports       []string             `json:"ports"`
	Volumes     []string             `json:"volumes"`
	Healthcheck *Healthcheck         `json:"healthcheck"`
	DependsOn   map[string]DependsOn `json:"depends_on"`
	Restart     string               `json:"restart"`
	User        string               `json:"user"`
}

// Build is a service's build section.
type Build struct {
	Context    string `json:"context"`
	Dockerfile string `json:"dockerfile"`
}

// Healthcheck is a service's health check.
type Healthcheck struct {
	// Test is the check as compose runs it: ["CMD", args...] or
	// ["CMD-SHELL", "a shell command"].
	Test        Words  `json:"test"`
	Interval    string `json:"interval"`
	Timeout     string `json:"timeout"`
	Retries     int    `json:"retries"`
	StartPeriod string `json:"start_period"`
}

// DependsOn is one entry of a service's depends_on.
type DependsOn struct {
	Condition string `json:"condition"`
}

// Words is a compose command, entrypoint or health check test: a list of
// words, or one string that compose splits like a shell would.
type Words []string

// UnmarshalJSON accepts a list of strings or one string.
func (w *Words) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*w = list
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a string or a list of strings, not %s", b)
	}
	cmds := SplitShell(s)
	if len(cmds) != 1 {
		return fmt.Errorf("want one command, not %q", s)
	}
	*w = cmds[0]
	return nil
}

// Environment is a service's environment, written as a map or as a list of
// NAME=value.
type Environment map[string]string

// UnmarshalJSON accepts a map or a list of NAME=value.
func (e *Environment) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err == nil {
		*e = make(Environment, len(m))
		for k, v := range m {
			if v == nil {
				(*e)[k] = ""
			} else {
				(*e)[k] = fmt.Sprint(v)
			}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want a map or a list of NAME=value, not %s", b)
	}
	*e = make(Environment, len(list))
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		(*e)[k] = v
	}
	return nil
}

// UnmarshalJSON accepts depends_on as a list of names or a map of
// conditions.
func (d *dependsOnSet) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*d = make(dependsOnSet, len(list))
		for _, n := range list {
			(*d)[n] = DependsOn{Condition: "service_started"}
		}
		return nil
	}
	var m map[string]DependsOn
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*d = m
	return nil
}

type dependsOnSet map[string]DependsOn

// ComposeFile returns compose.yaml as committed.
func ComposeFile() ([]byte, error) {
	return files.ReadFile("compose.yaml")
}

// ParseCompose parses a compose file. YAML anchors and merge keys are
// resolved; keys these checks do not read are ignored.
func ParseCompose(b []byte) (*Compose, error) {
	// depends_on comes in two shapes; decode it through dependsOnSet.
	type service struct {
		Service
		DependsOn dependsOnSet `json:"depends_on"`
	}
	var raw struct {
		Name     string              `json:"name"`
		Services map[string]*service `json:"services"`
		Volumes  map[string]any      `json:"volumes"`
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("compose.yaml: %w", err)
	}
	c := &Compose{Name: raw.Name, Services: map[string]*Service{}, Volumes: raw.Volumes}
	for name, s := range raw.Services {
		if s == nil {
			return nil, fmt.Errorf("compose.yaml: service %s is empty", name)
		}
		svc := s.Service
		svc.DependsOn = s.DependsOn
		c.Services[name] = &svc
	}
	return c, nil
}

// LoadCompose parses the committed compose.yaml.
func LoadCompose() (*Compose, error) {
	b, err := ComposeFile()
	if err != nil {
		return nil, err
	}
	return ParseCompose(b)
}

// Unit is a parsed systemd unit file: its sections, each a list of
// key=value settings in file order (keys may repeat, as in ExecStart=).
type Unit struct {
	// Name is the file name, such as "logpipe-agent.service".
	Name     string
	Sections map[string][]Setting
}

// Setting is one Key=Value line of a unit.
type Setting struct {
	Key, Value string
}

// Get returns the values of key in section, in order.
func (u *Unit) Get(section, key string) []string {
	var vs []string
	for _, s := range u.Sections[section] {
		if s.Key == key {
			vs = append(vs, s.Value)
		}
	}
	return vs
}

// Last returns the last value of key in section (the one systemd uses for
// single-valued settings), and whether there is one.
func (u *Unit) Last(section, key string) (string, bool) {
	vs := u.Get(section, key)
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// ParseUnit parses a systemd unit file: [Section] headers, Key=Value lines,
// "#" and ";" comments, and lines continued with a trailing backslash.
func ParseUnit(name string, b []byte) (*Unit, error) {
	u := &Unit{Name: name, Sections: map[string][]Setting{}}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	lineNo, pending := 0, ""
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending += strings.TrimSpace(cont) + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: malformed section header %q", name, lineNo, line)
			}
			section = line[1 : len(line)-1]
			if _, ok := u.Sections[section]; !ok {
				u.Sections[section] = nil
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("%s:%d: want Key=Value inside a [Section], not %q", name, lineNo, line)
		}
		u.Sections[section] = append(u.Sections[section], Setting{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	if pending != "" {
		return nil, fmt.Errorf("%s: file ends in a continued line", name)
	}
	return u, sc.Err()
}

// Units parses every systemd/*.service file, in name order.
func Units() ([]*Unit, error) {
	names, err := fs.Glob(files, "systemd/*.service")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var units []*Unit
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		u, err := ParseUnit(path.Base(n), b)
		if err != nil {
			return nil, err
		}
		units = append(units, u)
	}
	return units, nil
}

// EnvExample returns the example environment file systemd/NAME shipped for
// EnvironmentFile=/etc/logpipe/NAME, parsed: NAME=value lines, comments and
// blank lines skipped, an optional "export " and quotes removed.
func EnvExample(name string) (map[string]string, error) {
	b, err := files.ReadFile("systemd/" + name)
	if err != nil {
		return nil, err
	}
	return ParseEnvFile(name, b)
}

// ParseEnvFile parses an environment file as systemd's EnvironmentFile=
// reads it.
func ParseEnvFile(name string, b []byte) (map[string]string, error) {
	env := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: want NAME=value, not %q", name, i+1, line)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[k] = v
	}
	return env, nil
}

// CommandLines returns every logpipe and logpipectl command line of
// compose.yaml (the services running the logpipe image) and of the systemd
// units (their ExecStart), each with the LOGPIPE_* environment it gets.
func CommandLines() ([]CommandLine, error) {
	c, err := LoadCompose()
	if err != nil {
		return nil, err
	}
	var out []CommandLine
	for _, name := range slices.Sorted(mapsKeys(c.Services)) {
		s := c.Services[name]
		if !s.IsLogpipe() {
			continue
		}
		program, args := s.Program()
		out = append(out, CommandLine{
			Where:   "compose.yaml: service " + name,
			Program: program,
			Args:    args,
			Env:     logpipeEnv(s.Environment),
		})
	}
	units, err := Units()
	if err != nil {
		return nil, err
	}
	for _, u := range units {
		for _, exec := range u.Get("Service", "ExecStart") {
			words := SplitShell(strings.TrimLeft(exec, "-@+!:"))
			if len(words) != 1 || len(words[0]) == 0 {
				return nil, fmt.Errorf("systemd/%s: ExecStart=%s: want one command", u.Name, exec)
			}
			w := words[0]
			env := map[string]string{}
			for _, ef := range u.Get("Service", "EnvironmentFile") {
				e, err := EnvExample(path.Base(strings.TrimPrefix(ef, "-")))
				if err != nil {
					return nil, fmt.Errorf("systemd/%s: EnvironmentFile=%s: no example systemd/%s shipped beside the unit: %w",
						u.Name, ef, path.Base(ef), err)
				}
				for k, v := range e {
					env[k] = v
				}
			}
			for _, e := range u.Get("Service", "Environment") {
				for _, kvs := range SplitShell(e) {
					for _, kv := range kvs {
						k, v, _ := strings.Cut(kv, "=")
						env[k] = v
					}
				}
			}
			out = append(out, CommandLine{
				Where:   "systemd/" + u.Name + ": ExecStart",
				Program: path.Base(w[0]),
				Args:    w[1:],
				Env:     logpipeEnv(env),
			})
		}
	}
	return out, nil
}

// IsLogpipe reports whether the service runs the logpipe image, that is,
// is built from the repository's Dockerfile.
func (s *Service) IsLogpipe() bool {
	return s.Build != nil
}

// Program returns the program a logpipe service runs and its arguments:
// the image's entrypoint is logpipe unless the service names another.
func (s *Service) Program() (string, []string) {
	words := slices.Concat([]string(s.Entrypoint), []string(s.Command))
	if len(s.Entrypoint) == 0 {
		return Logpipe, words
	}
	return path.Base(words[0]), words[1:]
}

func logpipeEnv(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		if strings.HasPrefix(k, "LOGPIPE_") {
			out[k] = v
		}
	}
	return out
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// MarkdownCommands returns the logpipe and logpipectl command lines in the
// fenced code blocks of a Markdown document (blocks tagged sh, bash, shell,
// console or untagged): lines continued with a backslash are joined, a
// leading "$ " prompt is dropped, NAME=value assignments before a command
// become its Env (the LOGPIPE_* ones), and every
// command of a pipeline or list counts ("logpipectl get ce -o yaml |
// logpipectl apply -f -" is two). A program may be named by a path, such as
// ./bin/logpipectl.
func MarkdownCommands(name, text string) []CommandLine {
	var out []CommandLine
	inBlock, checked := false, false
	fence := ""
	pending := ""
	lines := strings.Split(text, "\n")
	for i, raw := range lines {
		line := strings.TrimSpace(raw)
		if !inBlock {
			if f, lang, ok := fenceOpen(line); ok {
				inBlock, fence = true, f
				checked = slices.Contains([]string{"", "sh", "bash", "shell", "console"}, lang)
			}
			continue
		}
		if strings.HasPrefix(line, fence) && strings.Trim(line, fence[:1]) == "" {
			inBlock, pending = false, ""
			continue
		}
		if !checked {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending += cont + " "
			continue
		}
		line, pending = pending+line, ""
		line = strings.TrimPrefix(line, "$ ")
		for _, words := range SplitShell(line) {
			env := map[string]string{}
			for len(words) > 0 && isAssignment(words[0]) {
				k, v, _ := strings.Cut(words[0], "=")
				env[k] = v
				words = words[1:]
			}
			if len(words) == 0 {
				continue
			}
			switch p := path.Base(words[0]); p {
			case Logpipe, Logpipectl:
				out = append(out, CommandLine{
					Where:   fmt.Sprintf("%s:%d", name, i+1),
					Program: p,
					Args:    words[1:],
					Env:     logpipeEnv(env),
				})
			}
		}
	}
	return out
}

func fenceOpen(line string) (fence, lang string, ok bool) {
	for _, f := range []string{"```", "~~~"} {
		if rest, found := strings.CutPrefix(line, f); found {
			n := len(f) + len(rest) - len(strings.TrimLeft(rest, f[:1]))
			return line[:n], strings.TrimSpace(line[n:]), true
		}
	}
	return "", "", false
}

func isAssignment(w string) bool {
	k, _, ok := strings.Cut(w, "=")
	if !ok || k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// SplitShell splits a shell command line into its simple commands, each a
// list of words, as a POSIX shell would before expansion: single and double
// quotes and backslashes quote, and the unquoted operators | || & && ; end
// a command. Redirections (> >> < 2>&1 and their targets) and comments are
// dropped. Variables are left as written ("$HOME").
func SplitShell(s string) [][]string {
	var (
		cmds      [][]string
		words     []string
		word      strings.Builder
		inWord    bool
		redirect  bool // the next word is a redirection target
		endWord   func()
		endCmd    func()
		quoteChar byte
	)
	endWord = func() {
		if !inWord {
			return
		}
		w := word.String()
		word.Reset()
		inWord = false
		if redirect {
			redirect = false
			return
		}
		words = append(words, w)
	}
	endCmd = func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quoteChar != 0 {
			switch {
			case c == quoteChar:
				quoteChar = 0
			case quoteChar == '"' && c == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0:
				i++
				word.WriteByte(s[i])
			default:
				word.WriteByte(c)
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n':
			endWord()
		case '\'', '"':
			quoteChar, inWord = c, true
		case '\\':
			if i+1 < len(s) {
				i++
				word.WriteByte(s[i])
				inWord = true
			}
		case '|', '&', ';':
			endCmd()
			if i+1 < len(s) && (s[i+1] == c) {
				i++
			}
		case '>', '<':
			// A descriptor before the operator ("2>") is part of the
			// redirection, not a word.
			if inWord && strings.Trim(word.String(), "0123456789") == "" {
				word.Reset()
				inWord = false
			} else {
				endWord()
			}
			if i+1 < len(s) && s[i+1] == '>' {
				i++
			}
			if i+1 < len(s) && s[i+1] == '&' {
				// ">&2", "2>&1": the target is a descriptor.
				i++
				for i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
					i++
				}
				continue
			}
			redirect = true
		case '#':
			if !inWord {
				endCmd()
				return cmds
			}
			word.WriteByte(c)
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	endCmd()
	return cmds
}
