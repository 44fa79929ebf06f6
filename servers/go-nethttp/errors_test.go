package main

import "testing"

// answer is what a client sees of an error: its status, code and message.
// Tests compare it with the answer the Rust servers give (servers/shop), so
// that a difference shows all three at once.
type answer struct {
	status  int
	code    string
	message string
}

// answerOf is the answer to err; the zero answer for no error.
func answerOf(err *apiError) answer {
	if err == nil {
		return answer{}
	}
	return answer{status: err.code.status(), code: string(err.code), message: err.message}
}

// unavailable is the answer to every outage, whatever its cause
// (shop's `From<StoreError> for ApiError`).
var unavailable = answer{503, "unavailable", "the database is unavailable; try again later"}

func TestErrorCodeStatus(t *testing.T) {
	// shop::error::ErrorCode::status, by the codes as the wire spells them.
	tests := []struct {
		code   errorCode
		status int
	}{
		{"bad_request", 400},
		{"not_found", 404},
		{"method_not_allowed", 405},
		{"conflict", 409},
		{"insufficient_stock", 409},
		{"payload_too_large", 413},
		{"unsupported_media_type", 415},
		{"unknown_reference", 422},
		{"unavailable", 503},
		{"internal", 500},
	}
	for _, tt := range tests {
		if got := tt.code.status(); got != tt.status {
			t.Errorf("%s: status %d, want %d", tt.code, got, tt.status)
		}
	}
}
