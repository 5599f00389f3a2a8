// Package oracle holds only a differential test, no code: it checks Tailor's
// scheduling core (github.com/tailor-sh/tailor/core/scheduling) against
// kube-scheduler's own Filter plugins on random pods and nodes. Whenever the
// core places a pod on an existing node, the plugins must agree that it fits.
//
// It lives in the control plane's module because that module already builds
// k8s.io/kubernetes, which Tailor's main module must not depend on.
package oracle
