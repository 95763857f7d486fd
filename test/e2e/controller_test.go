//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseTTL is the controllers' --lease-ttl: how long a killed leader blocks
// the other.
const leaseTTL = 5 * time.Second

// TestControllerOnRealEngines proves the controller's promises on real etcd,
// Kafka and OpenSearch: `logpipectl apply -f specs/` makes the topics with
// their partitions and configs and installs the template within 2 s;
// partitions are raised; a config change alters only its key; deletion
// follows deletionPolicy; a template the engine rejects is reported with the
// engine's message while the others stay ready; and when the leader of two
// controllers is killed, the other takes over.
func TestControllerOnRealEngines(t *testing.T) {
	e := newEnv(t)
	topics := []string{"web_log", "web_log.dlq", "e2e_delete", "e2e_failover"}
	templates := []string{"web", "e2e-good", "e2e-bad"}
	e.deleteTopics(topics...)
	for _, name := range templates {
		search(e.ctx(), "DELETE", "/_index_template/"+name, nil)
	}

	ctls := []*daemon{
		e.startDaemon("controller-a", "controller", "--lease-ttl", leaseTTL.String()),
		e.startDaemon("controller-b", "controller", "--lease-ttl", leaseTTL.String()),
	}
	var leader, follower *daemon
	took := eventually(t, 20*time.Second, "exactly one of two controllers leads", func(ctx context.Context) error {
		var leading []*daemon
		for _, c := range ctls {
			v, err := c.metric(ctx, "logpipe_controller_leader")
			if err != nil {
				return err
			}
			if v == 1 {
				leading = append(leading, c)
			}
		}
		if len(leading) != 1 {
			return fmt.Errorf("%d controllers report logpipe_controller_leader 1", len(leading))
		}
		leader = leading[0]
		follower = ctls[0]
		if leader == ctls[0] {
			follower = ctls[1]
		}
		return nil
	})
	t.Logf("started %s and %s (--lease-ttl %v); after %v %s reports logpipe_controller_leader 1 and %s 0",
		ctls[0].Name, ctls[1].Name, leaseTTL, took.Round(time.Millisecond), leader.Name, follower.Name)

	specs := filepath.Join(repoDir, "specs")
	webLogSpec, err := os.ReadFile(filepath.Join(specs, "topic-web_log.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	step(t, "apply specs/ makes the topics and the template within 2s", func(t *testing.T) {
		out := e.mustCtl("apply", "-f", specs)
		t.Logf("logpipectl apply -f specs/ said:\n%s", indent(out))
		var web, dlq topicState
		took := eventually(t, 15*time.Second, "topics and template in the engines", func(ctx context.Context) error {
			var err error
			if web, err = e.topic(ctx, "web_log"); err != nil {
				return err
			}
			if web.partitions != 3 || web.configs["retention.ms"] != "604800000" {
				return fmt.Errorf("web_log has %d partitions and configs %v", web.partitions, web.configs)
			}
			if dlq, err = e.topic(ctx, "web_log.dlq"); err != nil {
				return err
			}
			if dlq.partitions != 1 || dlq.configs["retention.ms"] != "1209600000" {
				return fmt.Errorf("web_log.dlq has %d partitions and configs %v", dlq.partitions, dlq.configs)
			}
			return templateInstalled(ctx, "web", "web-*")
		})
		t.Logf("Kafka has web_log with %d partitions and configs %v, web_log.dlq with %d partitions and configs %v; "+
			"OpenSearch has index template web for web-*: all %v after the apply started",
			web.partitions, web.configs, dlq.partitions, dlq.configs, took.Round(time.Millisecond))
		if took > 2*time.Second {
			t.Errorf("specs/ took %v to reconcile, want at most 2s", took)
		}
		e.waitTopicStatus(t, "web_log", 3)
		e.waitTopicStatus(t, "web_log.dlq", 1)
		e.waitTemplateStatus(t, "web", "True", "")
		t.Logf("logpipectl get topics:\n%s", indent(e.mustCtl("get", "topics")))
	})

	step(t, "raising partitions 3 to 6 is applied", func(t *testing.T) {
		spec := strings.Replace(string(webLogSpec), "partitions: 3", "partitions: 6", 1)
		e.mustCtl("apply", "-f", e.writeFile("topic-web_log.yaml", spec))
		took := eventually(t, 15*time.Second, "web_log has 6 partitions", func(ctx context.Context) error {
			st, err := e.topic(ctx, "web_log")
			if err == nil && st.partitions != 6 {
				err = fmt.Errorf("web_log has %d partitions", st.partitions)
			}
			return err
		})
		t.Logf("applied web_log with partitions: 6; Kafka has 6 partitions after %v", took.Round(time.Millisecond))
		e.waitTopicStatus(t, "web_log", 6)
	})

	step(t, "changing retention.ms alters only that key", func(t *testing.T) {
		// A key set by someone else, which the spec does not name.
		resps, err := e.admin.AlterTopicConfigs(e.ctx(), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr("536870912")}}, "web_log")
		if err == nil {
			_, err = resps.On("web_log", nil)
		}
		if err != nil {
			t.Fatalf("set segment.bytes on web_log with kadm: %v", err)
		}
		before := eventuallyTopic(t, e, "web_log", func(st topicState) bool { return st.configs["segment.bytes"] == "536870912" })
		t.Logf("set segment.bytes=536870912 on web_log with kadm; its topic configs are now %v", before.configs)

		spec := strings.Replace(string(webLogSpec), "partitions: 3", "partitions: 6", 1)
		spec = strings.Replace(spec, `retention.ms: "604800000"`, `retention.ms: "259200000"`, 1)
		e.mustCtl("apply", "-f", e.writeFile("topic-web_log.yaml", spec))
		after := eventuallyTopic(t, e, "web_log", func(st topicState) bool { return st.configs["retention.ms"] == "259200000" })
		t.Logf("applied web_log with retention.ms 259200000; its topic configs are now %v", after.configs)
		want := maps.Clone(before.configs)
		want["retention.ms"] = "259200000"
		if !maps.Equal(after.configs, want) {
			t.Fatalf("web_log configs %v, want %v: only retention.ms may change", after.configs, want)
		}
		if after.partitions != 6 {
			t.Fatalf("web_log has %d partitions, want 6", after.partitions)
		}
	})

	step(t, "deleting a Retain topic keeps it, deleting a Delete one removes it", func(t *testing.T) {
		e.mustCtl("apply", "-f", e.writeFile("topic-e2e_delete.yaml", `apiVersion: logpipe.io/v1alpha1
kind: Topic
metadata:
  name: e2e_delete
spec:
  partitions: 2
  deletionPolicy: Delete
`))
		eventuallyTopic(t, e, "e2e_delete", func(st topicState) bool { return st.partitions == 2 })
		t.Logf("applied topic e2e_delete (deletionPolicy: Delete); Kafka has it with 2 partitions")

		out := e.mustCtl("delete", "topic", "web_log", "e2e_delete")
		t.Logf("logpipectl delete topic web_log e2e_delete said:\n%s", indent(out))
		took := eventually(t, 15*time.Second, "e2e_delete gone from Kafka", func(ctx context.Context) error {
			st, err := e.topic(ctx, "e2e_delete")
			if err == nil && st.partitions != -1 {
				err = fmt.Errorf("e2e_delete still has %d partitions", st.partitions)
			}
			return err
		})
		t.Logf("Kafka has no topic e2e_delete %v after the delete", took.Round(time.Millisecond))

		// The controller removes a deleted spec's tombstone once it has
		// acted on the deletion; only then is "still there" a finding.
		cl, err := clientv3.New(clientv3.Config{Endpoints: []string{stk.EtcdEndpoint}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		tombstone := e.prefix + "/tombstones/topic/web_log"
		eventually(t, 15*time.Second, "the controller acted on the deletion of web_log", func(ctx context.Context) error {
			resp, err := cl.Get(ctx, tombstone, clientv3.WithCountOnly())
			if err == nil && resp.Count != 0 {
				err = fmt.Errorf("%s still in etcd", tombstone)
			}
			return err
		})
		st, err := e.topic(e.ctx(), "web_log")
		if err != nil {
			t.Fatal(err)
		}
		if st.partitions != 6 {
			t.Fatalf("web_log (deletionPolicy: Retain) has %d partitions after its spec was deleted, want 6", st.partitions)
		}
		t.Logf("the controller acted on the deletion of web_log (its tombstone %s is gone) and Kafka still has web_log with %d partitions and configs %v",
			tombstone, st.partitions, st.configs)
	})

	step(t, "a template OpenSearch rejects is Ready=False with its message, the others stay ready", func(t *testing.T) {
		bad := map[string]any{
			"index_patterns": []string{"e2e-bad-*"},
			"template":       map[string]any{"mappings": map[string]any{"properties": map[string]any{"code": map[string]any{"type": "strange"}}}},
		}
		body, _ := json.Marshal(bad)
		// Ask OpenSearch itself first, under the same name: it rejects the
		// template and so stores nothing.
		code, answer, err := search(e.ctx(), "PUT", "/_index_template/e2e-bad", body)
		if err != nil {
			t.Fatal(err)
		}
		var rejection struct {
			Error struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		}
		json.Unmarshal(answer, &rejection)
		if code != 400 || rejection.Error.Reason == "" {
			t.Fatalf("OpenSearch answered PUT _index_template with a field of type strange with %d %s; want a 400 with a reason", code, answer)
		}
		engineSays := rejection.Error.Type + ": " + rejection.Error.Reason
		t.Logf("PUT _index_template/e2e-bad with a field of type strange, straight to OpenSearch: %d %s", code, answer)

		e.mustCtl("apply", "-f", e.writeFile("templates.yaml", `apiVersion: logpipe.io/v1alpha1
kind: IndexTemplate
metadata:
  name: e2e-good
spec:
  indexPatterns: ["e2e-good-*"]
  template:
    mappings:
      properties:
        code: {type: keyword}
---
apiVersion: logpipe.io/v1alpha1
kind: IndexTemplate
metadata:
  name: e2e-bad
spec:
  indexPatterns: ["e2e-bad-*"]
  template:
    mappings:
      properties:
        code: {type: strange}
`))
		badReady := e.waitTemplateStatus(t, "e2e-bad", "False", engineSays)
		t.Logf("logpipectl get indextemplates -o json: e2e-bad Ready=%s reason %s message %q",
			badReady.Status, badReady.Reason, badReady.Message)
		e.waitTemplateStatus(t, "e2e-good", "True", "")
		e.waitTemplateStatus(t, "web", "True", "")
		if err := templateInstalled(e.ctx(), "e2e-good", "e2e-good-*"); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := search(e.ctx(), "GET", "/_index_template/e2e-bad", nil); code != 404 {
			t.Fatalf("GET _index_template/e2e-bad = %d, want 404", code)
		}
		t.Logf("OpenSearch has e2e-good and web, not e2e-bad; logpipectl get indextemplates:\n%s", indent(e.mustCtl("get", "indextemplates")))
	})

	step(t, "killing the leader hands over to the other controller", func(t *testing.T) {
		if st, err := e.topic(e.ctx(), "e2e_failover"); err != nil || st.partitions != -1 {
			t.Fatalf("before the kill: topic e2e_failover has %d partitions (%v), want none", st.partitions, err)
		}
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		t.Logf("sent SIGKILL to the leader %s (pid %d)", leader.Name, leader.Pid())
		e.mustCtl("apply", "-f", e.writeFile("topic-e2e_failover.yaml", `apiVersion: logpipe.io/v1alpha1
kind: Topic
metadata:
  name: e2e_failover
spec:
  partitions: 2
`))
		var tookOver, created time.Duration
		eventually(t, 3*leaseTTL, "e2e_failover created by the new leader", func(ctx context.Context) error {
			if tookOver == 0 {
				if v, err := follower.metric(ctx, "logpipe_controller_leader"); err == nil && v == 1 {
					tookOver = time.Since(killed)
				}
			}
			if created == 0 {
				st, err := e.topic(ctx, "e2e_failover")
				if err != nil {
					return err
				}
				if st.partitions == 2 {
					created = time.Since(killed)
				}
			}
			if tookOver == 0 || created == 0 {
				return fmt.Errorf("%s leads: %v; e2e_failover created: %v", follower.Name, tookOver != 0, created != 0)
			}
			return nil
		})
		t.Logf("applied topic e2e_failover right after the kill; %s reports logpipe_controller_leader 1 %v after the kill, and Kafka has e2e_failover with 2 partitions %v after it",
			follower.Name, tookOver.Round(time.Millisecond), created.Round(time.Millisecond))
		// The dead leader's lease runs out at most one TTL after the kill
		// (it was renewed every TTL/3), and etcd looks for expired leases
		// every 500 ms; the new leader then lists the specs and creates the
		// topic.
		if limit := leaseTTL + time.Second; tookOver > limit {
			t.Errorf("%s took over %v after the kill, want at most %v (the lease TTL and 1s)", follower.Name, tookOver, limit)
		}
		if limit := leaseTTL + 2*time.Second; created > limit {
			t.Errorf("e2e_failover was created %v after the kill, want at most %v (the lease TTL and 2s)", created, limit)
		}
	})
}

// step runs one check of a scenario as a subtest and stops the scenario
// when it fails, since later checks build on earlier ones.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

// templateInstalled checks that OpenSearch holds the index template name
// with the index pattern pattern.
func templateInstalled(ctx context.Context, name, pattern string) error {
	code, body, err := search(ctx, "GET", "/_index_template/"+name, nil)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("GET _index_template/%s: %d %s", name, code, body)
	}
	var got struct {
		IndexTemplates []struct {
			Name          string `json:"name"`
			IndexTemplate struct {
				IndexPatterns []string `json:"index_patterns"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return err
	}
	if len(got.IndexTemplates) != 1 || !slices.Contains(got.IndexTemplates[0].IndexTemplate.IndexPatterns, pattern) {
		return fmt.Errorf("GET _index_template/%s: %s", name, body)
	}
	return nil
}

// eventuallyTopic waits until Kafka's view of topic satisfies ok and
// returns it.
func eventuallyTopic(t *testing.T, e *env, topic string, ok func(topicState) bool) topicState {
	t.Helper()
	var st topicState
	eventually(t, 15*time.Second, "topic "+topic, func(ctx context.Context) error {
		var err error
		st, err = e.topic(ctx, topic)
		if err == nil && !ok(st) {
			err = fmt.Errorf("%s has %d partitions and configs %v", topic, st.partitions, st.configs)
		}
		return err
	})
	return st
}

// waitTopicStatus waits until `logpipectl get topics` reports the topic
// Ready=True with that many partitions for its current generation.
func (e *env) waitTopicStatus(t *testing.T, name string, partitions int) {
	t.Helper()
	var o object
	eventually(t, 15*time.Second, "status of topic "+name, func(context.Context) error {
		objs, err := e.get("topics")
		if err != nil {
			return err
		}
		o = objs[name]
		if r := o.ready(); r.Status != "True" || o.Status.Partitions != partitions || o.Status.ObservedGeneration != o.Metadata.Generation {
			return fmt.Errorf("topic %s: Ready=%s (%s), partitions %d, observedGeneration %d of %d",
				name, r.Status, r.Message, o.Status.Partitions, o.Status.ObservedGeneration, o.Metadata.Generation)
		}
		return nil
	})
	t.Logf("logpipectl get topics -o json: %s Ready=True (%s), partitions %d, observedGeneration %d",
		name, o.ready().Message, o.Status.Partitions, o.Status.ObservedGeneration)
}

// waitTemplateStatus waits until `logpipectl get indextemplates` reports
// the template's Ready condition with that status, and a message that
// contains message, and returns the condition.
func (e *env) waitTemplateStatus(t *testing.T, name, status, message string) condition {
	t.Helper()
	var c condition
	eventually(t, 15*time.Second, "status of index template "+name, func(context.Context) error {
		objs, err := e.get("indextemplates")
		if err != nil {
			return err
		}
		o := objs[name]
		c = o.ready()
		if c.Status != status || !strings.Contains(c.Message, message) || o.Status.ObservedGeneration != o.Metadata.Generation {
			return fmt.Errorf("index template %s: Ready=%s reason %s message %q, observedGeneration %d of %d; want Ready=%s with a message containing %q",
				name, c.Status, c.Reason, c.Message, o.Status.ObservedGeneration, o.Metadata.Generation, status, message)
		}
		return nil
	})
	if status == "True" {
		t.Logf("logpipectl get indextemplates -o json: %s Ready=True (%s)", name, c.Message)
	}
	return c
}
