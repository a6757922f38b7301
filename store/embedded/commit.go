package embedded

import (
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// lingerFrom and maxLinger: see committer.linger. maxLinger is bbolt's
// Batch delay as this store used it, now paid only under concurrency.
const (
	lingerFrom = 4
	maxLinger  = 2 * time.Millisecond
)

// maxGroup bounds the calls one group commit runs, so one transaction
// never grows without end under a flood.
const maxGroup = 256

// committer is group commit for concurrent writes: every call that
// arrives while a commit is running waits and goes, with all the others
// that arrived meanwhile, into the next transaction, which is fsynced
// once for all of them. A lone call commits at once (bbolt's Batch makes
// it wait MaxBatchDelay); under load a group holds the calls that came in
// during the last commit, held open a little longer (linger) for the
// callers that commit just answered.
//
// The caller that finds no commit running leads: it runs one group (its
// own call first), then hands the lead to the oldest waiting call, so no
// caller commits for others more than once. A call returns only after the
// transaction holding it is on disk; its fn must keep its effects inside
// tx and set its results afresh on every run, since a group whose call
// fails is rolled back and run again without it (the failing call then
// runs alone, and its own answer is what its caller gets).
type committer struct {
	db *bolt.DB

	mu      sync.Mutex
	queue   []*commitCall
	leading bool
	last    int           // calls in the last group
	grew    chan struct{} // poked when a call queues behind a leader
}

// linger holds a new group open (mu held) while the callers of the last
// group, which just got their answers, come back: without it, concurrent
// callers settle into two half-size groups that take turns, each paying
// the fsync. Only after a group of lingerFrom or more, and never longer
// than maxLinger, so a lone caller never waits.
func (c *committer) linger() {
	if c.last < lingerFrom {
		return
	}
	want := min(len(c.queue)+c.last-1, maxGroup)
	timer := time.NewTimer(maxLinger)
	defer timer.Stop()
	for len(c.queue) < want {
		c.mu.Unlock()
		select {
		case <-c.grew:
		case <-timer.C:
			c.mu.Lock()
			return
		}
		c.mu.Lock()
	}
}

type commitCall struct {
	fn  func(*bolt.Tx) error
	err error
	// wake is sent once the call is finished (done set, err final), or when
	// the call must lead the next group (done false).
	wake chan struct{}
	done bool
}

// do runs fn in a group transaction and answers its error once that
// transaction committed (or rolled back, for fn's own error).
func (c *committer) do(fn func(*bolt.Tx) error) error {
	call := &commitCall{fn: fn, wake: make(chan struct{}, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, call)
	if c.leading {
		c.mu.Unlock()
		select {
		case c.grew <- struct{}{}:
		default:
		}
		<-call.wake
		if call.done {
			return call.err
		}
		c.mu.Lock() // handed the lead: call is first in the queue
	}
	c.leading = true
	c.linger()
	n := min(len(c.queue), maxGroup)
	group := slices.Clone(c.queue[:n])
	c.queue = slices.Delete(c.queue, 0, n)
	c.mu.Unlock()

	c.run(group)

	c.mu.Lock()
	c.last = len(group)
	if len(c.queue) == 0 {
		c.leading = false
	} else {
		c.queue[0].wake <- struct{}{}
	}
	c.mu.Unlock()
	return call.err
}

// run commits group in one transaction, taking out and running alone any
// call whose fn fails, and finishes every call.
func (c *committer) run(group []*commitCall) {
	for len(group) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, call := range group {
				if err := safely(call.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, call := range group {
				finish(call, err)
			}
			return
		}
		call := group[failed]
		finish(call, c.db.Update(func(tx *bolt.Tx) error { return safely(call.fn, tx) }))
		group = slices.Delete(group, failed, failed+1)
	}
}

func finish(call *commitCall, err error) {
	call.err, call.done = err, true
	call.wake <- struct{}{}
}

// safely turns a panic in fn into its error, so one bad call cannot stop
// the others of its group or leave them waiting.
func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a write: %v", p)
		}
	}()
	return fn(tx)
}
