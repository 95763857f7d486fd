//go:build e2e

package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// The engines of the tutorial: etcd 3, Kafka and Elasticsearch 8.6.2 (the
// etcd and Kafka images are those of deploy/compose.yaml). An override
// must take its settings the same way (etcd's ETCD_* variables, the
// apache/kafka image's KAFKA_* variables, the Elasticsearch image's dotted
// ones).
const (
	defaultEtcdImage  = "quay.io/coreos/etcd:v3.6.4"
	defaultKafkaImage = "apache/kafka:4.1.0"
	defaultESImage    = "docker.elastic.co/elasticsearch/elasticsearch:8.6.2"
)

// Deadlines of the containers stack: a first run pulls the images.
const (
	dockerHealthTimeout = 5 * time.Second
	containerTimeout    = 10 * time.Minute
	esTimeout           = 3 * time.Minute
)

// engineContainer is an engine of the containers stack.
type engineContainer struct {
	name    string
	c       testcontainers.Container
	ready   func(ctx context.Context) error
	timeout time.Duration
}

func (s *Stack) startContainers(ctx context.Context, logf func(string, ...any)) error {
	if err := dockerHealthy(ctx); err != nil {
		return &SkipError{fmt.Sprintf("LOGPIPE_E2E_STACK=containers: no Docker engine answers (%v); use local or external", err)}
	}
	start := time.Now()
	s.SearchEngine = "elasticsearch"

	// As on the local stack the engines start side by side, and the first
	// that fails stops the others' start-up.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, engine := range []func(context.Context) (*engineContainer, error){s.etcdContainer, s.kafkaContainer, s.esContainer} {
		wg.Go(func() {
			began := time.Now()
			e, err := engine(ctx)
			mu.Lock()
			defer mu.Unlock()
			if e != nil && e.c != nil {
				s.containers = append(s.containers, e)
			}
			if err != nil {
				if len(errs) == 0 {
					cancel()
				}
				errs = append(errs, err)
				return
			}
			logf("stack: %s container %s ready in %v", e.name, e.c.GetContainerID()[:12], time.Since(began).Round(time.Millisecond))
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("containers stack: %w", errors.Join(errs...))
	}
	logf("stack: containers stack up in %v: etcd %s, Kafka %s, Elasticsearch %s",
		time.Since(start).Round(time.Millisecond), s.EtcdEndpoint, strings.Join(s.KafkaBrokers, ","), s.SearchURL)
	return nil
}

// dockerHealthy says whether a Docker engine answers. testcontainers-go
// panics in places when it finds no Docker host, and its host discovery
// takes no deadline, so it runs aside and is given up after a while.
func dockerHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dockerHealthTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("testcontainers: %v", r)
			}
		}()
		p, err := testcontainers.NewDockerProvider()
		if err != nil {
			done <- err
			return
		}
		done <- p.Health(ctx) // Health closes p
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %v", dockerHealthTimeout)
	}
}

func image(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

// fixedPort exposes container port cport on 127.0.0.1:hport. A fixed host
// port (not an ephemeral one) survives a container stop and start, so the
// engine comes back where the daemons look for it, and Kafka's advertised
// listener stays right.
func fixedPort(cport, hport int) (string, func(*container.HostConfig)) {
	spec := strconv.Itoa(cport) + "/tcp"
	p := network.MustParsePort(spec)
	return spec, func(hc *container.HostConfig) {
		hc.PortBindings = network.PortMap{p: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(hport)}}}
	}
}

// run creates and starts a container, then waits until ready answers.
func (s *Stack) run(ctx context.Context, name string, req testcontainers.ContainerRequest, ready func(context.Context) error, timeout time.Duration) (*engineContainer, error) {
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	e := &engineContainer{name: name, c: c, ready: ready, timeout: timeout}
	if err != nil {
		return e, fmt.Errorf("%s (%s): %w%s", name, req.Image, err, s.logTail(e))
	}
	if _, err := waitReady(ctx, timeout, ready); err != nil {
		return e, fmt.Errorf("%s (%s): %w%s", name, req.Image, err, s.logTail(e))
	}
	return e, nil
}

func (s *Stack) etcdContainer(ctx context.Context) (*engineContainer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	spec, bind := fixedPort(2379, port)
	s.EtcdEndpoint = url
	ready := func(ctx context.Context) error { return etcdHealthy(ctx, url) }
	return s.run(ctx, "etcd", testcontainers.ContainerRequest{
		Image: image("LOGPIPE_E2E_ETCD_IMAGE", defaultEtcdImage),
		Env: map[string]string{
			"ETCD_LISTEN_CLIENT_URLS":    "http://0.0.0.0:2379",
			"ETCD_ADVERTISE_CLIENT_URLS": url,
			"ALLOW_NONE_AUTHENTICATION":  "yes", // bitnami/etcd refuses to start without
		},
		ExposedPorts:       []string{spec},
		HostConfigModifier: bind,
		WaitingFor:         wait.ForHTTP("/health").WithPort(spec).WithStartupTimeout(containerTimeout),
	}, ready, etcdTimeout)
}

