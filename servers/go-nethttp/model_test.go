package main

import (
	"reflect"
	"strings"
	"testing"
)

// The messages of shop::model's checks.
const (
	badUsername     = "username must be 3 to 50 characters of A-Z, a-z, 0-9, '_', '.' or '-'"
	badEmail        = "email must be at most 254 characters with one '@' and a dotted domain, like name@example.com"
	badPrice        = `price must be greater than 0 and less than 1000000000 with at most two decimals, like 19.99 or "19.99"`
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

// cents is a price that is an amount the API takes.
func cents(n int64) amount { return amount{cents: n, valid: true} }

func TestCheckPriceAndStock(t *testing.T) {
	tests := []struct {
		what    string
		got     *apiError
		refusal string
	}{
		{"a price", checkPrice(cents(1999)), ""},
		{"not a price", checkPrice(amount{}), badPrice},
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
		{"new product, name and price wrong", product(func(p *newProduct) { p.name, p.price = "", amount{} }), badName},
		{"new product, long description", product(func(p *newProduct) { p.description = strings.Repeat("d", 2001) }), longDescription},
		{"new product, free", product(func(p *newProduct) { p.price = amount{} }), badPrice},
		{"new product, negative stock", product(func(p *newProduct) { p.stock = -1 }), badStock},
		{"new product, no category", product(func(p *newProduct) { p.category = "" }), badCategory},
		{"new product, NUL in category", product(func(p *newProduct) { p.category = "a\x00" }), nul("category")},

		{"empty product patch", &productPatch{}, emptyProduct},
		{"product patch emptying the description", &productPatch{description: ptr("")}, ""},
		{"product patch, free", &productPatch{price: ptr(amount{})}, badPrice},
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

// shape is the start of every refusal of a body's shape. A refusal in the
// tests below that starts with it is compared as a prefix: the words after
// it are encoding/json's or decodeObject's and are not part of the
// contract; the words given make sure that the intended rule refused.
const shape = "invalid JSON body: "

// decodeCase is a body, and either the request it decodes to or its refusal.
type decodeCase struct {
	body    string
	want    any
	refusal string
}

func checkDecode[T any](t *testing.T, decode func([]byte) (*T, *apiError), tests []decodeCase) {
	t.Helper()
	for _, tt := range tests {
		got, err := decode([]byte(tt.body))
		a := answerOf(err)
		switch {
		case tt.refusal == "":
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s: %+v, %+v; want %+v", tt.body, got, a, tt.want)
			}
		case strings.HasPrefix(tt.refusal, shape):
			if a.status != 400 || a.code != "bad_request" || !strings.HasPrefix(a.message, tt.refusal) {
				t.Errorf("%s: %+v, want 400 bad_request %q...", tt.body, a, tt.refusal)
			}
		default:
			if a != (answer{400, "bad_request", tt.refusal}) {
				t.Errorf("%s: %+v, want 400 bad_request %q", tt.body, a, tt.refusal)
			}
		}
	}
}

func TestDecodeNewUser(t *testing.T) {
	alice := &newUser{username: "alice", email: "a@b.co"}
	checkDecode(t, decodeNewUser, []decodeCase{
		{body: `{"username":"alice","email":"a@b.co"}`, want: alice},
		{body: " \t\r\n{ \"email\" : \"a@b.co\" ,\n\"username\" : \"alice\" } \n", want: alice},
		// A name is compared once its escapes are read.
		{body: `{"user\u006eame":"alice","email":"a@b.co"}`, want: alice},
		// A name written twice keeps its last value (the contract leaves it open).
		{body: `{"username":"bob","username":"alice","email":"a@b.co"}`, want: alice},
		// So does an escaped lone surrogate: it reads as U+FFFD.
		{body: `{"username":"ali\ud800","email":"a@b.co"}`, refusal: badUsername},
		{body: `{"username":"al","email":"a@b.co"}`, refusal: badUsername},
		{body: `{"username":"alice","email":"nope"}`, refusal: badEmail},

		// One JSON text, in UTF-8, and nothing but whitespace after it.
		{body: ``, refusal: shape},
		{body: ` `, refusal: shape},
		{body: `{"username":"alice","email":"a@b.co"}x`, refusal: shape + "invalid character 'x' after top-level value"},
		{body: `{"username":"alice","email":"a@b.co"}{}`, refusal: shape},
		{body: `{"username":"alice","email":"a@b.co",}`, refusal: shape},
		{body: `{"username":"alice","email":"a@b.co"`, refusal: shape},
		{body: `{'username':"alice","email":"a@b.co"}`, refusal: shape},
		{body: "{\"username\":\"ali\tce\",\"email\":\"a@b.co\"}", refusal: shape},
		{body: `{"username":"alice","email":"a@b.co\x"}`, refusal: shape},
		{body: "\ufeff{\"username\":\"alice\",\"email\":\"a@b.co\"}", refusal: shape},
		{body: "{\"username\":\"ali\xffce\",\"email\":\"a@b.co\"}", refusal: shape + "invalid UTF-8"},
		{body: "{\"username\":\"ali\xed\xa0\x80\",\"email\":\"a@b.co\"}", refusal: shape + "invalid UTF-8"},
		{body: "{\"username\":\"alice\",\"email\":\"a@b.co\"}\xff", refusal: shape + "invalid UTF-8"},
		{body: `{"username":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, refusal: shape},
		// An object, not another value; not the members as an array either.
		{body: `["alice","a@b.co"]`, refusal: shape + "expected an object, got array"},
		{body: `null`, refusal: shape + "expected an object, got null"},
		{body: `"alice"`, refusal: shape + "expected an object"},
		{body: `1`, refusal: shape + "expected an object"},
		{body: `true`, refusal: shape + "expected an object"},
		// Exactly its members, names matched case included.
		{body: `{"USERNAME":"alice","email":"a@b.co"}`, refusal: shape + `unknown member "USERNAME"`},
		{body: `{"username":"alice","email":"a@b.co","admin":true}`, refusal: shape + `unknown member "admin"`},
		{body: `{"username":"alice"}`, refusal: shape + `missing member "email"`},
		{body: `{}`, refusal: shape + `missing member "username"`},
		// Strings are JSON strings, and null is not one.
		{body: `{"username":null,"email":"a@b.co"}`, refusal: shape + `member "username" must not be null`},
		{body: `{"username":"alice","email":1}`, refusal: shape + `member "email": `},
		{body: `{"username":["alice"],"email":"a@b.co"}`, refusal: shape + `member "username": `},
	})
}

func TestDecodeUserPatch(t *testing.T) {
	checkDecode(t, decodeUserPatch, []decodeCase{
		{body: `{"email":"b@c.de"}`, want: &userPatch{email: ptr("b@c.de")}},
		{body: `{"username":"bob","email":null}`, want: &userPatch{username: ptr("bob")}},
		// null is absent: nothing is set.
		{body: `{}`, refusal: emptyUser},
		{body: `{"username":null,"email":null}`, refusal: emptyUser},
		{body: `{"username":"b"}`, refusal: badUsername},

		{body: `{"Email":"b@c.de"}`, refusal: shape + `unknown member "Email"`},
		{body: `{"email":false}`, refusal: shape + `member "email": `},
		{body: `null`, refusal: shape + "expected an object, got null"},
		{body: `[]`, refusal: shape + "expected an object, got array"},
	})
}

func TestDecodeNewProduct(t *testing.T) {
	widget := func(price int64, description string) *newProduct {
		return &newProduct{name: "Widget", description: description, price: cents(price), stock: 5, category: "tools"}
	}
	// body is a new product with the given members instead of the usual ones.
	body := func(members ...string) string {
		usual := []string{`"name":"Widget"`, `"price":19.99`, `"stock_quantity":5`, `"category":"tools"`}
		for _, m := range members {
			name, _, _ := strings.Cut(m, ":")
			replaced := false
			for i, u := range usual {
				if strings.HasPrefix(u, name+":") {
					usual[i], replaced = m, true
				}
			}
			if !replaced {
				usual = append(usual, m)
			}
		}
		return "{" + strings.Join(usual, ",") + "}"
	}
	checkDecode(t, decodeNewProduct, []decodeCase{
		{body: body(), want: widget(1999, "")},
		{body: body(`"description":"blue"`), want: widget(1999, "blue")},
		{body: body(`"price":"19.99"`), want: widget(1999, "")},
		{body: body(`"price":"007.50"`), want: widget(750, "")},
		{body: body(`"price":1e2`), want: widget(10000, "")},
		{body: body(`"price":1.100`), want: widget(110, "")},
		{body: body(`"stock_quantity":-0`), refusal: shape + `member "stock_quantity": -0 is not an integer`},

		// Values are checked in the schema's order of members.
		{body: body(`"name":""`, `"price":"x"`), refusal: badName},
		{body: body(`"description":"\u0000"`, `"price":"x"`), refusal: nul("description")},
		{body: body(`"price":19.999`, `"stock_quantity":-1`), refusal: badPrice},
		{body: body(`"price":"1.001"`), refusal: badPrice},
		{body: body(`"price":0`), refusal: badPrice},
		{body: body(`"price":-1.5`), refusal: badPrice},
		{body: body(`"price":1e300`), refusal: badPrice},
		{body: body(`"stock_quantity":-1`, `"category":""`), refusal: badStock},
		{body: body(`"stock_quantity":9223372036854775807`), refusal: badStock},
		{body: body(`"category":""`), refusal: badCategory},

		{body: `{"name":"Widget","price":19.99,"stock_quantity":5}`, refusal: shape + `missing member "category"`},
		{body: `{"name":"Widget","stock_quantity":5,"category":"tools"}`, refusal: shape + `missing member "price"`},
		{body: body(`"Price":19.99`), refusal: shape + `unknown member "Price"`},
		// description may be absent, but is not a patch member: null is refused.
		{body: body(`"description":null`), refusal: shape + `member "description" must not be null`},
		{body: body(`"price":null`), refusal: shape + `member "price" must not be null`},
		{body: body(`"price":true`), refusal: shape + `member "price": `},
		{body: body(`"price":[19.99]`), refusal: shape + `member "price": `},
		{body: body(`"price":{}`), refusal: shape + `member "price": `},
		// A number beyond float64's range is malformed.
		{body: body(`"price":1e400`), refusal: shape + `member "price": `},
		{body: body(`"price":-1e400`), refusal: shape + `member "price": `},
		// Integers are written without a fraction or an exponent, in int64.
		{body: body(`"stock_quantity":5.0`), refusal: shape + `member "stock_quantity": `},
		{body: body(`"stock_quantity":5e0`), refusal: shape + `member "stock_quantity": `},
		{body: body(`"stock_quantity":"5"`), refusal: shape + `member "stock_quantity": `},
		{body: body(`"stock_quantity":9223372036854775808`), refusal: shape + `member "stock_quantity": `},
		{body: body(`"stock_quantity":-9223372036854775809`), refusal: shape + `member "stock_quantity": `},
		{body: body(`"name":7`), refusal: shape + `member "name": `},
	})
}

func TestDecodeProductPatch(t *testing.T) {
	checkDecode(t, decodeProductPatch, []decodeCase{
		{body: `{"price":"19.99"}`, want: &productPatch{price: ptr(cents(1999))}},
		{body: `{"price":20,"description":""}`, want: &productPatch{description: ptr(""), price: ptr(cents(2000))}},
		{body: `{"description":null,"stock_quantity":7}`, want: &productPatch{stock: ptr(int64(7))}},
		{body: `{}`, refusal: emptyProduct},
		{body: `{"name":null,"description":null,"price":null,"stock_quantity":null,"category":null}`, refusal: emptyProduct},
		{body: `{"price":"abc"}`, refusal: badPrice},
		{body: `{"name":"","price":"abc"}`, refusal: badName},
		{body: `{"price":"abc","stock_quantity":-1}`, refusal: badPrice},

		{body: `{"price":true}`, refusal: shape + `member "price": `},
		{body: `{"price":1e400}`, refusal: shape + `member "price": `},
		{body: `{"stock_quantity":7.5}`, refusal: shape + `member "stock_quantity": `},
		{body: `{"stock":7}`, refusal: shape + `unknown member "stock"`},
	})
}

func TestDecodeNewOrder(t *testing.T) {
	checkDecode(t, decodeNewOrder, []decodeCase{
		{body: `{"user_id":1,"items":[{"product_id":2,"quantity":3}]}`,
			want: &newOrder{userID: 1, items: items([2]int64{2, 3})}},
		{body: `{"items":[{"quantity":1000,"product_id":9},{"product_id":8,"quantity":1}],"user_id":9223372036854775807}`,
			want: &newOrder{userID: 9223372036854775807, items: items([2]int64{9, 1000}, [2]int64{8, 1})}},
		// serde_json reads -0 as a float, so the contract refuses it as an integer.
		{body: `{"user_id":-0,"items":[{"product_id":2,"quantity":3}]}`, refusal: shape + `member "user_id": -0 is not an integer`},
		{body: `{"user_id":0,"items":[{"product_id":2,"quantity":3}]}`, refusal: badUserID},
		{body: `{"user_id":-9223372036854775808,"items":[]}`, refusal: badUserID},
		{body: `{"user_id":1,"items":[]}`, refusal: badItemCount},
		{body: `{"user_id":1,"items":[{"product_id":2,"quantity":2147483647}]}`, refusal: badQuantity0},
		{body: `{"user_id":1,"items":[{"product_id":2,"quantity":-2147483648}]}`, refusal: badQuantity0},

		{body: `{"user_id":7.0,"items":[{"product_id":2,"quantity":3}]}`, refusal: shape + `member "user_id": `},
		{body: `{"user_id":7e0,"items":[{"product_id":2,"quantity":3}]}`, refusal: shape + `member "user_id": `},
		{body: `{"user_id":"7","items":[{"product_id":2,"quantity":3}]}`, refusal: shape + `member "user_id": `},
		{body: `{"user_id":null,"items":[{"product_id":2,"quantity":3}]}`, refusal: shape + `member "user_id" must not be null`},
		{body: `{"user_id":9223372036854775808,"items":[]}`, refusal: shape + `member "user_id": `},
		{body: `{"user_id":1}`, refusal: shape + `missing member "items"`},
		{body: `{"user_id":1,"items":null}`, refusal: shape + `member "items" must not be null`},
		{body: `{"user_id":1,"items":{}}`, refusal: shape + `member "items": `},
		// Each item is an object of its members too.
		{body: `{"user_id":1,"items":[[3,2]]}`, refusal: shape + `member "items": item 0: expected an object, got array`},
		{body: `{"user_id":1,"items":[{"product_id":2,"quantity":3},null]}`, refusal: shape + `member "items": item 1: expected an object, got null`},
		{body: `{"user_id":1,"items":[{"product_id":2}]}`, refusal: shape + `member "items": item 0: missing member "quantity"`},
		{body: `{"user_id":1,"items":[{"product_id":2,"quantity":3,"Quantity":3}]}`, refusal: shape + `member "items": item 0: unknown member "Quantity"`},
		{body: `{"user_id":1,"items":[{"product_id":2,"quantity":1.0}]}`, refusal: shape + `member "items": item 0: member "quantity": `},
		{body: `{"user_id":1,"items":[{"product_id":2,"quantity":2147483648}]}`, refusal: shape + `member "items": item 0: member "quantity": `},
		{body: `{"user_id":1,"items":[{"product_id":null,"quantity":1}]}`, refusal: shape + `member "items": item 0: member "product_id" must not be null`},
	})
}
