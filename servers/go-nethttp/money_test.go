package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// A price is read from a JSON string or number into cents; an amount the
// API does not take is read too, as not valid, and refused by validation.
func TestAmountUnmarshal(t *testing.T) {
	tests := []struct {
		json  string
		cents int64 // 0: not an amount the API takes
	}{
		{`"19.99"`, 1999},
		{`"20"`, 2000},
		{`"0.5"`, 50},
		{`"0.05"`, 5},
		{`"007.50"`, 750},
		{`"` + strings.Repeat("0", 60) + `1"`, 100},
		{`"999999999.99"`, 99_999_999_999},
		{`"0.01"`, 1},
		{`"\u0031\u0039"`, 1900},
		{`"0"`, 0},
		{`"0.00"`, 0},
		{`"1000000000"`, 0},
		{`"99999999999999999999999999999"`, 0},
		{`"1.100"`, 0},
		{`"1.001"`, 0},
		{`""`, 0},
		{`" 1"`, 0},
		{`"1 "`, 0},
		{`"+1"`, 0},
		{`"-1"`, 0},
		{`"1e2"`, 0},
		{`".5"`, 0},
		{`"5."`, 0},
		{`"."`, 0},
		{`"1_000"`, 0},
		{`"1.2.3"`, 0},
		{`"١٢"`, 0},

		// Numbers are judged by the shortest decimal of the nearest float64.
		{`19.99`, 1999},
		{`20`, 2000},
		{`20.0`, 2000},
		{`1.100`, 110},
		{`1e2`, 10000},
		{`1E+2`, 10000},
		{`0.5`, 50},
		{`0.01`, 1},
		{`999999999.99`, 99_999_999_999},
		{`19.989999999999999`, 1999}, // the same float64 as 19.99
		{`19.999`, 0},
		{`0.30000000000000004`, 0},
		{`0.1e-6`, 0},
		{`1e-400`, 0}, // reads as 0
		{`0e400`, 0},
		{`5e-324`, 0},
		{`1.7976931348623157e308`, 0},
		{`0`, 0},
		{`-0`, 0},
		{`-1.5`, 0},
		{`-20`, 0},
		{`1000000000`, 0},
		{`999999999.999`, 0},
		{`1e20`, 0},
		{`1e300`, 0},
	}
	for _, tt := range tests {
		var a amount
		if err := json.Unmarshal([]byte(tt.json), &a); err != nil {
			t.Errorf("%s: %v", tt.json, err)
			continue
		}
		if want := (amount{cents: tt.cents, valid: tt.cents > 0}); a.valid != want.valid || a.valid && a != want {
			t.Errorf("%s: %+v, want %+v", tt.json, a, want)
		}
	}
	// Anything but a JSON string or number is not a price at all, nor a
	// number beyond float64's range.
	for _, text := range []string{`null`, `true`, `false`, `[]`, `[1]`, `{}`, `1e400`, `-1e400`, `1.7976931348623159e308`} {
		var a amount
		if err := json.Unmarshal([]byte(text), &a); err == nil {
			t.Errorf("%s: %+v, want an error", text, a)
		}
	}
}

// Amounts are written with exactly two decimals, as shop::money's Display.
func TestFormatCents(t *testing.T) {
	tests := []struct {
		cents int64
		want  string
	}{
		{1999, "19.99"},
		{2000, "20.00"},
		{50, "0.50"},
		{5, "0.05"},
		{0, "0.00"},
		{-150, "-1.50"},
		{-5, "-0.05"},
		{999_999_999_999, "9999999999.99"},
	}
	for _, tt := range tests {
		if got := formatCents(tt.cents); got != tt.want {
			t.Errorf("formatCents(%d) = %q, want %q", tt.cents, got, tt.want)
		}
	}
}

// parseCents reads a NUMERIC(12,2) as PostgreSQL writes it; anything else is
// a row the store cannot read.
func TestParseCents(t *testing.T) {
	tests := []struct {
		text  string
		cents int64
	}{
		{"19.90", 1990},
		{"0.05", 5},
		{"20", 2000},
		{"20.5", 2050},
		{"-1.50", -150},
		{"9999999999.99", 999_999_999_999},
	}
	for _, tt := range tests {
		if got, err := parseCents(tt.text); err != nil || got != tt.cents {
			t.Errorf("parseCents(%q) = %d, %v; want %d", tt.text, got, err, tt.cents)
		}
	}
	for _, text := range []string{"", "abc", "1.234", "1e2", "1.2.3", " 1", "+1", "99999999999999999.99"} {
		if got, err := parseCents(text); err == nil {
			t.Errorf("parseCents(%q) = %d, want an error", text, got)
		}
	}
}
