package v1alpha1

import (
	"fmt"
	"testing"
)

func TestParseSelector(t *testing.T) {
	web := map[string]string{"app": "web", "env": "prod", "tier": "front"}
	api := map[string]string{"app": "api", "env": "dev"}
	none := map[string]string{}
	tests := []struct {
		in     string
		string string // the canonical form String returns
		match  []map[string]string
		miss   []map[string]string
	}{
		{"", "", []map[string]string{web, api, none, nil}, nil},
		{"   ", "", []map[string]string{web, none}, nil},
		{"app=web", "app=web", []map[string]string{web}, []map[string]string{api, none}},
		{"app==web", "app=web", []map[string]string{web}, []map[string]string{api, none}},
		{"app!=web", "app!=web", []map[string]string{api, none}, []map[string]string{web}},
		{"tier", "tier", []map[string]string{web}, []map[string]string{api, none}},
		{"!tier", "!tier", []map[string]string{api, none}, []map[string]string{web}},
		{"env in (prod,staging)", "env in (prod,staging)", []map[string]string{web}, []map[string]string{api, none}},
		{"env notin (prod)", "env notin (prod)", []map[string]string{api, none}, []map[string]string{web}},
		{" app = web , env in ( staging , prod ) ", "app=web,env in (prod,staging)", []map[string]string{web}, []map[string]string{api}},
		{"env in (prod,prod,dev)", "env in (dev,prod)", []map[string]string{web, api}, []map[string]string{none}},
		{"tier=", "tier=", []map[string]string{{"tier": ""}}, []map[string]string{web, none}},
		{"env in (,prod)", "env in (,prod)", []map[string]string{web, {"env": ""}}, []map[string]string{api, none}},
		{"example.com/team=web,app", "app,example.com/team=web", []map[string]string{{"app": "x", "example.com/team": "web"}}, []map[string]string{web}},
		{"in", "in", []map[string]string{{"in": "x"}}, []map[string]string{web}},
		{"b,a=1,!c", "a=1,b,!c", []map[string]string{{"a": "1", "b": ""}}, []map[string]string{{"a": "1", "b": "", "c": ""}, {"a": "1"}}},
	}
	for _, tt := range tests {
		s, err := ParseSelector(tt.in)
		if err != nil {
			t.Errorf("ParseSelector(%q) = %v, want no error", tt.in, err)
			continue
		}
		if got := s.String(); got != tt.string {
			t.Errorf("ParseSelector(%q).String() = %q, want %q", tt.in, got, tt.string)
		}
		if got, want := s.Empty(), tt.string == ""; got != want {
			t.Errorf("ParseSelector(%q).Empty() = %v, want %v", tt.in, got, want)
		}
		for _, l := range tt.match {
			if !s.Matches(l) {
				t.Errorf("ParseSelector(%q).Matches(%v) = false, want true", tt.in, l)
			}
		}
		for _, l := range tt.miss {
			if s.Matches(l) {
				t.Errorf("ParseSelector(%q).Matches(%v) = true, want false", tt.in, l)
			}
		}
		// String is a fixed point of parsing.
		again, err := ParseSelector(s.String())
		if err != nil || again.String() != s.String() {
			t.Errorf("ParseSelector(%q) = %q, %v; want %q", s.String(), again.String(), err, s.String())
		}
	}
}

func TestParseSelectorErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"app=web,", `invalid label selector "app=web,": at position 9: want a requirement after ","`},
		{",app", `invalid label selector ",app": at position 1: want a label key, got ","`},
		{"app web", `invalid label selector "app web": at position 5: want one of "=", "==", "!=", "in", "notin", "," or the end after key "app", got "web"`},
		{"app=web env=prod", `invalid label selector "app=web env=prod": at position 9: want "," between requirements, got "env"`},
		{"env in (a", `invalid label selector "env in (a": at position 10: want "," or ")" in the values of "in", got end of selector`},
		{"env in a", `invalid label selector "env in a": at position 8: want "(" after "in", got "a"`},
		{"env notin ()", `invalid label selector "env notin ()": at position 12: want at least one value for "notin", got an empty set`},
		{"env in (a b)", `invalid label selector "env in (a b)": at position 11: want "," or ")" in the values of "in", got "b"`},
		{"!", `invalid label selector "!": at position 2: want a label key after "!", got end of selector`},
		{"!=web", `invalid label selector "!=web": at position 1: want a label key, got "!="`},
		{"=web", `invalid label selector "=web": at position 1: want a label key, got "="`},
		{"app=(web)", `invalid label selector "app=(web)": at position 5: want "," between requirements, got "("`},
		{"-app=web", `invalid label selector "-app=web": at position 1: invalid label key "-app": want letters, digits, '-', '_' and '.' after the optional prefix, starting and ending with a letter or digit`},
		{"app=-web", `invalid label selector "app=-web": at position 5: invalid label value "-web": want letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty`},
		{"Example.com/app", `invalid label selector "Example.com/app": at position 1: invalid label key "Example.com/app": prefix "Example.com" is not a DNS-1123 subdomain: want lower-case letters, digits, '-' and '.' before the '/', such as "example.com/"`},
		{"env in (ok,b@d)", `invalid label selector "env in (ok,b@d)": at position 12: invalid label value "b@d": want letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty`},
	}
	for _, tt := range tests {
		s, err := ParseSelector(tt.in)
		if got := errText(err); got != tt.want {
			t.Errorf("ParseSelector(%q) = %q, %s\nwant error: %s", tt.in, s.String(), got, tt.want)
		}
	}
}

