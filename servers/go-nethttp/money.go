package main

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Money in the API is NUMERIC(12,2) in the database and a string with
// exactly two decimals on the wire; here it is an integer number of cents.
// Request amounts are first read as shop::money does (through
// rust_decimal), so that the same inputs are accepted and the same error
// messages given, and only then narrowed to cents by validation.

// amount is a request's amount, exactly: cents (with at most two decimals,
// which reading guarantees) of any size or sign.
type amount struct {
	cents *big.Int
}

var (
	// The API's prices are under 1,000,000,000.00.
	maxPriceCents = big.NewInt(100_000_000_000)
	// rust_decimal's mantissa has 96 bits.
	decimalLimit = new(big.Int).Lsh(big.NewInt(1), 96)
	bigTen       = big.NewInt(10)
)

// maxOrderTotalCents is the largest amount a NUMERIC(12,2) holds.
const maxOrderTotalCents int64 = 999_999_999_999

func amountFromInt(n *big.Int) amount {
	return amount{cents: new(big.Int).Mul(n, big.NewInt(100))}
}

// parseAmountString reads an amount written in a string, as
// shop::money::Money::parse: digits, then optionally a point and one or two
// digits; nothing else.
func parseAmountString(text string) (amount, string) {
	whole, fraction, found := strings.Cut(text, ".")
	if !found {
		fraction = "0"
	}
	if !allDigits(whole) || !allDigits(fraction) {
		return amount{}, fmt.Sprintf("`%s` is not an amount: write digits with at most two decimals, like \"19.99\"", text)
	}
	if len(fraction) > 2 {
		return amount{}, fmt.Sprintf("`%s` has more than two decimals", text)
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	value, ok := parseDecimal(whole + "." + fraction)
	if !ok {
		return amount{}, fmt.Sprintf("`%s` is too large an amount", text)
	}
	return amount{cents: value.cents()}, ""
}

// amountFromFloat reads a JSON number with a fraction or an exponent by its
// shortest decimal text, as shop::money::Money::from_number does.
func amountFromFloat(f float64) (amount, string) {
	text := strconv.FormatFloat(f, 'f', -1, 64) // Rust's Display of an f64
	value, ok := parseDecimal(text)
	if !ok {
		return amount{}, fmt.Sprintf("`%s` is too large an amount", text)
	}
	if value.normalizedScale() > 2 {
		return amount{}, fmt.Sprintf("`%s` has more than two decimals", value.String())
	}
	return amount{cents: value.cents()}, ""
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decimal is a rust_decimal value: mantissa × 10^-scale.
type decimal struct {
	negative bool
	mantissa *big.Int
	scale    int
}

// parseDecimal parses `-?digits(.digits)?` as rust_decimal's from_str does:
// a 96-bit mantissa and at most 28 decimals, further decimals rounded off
// (half up on the first dropped digit); false if the integer part overflows.
func parseDecimal(s string) (decimal, bool) {
	d := decimal{mantissa: new(big.Int)}
	if strings.HasPrefix(s, "-") {
		d.negative = true
		s = s[1:]
	}
	point := false
	next := new(big.Int)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			point = true
			continue
		}
		digit := big.NewInt(int64(c - '0'))
		if point && d.scale >= 28 {
			return d.round(c)
		}
		next.Mul(d.mantissa, bigTen).Add(next, digit)
		if next.Cmp(decimalLimit) >= 0 {
			if !point {
				return d, false
			}
			return d.round(c)
		}
		d.mantissa.Set(next)
		if point {
			d.scale++
		}
	}
	return d, true
}

// round ends parsing with the first digit that does not fit.
func (d decimal) round(c byte) (decimal, bool) {
	if c >= '5' {
		d.mantissa.Add(d.mantissa, big.NewInt(1))
		if d.mantissa.Cmp(decimalLimit) >= 0 {
			if d.scale == 0 {
				return d, false
			}
			d.mantissa.Add(d.mantissa, big.NewInt(4))
			d.mantissa.Quo(d.mantissa, bigTen)
			d.scale--
		}
	}
	return d, true
}

// normalizedScale is the scale without trailing zeros (0 for zero).
func (d decimal) normalizedScale() int {
	m := new(big.Int).Set(d.mantissa)
	scale := d.scale
	rem := new(big.Int)
	for scale > 0 {
		q, r := new(big.Int).QuoRem(m, bigTen, rem)
		if r.Sign() != 0 {
			break
		}
		m = q
		scale--
	}
	if m.Sign() == 0 {
		return 0
	}
	return scale
}

// cents is the value in cents; only for values with at most two decimals
// (after normalization).
func (d decimal) cents() *big.Int {
	m := new(big.Int).Set(d.mantissa)
	scale := d.scale
	for ; scale > 2; scale-- {
		m.Quo(m, bigTen)
	}
	for ; scale < 2; scale++ {
		m.Mul(m, bigTen)
	}
	if d.negative {
		m.Neg(m)
	}
	return m
}

// String is rust_decimal's Display: every decimal of the scale.
func (d decimal) String() string {
	digits := d.mantissa.String()
	if d.scale > 0 {
		if len(digits) <= d.scale {
			digits = "0." + strings.Repeat("0", d.scale-len(digits)) + digits
		} else {
			digits = digits[:len(digits)-d.scale] + "." + digits[len(digits)-d.scale:]
		}
	}
	if d.negative {
		return "-" + digits
	}
	return digits
}

// appendCents writes cents with exactly two decimals.
func appendCents(buf []byte, cents int64) []byte {
	if cents < 0 {
		buf = append(buf, '-')
		cents = -cents
	}
	buf = strconv.AppendInt(buf, cents/100, 10)
	buf = append(buf, '.', byte('0'+cents%100/10), byte('0'+cents%10))
	return buf
}

func formatCents(cents int64) string { return string(appendCents(nil, cents)) }

// parseCents reads a NUMERIC as PostgreSQL writes it ("19.90").
func parseCents(text string) (int64, error) {
	whole, fraction, _ := strings.Cut(text, ".")
	negative := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	if len(fraction) > 2 || !allDigits(whole) || (fraction != "" && !allDigits(fraction)) {
		return 0, fmt.Errorf("not an amount of cents: %q", text)
	}
	for len(fraction) < 2 {
		fraction += "0"
	}
	cents, err := strconv.ParseInt(whole+fraction, 10, 64)
	if negative {
		cents = -cents
	}
	return cents, err
}
