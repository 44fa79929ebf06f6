package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Money in the API is NUMERIC(12,2) in the database and a string with
// exactly two decimals on the wire; here it is an integer number of cents.

// maxOrderTotalCents is the largest amount a NUMERIC(12,2) holds.
const maxOrderTotalCents int64 = 999_999_999_999

// amount is a request's price. A price of the right JSON type (a number or
// a string) that is not an amount the API takes is still read, with valid
// false, because the contract reports it as a value, in validation order,
// rather than as a malformed body.
type amount struct {
	cents int64
	valid bool
}

// UnmarshalJSON reads a price written as a JSON string or number. A string
// is read digit by digit, never through a float. A number is read as the
// nearest float64 and judged by its shortest decimal text, the text that
// reads back as the same float, so 19.99 is 19.99 and 1.100 is 1.1.
func (a *amount) UnmarshalJSON(raw []byte) error {
	var text string
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &text); err != nil {
			return err
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		// encoding/json refuses a number beyond float64's range, which the
		// contract counts as malformed.
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return err
		}
		text = strconv.FormatFloat(f, 'f', -1, 64)
	default:
		return errors.New("a price must be a JSON number or string")
	}
	a.cents, a.valid = priceCents(text)
	return nil
}

// priceCents reads a price written as ASCII digits, optionally followed by
// a point and one or two digits: its cents, and whether it is an amount the
// API takes (more than 0 and less than 1000000000).
func priceCents(text string) (int64, bool) {
	whole, fraction, point := strings.Cut(text, ".")
	if !allDigits(whole) || point && (len(fraction) > 2 || !allDigits(fraction)) {
		return 0, false
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 9 {
		return 0, false
	}
	cents, err := strconv.ParseInt(whole+fraction+strings.Repeat("0", 2-len(fraction)), 10, 64)
	return cents, err == nil && cents > 0
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
