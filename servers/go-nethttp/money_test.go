package main

import (
	"fmt"
	"strings"
	"testing"
)

// notAnAmount is shop::money::Money::parse's refusal of a string that is not
// digits with at most two decimals.
func notAnAmount(text string) string {
	return "`" + text + "` is not an amount: write digits with at most two decimals, like \"19.99\""
}

// An amount checked against shop::money (rust_decimal 1.x underneath): its
// cents in decimal, or the message of its refusal.
type amountCase struct {
	cents   string
	refusal string
}

func checkAmount(t *testing.T, input string, got amount, refusal string, want amountCase) {
	t.Helper()
	if refusal != want.refusal {
		t.Errorf("%s: refusal %q, want %q", input, refusal, want.refusal)
	}
	if want.refusal == "" && got.cents.String() != want.cents {
		t.Errorf("%s: %s cents, want %s", input, got.cents, want.cents)
	}
}

func TestParseAmountString(t *testing.T) {
	tests := []struct {
		text string
		want amountCase
	}{
		{"19.99", amountCase{cents: "1999"}},
		{"20", amountCase{cents: "2000"}},
		{"0.5", amountCase{cents: "50"}},
		{"0", amountCase{cents: "0"}},
		{"007.50", amountCase{cents: "750"}},
		{strings.Repeat("0", 60) + "1", amountCase{cents: "100"}},
		{"999999999.99", amountCase{cents: "99999999999"}},

		// rust_decimal's limit: a 96-bit mantissa. The largest integer fits; a
		// decimal that no longer fits beside it is rounded off, and rounding
		// it up overflows (rust_decimal's from_str_mantissa_overflow tests).
		{"79228162514264337593543950335", amountCase{cents: "7922816251426433759354395033500"}},
		{"79228162514264337593543950335.4", amountCase{cents: "7922816251426433759354395033500"}},
		{"79228162514264337593543950335.5", amountCase{refusal: "`79228162514264337593543950335.5` is too large an amount"}},
		{"79228162514264337593543950336", amountCase{refusal: "`79228162514264337593543950336` is too large an amount"}},
		{"7922816251426433759354395033.56", amountCase{cents: "792281625142643375935439503400"}},

		{"1.100", amountCase{refusal: "`1.100` has more than two decimals"}},
		{"1.001", amountCase{refusal: "`1.001` has more than two decimals"}},
		{"", amountCase{refusal: notAnAmount("")}},
		{" 1", amountCase{refusal: notAnAmount(" 1")}},
		{"1 ", amountCase{refusal: notAnAmount("1 ")}},
		{"+1", amountCase{refusal: notAnAmount("+1")}},
		{"-1", amountCase{refusal: notAnAmount("-1")}},
		{"1e2", amountCase{refusal: notAnAmount("1e2")}},
		{".5", amountCase{refusal: notAnAmount(".5")}},
		{"5.", amountCase{refusal: notAnAmount("5.")}},
		{"1_000", amountCase{refusal: notAnAmount("1_000")}},
		{"1.2.3", amountCase{refusal: notAnAmount("1.2.3")}},
		{"١٢", amountCase{refusal: notAnAmount("١٢")}},
	}
	for _, tt := range tests {
		got, refusal := parseAmountString(tt.text)
		checkAmount(t, tt.text, got, refusal, tt.want)
	}
}

// JSON numbers with a fraction or an exponent are read by their shortest
// decimal text (Rust's Display of the f64), as shop::money::Money::from_number.
func TestAmountFromFloat(t *testing.T) {
	tests := []struct {
		value float64
		want  amountCase
	}{
		{19.99, amountCase{cents: "1999"}},
		{1.1, amountCase{cents: "110"}},
		{20.0, amountCase{cents: "2000"}},
		{-1.5, amountCase{cents: "-150"}},
		{1e20, amountCase{cents: "10000000000000000000000"}},
		{19.999, amountCase{refusal: "`19.999` has more than two decimals"}},
		{0.30000000000000004, amountCase{refusal: "`0.30000000000000004` has more than two decimals"}},
		{1.5e-7, amountCase{refusal: "`0.00000015` has more than two decimals"}},
		// rust_decimal keeps 28 decimals and rounds the 29th: 1e-30 is zero,
		// and 5e-29 rounds up to the 28th decimal.
		{1e-30, amountCase{cents: "0"}},
		{5e-29, amountCase{refusal: "`0.0000000000000000000000000001` has more than two decimals"}},
		{7.922816251426434e28, amountCase{refusal: "`79228162514264340000000000000` is too large an amount"}},
		{1e300, amountCase{refusal: "`1" + strings.Repeat("0", 300) + "` is too large an amount"}},
	}
	for _, tt := range tests {
		got, refusal := amountFromFloat(tt.value)
		checkAmount(t, fmt.Sprint(tt.value), got, refusal, tt.want)
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
