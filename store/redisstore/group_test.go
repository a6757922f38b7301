package redisstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// pipelineCounter counts the pipelines and the lone commands a client
// sends.
type pipelineCounter struct{ pipelines, commands, single atomic.Int64 }

func (c *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.single.Add(1)
		return next(ctx, cmd)
	}
}
func (c *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.pipelines.Add(1)
		c.commands.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// Webhooks stored at once share pipelines (one write and one read for
// many scripts), and each caller still gets its own script's answer: a
// new event is new exactly once, its copies are done, and every new one is
// queued once. The script cache is flushed midway; the group runs those
// the server no longer knows again by EVAL.
func TestConcurrentIngestSharesPipelines(t *testing.T) {
	ctx := context.Background()
	srv, err := startRedis(0, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.kill)
	rdb := newClient(srv.addr())
	var count pipelineCounter
	rdb.AddHook(&count)
	s := New(rdb, Options{Prefix: "group:"})
	t.Cleanup(func() { s.Close() })

	const callers, events = 32, 40
	var news, dones, queuedNew atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers*events*2)
	for c := range callers {
		wg.Go(func() {
			for e := range events {
				if c == 0 && e == events/2 {
					if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
						errs <- err
					}
				}
				// Two callers send each event; which one wins is the race.
				key := fmt.Sprintf("shopify:evt-%d-%d:orders/create", c/2, e)
				job := newJob(fmt.Sprintf("m-group-%d", c/2%5), "", time.Time{})
				if c%2 == 0 {
					st, leased, err := s.ClaimAndLease(ctx, key, time.Hour, job, time.Minute)
					if err == nil && st == app.ClaimNew && leased.Lease == "" {
						err = fmt.Errorf("ClaimAndLease(%s) new without a lease", key)
					}
					if err == nil && st == app.ClaimNew {
						err = s.Ack(ctx, leased)
					}
					tally(st, err, &news, &dones, errs)
					continue
				}
				st, err := s.ClaimAndEnqueue(ctx, key, time.Hour, job)
				if err == nil && st == app.ClaimNew {
					queuedNew.Add(1)
				}
				tally(st, err, &news, &dones, errs)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if news.Load() != callers/2*events || dones.Load() != callers/2*events {
		t.Errorf("%d new and %d done of %d events sent twice; want each new once and done once", news.Load(), dones.Load(), callers/2*events)
	}
	queued := 0
	for {
		jobs, err := s.ClaimJobs(ctx, time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			break
		}
		queued += len(jobs)
		for _, j := range jobs {
			if err := s.Ack(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	if int64(queued) != queuedNew.Load() {
		t.Errorf("%d jobs queued; want one for each of the %d events ClaimAndEnqueue found new", queued, queuedNew.Load())
	}
	p, n := count.pipelines.Load(), count.commands.Load()
	if p == 0 || float64(n)/float64(p) < 4 {
		t.Errorf("%d pipelines carried %d commands; want concurrent scripts to share them", p, n)
	}
	t.Logf("%d pipelines carried %d commands (%.1f each), %d lone commands", p, n, float64(n)/float64(p), count.single.Load())
}

func tally(st app.ClaimState, err error, news, dones *atomic.Int64, errs chan<- error) {
	switch {
	case err != nil:
		errs <- err
	case st == app.ClaimNew:
		news.Add(1)
	case st == app.ClaimDone:
		dones.Add(1)
	default:
		errs <- fmt.Errorf("claim state %v; want new or done", st)
	}
}
