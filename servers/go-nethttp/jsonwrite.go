package main

import (
	"strconv"
	"time"
)

// jsonWriter writes JSON exactly as serde_json does: no spaces, no trailing
// newline, non-ASCII as UTF-8, and only `"`, `\` and control characters
// escaped (encoding/json would also escape U+2028, U+2029 and, for control
// characters, differ in the escapes it picks).
type jsonWriter struct {
	buf []byte
}

func (w *jsonWriter) raw(s string) { w.buf = append(w.buf, s...) }

func (w *jsonWriter) str(s string) {
	const hex = "0123456789abcdef"
	w.buf = append(w.buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		w.buf = append(w.buf, s[start:i]...)
		switch c {
		case '"':
			w.buf = append(w.buf, '\\', '"')
		case '\\':
			w.buf = append(w.buf, '\\', '\\')
		case '\b':
			w.buf = append(w.buf, '\\', 'b')
		case '\f':
			w.buf = append(w.buf, '\\', 'f')
		case '\n':
			w.buf = append(w.buf, '\\', 'n')
		case '\r':
			w.buf = append(w.buf, '\\', 'r')
		case '\t':
			w.buf = append(w.buf, '\\', 't')
		default:
			w.buf = append(w.buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	w.buf = append(w.buf, s[start:]...)
	w.buf = append(w.buf, '"')
}

func (w *jsonWriter) int(n int64) { w.buf = strconv.AppendInt(w.buf, n, 10) }

// key writes `,"name":`, the key of an object's next field.
func (w *jsonWriter) key(name string) {
	w.buf = append(w.buf, ',', '"')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '"', ':')
}

// money writes an amount of cents as a string with two decimals.
func (w *jsonWriter) money(cents int64) {
	w.buf = append(w.buf, '"')
	w.buf = appendCents(w.buf, cents)
	w.buf = append(w.buf, '"')
}

// time writes a timestamp as chrono serializes a DateTime<Utc>: RFC 3339 in
// UTC with a `Z`, and a fraction of 0, 3, 6 or 9 digits, as few as hold it.
func (w *jsonWriter) time(t time.Time) {
	t = t.UTC()
	w.buf = append(w.buf, '"')
	w.buf = t.AppendFormat(w.buf, "2006-01-02T15:04:05")
	nanos := t.Nanosecond()
	switch {
	case nanos == 0:
	case nanos%1_000_000 == 0:
		w.buf = appendPadded(append(w.buf, '.'), nanos/1_000_000, 3)
	case nanos%1_000 == 0:
		w.buf = appendPadded(append(w.buf, '.'), nanos/1_000, 6)
	default:
		w.buf = appendPadded(append(w.buf, '.'), nanos, 9)
	}
	w.buf = append(w.buf, 'Z', '"')
}

func appendPadded(buf []byte, n, width int) []byte {
	digits := strconv.Itoa(n)
	for i := len(digits); i < width; i++ {
		buf = append(buf, '0')
	}
	return append(buf, digits...)
}

func (w *jsonWriter) user(u *user) {
	w.raw(`{"id":`)
	w.int(u.id)
	w.key("username")
	w.str(u.username)
	w.key("email")
	w.str(u.email)
	w.key("created_at")
	w.time(u.createdAt)
	w.key("updated_at")
	w.time(u.updatedAt)
	w.raw("}")
}

func (w *jsonWriter) product(p *product) {
	w.raw(`{"id":`)
	w.int(p.id)
	w.key("name")
	w.str(p.name)
	w.key("description")
	w.str(p.description)
	w.key("price")
	w.money(p.price)
	w.key("stock_quantity")
	w.int(int64(p.stock))
	w.key("category")
	w.str(p.category)
	w.key("created_at")
	w.time(p.createdAt)
	w.key("updated_at")
	w.time(p.updatedAt)
	w.raw("}")
}

func (w *jsonWriter) order(o *order) {
	w.raw(`{"id":`)
	w.int(o.id)
	w.key("user_id")
	w.int(o.userID)
	w.key("status")
	w.str(o.status)
	w.key("total_amount")
	w.money(o.total)
	w.key("created_at")
	w.time(o.createdAt)
	w.raw(`,"items":[`)
	for i, item := range o.items {
		if i > 0 {
			w.raw(",")
		}
		w.raw(`{"product_id":`)
		w.int(item.productID)
		w.key("quantity")
		w.int(int64(item.quantity))
		w.key("unit_price")
		w.money(item.unitPrice)
		w.raw("}")
	}
	w.raw("]}")
}

// list writes a JSON array of n items, each written by item(i).
func (w *jsonWriter) list(n int, item func(i int)) {
	w.raw("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			w.raw(",")
		}
		item(i)
	}
	w.raw("]")
}
