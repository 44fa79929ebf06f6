package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// What the API writes (shop::model).

type user struct {
	id                   int64
	username, email      string
	createdAt, updatedAt time.Time
}

type product struct {
	id                   int64
	name, description    string
	price                int64 // cents
	stock                int32
	category             string
	createdAt, updatedAt time.Time
}

type order struct {
	id        int64
	userID    int64
	status    string
	total     int64 // cents
	createdAt time.Time
	items     []orderItem
}

type orderItem struct {
	productID int64
	quantity  int32
	unitPrice int64 // cents
}

// What the API reads: the request bodies. Each is read in the contract's
// two steps. decodeBody checks the shape: an object with exactly the
// request's members, each of its JSON type, or 400 with a message that
// starts with "invalid JSON body: ". Then the request's validate method
// checks the values (shop::model::Validate) in the schema's order of
// members, so that the first broken rule is the one reported.

type newUser struct{ username, email string }

type userPatch struct{ username, email *string }

type newProduct struct {
	name, description string
	price             amount
	stock             int64
	category          string
}

type productPatch struct {
	name, description *string
	price             *amount
	stock             *int64
	category          *string
}

type newOrder struct {
	userID int64
	items  []newOrderItem
}

type newOrderItem struct {
	productID int64
	quantity  int32
}

// Limits of the contract (shop::model).
const (
	maxEmailChars       = 254
	maxDescriptionChars = 2000
	maxStock            = 1_000_000_000
	maxOrderItems       = 50
	maxQuantity         = 1000
)

func decodeNewUser(body []byte) (*newUser, *apiError) {
	u := &newUser{}
	err := decodeBody(body,
		member{"username", required, into(&u.username)},
		member{"email", required, into(&u.email)})
	if err != nil {
		return nil, err
	}
	return u, u.validate()
}

func (u *newUser) validate() *apiError {
	if err := checkUsername(u.username); err != nil {
		return err
	}
	return checkEmail(u.email)
}

func decodeUserPatch(body []byte) (*userPatch, *apiError) {
	p := &userPatch{}
	err := decodeBody(body,
		member{"username", optionalOrNull, intoNew(&p.username)},
		member{"email", optionalOrNull, intoNew(&p.email)})
	if err != nil {
		return nil, err
	}
	return p, p.validate()
}

func (p *userPatch) validate() *apiError {
	if p.username == nil && p.email == nil {
		return badRequest("a user patch must set at least one of username, email")
	}
	if p.username != nil {
		if err := checkUsername(*p.username); err != nil {
			return err
		}
	}
	if p.email != nil {
		return checkEmail(*p.email)
	}
	return nil
}

func decodeNewProduct(body []byte) (*newProduct, *apiError) {
	p := &newProduct{}
	err := decodeBody(body,
		member{"name", required, into(&p.name)},
		member{"description", optional, into(&p.description)},
		member{"price", required, into(&p.price)},
		member{"stock_quantity", required, into(&p.stock)},
		member{"category", required, into(&p.category)})
	if err != nil {
		return nil, err
	}
	return p, p.validate()
}

func (p *newProduct) validate() *apiError {
	if err := checkChars("name", p.name, 1, 200); err != nil {
		return err
	}
	if err := checkDescription(p.description); err != nil {
		return err
	}
	if err := checkPrice(p.price); err != nil {
		return err
	}
	if err := checkStock(p.stock); err != nil {
		return err
	}
	return checkChars("category", p.category, 1, 50)
}

func decodeProductPatch(body []byte) (*productPatch, *apiError) {
	p := &productPatch{}
	err := decodeBody(body,
		member{"name", optionalOrNull, intoNew(&p.name)},
		member{"description", optionalOrNull, intoNew(&p.description)},
		member{"price", optionalOrNull, intoNew(&p.price)},
		member{"stock_quantity", optionalOrNull, intoNew(&p.stock)},
		member{"category", optionalOrNull, intoNew(&p.category)})
	if err != nil {
		return nil, err
	}
	return p, p.validate()
}