func TestLabelSelector(t *testing.T) {
	web := map[string]string{"role": "web", "zone": "a"}
	db := map[string]string{"role": "db"}
	tests := []struct {
		name   string
		ls     *LabelSelector
		string string
		match  []map[string]string
		miss   []map[string]string
	}{
		{"nil", nil, "", []map[string]string{web, db, nil}, nil},
		{"empty", &LabelSelector{}, "", []map[string]string{web, db, nil}, nil},
		{"matchLabels", &LabelSelector{MatchLabels: map[string]string{"role": "web", "zone": "a"}}, "role=web,zone=a",
			[]map[string]string{web}, []map[string]string{db, {"role": "web"}}},
		{"In", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "role", Operator: SelectorOpIn, Values: []string{"web", "api"}}}},
			"role in (api,web)", []map[string]string{web}, []map[string]string{db, nil}},
		{"NotIn", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "role", Operator: SelectorOpNotIn, Values: []string{"web"}}}},
			"role notin (web)", []map[string]string{db, nil}, []map[string]string{web}},
		{"Exists", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorOpExists}}},
			"zone", []map[string]string{web}, []map[string]string{db}},
		{"DoesNotExist", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorOpDoesNotExist}}},
			"!zone", []map[string]string{db, nil}, []map[string]string{web}},
		{"both ANDed", &LabelSelector{
			MatchLabels:      map[string]string{"role": "web"},
			MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorOpIn, Values: []string{"b"}}},
		}, "role=web,zone in (b)", []map[string]string{{"role": "web", "zone": "b"}}, []map[string]string{web, db}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.ls.Selector()
			if err != nil {
				t.Fatalf("Selector(%s) = %v, want no error", asJSON(tt.ls), err)
			}
			if got := s.String(); got != tt.string {
				t.Errorf("Selector(%s).String() = %q, want %q", asJSON(tt.ls), got, tt.string)
			}
			for _, l := range tt.match {
				if !tt.ls.Matches(l) || !s.Matches(l) {
					t.Errorf("Matches(%s, %v) = %v (Selector: %v), want true", asJSON(tt.ls), l, tt.ls.Matches(l), s.Matches(l))
				}
			}
			for _, l := range tt.miss {
				if tt.ls.Matches(l) || s.Matches(l) {
					t.Errorf("Matches(%s, %v) = %v (Selector: %v), want false", asJSON(tt.ls), l, tt.ls.Matches(l), s.Matches(l))
				}
			}
		})
	}
}

func TestLabelSelectorInvalid(t *testing.T) {
	tests := []struct {
		ls   *LabelSelector
		want string
	}{
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "role", Operator: "Equals", Values: []string{"web"}}}},
			`invalid label selector: matchExpressions[0].operator: unknown operator "Equals": want one of DoesNotExist, Exists, In, NotIn`},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "role", Operator: SelectorOpIn}}},
			`invalid label selector: matchExpressions[0].values: required for operator In: want at least one value`},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "role", Operator: SelectorOpExists, Values: []string{"web"}}}},
			`invalid label selector: matchExpressions[0].values: must be empty for operator Exists`},
		{&LabelSelector{MatchLabels: map[string]string{"a b": "x"}, MatchExpressions: []LabelSelectorRequirement{{Key: "role", Operator: SelectorOpDoesNotExist, Values: []string{"x"}}}},
			`invalid label selector: matchLabels["a b"]: invalid label key "a b": want letters, digits, '-', '_' and '.' after the optional prefix, starting and ending with a letter or digit; matchExpressions[0].values: must be empty for operator DoesNotExist`},
	}
	for _, tt := range tests {
		s, err := tt.ls.Selector()
		if got := errText(err); got != tt.want {
			t.Errorf("Selector(%s) = %q, %s\nwant error: %s", asJSON(tt.ls), s.String(), got, tt.want)
		}
		// Whatever Validate would reject selects nothing.
		for _, l := range []map[string]string{nil, {"role": "web"}, {"role": "x", "a b": "x"}} {
			if tt.ls.Matches(l) {
				t.Errorf("Matches(%s, %v) = true, want false for an invalid selector", asJSON(tt.ls), l)
			}
		}
	}
}

func ExampleParseSelector() {
	s, err := ParseSelector("role in (web,api), !canary")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s)
	fmt.Println(s.Matches(map[string]string{"role": "web"}))
	fmt.Println(s.Matches(map[string]string{"role": "web", "canary": "true"}))
	// Output:
	// !canary,role in (api,web)
	// true
	// false
}
