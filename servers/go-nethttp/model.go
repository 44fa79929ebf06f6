package main

import (
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

// What the API reads: the request bodies, each described by a shape for
// the JSON reader (field order matters: it is the order of serde's checks).

type fieldKind int

const (
	kindString fieldKind = iota
	kindInt64
	kindInt32
	kindAmount
	kindItems
)

type field struct {
	name string
	kind fieldKind
	// optional fields (Option<T>) are nil when null or absent.
	optional bool
	// defaulted fields (#[serde(default)]) may be absent.
	defaulted bool
}

type shape struct {
	name   string
	fields []field
}

var (
	newUserShape = &shape{"NewUser", []field{
		{name: "username", kind: kindString},
		{name: "email", kind: kindString},
	}}
	userPatchShape = &shape{"UserPatch", []field{
		{name: "username", kind: kindString, optional: true},
		{name: "email", kind: kindString, optional: true},
	}}
	newProductShape = &shape{"NewProduct", []field{
		{name: "name", kind: kindString},
		{name: "description", kind: kindString, defaulted: true},
		{name: "price", kind: kindAmount},
		{name: "stock_quantity", kind: kindInt64},
		{name: "category", kind: kindString},
	}}
	productPatchShape = &shape{"ProductPatch", []field{
		{name: "name", kind: kindString, optional: true},
		{name: "description", kind: kindString, optional: true},
		{name: "price", kind: kindAmount, optional: true},
		{name: "stock_quantity", kind: kindInt64, optional: true},
		{name: "category", kind: kindString, optional: true},
	}}
	newOrderShape = &shape{"NewOrder", []field{
		{name: "user_id", kind: kindInt64},
		{name: "items", kind: kindItems},
	}}
	newOrderItemShape = &shape{"NewOrderItem", []field{
		{name: "product_id", kind: kindInt64},
		{name: "quantity", kind: kindInt32},
	}}
)

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

func optString(v any) *string {
	if v == nil {
		return nil
	}
	s := v.(string)
	return &s
}

// Each request type is read by its decode function and then checked by its
// validate method, the rules of the contract that types alone cannot express
// (shop::model::Validate), in shop's order, so that the first broken rule is
// the one reported.

func decodeNewUser(body []byte) (*newUser, *apiError) {
	v, err := readBody(body, newUserShape)
	if err != nil {
		return nil, err
	}
	u := &newUser{username: v[0].(string), email: v[1].(string)}
	return u, u.validate()
}

func (u *newUser) validate() *apiError {
	if err := checkUsername(u.username); err != nil {
		return err
	}
	return checkEmail(u.email)
}

func decodeUserPatch(body []byte) (*userPatch, *apiError) {
	v, err := readBody(body, userPatchShape)
	if err != nil {
		return nil, err
	}
	p := &userPatch{username: optString(v[0]), email: optString(v[1])}
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
	v, err := readBody(body, newProductShape)
	if err != nil {
		return nil, err
	}
	p := &newProduct{
		name:     v[0].(string),
		price:    v[2].(amount),
		stock:    v[3].(int64),
		category: v[4].(string),
	}
	if v[1] != nil {
		p.description = v[1].(string)
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
	v, err := readBody(body, productPatchShape)
	if err != nil {
		return nil, err
	}
	p := &productPatch{name: optString(v[0]), description: optString(v[1]), category: optString(v[4])}
	if v[2] != nil {
		price := v[2].(amount)
		p.price = &price
	}
	if v[3] != nil {
		stock := v[3].(int64)
		p.stock = &stock
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
	v, err := readBody(body, newOrderShape)
	if err != nil {
		return nil, err
	}
	o := &newOrder{userID: v[0].(int64), items: v[1].([]newOrderItem)}
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

// readBody reads a JSON body of the given shape (shop::http::parse_json,
// before validation).
func readBody(body []byte, s *shape) ([]any, *apiError) {
	if len(body) > maxBodyBytes {
		return nil, payloadTooLarge()
	}
	r := &reader{data: body}
	values, err := r.readStruct(s)
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, badRequest("invalid JSON body: %s", err.Error())
	}
	return values, nil
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

func checkPrice(price amount) *apiError {
	if price.cents.Sign() <= 0 || price.cents.Cmp(maxPriceCents) >= 0 {
		return badRequest("price must be greater than 0 and less than 1000000000")
	}
	return nil
}

func checkStock(stock int64) *apiError {
	if stock < 0 || stock > maxStock {
		return badRequest("stock_quantity must be between 0 and %d", maxStock)
	}
	return nil
}