func (p *productPatch) validate() *apiError {
	if p.name == nil && p.description == nil && p.price == nil && p.stock == nil && p.category == nil {
		return badRequest("a product patch must set at least one of name, description, price, stock_quantity, category")
	}
	if p.name != nil {
		if err := checkChars("name", *p.name, 1, 200); err != nil {
			return err
		}
	}
	if p.description != nil {
		if err := checkDescription(*p.description); err != nil {
			return err
		}
	}
	if p.price != nil {
		if err := checkPrice(*p.price); err != nil {
			return err
		}
	}
	if p.stock != nil {
		if err := checkStock(*p.stock); err != nil {
			return err
		}
	}
	if p.category != nil {
		return checkChars("category", *p.category, 1, 50)
	}
	return nil
}

func decodeNewOrder(body []byte) (*newOrder, *apiError) {
	o := &newOrder{}
	err := decodeBody(body,
		member{"user_id", required, into(&o.userID)},
		member{"items", required, intoItems(&o.items)})
	if err != nil {
		return nil, err
	}
	return o, o.validate()
}

func (o *newOrder) validate() *apiError {
	if o.userID <= 0 {
		return badRequest("user_id must be a positive integer")
	}
	if len(o.items) < 1 || len(o.items) > maxOrderItems {
		return badRequest("an order must have 1 to %d items", maxOrderItems)
	}
	for i, item := range o.items {
		if item.productID <= 0 {
			return badRequest("items[%d].product_id must be a positive integer", i)
		}
		if item.quantity < 1 || item.quantity > maxQuantity {
			return badRequest("items[%d].quantity must be between 1 and %d", i, maxQuantity)
		}
		for _, earlier := range o.items[:i] {
			if earlier.productID == item.productID {
				return badRequest("product %d appears more than once; list each product once", item.productID)
			}
		}
	}
	return nil
}

// decodeBody reads a request body, an object of the given members, with
// encoding/json.
func decodeBody(body []byte, members ...member) *apiError {
	if len(body) > maxBodyBytes {
		return payloadTooLarge()
	}
	// encoding/json reads invalid UTF-8 as U+FFFD instead of refusing it.
	if !utf8.Valid(body) {
		return badRequest("invalid JSON body: invalid UTF-8")
	}
	if err := decodeObject(body, members); err != nil {
		return badRequest("invalid JSON body: %s", err.Error())
	}
	return nil
}

// member is one member of a request object: its name, whether it may be
// absent or null, and how its value is read.
type member struct {
	name     string
	presence presence
	decode   func(raw json.RawMessage) error
}

type presence int

const (
	// required members must be present and not null.
	required presence = iota
	// optional members may be absent, which leaves their zero value, but
	// not null.
	optional
	// optionalOrNull members (those of a patch) may be absent or null,
	// which both mean "unchanged".
	optionalOrNull
)

// into reads a member's value into *dst. encoding/json refuses a value of
// another JSON type, and for an integer type a number with a fraction or
// an exponent or out of the type's range.
func into[T any](dst *T) func(json.RawMessage) error {
	return func(raw json.RawMessage) error { return unmarshal(raw, dst) }
}

// intoNew reads a member's value into a new T that *dst points to.
func intoNew[T any](dst **T) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		*dst = new(T)
		return unmarshal(raw, *dst)
	}
}

// unmarshal is json.Unmarshal, except that an integer written `-0` is
// refused: the contract (openapi.yaml, request bodies) writes integers
// without a fraction, exponent or sign of zero, so no stack takes it for 0.
func unmarshal(raw json.RawMessage, dst any) error {
	switch dst.(type) {
	case *int64, *int32:
		if string(bytes.TrimSpace(raw)) == "-0" {
			return errors.New("-0 is not an integer: write 0")
		}
	}
	return json.Unmarshal(raw, dst)
}

