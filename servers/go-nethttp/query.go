package main

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// page is the limit and offset of a list request.
type page struct {
	limit, offset int64
}

type listQuery struct {
	page     page
	category *string
}

const maxLimit = 100

// parseListQuery reads a raw (still percent-encoded) query string as
// shop::http::ListQuery::parse: unknown parameters are ignored, bad values
// of known ones are 400, and a repeated parameter's last value counts.
func parseListQuery(raw string) (listQuery, *apiError) {
	q := listQuery{page: page{limit: 20}}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		key, value = formDecode(key), formDecode(value)
		switch key {
		case "limit":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 1 || n > maxLimit {
				return q, badRequest("limit must be an integer from 1 to %d, got `%s`", maxLimit, value)
			}
			q.page.limit = n
		case "offset":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				return q, badRequest("offset must be a non-negative integer, got `%s`", value)
			}
			q.page.offset = n
		case "category":
			if err := checkNoNul("category", value); err != nil {
				return q, err
			}
			category := value
			q.category = &category
		}
	}
	return q, nil
}

// formDecode decodes application/x-www-form-urlencoded text: `+` is a
// space, then percent-decoding, then invalid UTF-8 replaced.
func formDecode(s string) string {
	return lossyUTF8(percentDecode(strings.ReplaceAll(s, "+", " ")))
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// percentDecode decodes every %XX; a `%` without two hex digits stays.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return out
}

// lossyUTF8 replaces each maximal invalid subsequence with U+FFFD, as
// Rust's String::from_utf8_lossy does (Go's conversions would replace each
// invalid byte instead).
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			out.Write(b[:size])
			b = b[size:]
			continue
		}
		out.WriteRune(utf8.RuneError)
		b = b[invalidLength(b):]
	}
	return out.String()
}

// invalidLength is how many bytes of an invalid sequence one replacement
// character stands for: the lead byte and the continuation bytes that
// could still have completed it.
func invalidLength(b []byte) int {
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}
