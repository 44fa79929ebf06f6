package main

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A JSON reader for request bodies that accepts exactly what shop accepts
// and fails with exactly its messages: those of serde_json 1.0 (without
// float_roundtrip) reading the #[derive(Deserialize)] request types with
// deny_unknown_fields, positions and all. encoding/json differs in what it
// accepts (duplicate and unknown keys, structs written as arrays) and in
// every message, and the contract compares messages byte for byte.

// jsonError is a serde_json error; line 0 means "no position yet".
type jsonError struct {
	msg          string
	line, column int
}

func (e *jsonError) Error() string {
	if e.line == 0 {
		return e.msg
	}
	return e.msg + " at line " + strconv.Itoa(e.line) + " column " + strconv.Itoa(e.column)
}

// serde_json's syntax error messages.
const (
	eofList           = "EOF while parsing a list"
	eofObject         = "EOF while parsing an object"
	eofString         = "EOF while parsing a string"
	eofValue          = "EOF while parsing a value"
	expectedColon     = "expected `:`"
	expectedListEnd   = "expected `,` or `]`"
	expectedObjectEnd = "expected `,` or `}`"
	expectedIdent     = "expected ident"
	expectedValue     = "expected value"
	invalidEscape     = "invalid escape"
	invalidNumber     = "invalid number"
	numberOutOfRange  = "number out of range"
	invalidCodePoint  = "invalid unicode code point"
	controlCharacter  = "control character (\\u0000-\\u001F) found while parsing a string"
	keyMustBeString   = "key must be a string"
	loneSurrogate     = "lone leading surrogate in hex escape"
	trailingComma     = "trailing comma"
	trailingChars     = "trailing characters"
	unexpectedHexEnd  = "unexpected end of hex escape"
)

// What a visitor expected, in serde's words.
const (
	expectString   = "a string"
	expectSequence = "a sequence"
	expectAmount   = "an amount as a number or a string with at most two decimals"
)

type reader struct {
	data []byte
	i    int
}

// custom is an error raised by a visitor, positioned later by fix.
func custom(msg string) *jsonError { return &jsonError{msg: msg} }

func (r *reader) at(i int, msg string) *jsonError {
	start := strings.LastIndexByte(string(r.data[:i]), '\n') + 1
	line := 1 + strings.Count(string(r.data[:start]), "\n")
	return &jsonError{msg: msg, line: line, column: i - start}
}

// err positions at the next unread byte (serde_json's `error`).
func (r *reader) err(msg string) *jsonError { return r.at(r.i, msg) }

// peekErr positions one byte further (serde_json's `peek_error`).
func (r *reader) peekErr(msg string) *jsonError {
	i := r.i + 1
	if i > len(r.data) {
		i = len(r.data)
	}
	return r.at(i, msg)
}

func (r *reader) fix(e *jsonError) *jsonError {
	if e != nil && e.line == 0 {
		return r.err(e.msg)
	}
	return e
}

func (r *reader) peek() (byte, bool) {
	if r.i < len(r.data) {
		return r.data[r.i], true
	}
	return 0, false
}

func (r *reader) peekOrNull() byte {
	c, _ := r.peek()
	return c
}

func (r *reader) next() (byte, bool) {
	if r.i < len(r.data) {
		r.i++
		return r.data[r.i-1], true
	}
	return 0, false
}

// ws skips whitespace and peeks at the byte after it.
func (r *reader) ws() (byte, bool) {
	for r.i < len(r.data) {
		switch r.data[r.i] {
		case ' ', '\n', '\t', '\r':
			r.i++
		default:
			return r.data[r.i], true
		}
	}
	return 0, false
}

func (r *reader) ident(rest string) *jsonError {
	for i := 0; i < len(rest); i++ {
		c, ok := r.next()
		if !ok {
			return r.err(eofValue)
		}
		if c != rest[i] {
			return r.err(expectedIdent)
		}
	}
	return nil
}

