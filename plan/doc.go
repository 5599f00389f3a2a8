// Package plan turns ordinary Kubernetes manifests into the scheduling
// core's input, the way `tailor plan` reads them: workloads are expanded into
// the pods their controllers would make (named as those controllers name
// them), DaemonSets and NodePools are taken as they are, and every problem is
// reported with the file and object it comes from.
package plan
