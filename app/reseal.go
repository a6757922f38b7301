package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// ResealReport says what Reseal did, and whether the older keys may go.
type ResealReport struct {
	KeyID     string   // the key every value is sealed with now
	OldKeyIDs []string // the other listed keys
	Merchants int      // merchants read
	Resealed  int      // values sealed again under KeyID
	// Pinned counts status URL and Nector inbox tokens stored for
	// merchants that had none: until stored, a token is derived from the
	// oldest key, and removing that key would change the URL the provider
	// or Nector was given.
	Pinned int
	// Unopened lists the values no listed key opens ("m_1/access_token"):
	// sealed with a key that is not in SECRET_KEY, or damaged.
	Unopened []string
}

// OldKeysCanGo reports whether no stored value needs an older key any more.
func (r ResealReport) OldKeysCanGo() bool { return len(r.Unopened) == 0 }

// Reseal seals every stored secret (store credentials, provider
// credentials) again under the newest key and stores each merchant's
// status URL and Nector inbox tokens, so the older keys in SECRET_KEY can
// be removed. A
// merchant with nothing to change is not written. Safe to run while the
// service runs, and again.
func (s *Service) Reseal(ctx context.Context) (ResealReport, error) {
	ids := s.keyring.KeyIDs()
	report := ResealReport{KeyID: ids[0], OldKeyIDs: ids[1:]}
	merchants, err := s.store.ListMerchants(ctx)
	if err != nil {
		return report, fmt.Errorf("reseal: %w", err)
	}
	for _, listed := range merchants {
		report.Merchants++
		if !s.needsReseal(listed) {
			continue
		}
		var work resealWork
		if _, err := s.updateMerchant(ctx, listed.ID, func(m *Merchant) error {
			work = s.resealMerchant(m)
			return work.err
		}); err != nil {
			return report, fmt.Errorf("reseal merchant %s: %w", listed.ID, err)
		}
		report.Resealed += work.resealed
		report.Pinned += work.pinned
		report.Unopened = append(report.Unopened, work.unopened...)
	}
	return report, nil
}

// needsReseal reports whether m holds a value sealed with an older key, or
// no status token while it has a provider, or no Nector inbox token: the
// only merchants Reseal writes.
func (s *Service) needsReseal(m Merchant) bool {
	for _, values := range []map[string]Sealed{m.Secrets, m.Provider.Credentials} {
		for _, v := range values {
			if s.keyring.NeedsReseal(v) {
				return true
			}
		}
	}
	if _, stored := m.Secrets[nectorTokenName]; !stored {
		return true
	}
	_, stored := m.Secrets[statusTokenName]
	return !stored && m.Provider.Name != ""
}

type resealWork struct {
	resealed, pinned int
	unopened         []string
	err              error
}

// resealMerchant reseals m's values in place and pins its status and
// Nector inbox tokens.
func (s *Service) resealMerchant(m *Merchant) resealWork {
	var work resealWork
	reseal := func(values map[string]Sealed, context func(name string) string) map[string]Sealed {
		out := maps.Clone(values)
		for _, name := range slices.Sorted(maps.Keys(values)) {
			if !s.keyring.NeedsReseal(values[name]) {
				continue
			}
			plain, err := s.keyring.Open(values[name], context(name))
			if err != nil {
				work.unopened = append(work.unopened, m.ID+"/"+name)
				continue
			}
			sealed, err := s.keyring.Seal(plain, context(name))
			if err != nil {
				work.err = err
				return values
			}
			out[name] = sealed
			work.resealed++
		}
		return out
	}
	m.Secrets = reseal(m.Secrets, func(name string) string { return secretContext(m.ID, name) })
	m.Provider.Credentials = reseal(m.Provider.Credentials, func(name string) string {
		return providerSecretContext(m.ID, m.Provider.Name, name)
	})
	if _, stored := m.Secrets[statusTokenName]; !stored && m.Provider.Name != "" && work.err == nil {
		token, err := s.keyring.Seal(s.legacyStatusToken(m.ID, m.Provider.Name), secretContext(m.ID, statusTokenName))
		if err != nil {
			work.err = err
			return work
		}
		if m.Secrets == nil {
			m.Secrets = map[string]Sealed{}
		}
		m.Secrets[statusTokenName] = token
		work.pinned++
	}
	if _, stored := m.Secrets[nectorTokenName]; !stored && work.err == nil {
		token, err := s.keyring.Seal(s.legacyNectorToken(m.ID), secretContext(m.ID, nectorTokenName))
		if err != nil {
			work.err = err
			return work
		}
		if m.Secrets == nil {
			m.Secrets = map[string]Sealed{}
		}
		m.Secrets[nectorTokenName] = token
		work.pinned++
	}
	return work
}
