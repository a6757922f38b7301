package redisstore

import (
	"context"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// maxGroup bounds the scripts one group pipeline carries.
const maxGroup = 128

// scriptGroup sends the script runs of concurrent callers together: every
// run that arrives while a pipeline is on the wire goes, with all the
// others that arrived meanwhile, into the next pipeline. A lone caller
// sends at once, so nothing waits at a steady rate; in a burst of webhooks
// one write and one read carry many scripts, on this process's side and
// on Redis's, where a command's own work is smaller than its round trip.
// Each script still runs atomically and answers its own caller; the
// pipeline only shares the trip.
//
// The caller that finds no pipeline on the wire leads: it sends one group
// (its own run first), then hands the lead to the oldest waiting run, so
// no caller sends for others more than once.
type scriptGroup struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	queue   []*groupRun
	sending bool
}

type groupRun struct {
	ctx  context.Context
	call scriptCall
	cmd  *redis.Cmd
	// wake is sent true when the run must lead the next group, false once
	// cmd holds its answer.
	wake chan bool
}

// run runs script with keys and args in the next group pipeline and
// answers its command, as script.Run would.
func (g *scriptGroup) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	r := &groupRun{ctx: ctx, call: scriptCall{script: script, keys: keys, args: args}, wake: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.sending {
		g.mu.Unlock()
		if lead := <-r.wake; !lead {
			return r.cmd
		}
		g.mu.Lock() // handed the lead: r is first in the queue
	}
	g.sending = true
	n := min(len(g.queue), maxGroup)
	group := slices.Clone(g.queue[:n])
	g.queue = slices.Delete(g.queue, 0, n)
	g.mu.Unlock()

	g.send(group)

	g.mu.Lock()
	if len(g.queue) == 0 {
		g.sending = false
	} else {
		g.queue[0].wake <- true
	}
	g.mu.Unlock()
	return r.cmd
}

// send runs group in one pipeline (evalAll), then answers every run but
// the leader's, which is first. The pipeline goes under the leader's
// context without its cancellation: the others' runs are on it too, and
// the client's timeouts bound it. A run given up before it was sent gets
// its context's error.
func (g *scriptGroup) send(group []*groupRun) {
	var sent []*groupRun
	var calls []scriptCall
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.cmd = redis.NewCmd(r.ctx)
			r.cmd.SetErr(err)
			continue
		}
		sent, calls = append(sent, r), append(calls, r.call)
	}
	for i, cmd := range evalAll(context.WithoutCancel(group[0].ctx), g.rdb, calls) {
		sent[i].cmd = cmd
	}
	for _, r := range group[1:] {
		r.wake <- false
	}
}
