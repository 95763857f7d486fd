package deploy_test

import (
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/deploy"
)

func loadCompose(t *testing.T) *deploy.Compose {
	t.Helper()
	c, err := deploy.LoadCompose()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// flagValues returns the values of --name in args, written --name=v or
// --name v.
func flagValues(args []string, name string) []string {
	var vs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			vs = append(vs, v)
		} else if a == "--"+name && i+1 < len(args) {
			vs = append(vs, args[i+1])
			i++
		}
	}
	return vs
}

// setting returns what a logpipe service sets for a flag: the last value
// on its command line, else its LOGPIPE_* twin, else "".
func setting(s *deploy.Service, flag string) string {
	_, args := s.Program()
	if vs := flagValues(args, flag); len(vs) > 0 {
		return vs[len(vs)-1]
	}
	return s.Environment["LOGPIPE_"+strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))]
}

// port is one entry of a service's ports: [ip:]host:container.
type port struct{ ip, host, container string }

func parsePort(t *testing.T, where, p string) port {
	t.Helper()
	parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
	switch len(parts) {
	case 2:
		return port{host: parts[0], container: parts[1]}
	case 3:
		return port{ip: parts[0], host: parts[1], container: parts[2]}
	}
	t.Fatalf("%s: port %q: want [ip:]host:container", where, p)
	return port{}
}

// mount is one entry of a service's volumes: source:target[:mode].
type mount struct{ source, target, mode string }

func parseMount(t *testing.T, where, v string) mount {
	t.Helper()
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		t.Fatalf("%s: volume %q: want source:target[:mode]", where, v)
	}
	m := mount{source: parts[0], target: parts[1]}
	if len(parts) == 3 {
		m.mode = parts[2]
	}
	return m
}

func (m mount) named() bool { return !strings.ContainsAny(m.source, "./") }

// under reports whether p is dir or lies below it.
func under(p, dir string) bool {
	p, dir = path.Clean(p), path.Clean(dir)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func TestComposeServicesAndImages(t *testing.T) {
	c := loadCompose(t)
	var names []string
	for n := range c.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"agent", "controller", "elasticsearch", "etcd", "kafka", "kibana", "spec-apply", "transfer-1", "transfer-2"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("compose.yaml services (-want +got):\n%s", diff)
	}
	images := map[string]*regexp.Regexp{
		"etcd":          regexp.MustCompile(`^(quay\.io/coreos/etcd:v3\.|bitnami/etcd:3\.)\d+\.\d+$`),
		"kafka":         regexp.MustCompile(`^apache/kafka:4\.\d+\.\d+$`),
		"elasticsearch": regexp.MustCompile(`^docker\.elastic\.co/elasticsearch/elasticsearch:8\.\d+\.\d+$`),
		"kibana":        regexp.MustCompile(`^docker\.elastic\.co/kibana/kibana:8\.\d+\.\d+$`),
	}
	for name, re := range images {
		if img := c.Services[name].Image; !re.MatchString(img) {
			t.Errorf("service %s: image %q, want a pinned release matching %s", name, img, re)
		}
	}
	esTag := strings.SplitN(c.Services["elasticsearch"].Image, ":", 2)[1]
	if kTag := strings.SplitN(c.Services["kibana"].Image, ":", 2)[1]; kTag != esTag {
		t.Errorf("kibana %s with elasticsearch %s: Kibana must run the same version as Elasticsearch", kTag, esTag)
	}
	logpipeImage := ""
	for _, n := range names {
		s := c.Services[n]
		if _, thirdParty := images[n]; thirdParty {
			if s.Build != nil {
				t.Errorf("service %s builds an image; only logpipe's services do", n)
			}
			continue
		}
		if s.Build == nil || s.Build.Context != ".." || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("service %s: build %+v, want the repository's Dockerfile (context .., dockerfile Dockerfile)", n, s.Build)
		}
		if logpipeImage == "" {
			logpipeImage = s.Image
		}
		if s.Image == "" || s.Image != logpipeImage {
			t.Errorf("service %s: image %q, want the one logpipe image every logpipe service shares (%q)", n, s.Image, logpipeImage)
		}
	}
	if _, err := os.Stat("../Dockerfile"); err != nil {
		t.Errorf("compose.yaml builds ../Dockerfile: %v", err)
	}
}

