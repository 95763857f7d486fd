//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestEngineOutages stops the Kafka broker for 20 s, and later the search
// engine for 30 s, while lines are being written, and starts each again as
// it was (same data and ports). The agent and the transfer ride
// both out without exiting: they wait (the files and Kafka are the
// buffer), resume by themselves, and the index ends up with every line
// exactly once.
//
// It stops engines every scenario uses, so it does not run in parallel:
// the parallel scenarios start when it is done.
func TestEngineOutages(t *testing.T) {
	needStack(t)
	if stk.Kind == "external" {
		t.Skip("the external stack's engines are not the suite's to stop; only the local and containers stacks can stop and restart theirs")
	}
	p := newPipe(t, "outage")
	p.setup(3)
	tr := p.startTransfer("transfer")
	agent := p.startAgent("agent")
	p.apply("entry.yaml", p.entryYAML("outage", []string{"*.log"}, ""))

	l := &ledger{}
	ws := []*writer{p.newWriter(l, "o0", "app-0.log", "outage"), p.newWriter(l, "o1", "app-1.log", "outage")}
	const rate = 150 // lines a second per file

	outage := func(t *testing.T, engine string, down time.Duration) {
		ss := startStreams(rate, ws...)
		sleep(t, 4*time.Second)
		before := len(l.snapshot())
		stopping := time.Now()
		if err := stk.StopEngine(engine, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		restarted := false
		// Whatever happens, the other scenarios need the engine back.
		defer func() {
			if !restarted {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				if _, err := stk.StartEngine(ctx, engine); err != nil {
					t.Errorf("starting %s again: %v", engine, err)
				}
			}
		}()
		t.Logf("stopped %s (SIGTERM) in %v with %d lines written", engine, stopped.Sub(stopping).Round(time.Millisecond), before)
		sleep(t, down)
		downFor := time.Since(stopped)
		during := len(l.snapshot()) - before
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		took, err := stk.StartEngine(ctx, engine)
		restarted = true
		if err != nil {
			t.Fatalf("starting %s again: %v", engine, err)
		}
		t.Logf("%s stopped for %v, %d lines written meanwhile; started again (same data and ports), answering %v later",
			engine, downFor.Round(time.Millisecond), during, took.Round(time.Millisecond))
		sleep(t, 4*time.Second)
		ss.stop(t)
		for _, d := range []*daemon{agent, tr} {
			if !agentAlive(d) {
				t.Fatalf("%s exited during the %s outage", d.name, engine)
			}
		}
		want := l.snapshot()
		took = p.waitIndexed(t, len(want), 2*time.Minute)
		t.Logf("all indexed %v after the writing stopped; the agent (pid %d) and the transfer (pid %d) never exited", took.Round(time.Millisecond), agent.Pid(), tr.Pid())
		p.checkIndex(t, fmt.Sprintf("after the %s outage", engine), want, l)
	}

	step(t, "Kafka broker stopped for 20 s and restarted", func(t *testing.T) {
		outage(t, "kafka", 20*time.Second)
	})
	step(t, "search engine stopped for 30 s and restarted", func(t *testing.T) {
		outage(t, stk.SearchEngine, 30*time.Second)
	})
}