// intoItems reads an order's items: an array of objects.
func intoItems(dst *[]newOrderItem) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var elements []json.RawMessage
		if err := json.Unmarshal(raw, &elements); err != nil {
			return err
		}
		items := make([]newOrderItem, len(elements))
		for i := range items {
			err := decodeObject(elements[i], []member{
				{"product_id", required, into(&items[i].productID)},
				{"quantity", required, into(&items[i].quantity)},
			})
			if err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
		*dst = items
		return nil
	}
}

// decodeObject reads a JSON object whose members are the given ones. It
// decodes into a map, whose keys are the names exactly as written:
// decoding into a struct would match names case-insensitively. A name
// written twice keeps its last value, which the contract allows.
func decodeObject(data []byte, members []member) error {
	var object map[string]json.RawMessage
	if err := json.Unmarshal(data, &object); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fmt.Errorf("expected an object, got %s", typeErr.Value)
		}
		return err
	}
	if object == nil {
		return errors.New("expected an object, got null")
	}
	var unknown []string
	for name := range object {
		if !isMember(name, members) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown) // the same message for the same body
		return fmt.Errorf("unknown member %q", unknown[0])
	}
	for _, m := range members {
		raw, found := object[m.name]
		// encoding/json reads null into a string or a number as "leave it
		// unchanged", without an error, so null is handled here.
		null := found && string(raw) == "null"
		switch {
		case !found && m.presence == required:
			return fmt.Errorf("missing member %q", m.name)
		case !found || null && m.presence == optionalOrNull:
			continue
		case null:
			return fmt.Errorf("member %q must not be null", m.name)
		}
		if err := m.decode(raw); err != nil {
			return fmt.Errorf("member %q: %w", m.name, err)
		}
	}
	return nil
}

func isMember(name string, members []member) bool {
	for _, m := range members {
		if m.name == name {
			return true
		}
	}
	return false
}

func checkUsername(username string) *apiError {
	ok := len(username) >= 3 && len(username) <= 50
	for i := 0; ok && i < len(username); i++ {
		c := username[i]
		ok = c < utf8.RuneSelf && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)) || c == '_' || c == '.' || c == '-')
	}
	if !ok {
		return badRequest("username must be 3 to 50 characters of A-Z, a-z, 0-9, '_', '.' or '-'")
	}
	return nil
}

func checkEmail(email string) *apiError {
	valid := utf8.RuneCountInString(email) <= maxEmailChars &&
		strings.IndexFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0
	if valid {
		local, domain, found := strings.Cut(email, "@")
		valid = found && local != "" && !strings.Contains(domain, "@")
		if valid {
			labels := strings.Split(domain, ".")
			valid = len(labels) >= 2
			for _, label := range labels {
				valid = valid && label != ""
			}
		}
	}
	if !valid {
		return badRequest("email must be at most 254 characters with one '@' and a dotted domain, like name@example.com")
	}
	return nil
}

// checkNoNul refuses the NUL character, which PostgreSQL's text cannot hold.
func checkNoNul(field, value string) *apiError {
	if strings.IndexByte(value, 0) >= 0 {
		return badRequest(`%s must not contain the NUL character (\u0000)`, field)
	}
	return nil
}

func checkChars(field, value string, min, max int) *apiError {
	if n := utf8.RuneCountInString(value); n < min || n > max {
		return badRequest("%s must be %d to %d characters", field, min, max)
	}
	return checkNoNul(field, value)
}

func checkDescription(description string) *apiError {
	if utf8.RuneCountInString(description) > maxDescriptionChars {
		return badRequest("description must be at most %d characters", maxDescriptionChars)
	}
	return checkNoNul("description", description)
}

// checkPrice reports a price that UnmarshalJSON found is not an amount the
// API takes; every such price has the same message.
func checkPrice(price amount) *apiError {
	if !price.valid {
		return badRequest(`price must be greater than 0 and less than 1000000000 with at most two decimals, like 19.99 or "19.99"`)
	}
	return nil
}

func checkStock(stock int64) *apiError {
	if stock < 0 || stock > maxStock {
		return badRequest("stock_quantity must be between 0 and %d", maxStock)
	}
	return nil
}
