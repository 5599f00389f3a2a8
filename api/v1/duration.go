package v1

import (
	"encoding/json"
	"fmt"
	"time"
)

// Never is the value of a NillableDuration that never elapses.
const Never = "Never"

// NillableDuration is a duration such as "720h" or "30s", or "Never". In JSON it
// is a string, as in Karpenter's API.
//
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:MaxLength=16
type NillableDuration struct {
	// Duration is nil when the value is Never.
	Duration *time.Duration `json:"-"`
}

// NewNillableDuration returns a NillableDuration that elapses after d.
func NewNillableDuration(d time.Duration) NillableDuration {
	return NillableDuration{Duration: &d}
}

// IsNever reports whether the duration never elapses.
func (d NillableDuration) IsNever() bool { return d.Duration == nil }

// String returns the JSON form without quotes.
func (d NillableDuration) String() string {
	if d.Duration == nil {
		return Never
	}
	return d.Duration.String()
}

// MarshalJSON writes "Never" or a Go duration string.
func (d NillableDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads "Never" or a Go duration string.
func (d *NillableDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"720h\" or \"Never\": %w", err)
	}
	if s == Never {
		d.Duration = nil
		return nil
	}
	parsed, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q must be a duration such as \"720h\" or \"Never\": %w", s, err)
	}
	d.Duration = &parsed
	return nil
}

// OpenAPISchemaType tells OpenAPI generators that the type is a string.
func (NillableDuration) OpenAPISchemaType() []string { return []string{"string"} }

// OpenAPISchemaFormat leaves the format unset.
func (NillableDuration) OpenAPISchemaFormat() string { return "" }
