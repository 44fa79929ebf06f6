package main

import (
	"math/big"
	"strings"
	"testing"
)

// The messages of shop::model's checks.
const (
	badUsername     = "username must be 3 to 50 characters of A-Z, a-z, 0-9, '_', '.' or '-'"
	badEmail        = "email must be at most 254 characters with one '@' and a dotted domain, like name@example.com"
	badPrice        = "price must be greater than 0 and less than 1000000000"
	badStock        = "stock_quantity must be between 0 and 1000000000"
	badName         = "name must be 1 to 200 characters"
	badCategory     = "category must be 1 to 50 characters"
	longDescription = "description must be at most 2000 characters"
	emptyUser       = "a user patch must set at least one of username, email"
	emptyProduct    = "a product patch must set at least one of name, description, price, stock_quantity, category"
	badUserID       = "user_id must be a positive integer"
	badItemCount    = "an order must have 1 to 50 items"
	badQuantity0    = "items[0].quantity must be between 1 and 1000"
)

// nul is shop::model::check_no_nul's refusal: the message spells the escape
// `\u0000` out, backslash included.
func nul(field string) string {
	return field + ` must not contain the NUL character (\u0000)`
}

// checkMessage checks that a rule passes (refusal "") or answers 400 with
// the refusal as its message.
func checkMessage(t *testing.T, what string, got *apiError, refusal string) {
	t.Helper()
	wantAnswer := answer{}
	if refusal != "" {
		wantAnswer = answer{400, "bad_request", refusal}
	}
	if answerOf(got) != wantAnswer {
		t.Errorf("%s: %+v, want %+v", what, answerOf(got), wantAnswer)
	}
}

func TestCheckUsername(t *testing.T) {
	tests := []struct {
		username string
		refusal  string
	}{
		{"abc", ""},
		{"a.b-c_9", ""},
		{"ABC_xyz-09.", ""},
		{strings.Repeat("x", 50), ""},
		{"ab", badUsername},
		{strings.Repeat("x", 51), badUsername},
		{"", badUsername},
		{"has space", badUsername},
		{"abc!", badUsername},
		{"ünï", badUsername},
		{"abc\x00", badUsername},
	}
	for _, tt := range tests {
		checkMessage(t, tt.username, checkUsername(tt.username), tt.refusal)
	}
}

func TestCheckEmail(t *testing.T) {
	tests := []struct {
		email   string
		refusal string
	}{
		{"a@b.co", ""},
		{"first.last@mail.example.com", ""},
		// 254 characters, counted as characters, not bytes.
		{strings.Repeat("x", 242) + "@example.com", ""},
		{strings.Repeat("é", 242) + "@example.com", ""},
		{strings.Repeat("x", 243) + "@example.com", badEmail},
		// A zero-width space is neither White_Space nor a control character.
		{"a\u200b@b.co", ""},

		{"", badEmail},
		{"a", badEmail},
		{"a@b", badEmail},
		{"@b.co", badEmail},
		{"a@@b.co", badEmail},
		{"a@b@c.co", badEmail},
		{"a@.co", badEmail},
		{"a@b.", badEmail},
		{"a@b..co", badEmail},
		{"a b@c.co", badEmail},
		{"a\tb@c.co", badEmail},
		{"a@b.co\n", badEmail},
		{"a\u0085b@c.co", badEmail},
		{"a\u00a0b@c.co", badEmail},
		{"a\u2028b@c.co", badEmail},
		{"a\u3000b@c.co", badEmail},
		{"a\x7fb@c.co", badEmail},
		{"a\u0080b@c.co", badEmail},
	}
	for _, tt := range tests {
		checkMessage(t, tt.email, checkEmail(tt.email), tt.refusal)
	}
}

func TestCheckTexts(t *testing.T) {
	tests := []struct {
		what    string
		got     *apiError
		refusal string
	}{
		{"one-character name", checkChars("name", "n", 1, 200), ""},
		{"200-character name", checkChars("name", strings.Repeat("é", 200), 1, 200), ""},
		{"empty name", checkChars("name", "", 1, 200), badName},
		{"201-character name", checkChars("name", strings.Repeat("n", 201), 1, 200), badName},
		{"name with NUL", checkChars("name", "a\x00b", 1, 200), nul("name")},
		{"50-character category", checkChars("category", strings.Repeat("c", 50), 1, 50), ""},
		{"51-character category", checkChars("category", strings.Repeat("c", 51), 1, 50), badCategory},
		{"category with NUL", checkChars("category", "\x00", 1, 50), nul("category")},
		{"empty description", checkDescription(""), ""},
		{"2000-character description", checkDescription(strings.Repeat("é", 2000)), ""},
		{"2001-character description", checkDescription(strings.Repeat("d", 2001)), longDescription},
		{"description with NUL", checkDescription("a\x00"), nul("description")},
	}
	for _, tt := range tests {
		checkMessage(t, tt.what, tt.got, tt.refusal)
	}
}

func cents(n int64) amount { return amount{cents: big.NewInt(n)} }

