// Package scheme builds the runtime.Scheme that Tailor's clients and decoders
// use: the built-in Kubernetes types, tailor.sh/v1 and sim.tailor.sh/v1.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	simv1 "github.com/tailor-sh/tailor/api/sim/v1"
	v1 "github.com/tailor-sh/tailor/api/v1"
)

// New returns a scheme with the Kubernetes types and Tailor's own.
func New() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1.AddToScheme, simv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}
