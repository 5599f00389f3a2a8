// Package controllertest builds what the controllers' unit tests share: a
// fake API server client that answers the controllers' field-index queries
// as the informer cache does, and an event recorder whose events a test can
// read.
package controllertest

import (
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