// end checks that only whitespace follows the value.
func (r *reader) end() *jsonError {
	if _, ok := r.ws(); ok {
		return r.peekErr(trailingChars)
	}
	return nil
}

// ---- numbers ----

type numberKind int

const (
	numU64 numberKind = iota
	numI64
	numF64
)

type number struct {
	kind numberKind
	u    uint64
	i    int64
	f    float64
}

// unexpected describes a number as serde's Unexpected does.
func (n number) unexpected() string {
	switch n.kind {
	case numU64:
		return "integer `" + strconv.FormatUint(n.u, 10) + "`"
	case numI64:
		return "integer `" + strconv.FormatInt(n.i, 10) + "`"
	default:
		return "floating point `" + formatFloatLikeZmij(n.f) + "`"
	}
}

var pow10 = func() (table [309]float64) {
	for i := range table {
		table[i], _ = strconv.ParseFloat("1e"+strconv.Itoa(i), 64)
	}
	return
}()

func (r *reader) integer(positive bool) (number, *jsonError) {
	c, ok := r.next()
	if !ok {
		return number{}, r.err(eofValue)
	}
	switch {
	case c == '0':
		if p := r.peekOrNull(); p >= '0' && p <= '9' {
			return number{}, r.peekErr(invalidNumber)
		}
		return r.number(positive, 0)
	case c >= '1' && c <= '9':
		significand := uint64(c - '0')
		for {
			p := r.peekOrNull()
			if p < '0' || p > '9' {
				return r.number(positive, significand)
			}
			digit := uint64(p - '0')
			if significand >= math.MaxUint64/10 && (significand > math.MaxUint64/10 || digit > math.MaxUint64%10) {
				f, err := r.longInteger(positive, significand)
				return number{kind: numF64, f: f}, err
			}
			r.i++
			significand = significand*10 + digit
		}
	default:
		return number{}, r.err(invalidNumber)
	}
}

func (r *reader) number(positive bool, significand uint64) (number, *jsonError) {
	switch r.peekOrNull() {
	case '.':
		f, err := r.decimal(positive, significand, 0)
		return number{kind: numF64, f: f}, err
	case 'e', 'E':
		f, err := r.exponent(positive, significand, 0)
		return number{kind: numF64, f: f}, err
	}
	if positive {
		return number{kind: numU64, u: significand}, nil
	}
	neg := -int64(significand) // wraps, as Rust's wrapping_neg
	if neg >= 0 {              // -0, or below i64::MIN
		return number{kind: numF64, f: -float64(significand)}, nil
	}
	return number{kind: numI64, i: neg}, nil
}

func (r *reader) decimal(positive bool, significand uint64, exponentBefore int32) (float64, *jsonError) {
	r.i++
	var after int32
	for {
		p := r.peekOrNull()
		if p < '0' || p > '9' {
			break
		}
		digit := uint64(p - '0')
		if significand >= math.MaxUint64/10 && (significand > math.MaxUint64/10 || digit > math.MaxUint64%10) {
			return r.decimalOverflow(positive, significand, exponentBefore+after)
		}
		r.i++
		significand = significand*10 + digit
		after--
	}
	if after == 0 {
		if _, ok := r.peek(); ok {
			return 0, r.peekErr(invalidNumber)
		}
		return 0, r.peekErr(eofValue)
	}
	exp := exponentBefore + after
	if p := r.peekOrNull(); p == 'e' || p == 'E' {
		return r.exponent(positive, significand, exp)
	}
	return r.fromParts(positive, significand, exp)
}

