package loyalty

import (
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// RedeemSettings say how points turn into discount codes: fixed-amount
// codes worth one unit of the merchant's currency per PointsPerUnit
// points, single use, limited to the customer where the store allows it.
type RedeemSettings struct {
	Enabled bool `json:"enabled"`
	// PointsPerUnit points buy one whole unit of the merchant's currency
	// (100: 500 points are a ₹5.00 code); the value is rounded down to
	// the currency's minor unit.
	PointsPerUnit int64 `json:"points_per_unit"`
	// MinPoints and MaxPoints bound one redemption (MaxPoints 0: the
	// balance is the only bound).
	MinPoints int64 `json:"min_points"`
	MaxPoints int64 `json:"max_points"`
	// ExpiresIn is how long a code is valid ("30d"), or "none".
	ExpiresIn string `json:"expires_in"`
	// MinimumSubtotal, when not empty, is the order subtotal a code needs
	// (a decimal in the merchant's currency).
	MinimumSubtotal string `json:"minimum_subtotal"`
}

// DefaultRedeem is off, 100 points a unit, at least 100 points, codes
// valid 30 days.
func DefaultRedeem() RedeemSettings {
	return RedeemSettings{PointsPerUnit: 100, MinPoints: 100, ExpiresIn: "30d"}
}

// maxPointsPerUnit bounds points_per_unit.
const maxPointsPerUnit = 1_000_000

// validate adds the redemption settings' bad fields to fields.
func (r RedeemSettings) validate(fields map[string]string) {
	if r.PointsPerUnit < 1 || r.PointsPerUnit > maxPointsPerUnit {
		fields["redeem.points_per_unit"] = "must be a whole number from 1 to " + strconv.Itoa(maxPointsPerUnit)
	}
	if r.MinPoints < 1 || r.MinPoints > MaxPoints {
		fields["redeem.min_points"] = "must be a positive whole number of points"
	}
	switch {
	case r.MaxPoints < 0 || r.MaxPoints > MaxPoints:
		fields["redeem.max_points"] = "must be 0 (no maximum) or a positive whole number of points"
	case r.MaxPoints != 0 && r.MaxPoints < r.MinPoints:
		fields["redeem.max_points"] = "must be 0 (no maximum) or at least min_points"
	}
	if r.ExpiresIn != "none" {
		if d, err := parseDays(r.ExpiresIn); err != nil {
			fields["redeem.expires_in"] = `must be "none" or ` + strings.TrimPrefix(err.Error(), "must be ")
		} else if d < 24*time.Hour {
			fields["redeem.expires_in"] = "must be at least 1 day"
		}
	}
	if s := r.MinimumSubtotal; s != "" {
		if v, ok := new(big.Rat).SetString(s); !ok || strings.ContainsAny(s, "eE/") || v.Sign() < 0 {
			fields["redeem.minimum_subtotal"] = `must be empty or a decimal amount like "499.00"`
		}
	}
}

// endsAt is when a code made at now stops; zero: never.
func (r RedeemSettings) endsAt(now time.Time) time.Time {
	d, err := parseDays(r.ExpiresIn)
	if r.ExpiresIn == "none" || err != nil || d == 0 {
		return time.Time{}
	}
	return now.Add(d)
}

// valueOf is what points buy, as a decimal in currency rounded down to its
// minor unit ("5.50"); "" when that is nothing.
func (r RedeemSettings) valueOf(points int64, currency string) string {
	if r.PointsPerUnit <= 0 || points <= 0 {
		return ""
	}
	scale := app.CurrencyMinorUnits(currency)
	unit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	minor := new(big.Int).Mul(big.NewInt(points), unit)
	minor.Quo(minor, big.NewInt(r.PointsPerUnit))
	if minor.Sign() <= 0 {
		return ""
	}
	return new(big.Rat).SetFrac(minor, unit).FloatString(scale)
}
