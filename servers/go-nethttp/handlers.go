package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Request bodies larger than this are refused with 413.
const maxBodyBytes = 64 * 1024

const jsonContentType = "application/json"

// The body of GET /health and of a healthy GET /health/db.
var healthOK = []byte(`{"status":"ok"}`)

// api is the HTTP handler: routing by hand on the path's segments, then the
// method, then the id, with the same precedence as the Rust servers.
type api struct {
	store *Store
}

// response is a successful answer.
type response struct {
	status   int
	body     []byte
	location string
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, err := a.route(r)
	header := w.Header()
	if err != nil {
		res = response{status: err.code.status(), body: err.body()}
		if err.allow != "" {
			header.Set("Allow", err.allow)
		}
	}
	if res.status != http.StatusNoContent {
		header.Set("Content-Type", jsonContentType)
		// Also on HEAD, which gets GET's headers without its body.
		header.Set("Content-Length", strconv.Itoa(len(res.body)))
	}
	if res.location != "" {
		header.Set("Location", res.location)
	}
	w.WriteHeader(res.status)
	if r.Method != http.MethodHead && len(res.body) > 0 {
		_, _ = w.Write(res.body)
	}
}

func (a *api) route(r *http.Request) (response, *apiError) {
	rawPath, rawQuery := requestTarget(r)
	path := routingPath(rawPath)
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, segment := range segments {
		if segment == "" {
			return response{}, noRoute(r.Method, path)
		}
	}
	route, idSegment := match(segments)
	if route == "" {
		return response{}, noRoute(r.Method, path)
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	store := a.store
	switch route + " " + method {
	case routeHealth + " GET":
		return ok(healthOK), nil
	case routeHealthDB + " GET":
		if err := store.Ping(); err != nil {
			return response{}, err
		}
		return ok(healthOK), nil

	case routeUsers + " GET":
		q, err := parseListQuery(rawQuery)
		if err != nil {
			return response{}, err
		}
		users, err := store.ListUsers(q.page)
		return list(len(users), func(w *jsonWriter, i int) { w.user(users[i]) }, err)
	case routeUsers + " POST":
		in, err := readJSON(r, decodeNewUser)
		if err != nil {
			return response{}, err
		}
		u, err := store.CreateUser(in)
		if err != nil {
			return response{}, err
		}
		return created("/users/", u.id, func(w *jsonWriter) { w.user(u) }), nil
	case routeUser + " GET":
		id, err := parseID(idSegment)
		if err != nil {
			return response{}, err
		}
		u, err := store.GetUser(id)
		return one(func(w *jsonWriter) { w.user(u) }, err)
	case routeUser + " PATCH":
		id, err := parseID(idSegment)
		if err != nil {
			return response{}, err
		}
		patch, err := readJSON(r, decodeUserPatch)
		if err != nil {
			return response{}, err
		}
		u, err := store.UpdateUser(id, patch)
		return one(func(w *jsonWriter) { w.user(u) }, err)
	case routeUser + " DELETE":
		id, err := parseID(idSegment)
		if err != nil {
			return response{}, err
		}
		return noContent(store.DeleteUser(id))
	case routeUserOrders + " GET":
		id, err := parseID(idSegment)
		if err != nil {
			return response{}, err
		}
		q, err := parseListQuery(rawQuery)
		if err != nil {
			return response{}, err
		}
		orders, err := store.ListUserOrders(id, q.page)
		return list(len(orders), func(w *jsonWriter, i int) { w.order(orders[i]) }, err)

	case routeProducts + " GET":
		q, err := parseListQuery(rawQuery)
		if err != nil {
			return response{}, err
		}
		products, err := store.ListProducts(q.category, q.page)
		return list(len(products), func(w *jsonWriter, i int) { w.product(products[i]) }, err)
	case routeProducts + " POST":
		in, err := readJSON(r, decodeNewProduct)
		if err != nil {
			return response{}, err
		}
		p, err := store.CreateProduct(in)
		if err != nil {
			return response{}, err
		}
		return created("/products/", p.id, func(w *jsonWriter) { w.product(p) }), nil
	case routeProduct + " GET":
		id, err := parseID(idSegment)
		if err != nil {
			return response{}, err
		}
		p, err := store.GetProduct(id)
		return one(func(w *jsonWriter) { w.product(p) }, err)
	case routeProduct + " PATCH":
		id, err := parseID(idSegment)
		if err != nil {
			return response{}, err
		}
		patch, err := readJSON(r, decodeProductPatch)
		if err != nil {
			return response{}, err
		}
		p, err := store.UpdateProduct(id, patch)
		return one(func(w *jsonWriter) { w.product(p) }, err)
	case routeProduct + " DELETE":
		id, err := parseID(idSegment)
		if err != nil {
			return response{}, err
		}
		return noContent(store.DeleteProduct(id))

	case routeOrders + " POST":
		in, err := readJSON(r, decodeNewOrder)
		if err != nil {
			return response{}, err
		}
		o, err := store.CreateOrder(in)
		if err != nil {
			return response{}, err
		}
		return created("/orders/", o.id, func(w *jsonWriter) { w.order(o) }), nil
	case routeOrder + " GET":
		id, err := parseID(idSegment)
		if err != nil {
			return response{}, err
		}
		o, err := store.GetOrder(id)
		return one(func(w *jsonWriter) { w.order(o) }, err)
	case routeOrderCancel + " POST":
		id, err := parseID(idSegment)
		if err != nil {
			return response{}, err
		}
		o, err := store.CancelOrder(id)
		return one(func(w *jsonWriter) { w.order(o) }, err)
	}
	return response{}, methodNotAllowed(r.Method, allowed[route])
}

func ok(body []byte) response { return response{status: http.StatusOK, body: body} }

// one answers 200 with one resource, unless the store failed.
func one(write func(w *jsonWriter), err *apiError) (response, *apiError) {
	if err != nil {
		return response{}, err
	}
	var w jsonWriter
	write(&w)
	return ok(w.buf), nil
}

// list answers 200 with a JSON array, unless the store failed.
func list(n int, write func(w *jsonWriter, i int), err *apiError) (response, *apiError) {
	if err != nil {
		return response{}, err
	}
	var w jsonWriter
	w.list(n, func(i int) { write(&w, i) })
	return ok(w.buf), nil
}

func created(prefix string, id int64, write func(w *jsonWriter)) response {
	var w jsonWriter
	write(&w)
	return response{status: http.StatusCreated, body: w.buf, location: prefix + strconv.FormatInt(id, 10)}
}

func noContent(err *apiError) (response, *apiError) {
	if err != nil {
		return response{}, err
	}
	return response{status: http.StatusNoContent}, nil
}

// readJSON reads a JSON body and decodes it: 415 unless it is declared as
// JSON, 413 over the limit (declared or read), then decode's own checks.
func readJSON[T any](r *http.Request, decode func([]byte) (T, *apiError)) (T, *apiError) {
	var zero T
	if !isJSONContentType(r.Header.Values("Content-Type")) {
		return zero, unsupportedMediaType()
	}
	if r.ContentLength > maxBodyBytes {
		return zero, payloadTooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		return zero, payloadTooLarge()
	}
	return decode(body)
}

// isJSONContentType says whether the (first) Content-Type names JSON, with
// or without parameters such as charset=utf-8.
func isJSONContentType(values []string) bool {
	if len(values) == 0 || !utf8.ValidString(values[0]) {
		return false
	}
	essence, _, _ := strings.Cut(values[0], ";")
	essence = strings.TrimSpace(essence)
	if len(essence) != len(jsonContentType) {
		return false
	}
	for i := 0; i < len(essence); i++ {
		c := essence[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != jsonContentType[i] {
			return false
		}
	}
	return true
}