func TestComposeEngines(t *testing.T) {
	c := loadCompose(t)
	kafka := c.Services["kafka"].Environment
	roles := strings.Split(kafka["KAFKA_PROCESS_ROLES"], ",")
	slices.Sort(roles)
	if !slices.Equal(roles, []string{"broker", "controller"}) || kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" || kafka["CLUSTER_ID"] == "" {
		t.Errorf("kafka: want KRaft mode (KAFKA_PROCESS_ROLES broker,controller, a quorum and a CLUSTER_ID), got %v", kafka)
	}
	for k := range kafka {
		if strings.Contains(strings.ToLower(k), "zookeeper") {
			t.Errorf("kafka: %s: KRaft mode needs no ZooKeeper", k)
		}
	}
	for _, rf := range []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"} {
		if kafka[rf] != "1" {
			t.Errorf("kafka: %s = %q, want 1 on a single broker", rf, kafka[rf])
		}
	}
	es := c.Services["elasticsearch"].Environment
	if es["xpack.security.enabled"] != "false" || es["discovery.type"] != "single-node" {
		t.Errorf("elasticsearch: want xpack.security.enabled=false and discovery.type=single-node for local use, got %v", es)
	}
	if got := c.Services["kibana"].Environment["ELASTICSEARCH_HOSTS"]; !strings.Contains(got, "http://elasticsearch:9200") {
		t.Errorf("kibana: ELASTICSEARCH_HOSTS = %q, want http://elasticsearch:9200", got)
	}
}

// TestComposeLogpipeReachesTheEngines checks that the addresses the logpipe
// services are given are the ones the engines advertise.
func TestComposeLogpipeReachesTheEngines(t *testing.T) {
	c := loadCompose(t)
	etcdArgs := []string(c.Services["etcd"].Command)
	etcdURLs := strings.Split(strings.Join(flagValues(etcdArgs, "advertise-client-urls"), ","), ",")
	var kafkaAddrs []string
	for _, l := range strings.Split(c.Services["kafka"].Environment["KAFKA_ADVERTISED_LISTENERS"], ",") {
		if u, err := url.Parse(l); err == nil {
			kafkaAddrs = append(kafkaAddrs, u.Host)
		}
	}
	for name, s := range c.Services {
		if !s.IsLogpipe() {
			continue
		}
		for _, ep := range strings.Split(setting(s, "etcd-endpoints"), ",") {
			if !slices.Contains(etcdURLs, ep) {
				t.Errorf("service %s: etcd endpoint %q is not one etcd advertises (%v)", name, ep, etcdURLs)
			}
		}
		if program, _ := s.Program(); program != deploy.Logpipe {
			continue
		}
		for _, b := range strings.Split(setting(s, "kafka-brokers"), ",") {
			if !slices.Contains(kafkaAddrs, b) {
				t.Errorf("service %s: Kafka broker %q is not a listener Kafka advertises (%v)", name, b, kafkaAddrs)
			}
		}
		if es := setting(s, "es-urls"); es != "" && es != "http://elasticsearch:9200" {
			t.Errorf("service %s: --es-urls %q, want http://elasticsearch:9200", name, es)
		}
	}
	for _, name := range []string{"controller", "transfer-1", "transfer-2"} {
		if setting(c.Services[name], "es-urls") == "" {
			t.Errorf("service %s has no --es-urls (LOGPIPE_ES_URLS)", name)
		}
	}
}

