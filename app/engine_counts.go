package app

// Count adds n to the merchant's daily count of outcome for subject (an
// event type, or LoyaltySubject), as the stats API shows them: what the
// loyalty engine turned down, like a referral that failed its fraud
// checks, and its outcomes.
func (s *Service) Count(merchant, subject, outcome string, n int64) {
	s.counters.add(Counter{Merchant: merchant, Day: DayOf(s.now()), Subject: subject, Outcome: outcome}, n)
}
