// Package v1 holds the tailor.sh/v1 API: NodePool, which says what nodes Tailor
// may launch and when it may take them away, and NodeClaim, Tailor's request
// for one node and the record of its life.
//
// Field names follow Karpenter's karpenter.sh/v1 API wherever the meaning is the
// same, so that moving a manifest over means changing its group. Validation
// lives in the CRD (OpenAPI and CEL rules generated from the markers here), so
// a user sees a mistake when the API server rejects the object, not later.
//
// +kubebuilder:object:generate=true
// +groupName=tailor.sh
package v1

//go:generate go tool -modfile=../../hack/tools/go.mod controller-gen object paths=./...
//go:generate go tool -modfile=../../hack/tools/go.mod controller-gen crd paths=./... output:crd:artifacts:config=../../config/crd
//go:generate go run crdbounds.go ../../config/crd/tailor.sh_nodepools.yaml ../../config/crd/tailor.sh_nodeclaims.yaml
