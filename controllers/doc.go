// Package controllers holds Tailor's controllers, the thin shell around the
// scheduling core: each gathers inputs from the cluster (through the manager's
// informer cache, in package state) and the cloud (through the
// CloudProvider), asks the core or the provider for a decision, and applies
// it. The packages below are:
//
//   - state: the cluster as the controllers see it, and the gate that keeps
//     them from deciding on a half-filled cache;
//   - provisioning: pending pods → batches → the core → new NodeClaims;
//   - nodeclaim/lifecycle: a NodeClaim's launch, registration,
//     initialization, liveness and termination;
//   - nodeclaim/garbagecollection: leaked instances and vanished ones;
//   - nodepool/status: what each NodePool holds and whether it is ready;
//   - disruption: empty, underutilized, drifted and expired nodes removed or
//     replaced within budgets;
//   - events: the reasons of the events all of them record.
//
// A controller imports only state and events among its siblings: what two
// controllers share (the drain plan, a NodeClaim built from a decision, the
// room a NodePool's limits leave) is pure and lives in core/.
package controllers