func TestComposePortsAndHealthChecks(t *testing.T) {
	c := loadCompose(t)
	hostPorts := map[string]string{}
	for name, s := range c.Services {
		where := "service " + name
		for _, p := range s.Ports {
			pp := parsePort(t, where, p)
			if pp.ip != "127.0.0.1" {
				t.Errorf("%s: port %q is published on every interface; security is off in this stack, so publish on 127.0.0.1 only", where, p)
			}
			if other, dup := hostPorts[pp.host]; dup {
				t.Errorf("%s and service %s both publish host port %s", where, other, pp.host)
			}
			hostPorts[pp.host] = name
		}
		for dep := range s.DependsOn {
			if c.Services[dep] == nil {
				t.Errorf("%s depends on %s, which is not a service", where, dep)
			}
		}
		if name == "spec-apply" {
			if s.Healthcheck != nil || s.Restart != "no" {
				t.Errorf("%s: a one-shot service: want no health check and restart \"no\", got %+v, %q", where, s.Healthcheck, s.Restart)
			}
			continue
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || !slices.Contains([]string{"CMD", "CMD-SHELL"}, s.Healthcheck.Test[0]) {
			t.Errorf("%s: want a health check, got %+v", where, s.Healthcheck)
			continue
		}
		if s.Restart == "" || s.Restart == "no" {
			t.Errorf("%s: restart %q; a long-running service should restart", where, s.Restart)
		}
		if !s.IsLogpipe() {
			continue
		}
		// A daemon names its --http-addr, so that its health check and its
		// published port can be checked against it.
		addr := setting(s, "http-addr")
		_, httpPort, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("%s: --http-addr %q: %v", where, addr, err)
			continue
		}
		test := []string(s.Healthcheck.Test)
		wantHealth := []string{"CMD", "/usr/local/bin/healthcheck", "http://127.0.0.1:" + httpPort + "/readyz"}
		if !slices.Equal(test, wantHealth) && !slices.Equal(test, append(wantHealth[:2:2], "http://127.0.0.1:"+httpPort+"/healthz")) {
			t.Errorf("%s: health check %q, want %q (or /healthz)", where, test, wantHealth)
		}
		published := false
		for _, p := range s.Ports {
			published = published || parsePort(t, where, p).container == httpPort
		}
		if !published {
			t.Errorf("%s: --http-addr port %s (/metrics) is not published", where, httpPort)
		}
		for dep, d := range s.DependsOn {
			if d.Condition != "service_healthy" {
				t.Errorf("%s: depends on %s with condition %q, want service_healthy", where, dep, d.Condition)
			}
		}
	}
}

func TestComposeVolumes(t *testing.T) {
	c := loadCompose(t)
	used := map[string]bool{}
	mounts := map[string][]mount{}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			m := parseMount(t, "service "+name, v)
			mounts[name] = append(mounts[name], m)
			if m.named() {
				used[m.source] = true
				if _, ok := c.Volumes[m.source]; !ok {
					t.Errorf("service %s mounts volume %s, which compose.yaml does not declare", name, m.source)
				}
			} else if _, err := os.Stat(m.source); err != nil {
				t.Errorf("service %s mounts %s: %v", name, m.source, err)
			}
		}
	}
	for v := range c.Volumes {
		if !used[v] {
			t.Errorf("volume %s is declared but no service mounts it", v)
		}
	}
	onVolume := func(service, dir string) bool {
		for _, m := range mounts[service] {
			if m.named() && under(dir, m.target) {
				return true
			}
		}
		return false
	}
	if !onVolume("elasticsearch", "/usr/share/elasticsearch/data") {
		t.Error("elasticsearch: /usr/share/elasticsearch/data is not on a volume")
	}
	if dirs := flagValues(c.Services["etcd"].Command, "data-dir"); len(dirs) != 1 || !onVolume("etcd", dirs[0]) {
		t.Errorf("etcd: --data-dir %v is not on a volume", dirs)
	}
	if dir := c.Services["kafka"].Environment["KAFKA_LOG_DIRS"]; dir == "" || !onVolume("kafka", dir) {
		t.Errorf("kafka: KAFKA_LOG_DIRS %q is not on a volume", dir)
	}
	if ms := mounts["spec-apply"]; !slices.Contains(ms, mount{"../specs", "/specs", "ro"}) {
		t.Errorf("spec-apply: volumes %v, want ../specs:/specs:ro", ms)
	}
	if program, args := c.Services["spec-apply"].Program(); program != deploy.Logpipectl || !slices.Equal(args, []string{"apply", "-f", "/specs"}) {
		t.Errorf("spec-apply runs %s %v, want logpipectl apply -f /specs", program, args)
	}
	for _, m := range mounts["agent"] {
		if !m.named() && m.mode != "ro" {
			t.Errorf("agent: %s is mounted %q; the agent only reads logs, mount them read-only", m.target, m.mode)
		}
	}
}

