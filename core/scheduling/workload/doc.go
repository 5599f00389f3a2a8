// Package workload generates the pending pods that Tailor's scheduling
// benchmarks decide: Deployments of random size and shape, with or without
// constraints, from a seed. The core's Go benchmarks (core/scheduling) and
// the side-by-side comparison with Karpenter (bench/cmd/compare) both draw
// their pods here, so that a workload named in docs/benchmarks.md is the same
// pods wherever it is run.
//
// The same Options give the same pods, draw for draw. The draws do not
// depend on which scheduler the pods are for; only the label key a
// capacity-type selector uses (Options.CapacityTypeLabel) and the pods'
// metadata (Options.Bare) may differ.
//
// It builds plain Kubernetes objects and imports only api/ and Kubernetes
// types: no controller, no cloud provider, no scheduler.
package workload
