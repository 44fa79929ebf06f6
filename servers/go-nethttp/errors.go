package main

import (
	"fmt"
	"net/http"
	"strconv"
)

// errorCode is the `code` of an error body; each maps to one status
// (shop::error::ErrorCode).
type errorCode string

const (
	codeBadRequest           errorCode = "bad_request"
	codeNotFound             errorCode = "not_found"
	codeMethodNotAllowed     errorCode = "method_not_allowed"
	codeConflict             errorCode = "conflict"
	codeInsufficientStock    errorCode = "insufficient_stock"
	codePayloadTooLarge      errorCode = "payload_too_large"
	codeUnsupportedMediaType errorCode = "unsupported_media_type"
	codeUnknownReference     errorCode = "unknown_reference"
	codeUnavailable          errorCode = "unavailable"
	codeInternal             errorCode = "internal"
)

func (c errorCode) status() int {
	switch c {
	case codeBadRequest:
		return http.StatusBadRequest
	case codeNotFound:
		return http.StatusNotFound
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case codeConflict, codeInsufficientStock:
		return http.StatusConflict
	case codePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case codeUnknownReference:
		return http.StatusUnprocessableEntity
	case codeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// apiError is an answer other than success: `{"error":{"code":...,"message":...}}`.
type apiError struct {
	code    errorCode
	message string
	// allow is the Allow header of a 405.
	allow string
}

func (e *apiError) Error() string { return string(e.code) + ": " + e.message }

func newError(code errorCode, message string) *apiError {
	return &apiError{code: code, message: message}
}

func badRequest(format string, args ...any) *apiError {
	return newError(codeBadRequest, fmt.Sprintf(format, args...))
}

// noRoute answers a path no route matches.
func noRoute(method, path string) *apiError {
	return newError(codeNotFound, "no route for "+method+" "+path)
}

// methodNotAllowed answers a known path asked with another method.
func methodNotAllowed(method, allow string) *apiError {
	return &apiError{
		code:    codeMethodNotAllowed,
		message: "method " + method + " is not allowed here; allowed: " + allow,
		allow:   allow,
	}
}

func payloadTooLarge() *apiError {
	return newError(codePayloadTooLarge, "request body is larger than "+strconv.Itoa(maxBodyBytes)+" bytes")
}

func unsupportedMediaType() *apiError {
	return newError(codeUnsupportedMediaType, "request body must be JSON: send `Content-Type: application/json`")
}

// The answers to store failures that hide their detail (shop's
// `From<StoreError> for ApiError`).
var (
	errUnavailable = newError(codeUnavailable, "the database is unavailable; try again later")
	errInternal    = newError(codeInternal, "internal error")
)

// body is the error's JSON, byte for byte as serde_json writes it.
func (e *apiError) body() []byte {
	var w jsonWriter
	w.raw(`{"error":{"code":`)
	w.str(string(e.code))
	w.raw(`,"message":`)
	w.str(e.message)
	w.raw(`}}`)
	return w.buf
}