func (r *reader) exponent(positive bool, significand uint64, start int32) (float64, *jsonError) {
	r.i++
	positiveExp := true
	switch r.peekOrNull() {
	case '+':
		r.i++
	case '-':
		r.i++
		positiveExp = false
	}
	c, ok := r.next()
	if !ok {
		return 0, r.err(eofValue)
	}
	if c < '0' || c > '9' {
		return 0, r.err(invalidNumber)
	}
	exp := int32(c - '0')
	for {
		p := r.peekOrNull()
		if p < '0' || p > '9' {
			break
		}
		r.i++
		digit := int32(p - '0')
		if exp >= math.MaxInt32/10 && (exp > math.MaxInt32/10 || digit > math.MaxInt32%10) {
			return r.exponentOverflow(positive, significand == 0, positiveExp)
		}
		exp = exp*10 + digit
	}
	var final int32
	if positiveExp {
		final = saturatingAdd(start, exp)
	} else {
		final = saturatingAdd(start, -exp)
	}
	return r.fromParts(positive, significand, final)
}

func saturatingAdd(a, b int32) int32 {
	sum := int64(a) + int64(b)
	if sum > math.MaxInt32 {
		return math.MaxInt32
	}
	if sum < math.MinInt32 {
		return math.MinInt32
	}
	return int32(sum)
}

// fromParts is serde_json's f64_from_parts without float_roundtrip: the
// significand scaled by powers of ten, which can round differently from a
// correctly rounded parse (strconv.ParseFloat).
func (r *reader) fromParts(positive bool, significand uint64, exponent int32) (float64, *jsonError) {
	f := float64(significand)
	for {
		abs := int64(exponent)
		if abs < 0 {
			abs = -abs
		}
		if abs < int64(len(pow10)) {
			if exponent >= 0 {
				f *= pow10[abs]
				if math.IsInf(f, 0) {
					return 0, r.err(numberOutOfRange)
				}
			} else {
				f /= pow10[abs]
			}
			break
		}
		if f == 0 {
			break
		}
		if exponent >= 0 {
			return 0, r.err(numberOutOfRange)
		}
		f /= 1e308
		exponent += 308
	}
	if positive {
		return f, nil
	}
	return -f, nil
}

func (r *reader) longInteger(positive bool, significand uint64) (float64, *jsonError) {
	var exponent int32
	for {
		switch p := r.peekOrNull(); {
		case p >= '0' && p <= '9':
			r.i++
			exponent++
		case p == '.':
			return r.decimal(positive, significand, exponent)
		case p == 'e' || p == 'E':
			return r.exponent(positive, significand, exponent)
		default:
			return r.fromParts(positive, significand, exponent)
		}
	}
}

func (r *reader) decimalOverflow(positive bool, significand uint64, exponent int32) (float64, *jsonError) {
	for p := r.peekOrNull(); p >= '0' && p <= '9'; p = r.peekOrNull() {
		r.i++
	}
	if p := r.peekOrNull(); p == 'e' || p == 'E' {
		return r.exponent(positive, significand, exponent)
	}
	return r.fromParts(positive, significand, exponent)
}

func (r *reader) exponentOverflow(positive, zeroSignificand, positiveExp bool) (float64, *jsonError) {
	if !zeroSignificand && positiveExp {
		return 0, r.err(numberOutOfRange)
	}
	for p := r.peekOrNull(); p >= '0' && p <= '9'; p = r.peekOrNull() {
		r.i++
	}
	if positive {
		return 0, nil
	}
	return math.Copysign(0, -1), nil
}

// formatFloatLikeZmij writes a float as serde_json's error messages do:
// shortest digits, plain notation with ".0" for 1e-5 <= |f| < 1e16,
// otherwise like 1e+16 or 1.5e-7.
func formatFloatLikeZmij(f float64) string {
	sign := ""
	if math.Signbit(f) {
		sign = "-"
		f = -f
	}
	if f == 0 {
		return sign + "0.0"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mantissa, expText, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expText)
	if exp >= -5 && exp <= 15 {
		plain := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(plain, ".") {
			plain += ".0"
		}
		return sign + plain
	}
	expSign := "+"
	if exp < 0 {
		expSign = "-"
		exp = -exp
	}
	return sign + mantissa + "e" + expSign + strconv.Itoa(exp)
}

// ---- strings ----

