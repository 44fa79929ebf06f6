package main

import (
	"net/http"
	"strconv"
	"strings"
)

// The routes and the methods each allows, as shop::http::ROUTES lists them
// for the Allow header of a 405; HEAD is answered wherever GET is.
const (
	routeHealth      = "/health"
	routeHealthDB    = "/health/db"
	routeUsers       = "/users"
	routeUser        = "/users/{id}"
	routeUserOrders  = "/users/{id}/orders"
	routeProducts    = "/products"
	routeProduct     = "/products/{id}"
	routeOrders      = "/orders"
	routeOrder       = "/orders/{id}"
	routeOrderCancel = "/orders/{id}/cancel"
)

var allowed = map[string]string{
	routeHealth:      "GET, HEAD",
	routeHealthDB:    "GET, HEAD",
	routeUsers:       "GET, HEAD, POST",
	routeUser:        "GET, HEAD, PATCH, DELETE",
	routeUserOrders:  "GET, HEAD",
	routeProducts:    "GET, HEAD, POST",
	routeProduct:     "GET, HEAD, PATCH, DELETE",
	routeOrders:      "POST",
	routeOrder:       "GET, HEAD",
	routeOrderCancel: "POST",
}

// match finds the route of a path's segments, whatever the method: any
// segment matches {id}; the id is parsed after the method is checked.
func match(segments []string) (route, id string) {
	switch len(segments) {
	case 1:
		switch segments[0] {
		case "health":
			return routeHealth, ""
		case "users":
			return routeUsers, ""
		case "products":
			return routeProducts, ""
		case "orders":
			return routeOrders, ""
		}
	case 2:
		switch segments[0] {
		case "health":
			if segments[1] == "db" {
				return routeHealthDB, ""
			}
		case "users":
			return routeUser, segments[1]
		case "products":
			return routeProduct, segments[1]
		case "orders":
			return routeOrder, segments[1]
		}
	case 3:
		switch {
		case segments[0] == "users" && segments[2] == "orders":
			return routeUserOrders, segments[1]
		case segments[0] == "orders" && segments[2] == "cancel":
			return routeOrderCancel, segments[1]
		}
	}
	return "", ""
}

// requestTarget is the path and query as the client sent them, still
// percent-encoded.
func requestTarget(r *http.Request) (path, query string) {
	if strings.HasPrefix(r.RequestURI, "/") {
		path, query, _ = strings.Cut(r.RequestURI, "?")
		return path, query
	}
	return r.URL.EscapedPath(), r.URL.RawQuery
}

// routingPath decodes percent-encoded unreserved characters (letters,
// digits, `-`, `.`, `_`, `~`) and leaves everything else as sent, as
// shop::http::routing_path: RFC 3986 makes `/%75sers` and `/users` one path.
func routingPath(path string) string {
	if !strings.Contains(path, "%") {
		return path
	}
	var out strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '%' && i+2 < len(path) {
			hi, ok1 := unhex(path[i+1])
			lo, ok2 := unhex(path[i+2])
			if c := hi<<4 | lo; ok1 && ok2 && isUnreserved(c) {
				out.WriteByte(c)
				i += 2
				continue
			}
		}
		out.WriteByte(path[i])
	}
	return out.String()
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// parseID reads a resource id from a raw path segment: percent-decoded,
// then a positive 64-bit integer written in digits only.
func parseID(segment string) (int64, *apiError) {
	decoded := lossyUTF8(percentDecode(segment))
	id, err := strconv.ParseInt(decoded, 10, 64)
	if err != nil || id <= 0 || !allDigits(decoded) {
		return 0, badRequest("`%s` is not a valid id: ids are positive 64-bit integers", decoded)
	}
	return id, nil
}
