// Package v1 holds the sim.tailor.sh/v1 API of Tailor's simulated cloud:
// SimNodeClass, the node class a NodePool points at to launch simulated
// nodes, and SimInstance, the simulated cloud's record of one instance.
//
// The simulated cloud keeps its instances as SimInstance objects in the API
// server, not in the controller's memory, so that they outlive a controller
// restart the way real instances do.
//
// +kubebuilder:object:generate=true
// +groupName=sim.tailor.sh
package v1

//go:generate go tool -modfile=../../../../hack/tools/go.mod controller-gen object paths=./...
//go:generate go tool -modfile=../../../../hack/tools/go.mod controller-gen crd paths=./... output:crd:artifacts:config=../../crd