// str reads a string's contents; the opening quote has been read.
func (r *reader) str() (string, *jsonError) {
	var scratch []byte
	copied := false
	start := r.i
	for {
		for r.i < len(r.data) {
			c := r.data[r.i]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			r.i++
		}
		if r.i == len(r.data) {
			return "", r.err(eofString)
		}
		switch r.data[r.i] {
		case '"':
			var s []byte
			if copied {
				s = append(scratch, r.data[start:r.i]...)
			} else {
				s = r.data[start:r.i]
			}
			r.i++
			if !utf8.Valid(s) {
				// Pointing back from the closing quote at the first bad byte,
				// as serde_json does (approximate when there were escapes).
				e := r.err(invalidCodePoint)
				if e.column -= len(s) - validPrefix(s); e.column < 0 {
					e.column = 0
				}
				return "", e
			}
			return string(s), nil
		case '\\':
			scratch = append(scratch, r.data[start:r.i]...)
			copied = true
			r.i++
			var err *jsonError
			if scratch, err = r.escape(scratch); err != nil {
				return "", err
			}
			start = r.i
		default:
			r.i++
			return "", r.err(controlCharacter)
		}
	}
}

// validPrefix is the length of the longest valid UTF-8 prefix of s.
func validPrefix(s []byte) int {
	n := 0
	for n < len(s) {
		c, size := utf8.DecodeRune(s[n:])
		if c == utf8.RuneError && size <= 1 {
			break
		}
		n += size
	}
	return n
}

func (r *reader) escape(scratch []byte) ([]byte, *jsonError) {
	c, ok := r.next()
	if !ok {
		return nil, r.err(eofString)
	}
	switch c {
	case '"', '\\', '/':
		return append(scratch, c), nil
	case 'b':
		return append(scratch, '\b'), nil
	case 'f':
		return append(scratch, '\f'), nil
	case 'n':
		return append(scratch, '\n'), nil
	case 'r':
		return append(scratch, '\r'), nil
	case 't':
		return append(scratch, '\t'), nil
	case 'u':
		return r.unicodeEscape(scratch)
	default:
		return nil, r.err(invalidEscape)
	}
}

func (r *reader) hex4() (uint16, *jsonError) {
	if len(r.data)-r.i < 4 {
		r.i = len(r.data)
		return 0, r.err(eofString)
	}
	digits := r.data[r.i : r.i+4]
	r.i += 4
	var n uint16
	for _, d := range digits {
		var v byte
		switch {
		case d >= '0' && d <= '9':
			v = d - '0'
		case d >= 'a' && d <= 'f':
			v = d - 'a' + 10
		case d >= 'A' && d <= 'F':
			v = d - 'A' + 10
		default:
			return 0, r.err(invalidEscape)
		}
		n = n<<4 | uint16(v)
	}
	return n, nil
}

func (r *reader) unicodeEscape(scratch []byte) ([]byte, *jsonError) {
	n, err := r.hex4()
	if err != nil {
		return nil, err
	}
	if n >= 0xDC00 && n <= 0xDFFF {
		return nil, r.err(loneSurrogate)
	}
	if n < 0xD800 || n > 0xDBFF {
		return utf8.AppendRune(scratch, rune(n)), nil
	}
	for _, want := range []byte{'\\', 'u'} {
		c, ok := r.peek()
		if !ok {
			return nil, r.err(eofString)
		}
		r.i++
		if c != want {
			return nil, r.err(unexpectedHexEnd)
		}
	}
	n2, err := r.hex4()
	if err != nil {
		return nil, err
	}
	if n2 < 0xDC00 || n2 > 0xDFFF {
		return nil, r.err(loneSurrogate)
	}
	code := (rune(n-0xD800)<<10 | rune(n2-0xDC00)) + 0x10000
	return utf8.AppendRune(scratch, code), nil
}

