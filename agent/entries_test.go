package agent

import (
	"testing"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

func baseEntry() *api.CollectEntry {
	ce := &api.CollectEntry{
		Metadata: api.ObjectMeta{Name: "web-app"},
		Spec:     api.CollectEntrySpec{Paths: []string{"/var/log/web/*.log"}, Topic: "web_log"},
	}
	ce.Default()
	return ce
}

// TestTailerHashRestartsOnlyForFieldsThatAffectATailer is the diff table of
// the CollectEntry reconciler: which spec changes restart running tailers.
func TestTailerHashRestartsOnlyForFieldsThatAffectATailer(t *testing.T) {
	base := tailerHash(baseEntry())
	for _, c := range []struct {
		name    string
		edit    func(*api.CollectEntry)
		restart bool
	}{
		{"labels", func(ce *api.CollectEntry) { ce.Metadata.Labels = map[string]string{"team": "web"} }, false},
		{"paths", func(ce *api.CollectEntry) { ce.Spec.Paths = append(ce.Spec.Paths, "/var/log/api/*.log") }, false},
		{"exclude", func(ce *api.CollectEntry) { ce.Spec.Exclude = []string{"*.gz"} }, false},
		{"agentSelector", func(ce *api.CollectEntry) {
			ce.Spec.AgentSelector = &api.LabelSelector{MatchLabels: map[string]string{"role": "web"}}
		}, false},
		{"scanInterval", func(ce *api.CollectEntry) { ce.Spec.ScanInterval = &api.Duration{Duration: time.Minute} }, false},
		{"startAt", func(ce *api.CollectEntry) { ce.Spec.StartAt = api.StartEnd }, false},
		{"topic", func(ce *api.CollectEntry) { ce.Spec.Topic = "other" }, true},
		{"format", func(ce *api.CollectEntry) { ce.Spec.Format = api.FormatJSON }, true},
		{"fields", func(ce *api.CollectEntry) { ce.Spec.Fields = map[string]string{"env": "prod"} }, true},
		{"includeLines", func(ce *api.CollectEntry) { ce.Spec.IncludeLines = []string{"ERROR"} }, true},
		{"excludeLines", func(ce *api.CollectEntry) { ce.Spec.ExcludeLines = []string{"DEBUG"} }, true},
		{"multiline", func(ce *api.CollectEntry) { ce.Spec.Multiline = &api.Multiline{Pattern: `^\s`} }, true},
		{"maxLineBytes", func(ce *api.CollectEntry) { ce.Spec.MaxLineBytes = 4096 }, true},
		{"closeInactive", func(ce *api.CollectEntry) { ce.Spec.CloseInactive = &api.Duration{Duration: time.Hour} }, true},
	} {
		ce := baseEntry()
		c.edit(ce)
		if got := tailerHash(ce) != base; got != c.restart {
			t.Errorf("changing %s: restart = %v, want %v", c.name, got, c.restart)
		}
	}
}