func TestCheckPriceAndStock(t *testing.T) {
	tests := []struct {
		what    string
		got     *apiError
		refusal string
	}{
		{"one cent", checkPrice(cents(1)), ""},
		{"999999999.99", checkPrice(cents(99_999_999_999)), ""},
		{"zero", checkPrice(cents(0)), badPrice},
		{"negative", checkPrice(cents(-150)), badPrice},
		{"1000000000", checkPrice(cents(100_000_000_000)), badPrice},
		{"no stock", checkStock(0), ""},
		{"most stock", checkStock(1_000_000_000), ""},
		{"negative stock", checkStock(-1), badStock},
		{"too much stock", checkStock(1_000_000_001), badStock},
	}
	for _, tt := range tests {
		checkMessage(t, tt.what, tt.got, tt.refusal)
	}
}

// validator is a request type's rules (shop::model::Validate).
type validator interface{ validate() *apiError }

func items(pairs ...[2]int64) []newOrderItem {
	list := make([]newOrderItem, len(pairs))
	for i, p := range pairs {
		list[i] = newOrderItem{productID: p[0], quantity: int32(p[1])}
	}
	return list
}

// distinctItems is an order of n different products, one of each.
func distinctItems(n int) []newOrderItem {
	list := make([]newOrderItem, n)
	for i := range list {
		list[i] = newOrderItem{productID: int64(i + 1), quantity: 1}
	}
	return list
}

func ptr[T any](v T) *T { return &v }

// TestValidate checks each request type's rules in shop's order: the first
// rule broken is the one reported.
func TestValidate(t *testing.T) {
	product := func(edit func(*newProduct)) *newProduct {
		p := &newProduct{name: "Widget", price: cents(1999), stock: 5, category: "tools"}
		edit(p)
		return p
	}
	tests := []struct {
		name    string
		request validator
		refusal string
	}{
		{"new user", &newUser{username: "alice", email: "alice@example.com"}, ""},
		{"new user, both wrong", &newUser{username: "a", email: "nope"}, badUsername},
		{"new user, bad email", &newUser{username: "alice", email: "nope"}, badEmail},

		{"empty user patch", &userPatch{}, emptyUser},
		{"user patch of email", &userPatch{email: ptr("bob@example.com")}, ""},
		{"user patch, bad username", &userPatch{username: ptr("b"), email: ptr("nope")}, badUsername},
		{"user patch, bad email", &userPatch{email: ptr("nope")}, badEmail},

		{"new product", product(func(*newProduct) {}), ""},
		{"new product, name and price wrong", product(func(p *newProduct) { p.name, p.price = "", cents(0) }), badName},
		{"new product, long description", product(func(p *newProduct) { p.description = strings.Repeat("d", 2001) }), longDescription},
		{"new product, free", product(func(p *newProduct) { p.price = cents(0) }), badPrice},
		{"new product, negative stock", product(func(p *newProduct) { p.stock = -1 }), badStock},
		{"new product, no category", product(func(p *newProduct) { p.category = "" }), badCategory},
		{"new product, NUL in category", product(func(p *newProduct) { p.category = "a\x00" }), nul("category")},

		{"empty product patch", &productPatch{}, emptyProduct},
		{"product patch emptying the description", &productPatch{description: ptr("")}, ""},
		{"product patch, free", &productPatch{price: ptr(cents(0))}, badPrice},
		{"product patch, name and stock wrong", &productPatch{name: ptr(""), stock: ptr(int64(-1))}, badName},
		{"product patch, too much stock", &productPatch{stock: ptr(int64(1_000_000_001))}, badStock},
		{"product patch, long category", &productPatch{category: ptr(strings.Repeat("c", 51))}, badCategory},

		{"order", &newOrder{userID: 1, items: items([2]int64{1, 1}, [2]int64{2, 1000})}, ""},
		{"order of 50 items", &newOrder{userID: 1, items: distinctItems(50)}, ""},
		{"order, no user", &newOrder{userID: 0, items: items([2]int64{1, 1})}, badUserID},
		{"order, negative user", &newOrder{userID: -5, items: nil}, badUserID},
		{"order, no items", &newOrder{userID: 1, items: nil}, badItemCount},
		{"order of 51 items", &newOrder{userID: 1, items: distinctItems(51)}, badItemCount},
		{"order, no product", &newOrder{userID: 1, items: items([2]int64{1, 1}, [2]int64{0, 1})}, "items[1].product_id must be a positive integer"},
		{"order, none of a product", &newOrder{userID: 1, items: items([2]int64{1, 0})}, badQuantity0},
		{"order, too many of a product", &newOrder{userID: 1, items: items([2]int64{1, 1001})}, badQuantity0},
		{"order, product twice", &newOrder{userID: 1, items: items([2]int64{1, 1}, [2]int64{1, 2})},
			"product 1 appears more than once; list each product once"},
		{"order, product twice, the second of none", &newOrder{userID: 1, items: items([2]int64{1, 1}, [2]int64{1, 0})},
			"items[1].quantity must be between 1 and 1000"},
	}
	for _, tt := range tests {
		checkMessage(t, tt.name, tt.request.validate(), tt.refusal)
	}
}
