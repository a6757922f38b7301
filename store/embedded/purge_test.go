package embedded

import (
	"slices"
	"testing"
)

// Every bucket is either walked by PurgeMerchantData, changed through the
// records it deletes, or kept on purpose: a bucket added later must be put
// in one of the three, or a shop's redaction would leave it behind.
func TestPurgeAccountsForEveryBucket(t *testing.T) {
	var covered []string
	for _, step := range purgeSteps("m1") {
		covered = append(covered, step.bucket)
	}
	covered = append(append(covered, purgeKept()...), purgeIndirect()...)
	for _, name := range bucketNames() {
		if !slices.Contains(covered, name) {
			t.Errorf("bucket %s is neither purged nor kept by PurgeMerchantData", name)
		}
	}
}
