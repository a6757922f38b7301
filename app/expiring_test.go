package app

import (
	"fmt"
	"testing"
	"time"
)

// TestExpiringSetStaysBounded: made-up keys never grow the set past its
// size, entries end on time, and a key added last is kept.
func TestExpiringSetStaysBounded(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	set := newExpiringSet(64)
	for i := range 10_000 {
		key := fmt.Sprintf("random-%d.myshopify.com", i)
		set.add(key, now.Add(time.Minute), now)
		if _, ok := set.get(key, now); !ok {
			t.Fatalf("get(%s) just after add = absent; want present", key)
		}
		if len(set.until) > 64 {
			t.Fatalf("size after %d additions = %d; want at most 64", i+1, len(set.until))
		}
	}
	set.add("kept", now.Add(time.Second), now)
	if until, ok := set.get("kept", now.Add(999*time.Millisecond)); !ok || !until.Equal(now.Add(time.Second)) {
		t.Errorf("get(kept) before its end = %s, %v; want present until %s", until, ok, now.Add(time.Second))
	}
	if _, ok := set.get("kept", now.Add(time.Second)); ok {
		t.Error("get(kept) at its end = present; want ended")
	}
	set.add("gone", now.Add(time.Minute), now)
	set.remove("gone")
	if _, ok := set.get("gone", now); ok {
		t.Error("get(gone) after remove = present; want absent")
	}
}
