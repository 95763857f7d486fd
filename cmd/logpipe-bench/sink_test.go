package main

import (
	"encoding/json"
	"testing"

	"github.com/logpipe/logpipe/transfer"
)

func TestParseBulk(t *testing.T) {
	body := []byte(`{"index":{"_index":"web-1","_id":"a"}}
{"seq":7,"msg":"x"}
{"create":{"_index":"logs","_id":"b","pipeline":"p"}}
{"seq":8}
`)
	got, err := parseBulk(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 ||
		got[0].Index != "web-1" || got[0].ID != "a" || got[0].Create || string(got[0].Doc) != `{"seq":7,"msg":"x"}` ||
		got[1].Index != "logs" || got[1].ID != "b" || !got[1].Create || got[1].Pipeline != "p" || seqOf(got[1].Doc) != 8 {
		t.Errorf("parseBulk = %+v", got)
	}
	if _, err := parseBulk([]byte(`{"delete":{"_id":"a"}}` + "\n{}\n")); err == nil {
		t.Error("a delete action was accepted")
	}
	if _, err := parseBulk([]byte(`{"index":{}}`)); err == nil {
		t.Error("an action line without its document was accepted")
	}
}

func TestBulkAnswerAsFiltered(t *testing.T) {
	actions := []transfer.Action{{Index: "a"}, {Index: "a", Create: true}}
	results := []transfer.Result{{Status: 201}, {Status: 409, ErrorType: "version_conflict_engine_exception", ErrorReason: "exists"}}
	var answer struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int `json:"status"`
			Error  struct {
				Type string `json:"type"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(bulkAnswer(actions, results), &answer); err != nil {
		t.Fatal(err)
	}
	if !answer.Errors || len(answer.Items) != 2 || answer.Items[0]["index"].Status != 201 ||
		answer.Items[1]["create"].Status != 409 || answer.Items[1]["create"].Error.Type != "version_conflict_engine_exception" {
		t.Errorf("answer = %+v", answer)
	}
}

func TestJSONLineIsPaddedAndParsable(t *testing.T) {
	line := jsonLine(nil, 12345)
	if len(line) != lineBytes || line[len(line)-1] != '\n' {
		t.Fatalf("line of %d bytes, want %d ending in a newline: %q", len(line), lineBytes, line)
	}
	var v struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal(line, &v); err != nil || v.Seq != 12345 || seqOf(line) != 12345 {
		t.Errorf("line %q: seq %d, seqOf %d, err %v", line, v.Seq, seqOf(line), err)
	}
}

func TestBulkDocs(t *testing.T) {
	body := []byte("{\"index\":{}}\n{\"seq\":1}\n{\"index\":{}}\n{\"seq\":2}\n")
	if n := len(bulkDocs(body, false)); n != 2 {
		t.Errorf("counted %d documents, want 2", n)
	}
	docs := bulkDocs(body, true)
	if len(docs) != 2 || seqOf(docs[0]) != 1 || seqOf(docs[1]) != 2 {
		t.Errorf("bulkDocs = %q", docs)
	}
}