// rustDebugString quotes a string as Rust's `{:?}` does, for serde's
// `invalid type: string "..."` messages.
func rustDebugString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch c {
		case 0:
			b.WriteString(`\0`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '\n':
			b.WriteString(`\n`)
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		default:
			if unicode.In(c, unicode.Mn, unicode.Me) || !(unicode.IsGraphic(c) || c == ' ') {
				b.WriteString(`\u{` + strconv.FormatInt(int64(c), 16) + `}`)
			} else {
				b.WriteRune(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ---- values ----

// invalidType is serde's `invalid type` error: what a visitor got instead.
func invalidType(unexpected, expected string) *jsonError {
	return custom("invalid type: " + unexpected + ", expected " + expected)
}

// peekInvalidType reads the value a visitor did not want, to say what it was.
func (r *reader) peekInvalidType(expected string) *jsonError {
	var e *jsonError
	switch c := r.peekOrNull(); {
	case c == 'n':
		r.i++
		if err := r.ident("ull"); err != nil {
			return err
		}
		e = invalidType("null", expected)
	case c == 't':
		r.i++
		if err := r.ident("rue"); err != nil {
			return err
		}
		e = invalidType("boolean `true`", expected)
	case c == 'f':
		r.i++
		if err := r.ident("alse"); err != nil {
			return err
		}
		e = invalidType("boolean `false`", expected)
	case c == '-' || (c >= '0' && c <= '9'):
		positive := c != '-'
		if !positive {
			r.i++
		}
		n, err := r.integer(positive)
		if err != nil {
			return err
		}
		e = invalidType(n.unexpected(), expected)
	case c == '"':
		r.i++
		s, err := r.str()
		if err != nil {
			return err
		}
		e = invalidType("string "+rustDebugString(s), expected)
	case c == '[':
		e = invalidType("sequence", expected)
	case c == '{':
		e = invalidType("map", expected)
	default:
		return r.peekErr(expectedValue)
	}
	return r.fix(e)
}

// readString is deserialize_string with serde's String visitor.
func (r *reader) readString() (string, *jsonError) {
	c, ok := r.ws()
	if !ok {
		return "", r.peekErr(eofValue)
	}
	if c != '"' {
		return "", r.fix(r.peekInvalidType(expectString))
	}
	r.i++
	return r.str()
}

// readInt is deserialize_i64 / deserialize_i32 with serde's visitors.
func (r *reader) readInt(bits int) (int64, *jsonError) {
	c, ok := r.ws()
	if !ok {
		return 0, r.peekErr(eofValue)
	}
	if c != '-' && (c < '0' || c > '9') {
		return 0, r.fix(r.peekInvalidType("i" + strconv.Itoa(bits)))
	}
	positive := c != '-'
	if !positive {
		r.i++
	}
	n, err := r.integer(positive)
	if err != nil {
		return 0, err
	}
	expected := "i" + strconv.Itoa(bits)
	max := int64(math.MaxInt64)
	min := int64(math.MinInt64)
	if bits == 32 {
		max, min = math.MaxInt32, math.MinInt32
	}
	switch n.kind {
	case numU64:
		if n.u > uint64(max) {
			return 0, r.fix(custom("invalid value: " + n.unexpected() + ", expected " + expected))
		}
		return int64(n.u), nil
	case numI64:
		if n.i < min {
			return 0, r.fix(custom("invalid value: " + n.unexpected() + ", expected " + expected))
		}
		return n.i, nil
	default:
		return 0, r.fix(invalidType(n.unexpected(), expected))
	}
}

// readAmount is deserialize_any with shop's MoneyVisitor.
func (r *reader) readAmount() (amount, *jsonError) {
	c, ok := r.ws()
	if !ok {
		return amount{}, r.peekErr(eofValue)
	}
	var e *jsonError
	switch {
	case c == 'n':
		r.i++
		if err := r.ident("ull"); err != nil {
			return amount{}, err
		}
		e = invalidType("null", expectAmount)
	case c == 't':
		r.i++
		if err := r.ident("rue"); err != nil {
			return amount{}, err
		}
		e = invalidType("boolean `true`", expectAmount)
	case c == 'f':
		r.i++
		if err := r.ident("alse"); err != nil {
			return amount{}, err
		}
		e = invalidType("boolean `false`", expectAmount)
	case c == '-' || (c >= '0' && c <= '9'):
		positive := c != '-'
		if !positive {
			r.i++
		}
		n, err := r.integer(positive)
		if err != nil {
			return amount{}, err
		}
		switch n.kind {
		case numU64:
			return amountFromInt(new(big.Int).SetUint64(n.u)), nil
		case numI64:
			return amountFromInt(new(big.Int).SetInt64(n.i)), nil
		}
		a, msg := amountFromFloat(n.f)
		if msg == "" {
			return a, nil
		}
		e = custom(msg)
	case c == '"':
		r.i++
		s, err := r.str()
		if err != nil {
			return amount{}, err
		}
		a, msg := parseAmountString(s)
		if msg == "" {
			return a, nil
		}
		e = custom(msg)
	case c == '[':
		r.i++
		e = invalidType("sequence", expectAmount)
		_ = r.endSeq()
	case c == '{':
		r.i++
		e = invalidType("map", expectAmount)
		_ = r.endMap()
	default:
		return amount{}, r.peekErr(expectedValue)
	}
	return amount{}, r.fix(e)
}

// endSeq checks that a sequence ends where its visitor stopped reading.
func (r *reader) endSeq() *jsonError {
	c, ok := r.ws()
	switch {
	case !ok:
		return r.peekErr(eofList)
	case c == ']':
		r.i++
		return nil
	case c == ',':
		r.i++
		if c, ok := r.ws(); ok && c == ']' {
			return r.peekErr(trailingComma)
		}
		return r.peekErr(trailingChars)
	default:
		return r.peekErr(trailingChars)
	}
}

// endMap checks that a map ends where its visitor stopped reading.
func (r *reader) endMap() *jsonError {
	c, ok := r.ws()
	switch {
	case !ok:
		return r.peekErr(eofObject)
	case c == '}':
		r.i++
		return nil
	case c == ',':
		return r.peekErr(trailingComma)
	default:
		return r.peekErr(trailingChars)
	}
}

// nextElement says whether a sequence has another element.
func (r *reader) nextElement(first *bool) (bool, *jsonError) {
	c, ok := r.ws()
	switch {
	case !ok:
		return false, r.peekErr(eofList)
	case c == ']':
		return false, nil
	case *first:
		*first = false
		return true, nil
	case c == ',':
		r.i++
		c, ok := r.ws()
		switch {
		case !ok:
			return false, r.peekErr(eofValue)
		case c == ']':
			return false, r.peekErr(trailingComma)
		}
		return true, nil
	default:
		return false, r.peekErr(expectedListEnd)
	}
}

// nextKey reads a map's next key, if it has one.
func (r *reader) nextKey(first *bool) (string, bool, *jsonError) {
	c, ok := r.ws()
	switch {
	case !ok:
		return "", false, r.peekErr(eofObject)
	case c == '}':
		return "", false, nil
	case *first:
		*first = false
		if c != '"' {
			return "", false, r.peekErr(keyMustBeString)
		}
	case c == ',':
		r.i++
		c, ok := r.ws()
		switch {
		case !ok:
			return "", false, r.peekErr(eofValue)
		case c == '}':
			return "", false, r.peekErr(trailingComma)
		case c != '"':
			return "", false, r.peekErr(keyMustBeString)
		}
	default:
		return "", false, r.peekErr(expectedObjectEnd)
	}
	r.i++
	key, err := r.str()
	return key, true, err
}

func (r *reader) colon() *jsonError {
	c, ok := r.ws()
	switch {
	case !ok:
		return r.peekErr(eofObject)
	case c == ':':
		r.i++
		return nil
	default:
		return r.peekErr(expectedColon)
	}
}

// optional is deserialize_option: null is absent, anything else is read.
func (r *reader) optional(read func() (any, *jsonError)) (any, *jsonError) {
	if c, ok := r.ws(); ok && c == 'n' {
		r.i++
		return nil, r.ident("ull")
	}
	return read()
}

// readStruct is deserialize_struct with a derived visitor: a JSON object,
// or the fields in order as an array, as serde accepts both.
func (r *reader) readStruct(s *shape) ([]any, *jsonError) {
	c, ok := r.ws()
	if !ok {
		return nil, r.peekErr(eofValue)
	}
	var values []any
	var err, endErr *jsonError
	switch c {
	case '[':
		r.i++
		values, err = r.structSeq(s)
		endErr = r.endSeq()
	case '{':
		r.i++
		values, err = r.structMap(s)
		endErr = r.endMap()
	default:
		return nil, r.fix(r.peekInvalidType("struct " + s.name))
	}
	if err != nil {
		return nil, r.fix(err)
	}
	return values, endErr
}

func (r *reader) structMap(s *shape) ([]any, *jsonError) {
	values := make([]any, len(s.fields))
	seen := make([]bool, len(s.fields))
	first := true
	for {
		key, more, err := r.nextKey(&first)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		index := -1
		for i, f := range s.fields {
			if f.name == key {
				index = i
			}
		}
		if index < 0 {
			return nil, custom("unknown field `" + key + "`, expected " + oneOf(s))
		}
		if seen[index] {
			return nil, custom("duplicate field `" + key + "`")
		}
		if err := r.colon(); err != nil {
			return nil, err
		}
		if values[index], err = r.readField(s.fields[index]); err != nil {
			return nil, err
		}
		seen[index] = true
	}
	for i, f := range s.fields {
		if !seen[i] && !f.optional && !f.defaulted {
			return nil, custom("missing field `" + f.name + "`")
		}
	}
	return values, nil
}

func (r *reader) structSeq(s *shape) ([]any, *jsonError) {
	values := make([]any, len(s.fields))
	first := true
	for i, f := range s.fields {
		more, err := r.nextElement(&first)
		if err != nil {
			return nil, err
		}
		if !more {
			if f.defaulted {
				continue
			}
			return nil, custom("invalid length " + strconv.Itoa(i) + ", expected struct " + s.name +
				" with " + strconv.Itoa(len(s.fields)) + " elements")
		}
		if values[i], err = r.readField(f); err != nil {
			return nil, err
		}
	}
	return values, nil
}

// oneOf lists a shape's fields as serde's unknown-field error does.
func oneOf(s *shape) string {
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		names[i] = "`" + f.name + "`"
	}
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " or " + names[1]
	}
	return "one of " + strings.Join(names, ", ")
}

func (r *reader) readField(f field) (any, *jsonError) {
	read := func() (any, *jsonError) {
		switch f.kind {
		case kindString:
			return r.readString()
		case kindInt64:
			return r.readInt(64)
		case kindInt32:
			n, err := r.readInt(32)
			return n, err
		case kindAmount:
			return r.readAmount()
		default:
			return r.readItems()
		}
	}
	if f.optional {
		return r.optional(read)
	}
	return read()
}

// readItems is deserialize_seq of a Vec<NewOrderItem>.
func (r *reader) readItems() (any, *jsonError) {
	c, ok := r.ws()
	if !ok {
		return nil, r.peekErr(eofValue)
	}
	if c != '[' {
		return nil, r.fix(r.peekInvalidType(expectSequence))
	}
	r.i++
	items := []newOrderItem{}
	first := true
	var err *jsonError
	for {
		var more bool
		if more, err = r.nextElement(&first); err != nil || !more {
			break
		}
		var v []any
		if v, err = r.readStruct(newOrderItemShape); err != nil {
			break
		}
		items = append(items, newOrderItem{productID: v[0].(int64), quantity: int32(v[1].(int64))})
	}
	endErr := r.endSeq()
	if err != nil {
		return nil, r.fix(err)
	}
	if endErr != nil {
		return nil, endErr
	}
	return items, nil
}
