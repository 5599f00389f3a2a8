// Package lifecycle drives each NodeClaim from creation to termination:
//
//   - launch: the cloud provider creates the instance (idempotently: the
//     claim's UID is the provider's key, so a controller restarted mid-launch
//     adopts the instance it had asked for); insufficient capacity marks the
//     offering unavailable and the next cheapest is tried at once;
//   - registration: the Node with the instance's provider ID is found, its
//     labels and taints synced, the termination finalizer added and the
//     unregistered taint removed, so that kube-scheduler may use it;
//   - initialization: the Node is Ready, its startup taints are gone and the
//     extended resources its pods asked for are present;
//   - liveness: a claim that does not launch or register in time is deleted,
//     and its pods go back to pending;
//   - termination: a deleted claim's Node is drained (drain.go, in the order
//     core/drain decides, through the Eviction API), its volumes left to
//     detach, the Node deleted and its instance terminated before the
//     finalizers let the objects go.
package lifecycle
