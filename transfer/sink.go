package transfer

import (
	"context"
	"fmt"
	"net/http"
)

// Action is one document write: the document Doc (a JSON object) under ID in
// Index. Every Sink receives the same actions for the same records, so an
// embedded index sees exactly the documents and IDs Elasticsearch would.
type Action struct {
	// Index is the index or data stream name, already expanded from the
	// Topic's spec.index.name.
	Index string
	// ID is the document ID: the record's event ID, so a replay overwrites.
	ID string
	// Create asks for op_type create (data streams): a document that already
	// exists is not overwritten and counts as written.
	Create bool
	// Pipeline is the ingest pipeline to run, "" for none.
	Pipeline string
	// Doc is the document source. The Sink must not keep it after Bulk
	// returns.
	Doc []byte
}

// Result is a sink's answer for one action.
type Result struct {
	// Status is the HTTP status the engine gave the item (201 created,
	// 200 updated, 409 conflict, 429 rejected, 400 mapping error ...).
	// Zero means the engine said nothing about the item; it is retried.
	Status int
	// ErrorType and ErrorReason are the engine's error type and reason,
	// empty on success.
	ErrorType   string
	ErrorReason string
}

// Sink writes batches of documents to a search index.
//
// Bulk writes actions and returns exactly one Result per action, in order:
// that is "the answer", and each item may have succeeded or failed on its
// own. A non-nil error means "could not ask": the request failed as a whole
// (the engine was unreachable, timed out or refused the whole request), and
// the results are nil. The error should be a *RequestError when the engine
// answered with an HTTP status, so the caller can tell a request that is too
// large (split it) from an overloaded engine (retry it). Bulk must be safe
// for concurrent use.
type Sink interface {
	Bulk(ctx context.Context, actions []Action) ([]Result, error)
}

// RequestError is a bulk request the engine refused as a whole.
type RequestError struct {
	// Status is the HTTP status of the answer.
	Status int
	// Type and Reason are the engine's error type and reason, when the
	// answer carried them.
	Type, Reason string
}

// Error returns "bulk request: HTTP <status>: <type>: <reason>".
func (e *RequestError) Error() string {
	msg := fmt.Sprintf("bulk request: HTTP %d", e.Status)
	if e.Type != "" {
		msg += ": " + e.Type
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// outcome is what the transfer does with an item after one attempt.
type outcome uint8

const (
	// outcomeDone: the document is in the index; the record is finished.
	outcomeDone outcome = iota
	// outcomeRetry: the engine could not take it now; send it again later.
	outcomeRetry
	// outcomeDeadLetter: the engine will never take it as it is; park it in
	// the dead-letter topic with the error.
	outcomeDeadLetter
)

func (o outcome) String() string {
	switch o {
	case outcomeDone:
		return "done"
	case outcomeRetry:
		return "retry"
	}
	return "dead-letter"
}

// classifyItem decides an item's fate from its status: 2xx is done; 409 on
// a create means the document is already there, so done too; 408, 429, 5xx
// and a missing status are retried; every other status (400 mapping or
// parse errors, 409 on an index, 404 ...) goes to the dead-letter topic,
// because sending the same document again would get the same answer.
func classifyItem(status int, create bool) outcome {
	switch {
	case status >= 200 && status < 300:
		return outcomeDone
	case status == http.StatusConflict && create:
		return outcomeDone
	case status == 0, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return outcomeRetry
	}
	return outcomeDeadLetter
}

// requestOutcome is what the transfer does with a whole batch whose request
// failed.
type requestOutcome uint8

const (
	// requestRetry: retry every item of the request after a backoff.
	requestRetry requestOutcome = iota
	// requestSplit: the request itself is unacceptable (too large, or a
	// 4xx that may come from one bad document); send each half on its own,
	// down to single documents, which then go to the dead-letter topic.
	requestSplit
)

// classifyRequest decides what to do with a request that failed as a whole.
// Transport errors, timeouts, 429 and 5xx are the engine being unavailable.
// 401, 403 and 404 on the whole request are a configuration problem
// (credentials, URL) that no document can cause, so they are retried until
// the operator fixes it rather than dead-lettering everything. 413 and the
// other 4xx are split.
func classifyRequest(err error) requestOutcome {
	re, ok := err.(*RequestError)
	if !ok {
		return requestRetry
	}
	switch s := re.Status; {
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500,
		s == http.StatusUnauthorized, s == http.StatusForbidden, s == http.StatusNotFound:
		return requestRetry
	case s >= 400:
		return requestSplit
	}
	return requestRetry
}
