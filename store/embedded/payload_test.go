package embedded

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

// A claim rewrites the job's record: the payload stays out of it, written
// once, and goes with the job.
func TestJobRecordLeavesPayloadApart(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), newClock().Now)
	body := bytes.Repeat([]byte(`{"line_items":[{"title":"Kurta"}]}`), 150)
	j := testJob("m1", 1)
	j.Payload = body
	if st, err := s.ClaimAndEnqueue(ctx, "shopify:1", time.Hour, j); err != nil || st != app.ClaimNew {
		t.Fatalf("ClaimAndEnqueue() = %v, %v; want new", st, err)
	}
	l := testJob("m1", 2)
	l.Payload = body
	if st, _, err := s.ClaimAndLease(ctx, "shopify:2", time.Hour, l, testLease); err != nil || st != app.ClaimNew {
		t.Fatalf("ClaimAndLease() = %v, %v; want new", st, err)
	}
	recordsSmall(t, s, 2)
	got := claim(t, s, 5)
	if len(got) != 1 || !bytes.Equal(got[0].Payload, body) {
		t.Fatalf("ClaimJobs() = %d jobs; want job-00001 with its %d-byte payload", len(got), len(body))
	}
	recordsSmall(t, s, 2)
	for _, h := range []app.Job{got[0], {ID: l.ID, Merchant: "m1", Lease: leaseOf(t, s, l)}} {
		if err := s.Ack(ctx, h); err != nil {
			t.Fatalf("Ack(%s) = %v", h.ID, err)
		}
	}
	countKeys(t, s, map[string]int{bucketJobs: 0, bucketJobPayloads: 0})
}

// recordsSmall checks that the jobs bucket holds n records, none with a
// payload, and job_payloads n payloads.
func recordsSmall(t *testing.T, s *Store, n int) {
	t.Helper()
	countKeys(t, s, map[string]int{bucketJobs: n, bucketJobPayloads: n})
	err := s.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketJobs).ForEach(func(k, v []byte) error {
			if len(v) > 512 {
				t.Errorf("job record %q is %d bytes; want the payload kept apart", k, len(v))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func leaseOf(t *testing.T, s *Store, j app.Job) string {
	t.Helper()
	var lease string
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := loadJob(tx, j.Merchant, j.ID)
		lease = rec.Lease
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return lease
}

// A version 1 file kept each payload in its job's record: Open moves them
// out, and the jobs run with them.
func TestOpenMovesPayloadsOfVersion1(t *testing.T) {
	openMovesPayloads(t, func(meta *bolt.Bucket) error {
		return meta.Put([]byte(keySchemaVersion), []byte("1"))
	})
}

// An upgrade cut short left the version at 2 (so a version 1 build refuses
// the file) and its mark: the next Open moves the rest.
func TestOpenFinishesAnUpgradeCutShort(t *testing.T) {
	openMovesPayloads(t, func(meta *bolt.Bucket) error {
		return meta.Put([]byte(keyMovingPayloads), nil)
	})
}

func openMovesPayloads(t *testing.T, version func(meta *bolt.Bucket) error) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	c := newClock()
	s := openTest(t, path, c.Now)
	const n = purgeChunk + 5 // more than one transaction's worth
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range n {
			// As version 1 wrote it: the payload in the record.
			rec := jobRecord{Job: testJob("m1", i)}
			rec.DueAt, rec.CreatedAt, rec.State = c.Now(), c.Now(), jobDue
			if err := putJSON(bucket(tx, bucketJobs), scoped("m1", rec.ID), rec); err != nil {
				return err
			}
			if err := bucket(tx, bucketDue).Put(scopedAt("m1", rec.DueAt, rec.ID), nil); err != nil {
				return err
			}
		}
		if err := refreshHead(tx, "m1"); err != nil {
			return err
		}
		return version(bucket(tx, bucketMeta))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, c.Now)
	err = s.db.View(func(tx *bolt.Tx) error {
		meta := bucket(tx, bucketMeta)
		if v := meta.Get([]byte(keySchemaVersion)); string(v) != schemaVersion {
			t.Errorf("schema version after Open = %q; want %s", v, schemaVersion)
		}
		if meta.Get([]byte(keyMovingPayloads)) != nil {
			t.Errorf("meta still holds %s after Open; want it removed", keyMovingPayloads)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	recordsSmall(t, s, n)
	got, err := s.ClaimJobs(ctx, testLease, n)
	if err != nil || len(got) != n {
		t.Fatalf("ClaimJobs() = %d jobs, %v; want %d", len(got), err, n)
	}
	want := map[string][]byte{}
	for i := range n {
		j := testJob("m1", i)
		want[j.ID] = j.Payload
	}
	for _, j := range got {
		if !bytes.Equal(j.Payload, want[j.ID]) {
			t.Errorf("job %s payload = %q; want %q", j.ID, j.Payload, want[j.ID])
		}
	}
}
