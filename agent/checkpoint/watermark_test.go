package checkpoint

import (
	"testing"

	"pgregory.net/rapid"
)

func TestWatermark(t *testing.T) {
	w := NewWatermark(100)
	for _, end := range []int64{110, 120, 130, 140} {
		w.Add(end)
	}
	steps := []struct {
		ack       int64
		accepted  bool
		committed int64
	}{
		{120, true, 100}, // 110 still in flight
		{140, true, 100},
		{110, true, 120}, // 110 and 120 acknowledged: the prefix ends at 120
		{110, false, 120},
		{999, false, 120},
		{130, true, 140},
	}
	for _, s := range steps {
		if got := w.Ack(s.ack); got != s.accepted {
			t.Errorf("Ack(%d) = %v, want %v", s.ack, got, s.accepted)
		}
		if got := w.Committed(); got != s.committed {
			t.Errorf("after Ack(%d): Committed() = %d, want %d", s.ack, got, s.committed)
		}
	}
	if n := w.InFlight(); n != 0 {
		t.Errorf("InFlight() = %d, want 0", n)
	}
}

func TestWatermarkAddOutOfOrderPanics(t *testing.T) {
	w := NewWatermark(10)
	w.Add(20)
	defer func() {
		if recover() == nil {
			t.Error("Add(15) after Add(20) did not panic")
		}
	}()
	w.Add(15)
}

// TestWatermarkProperty: events added in file order and acknowledged in any
// order, interleaved with more adds; Committed never passes an event not
// acknowledged, always equals the end of the acknowledged prefix, and after
// every ack equals the last end.
func TestWatermarkProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		start := rapid.Int64Range(0, 1<<40).Draw(t, "start")
		n := rapid.IntRange(1, 2000).Draw(t, "events")
		ends := make([]int64, n)
		end := start
		for i := range ends {
			end += rapid.Int64Range(1, 300).Draw(t, "length")
			ends[i] = end
		}
		w := NewWatermark(start)
		acked := make([]bool, n)
		added, firstUnacked := 0, 0
		var unacked []int // indexes added but not acknowledged
		for added < n || len(unacked) > 0 {
			if added < n && (len(unacked) == 0 || rapid.Bool().Draw(t, "add")) {
				w.Add(ends[added])
				unacked = append(unacked, added)
				added++
				continue
			}
			k := rapid.IntRange(0, len(unacked)-1).Draw(t, "ack")
			i := unacked[k]
			unacked = append(unacked[:k], unacked[k+1:]...)
			if !w.Ack(ends[i]) {
				t.Fatalf("Ack(%d) refused an event in flight", ends[i])
			}
			acked[i] = true

			for firstUnacked < added && acked[firstUnacked] {
				firstUnacked++
			}
			want := start
			if firstUnacked > 0 {
				want = ends[firstUnacked-1]
			}
			got := w.Committed()
			if got != want {
				t.Fatalf("Committed() = %d, want %d (the end of the acknowledged prefix)", got, want)
			}
			// The earliest event not acknowledged has the smallest end of
			// those not acknowledged: not passing it passes none.
			if firstUnacked < added && got >= ends[firstUnacked] {
				t.Fatalf("Committed() = %d passes event %d (end %d), not acknowledged", got, firstUnacked, ends[firstUnacked])
			}
		}
		if got := w.Committed(); got != ends[n-1] {
			t.Fatalf("after every ack Committed() = %d, want the last end %d", got, ends[n-1])
		}
		if w.InFlight() != 0 {
			t.Fatalf("InFlight() = %d after every ack", w.InFlight())
		}
	})
}

// A burst of thousands in flight must not leave every file holding room
// for thousands once only a few are: with a hundred busy files, that room
// was a fifth of the agent's heap.
func TestWatermarkGivesBackRoomAfterBurst(t *testing.T) {
	w := NewWatermark(0)
	var end, acked int64
	for range 5000 {
		end += 10
		w.Add(end)
	}
	if got := cap(w.pending); got < 5000 {
		t.Fatalf("burst: cap %d, want room for 5,000 in flight", got)
	}
	for acked < end-80 { // all but 8 acknowledged
		acked += 10
		w.Ack(acked)
	}
	for range 1000 { // then a steady 8 in flight
		end += 10
		w.Add(end)
		acked += 10
		w.Ack(acked)
	}
	if got := w.InFlight(); got != 8 {
		t.Fatalf("in flight %d, want 8", got)
	}
	if got, most := cap(w.pending), 8*compactAfter; got > most {
		t.Errorf("after the burst drained: cap %d, want at most %d", got, most)
	}
	if got := w.Committed(); got != acked {
		t.Errorf("committed %d, want %d", got, acked)
	}
}