// TestComposeAgentSeesTheSpecs checks that the agent can tail what the
// specs applied by spec-apply name: every path of every CollectEntry lies
// under a read-only mount of the agent and inside its --allow-path list.
func TestComposeAgentSeesTheSpecs(t *testing.T) {
	c := loadCompose(t)
	agent := c.Services["agent"]
	_, args := agent.Program()
	allow := flagValues(args, "allow-path")
	docs, err := api.DecodePaths([]string{"../specs"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range docs {
		ce, ok := d.Object.(*api.CollectEntry)
		if !ok {
			continue
		}
		for _, p := range ce.Spec.Paths {
			n++
			dir := path.Dir(p)
			for strings.ContainsAny(path.Base(dir), "*?[{") {
				dir = path.Dir(dir)
			}
			mounted := false
			for _, v := range agent.Volumes {
				m := parseMount(t, "service agent", v)
				mounted = mounted || (!m.named() && m.mode == "ro" && under(dir, m.target))
			}
			if !mounted {
				t.Errorf("collectentry/%s path %s: no read-only mount of the agent holds %s", ce.Metadata.Name, p, dir)
			}
			if !slices.ContainsFunc(allow, func(a string) bool { return under(dir, a) }) {
				t.Errorf("collectentry/%s path %s is outside the agent's --allow-path %v", ce.Metadata.Name, p, allow)
			}
		}
	}
	if n == 0 {
		t.Fatal("specs/ holds no CollectEntry paths")
	}
}

func TestComposeTransfersShareOneGroup(t *testing.T) {
	c := loadCompose(t)
	groups, names := map[string]bool{}, map[string]bool{}
	for _, n := range []string{"transfer-1", "transfer-2"} {
		s := c.Services[n]
		if program, args := s.Program(); program != deploy.Logpipe || len(args) == 0 || args[0] != "transfer" {
			t.Errorf("service %s runs %s %v, want logpipe transfer", n, program, args)
		}
		groups[setting(s, "group")] = true
		names[setting(s, "name")] = true
	}
	if len(groups) != 1 || groups[""] {
		t.Errorf("transfers have groups %v, want one --group they share", groups)
	}
	if len(names) != 2 || names[""] {
		t.Errorf("transfers have names %v, want a distinct --name each (their status reports are keyed by it)", names)
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Instructions, with continued lines joined and comments dropped.
	var lines []string
	pending := ""
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if pending == "" && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(l, `\`); ok {
			pending += cont + " "
			continue
		}
		lines = append(lines, pending+l)
		pending = ""
	}
	index := func(re string) int {
		return slices.IndexFunc(lines, regexp.MustCompile(re).MatchString)
	}
	var froms []string
	for _, l := range lines {
		if strings.HasPrefix(l, "FROM ") {
			froms = append(froms, l)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a multi-stage build", len(froms))
	}
	if !regexp.MustCompile(`^FROM golang:(1\.26|\$\{GO_VERSION\})\S* AS \w+`).MatchString(froms[0]) || index(`^ARG GO_VERSION=1\.26`) < 0 {
		t.Errorf("Dockerfile: first stage %q, want golang:1.26 as the builder", froms[0])
	}
	if last := froms[len(froms)-1]; !regexp.MustCompile(`^FROM (gcr\.io/distroless/static\S*|scratch)$`).MatchString(last) {
		t.Errorf("Dockerfile: final stage %q, want distroless/static or scratch", last)
	}
	copyMod, download, copyAll := index(`^COPY go\.mod go\.sum`), index(`^RUN .*go mod download`), index(`^COPY \. \.`)
	if copyMod < 0 || download < copyMod || copyAll < download {
		t.Errorf("Dockerfile: want COPY go.mod go.sum, then RUN go mod download, then COPY . . (a cached module layer); at lines %d, %d, %d",
			copyMod, download, copyAll)
	}
	build := index(`^RUN .*go build `)
	if build < 0 {
		t.Fatal("Dockerfile: no go build")
	}
	if index(`^ENV .*CGO_ENABLED=0`) < 0 || !strings.Contains(lines[build], "-trimpath") {
		t.Errorf("Dockerfile: want CGO_ENABLED=0 and go build -trimpath (static, reproducible binaries)")
	}
	for _, pkg := range []string{"./cmd/logpipe", "./cmd/logpipectl", "./deploy/healthcheck"} {
		if !strings.Contains(lines[build], pkg) {
			t.Errorf("Dockerfile: go build does not build %s", pkg)
		}
		if _, err := os.Stat(filepath.Join("..", pkg)); err != nil {
			t.Errorf("Dockerfile builds %s: %v", pkg, err)
		}
	}
	user := index(`^USER `)
	if user < 0 || regexp.MustCompile(`^USER (root|0)(:|$)`).MatchString(lines[user]) {
		t.Errorf("Dockerfile: want a non-root USER in the final image")
	}
	if e := index(`^ENTRYPOINT `); e < 0 || lines[e] != `ENTRYPOINT ["/usr/local/bin/logpipe"]` {
		t.Errorf("Dockerfile: want ENTRYPOINT [\"/usr/local/bin/logpipe\"], which compose.yaml relies on")
	}
	// Every program compose.yaml runs in the logpipe image is copied there.
	installed := map[string]bool{}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "COPY" && f[len(f)-1] == "/usr/local/bin/" {
			for _, src := range f[1 : len(f)-1] {
				if !strings.HasPrefix(src, "--") {
					installed["/usr/local/bin/"+path.Base(src)] = true
				}
			}
		}
	}
	c := loadCompose(t)
	for name, s := range c.Services {
		if !s.IsLogpipe() {
			continue
		}
		var programs []string
		if len(s.Entrypoint) > 0 {
			programs = append(programs, s.Entrypoint[0])
		}
		if s.Healthcheck != nil && s.Healthcheck.Test[0] == "CMD" {
			programs = append(programs, s.Healthcheck.Test[1])
		}
		for _, p := range programs {
			if !installed[p] {
				t.Errorf("service %s runs %s, which the Dockerfile does not install (it installs %v)", name, p, installed)
			}
		}
	}
}

func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, want := range []string{".git", "bin"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for _, needed := range []string{"go.mod", "go.sum", "cmd/logpipe/main.go", "deploy/healthcheck/main.go", "api/v1alpha1/types.go"} {
		for _, p := range patterns {
			if ok, _ := filepath.Match(p, needed); ok || under(needed, p) {
				t.Errorf(".dockerignore pattern %q excludes %s, which the image build needs", p, needed)
			}
		}
	}
}

func TestSystemdUnits(t *testing.T) {
	units, err := deploy.Units()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range units {
		names = append(names, u.Name)
	}
	want := []string{"logpipe-agent.service", "logpipe-controller.service", "logpipe-transfer.service"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("systemd units (-want +got):\n%s", diff)
	}
	for _, u := range units {
		daemon := strings.TrimSuffix(strings.TrimPrefix(u.Name, "logpipe-"), ".service")
		settings := map[string]string{
			"User":                  "logpipe",
			"Restart":               "on-failure",
			"EnvironmentFile":       "/etc/logpipe/" + daemon + ".env",
			"ExecStart":             "/usr/local/bin/logpipe " + daemon,
			"NoNewPrivileges":       "true",
			"CapabilityBoundingSet": "",
			"AmbientCapabilities":   "",
			"ProtectSystem":         "strict",
			"ProtectHome":           "true",
			"PrivateTmp":            "true",
			"PrivateDevices":        "true",
			"ProtectKernelTunables": "true",
			"ProtectKernelModules":  "true",
			"ProtectControlGroups":  "true",
			"RestrictSUIDSGID":      "true",
		}
		if daemon == "agent" {
			settings["StateDirectory"] = "logpipe"
			settings["ReadOnlyPaths"] = "/var/log"
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range settings {
				if !yield(k) {
					return
				}
			}
		}) {
			if got, ok := u.Last("Service", k); !ok || got != settings[k] {
				t.Errorf("%s: [Service] %s=%q (set: %v), want %q", u.Name, k, got, ok, settings[k])
			}
		}
		if got, _ := u.Last("Install", "WantedBy"); got != "multi-user.target" {
			t.Errorf("%s: [Install] WantedBy=%q, want multi-user.target", u.Name, got)
		}
		if after, _ := u.Last("Unit", "After"); !strings.Contains(after, "network-online.target") {
			t.Errorf("%s: [Unit] After=%q, want network-online.target", u.Name, after)
		}
		if _, err := deploy.EnvExample(daemon + ".env"); err != nil {
			t.Errorf("%s: no example environment file: %v", u.Name, err)
		}
		if filter := u.Get("Service", "SystemCallFilter"); !slices.Contains(filter, "@system-service") {
			t.Errorf("%s: SystemCallFilter %q, want @system-service", u.Name, filter)
		}
	}
}

// TestSystemdAgentDataDirIsWritable checks that the agent's --data-dir, as
// agent.env sets it or by default, lies in the unit's StateDirectory, the
// one place ProtectSystem=strict leaves writable.
func TestSystemdAgentDataDirIsWritable(t *testing.T) {
	env, err := deploy.EnvExample("agent.env")
	if err != nil {
		t.Fatal(err)
	}
	dir := env["LOGPIPE_DATA_DIR"]
	if dir == "" {
		dir = "/var/lib/logpipe/agent" // the flag's default, checked against the command in cmd/logpipe
	}
	if !under(dir, "/var/lib/logpipe") {
		t.Errorf("agent.env: data dir %s is outside /var/lib/logpipe (StateDirectory=logpipe), which is all ProtectSystem=strict leaves writable", dir)
	}
}

func TestParseUnit(t *testing.T) {
	u, err := deploy.ParseUnit("x.service", []byte(`# comment
[Unit]
Description=one two
; another comment

[Service]
ExecStart=/usr/local/bin/logpipe agent \
    --labels=role=web
Environment=A=1
Environment=B=2
CapabilityBoundingSet=
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Get("Service", "ExecStart"); !slices.Equal(got, []string{"/usr/local/bin/logpipe agent --labels=role=web"}) {
		t.Errorf("ExecStart = %q", got)
	}
	if got := u.Get("Service", "Environment"); !slices.Equal(got, []string{"A=1", "B=2"}) {
		t.Errorf("Environment = %q", got)
	}
	if got, ok := u.Last("Service", "CapabilityBoundingSet"); !ok || got != "" {
		t.Errorf("CapabilityBoundingSet = %q, %v; want set and empty", got, ok)
	}
	for _, bad := range []string{"Key=value\n", "[Unit]\nno equals sign\n", "[Unit\nA=b\n", "[Unit]\nA=b \\\n"} {
		if _, err := deploy.ParseUnit("bad.service", []byte(bad)); err == nil {
			t.Errorf("ParseUnit(%q) succeeded, want an error", bad)
		}
	}
}

func TestSplitShell(t *testing.T) {
	tests := []struct {
		in   string
		want [][]string
	}{
		{`logpipectl apply -f specs/`, [][]string{{"logpipectl", "apply", "-f", "specs/"}}},
		{`logpipectl get ce -o yaml | logpipectl apply -f -`, [][]string{{"logpipectl", "get", "ce", "-o", "yaml"}, {"logpipectl", "apply", "-f", "-"}}},
		{`a 'b c' "d \"e\"" f\ g`, [][]string{{"a", "b c", `d "e"`, "f g"}}},
		{`a > out.txt 2>&1 && b < in # comment`, [][]string{{"a"}, {"b"}}},
		{`a 2> /dev/null; b || c`, [][]string{{"a"}, {"b"}, {"c"}}},
		{`curl -fsS 'http://x/?a=1&b=2' > /dev/null`, [][]string{{"curl", "-fsS", "http://x/?a=1&b=2"}}},
		{`   `, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, deploy.SplitShell(tt.in)); diff != "" {
			t.Errorf("SplitShell(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestMarkdownCommands(t *testing.T) {
	doc := "Intro `logpipectl get ce` inline is not a command.\n\n" +
		"```sh\n" +
		"$ logpipectl apply -f specs/ \\\n    --dry-run\n" +
		"# a comment\n" +
		"LOGPIPE_ETCD_ENDPOINTS=http://e:2379 ./bin/logpipectl get ce -o yaml | logpipectl apply -f -\n" +
		"sudo systemctl start logpipe-agent\n" +
		"```\n\n" +
		"```yaml\ncommand: [logpipe, agent]\nlogpipe agent --ignored\n```\n\n" +
		"````\nlogpipe agent --labels=a=b\n````\n"
	got := deploy.MarkdownCommands("x.md", doc)
	want := []deploy.CommandLine{
		{Where: "x.md:5", Program: "logpipectl", Args: []string{"apply", "-f", "specs/", "--dry-run"}, Env: map[string]string{}},
		{Where: "x.md:7", Program: "logpipectl", Args: []string{"get", "ce", "-o", "yaml"}, Env: map[string]string{"LOGPIPE_ETCD_ENDPOINTS": "http://e:2379"}},
		{Where: "x.md:7", Program: "logpipectl", Args: []string{"apply", "-f", "-"}, Env: map[string]string{}},
		{Where: "x.md:17", Program: "logpipe", Args: []string{"agent", "--labels=a=b"}, Env: map[string]string{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MarkdownCommands (-want +got):\n%s", diff)
	}
}

func TestCommandLines(t *testing.T) {
	lines, err := deploy.CommandLines()
	if err != nil {
		t.Fatal(err)
	}
	byWhere := map[string]deploy.CommandLine{}
	for _, c := range lines {
		byWhere[c.Where] = c
	}
	agent, ok := byWhere["compose.yaml: service agent"]
	if !ok || agent.Program != deploy.Logpipe || agent.Args[0] != "agent" || agent.Env["LOGPIPE_ETCD_ENDPOINTS"] != "http://etcd:2379" {
		t.Errorf("compose agent command line = %+v", agent)
	}
	unit, ok := byWhere["systemd/logpipe-agent.service: ExecStart"]
	if !ok || unit.Program != deploy.Logpipe || !slices.Equal(unit.Args, []string{"agent"}) || unit.Env["LOGPIPE_ALLOW_PATH"] == "" {
		t.Errorf("systemd agent command line = %+v, want logpipe agent with agent.env's variables", unit)
	}
	if _, ok := byWhere["compose.yaml: service kafka"]; ok {
		t.Error("the kafka service does not run logpipe")
	}
	if len(lines) != 8 {
		t.Errorf("%d command lines, want 8 (5 logpipe services in compose.yaml, 3 units): %v", len(lines), lines)
	}
}
