// Package controllertest builds what the controllers' unit tests share: a
// fake API server client that answers the controllers' field-index queries
// as the informer cache does, and an event recorder whose events a test can
// read.
package controllertest

import (
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolsevents "k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
)

// Scheme returns a scheme with client-go's types and Tailor's.
func Scheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	// Both only register static types: they fail on a programming error,
	// which the first test using the scheme reports.
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1.AddToScheme(scheme)
	return scheme
}

// NewClientBuilder returns a fake client builder holding objs, with the
// field indexes of state.Indexes and the status subresources of NodeClaims
// and NodePools, so that status writes behave as against an API server.
func NewClientBuilder(objs ...client.Object) *fake.ClientBuilder {
	b := fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(objs...).
		WithStatusSubresource(&v1.NodeClaim{}, &v1.NodePool{})
	for _, index := range state.Indexes() {
		b = b.WithIndex(index.Object, index.Field, index.Extract)
	}
	return b
}

// NewRecorder returns a recorder whose events ("Warning Reason note") arrive
// on the returned channel, which holds up to size events; a test that
// publishes more blocks.
func NewRecorder(size int) (*events.Recorder, chan string) {
	ch := make(chan string, size)
	return events.NewRecorder(&toolsevents.FakeRecorder{Events: ch}), ch
}

// Drain returns the events waiting on ch, without blocking.
func Drain(ch chan string) []string {
	var out []string
	for {
		select {
		case e := <-ch:
			out = append(out, e)
		default:
			return out
		}
	}
}

// Event is one event a Log received.
type Event struct {
	// Object is the name of the object the event is about, with its
	// namespace if it has one: "default/web-1", "my-pool".
	Object string
	// Type is Normal or Warning.
	Type   string
	Reason string
	Note   string
}

func (e Event) String() string {
	return fmt.Sprintf("%s %s %s: %s", e.Type, e.Reason, e.Object, e.Note)
}

// Log is an event recorder that keeps every event with the object it is
// about, so that a test can tell which pod was told what.
type Log struct {
	mu     sync.Mutex
	events []Event
}

// NewLog returns a recorder for the controllers and the Log it writes to.
func NewLog() (*events.Recorder, *Log) {
	l := &Log{}
	return events.NewRecorder(l), l
}

// Eventf records an event; it implements client-go's EventRecorder.
func (l *Log) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	name := ""
	if accessor, err := meta.Accessor(regarding); err == nil {
		name = accessor.GetName()
		if ns := accessor.GetNamespace(); ns != "" {
			name = ns + "/" + name
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, Event{Object: name, Type: eventtype, Reason: reason, Note: fmt.Sprintf(note, args...)})
}

// Events returns the events recorded so far.
func (l *Log) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// Find returns the events about object with reason.
func (l *Log) Find(object, reason string) []Event {
	var out []Event
	for _, e := range l.Events() {
		if e.Object == object && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// Has reports whether an event about object with reason has a note that
// contains every one of the parts.
func (l *Log) Has(object, reason string, parts ...string) bool {
	for _, e := range l.Find(object, reason) {
		all := true
		for _, part := range parts {
			all = all && strings.Contains(e.Note, part)
		}
		if all {
			return true
		}
	}
	return false
}

// Reset forgets the events recorded so far.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = nil
}
