package cloudprovider

import (
	"errors"
	"fmt"
	"strings"
)

// NodeClaimNotFoundError says that the instance of a NodeClaim does not exist
// (any more). Delete returns it once termination is complete.
type NodeClaimNotFoundError struct {
	// ProviderID or NodeClaim name of what was looked for.
	ID  string
	Err error
}

func (e *NodeClaimNotFoundError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("instance %s not found: %v", e.ID, e.Err)
	}
	return fmt.Sprintf("instance %s not found", e.ID)
}

func (e *NodeClaimNotFoundError) Unwrap() error { return e.Err }

// IsNodeClaimNotFound reports whether err is or wraps a NodeClaimNotFoundError.
func IsNodeClaimNotFound(err error) bool {
	var target *NodeClaimNotFoundError
	return errors.As(err, &target)
}

// OfferingKey identifies one place an instance type can be bought: a zone and a
// capacity type.
type OfferingKey struct {
	InstanceType string
	Zone         string
	CapacityType string
}

func (k OfferingKey) String() string {
	return k.CapacityType + "/" + k.InstanceType + "/" + k.Zone
}

// InsufficientCapacityError says that the cloud has no capacity for the
// offerings a launch tried. Callers mark those offerings unavailable for a
// while and try the next cheapest at once.
type InsufficientCapacityError struct {
	// Offerings are the offerings that were tried and found full. Empty
	// means the provider could not say which.
	Offerings []OfferingKey
	Err       error
}

func (e *InsufficientCapacityError) Error() string {
	tried := make([]string, len(e.Offerings))
	for i, o := range e.Offerings {
		tried[i] = o.String()
	}
	msg := "insufficient capacity"
	if len(tried) > 0 {
		msg += " for " + strings.Join(tried, ", ")
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *InsufficientCapacityError) Unwrap() error { return e.Err }

// IsInsufficientCapacity reports whether err is or wraps an
// InsufficientCapacityError.
func IsInsufficientCapacity(err error) bool {
	var target *InsufficientCapacityError
	return errors.As(err, &target)
}

// NodeClassNotReadyError says that the node class a NodeClaim points at does
// not exist or is not ready (for example its image or subnets are not
// resolved yet). Nothing can launch from it until that changes.
type NodeClassNotReadyError struct {
	NodeClass string
	Err       error
}

func (e *NodeClassNotReadyError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("node class %s is not ready: %v", e.NodeClass, e.Err)
	}
	return fmt.Sprintf("node class %s is not ready", e.NodeClass)
}

func (e *NodeClassNotReadyError) Unwrap() error { return e.Err }

// IsNodeClassNotReady reports whether err is or wraps a NodeClassNotReadyError.
func IsNodeClassNotReady(err error) bool {
	var target *NodeClassNotReadyError
	return errors.As(err, &target)
}

// RetryableError marks a cloud API failure that may succeed when tried again
// (throttling, a 5xx, a timeout). Callers retry it with backoff; any other
// error is final for the call.
type RetryableError struct {
	Err error
}

func (e *RetryableError) Error() string { return e.Err.Error() + " (retryable)" }

func (e *RetryableError) Unwrap() error { return e.Err }

// IsRetryable reports whether err is or wraps a RetryableError.
func IsRetryable(err error) bool {
	var target *RetryableError
	return errors.As(err, &target)
}