func (s *Stack) kafkaContainer(ctx context.Context) (*engineContainer, error) {
	// The broker listens inside on the host port it is published on, so
	// that its one advertised listener, 127.0.0.1:port, is right both for
	// the suite on the host and for the broker itself.
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	spec, bind := fixedPort(port, port)
	brokers := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	s.KafkaBrokers = brokers
	ready := func(ctx context.Context) error { return kafkaAnswers(ctx, brokers) }
	return s.run(ctx, "kafka", testcontainers.ContainerRequest{
		Image: image("LOGPIPE_E2E_KAFKA_IMAGE", defaultKafkaImage),
		// As the local stack: one node is broker and KRaft controller, every
		// internal topic has one replica, and topics are made by logpipe's
		// controller only.
		Env: map[string]string{
			"CLUSTER_ID":                                             kafkaUUID(),
			"KAFKA_NODE_ID":                                          "1",
			"KAFKA_PROCESS_ROLES":                                    "broker,controller",
			"KAFKA_LISTENERS":                                        fmt.Sprintf("PLAINTEXT://:%d,CONTROLLER://:9093", port),
			"KAFKA_ADVERTISED_LISTENERS":                             "PLAINTEXT://" + brokers[0],
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":                   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"KAFKA_INTER_BROKER_LISTENER_NAME":                       "PLAINTEXT",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                        "CONTROLLER",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                         "1@localhost:9093",
			"KAFKA_NUM_PARTITIONS":                                   "1",
			"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                        "false",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":                 "1",
			"KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS":                     "10",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":                    "1",
			"KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS":             "10",
			"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
			"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR":            "1",
			"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_NUM_PARTITIONS":     "10",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":                 "0",
			"KAFKA_HEAP_OPTS":                                        "-Xms512m -Xmx512m",
		},
		ExposedPorts:       []string{spec},
		HostConfigModifier: bind,
		WaitingFor:         wait.ForListeningPort(spec).WithStartupTimeout(containerTimeout),
	}, ready, kafkaTimeout)
}

func (s *Stack) esContainer(ctx context.Context) (*engineContainer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	spec, bind := fixedPort(9200, port)
	s.SearchURL = url
	ready := func(ctx context.Context) error { return searchHealthy(ctx, url) }
	return s.run(ctx, "elasticsearch", testcontainers.ContainerRequest{
		Image: image("LOGPIPE_E2E_ES_IMAGE", defaultESImage),
		Env: map[string]string{
			"discovery.type":         "single-node",
			"xpack.security.enabled": "false",
			"ES_JAVA_OPTS":           "-Xms1g -Xmx1g",
			// A full disk of a workstation must not leave indices unassigned.
			"cluster.routing.allocation.disk.threshold_enabled": "false",
		},
		ExposedPorts:       []string{spec},
		HostConfigModifier: bind,
		WaitingFor: wait.ForHTTP("/_cluster/health?wait_for_status=yellow&timeout=5s").
			WithPort(spec).WithStartupTimeout(containerTimeout),
	}, ready, esTimeout)
}

// container returns the engine container of that name, or nil.
func (s *Stack) container(name string) *engineContainer {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.containers {
		if e.name == name {
			return e
		}
	}
	return nil
}

// stopContainer stops (SIGTERM, then SIGKILL after grace) and keeps the
// container, with its data and port bindings, for startContainer.
func stopContainer(e *engineContainer, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace+30*time.Second)
	defer cancel()
	return e.c.Stop(ctx, &grace)
}

// startContainer starts a stopped engine container again and waits until
// it answers where it did.
func startContainer(ctx context.Context, e *engineContainer) (time.Duration, error) {
	start := time.Now()
	if e.c.IsRunning() {
		return 0, fmt.Errorf("stack: %s (container %s) is still running", e.name, e.c.GetContainerID()[:12])
	}
	sctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	if err := e.c.Start(sctx); err != nil {
		return time.Since(start), fmt.Errorf("stack: starting %s again: %w", e.name, err)
	}
	if _, err := waitReady(ctx, e.timeout, e.ready); err != nil {
		return time.Since(start), fmt.Errorf("stack: %s: %w", e.name, err)
	}
	return time.Since(start), nil
}

// terminateContainers saves each container's log in LogDir when keepLogs
// is set, then removes the containers.
func (s *Stack) terminateContainers(keepLogs bool) {
	for i := len(s.containers) - 1; i >= 0; i-- {
		e := s.containers[i]
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if keepLogs {
			if err := s.saveLog(ctx, e); err != nil {
				fmt.Fprintf(os.Stderr, "stack: log of %s: %v\n", e.name, err)
			}
		}
		if err := e.c.Terminate(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "stack: removing the %s container: %v\n", e.name, err)
		}
		cancel()
	}
	s.containers = nil
}

func (s *Stack) logPath(e *engineContainer) string {
	return filepath.Join(s.LogDir, e.name+".log")
}

// saveLog writes the container's output (stdout and stderr, every start)
// to LogDir.
func (s *Stack) saveLog(ctx context.Context, e *engineContainer) error {
	r, err := e.c.Logs(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.Create(s.logPath(e))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// logTail returns the last lines of a container that did not start, for an
// error message.
func (s *Stack) logTail(e *engineContainer) string {
	if e.c == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.saveLog(ctx, e); err != nil {
		return ""
	}
	return fmt.Sprintf("; last lines of %s:\n%s", s.logPath(e), indent(tailFile(s.logPath(e), 30)))
}

// waitReady polls probe until it succeeds or timeout passes.
func waitReady(parent context.Context, timeout time.Duration, probe func(context.Context) error) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		last := probe(pctx)
		pcancel()
		if last == nil {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return time.Since(start), fmt.Errorf("waiting for it to be ready: %w", parent.Err())
			}
			return time.Since(start), fmt.Errorf("not ready within %v (last check: %v)", timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
