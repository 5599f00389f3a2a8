// Package providers links in every cloud provider Tailor ships. Each provider
// lives in its own folder below this one and registers itself with
// cloudprovider.Register when linked; the binaries import this package, so
// adding a provider is one import line here.
package providers

import (
	// The simulated cloud: no account needed; the playground's and the
	// tests' default.
	_ "github.com/tailor-sh/tailor/providers/sim"
)
