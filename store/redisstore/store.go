// Package redisstore is the production app.Store: merchants, idempotency
// claims, the job queue, deliveries and statistics on Redis (a single server,
// Upstash, or a Redis Cluster), shared by every instance of the service.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// Options configures a Store.
type Options struct {
	// Prefix starts every key (REDIS_PREFIX); empty means DefaultPrefix. It
	// must not contain '{' or '}', which would change the cluster hash tags.
	Prefix string
	// Now is this instance's clock, for the times the app hands in as its
	// own: created_at, and the due time of a job enqueued or retried now.
	// What is due and which leases ran out is decided on the server's clock
	// (TIME in the scripts), one for every instance. nil means time.Now.
	Now func() time.Time
	// ServerClockOffset is for tests: it is added to the server's clock
	// wherever the queue reads it, as moving a fake clock would, so leases
	// and due times can be tested without sleeping. nil: none.
	ServerClockOffset func() time.Duration
}

// Store implements app.Store on Redis.
type Store struct {
	rdb     redis.UniversalClient
	keys    keys
	now     func() time.Time
	offset  func() time.Duration
	clock   *serverClock // the throttle's clock
	scripts scripts
	// group sends the ingest scripts of concurrent webhooks in one
	// pipeline.
	group *scriptGroup
	// known remembers merchants already recorded in the queue's merchant
	// set, to save a round trip per enqueue; the set never shrinks.
	known sync.Map
	// expiring remembers the stats days this instance gave their TTL
	// (see Incr).
	expiring statsExpiring
}

var _ app.Store = (*Store)(nil)

// New returns a Store on rdb. Close closes rdb.
func New(rdb redis.UniversalClient, opts Options) *Store {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	offset := opts.ServerClockOffset
	if offset == nil {
		offset = func() time.Duration { return 0 }
	}
	return &Store{rdb: rdb, keys: keys{prefix: prefix}, now: now, offset: offset, clock: &serverClock{rdb: rdb}, scripts: newScripts(), group: &scriptGroup{rdb: rdb}}
}

// offsetMS is the test offset of the server's clock, for the scripts.
func (s *Store) offsetMS() int64 { return s.offset().Milliseconds() }

// serverNow is the server's clock (plus the test offset) in ms.
func (s *Store) serverNow(ctx context.Context) (int64, error) {
	t, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return 0, err
	}
	return msOf(t) + s.offsetMS(), nil
}

// Ping answers nil when Redis answers PING.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.rdb.Ping(ctx).Err())
}

// Close closes the Redis client.
func (s *Store) Close() error {
	return wrap("close", s.rdb.Close())
}

// wrap maps a Redis error to the app's: redis.Nil is app.ErrNotFound, a
// failure to reach the server is also app.ErrUnavailable.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("redisstore: %s: %w", op, app.ErrNotFound)
	case unavailable(err):
		return fmt.Errorf("redisstore: %s: %w: %w", op, app.ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// unavailable reports whether err means the server could not be reached or
// cannot serve right now, as opposed to a command that failed.
func unavailable(err error) bool {
	var netErr net.Error
	if errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	for _, prefix := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY"} {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}

// requireID refuses an empty id: an empty hash tag would scatter a
// merchant's keys over the cluster.
func requireID(field, id string) error {
	if id == "" {
		return app.Invalid(field, "is required")
	}
	return nil
}

// newToken returns a random lease token.
func newToken() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// msOf is the score of t.
func msOf(t time.Time) int64 { return t.UnixMilli() }

// positiveMS is d in whole milliseconds, at least 1, for PX and lease scores.
func positiveMS(d time.Duration) int64 {
	return max(d.Milliseconds(), 1)
}
