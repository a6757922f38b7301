package app

// Count adds one to the merchant's daily count of outcome for subject (an
// event type), as the stats API shows them: for what the loyalty engine
// turned down, like a referral that failed its fraud checks.
func (s *Service) Count(merchant, subject, outcome string) {
	s.counters.add(Counter{Merchant: merchant, Day: DayOf(s.now()), Subject: subject, Outcome: outcome}, 1)
}
