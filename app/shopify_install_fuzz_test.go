package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// signedContent is what Shopify's hmac covers: every parameter but hmac
// and signature, a repeated one as Shopify writes it (ids=["1", "2"]).
func signedContent(q url.Values) map[string]string {
	out := map[string]string{}
	for k, vs := range q {
		if k == "hmac" || k == "signature" || len(vs) == 0 {
			continue
		}
		out[k] = vs[0]
		if len(vs) > 1 {
			out[k] = `["` + strings.Join(vs, `", "`) + `"]`
		}
	}
	return out
}

// FuzzVerifyShopifyQuery: an OAuth or app redirect verifies only with the
// hmac of its own parameters under the app's secret. The harness signs one
// query (in both the escaped and the unescaped form Shopify's libraries
// use) and presents another with that hmac: it must verify only when it
// carries the same parameters. VerifyShopifyQuery must never panic, never
// verify under an empty or another secret, and always verify a query it
// signed itself.
func FuzzVerifyShopifyQuery(f *testing.F) {
	const doc = "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&signature=11813d1e7bbf4629edcda0628a3f7a20&timestamp=1337178173"
	f.Add("hush", doc, doc)
	f.Add("hush", doc, strings.Replace(doc, "1337178173", "1337178174", 1))
	f.Add("hush", doc+"&state=abcd", doc)
	f.Add("shpss_0123", "shop=asha.myshopify.com&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYXNoYQ&timestamp=1778494500", "host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYXNoYQ&shop=asha.myshopify.com&timestamp=1778494500")
	f.Add("shpss_0123", "ids[]=1&ids[]=2&shop=a.myshopify.com", "ids[]=2&ids[]=1&shop=a.myshopify.com")
	f.Add("shpss_0123", "note=a+b&shop=a.myshopify.com", "note=a%20b&shop=a.myshopify.com")
	// testdata/fuzz/FuzzVerifyShopifyQuery holds the queries whose key or
	// value carries the separators, which the unescaped form once let
	// verify with another query's hmac.
	f.Add("", "shop=a.myshopify.com", "shop=a.myshopify.com")
	f.Add("k", "", "hmac=00")
	f.Fuzz(func(t *testing.T, secret, signed, presented string) {
		q1, err := url.ParseQuery(signed)
		if err != nil {
			return
		}
		q2, err := url.ParseQuery(presented)
		if err != nil {
			return
		}
		// Whatever the query holds, nothing verifies without a secret, and
		// no panic on a query lacking or repeating hmac.
		if VerifyShopifyQuery("", q2) {
			t.Fatalf("verified %q with an empty secret", presented)
		}
		VerifyShopifyQuery(secret, q2)
		if secret == "" {
			return
		}
		plain, escaped, _ := shopifyMessages(q1)
		for _, message := range []string{plain, escaped} {
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(message))
			sig := hex.EncodeToString(mac.Sum(nil))

			if message == plain {
				own := maps.Clone(q1)
				own.Set("hmac", SignShopifyQuery(secret, q1))
				if !VerifyShopifyQuery(secret, own) {
					t.Fatalf("refused its own signature of %q", signed)
				}
				if VerifyShopifyQuery(secret+"x", own) {
					t.Fatalf("verified %q under another secret", signed)
				}
			}
			forged := maps.Clone(q2)
			forged.Set("hmac", sig)
			verified := VerifyShopifyQuery(secret, forged)
			if verified && !maps.Equal(signedContent(q1), signedContent(forged)) {
				t.Fatalf("the hmac of %q (message %q) verified %q, whose parameters %v are not the signed %v",
					signed, message, presented, sortedPairs(signedContent(forged)), sortedPairs(signedContent(q1)))
			}
			// A key without values is no parameter: it changes nothing.
			forged["no-values"] = []string{}
			if VerifyShopifyQuery(secret, forged) != verified {
				t.Fatalf("a key without values changed the verdict on %q", presented)
			}
		}
	})
}

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
