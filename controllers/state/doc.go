// Package state is the cluster as Tailor's controllers see it: Nodes,
// NodeClaims, pods and the other objects a decision depends on, read from the
// manager's informer cache and joined into one Snapshot. It also remembers
// the NodeClaims this process created until the cache shows them, so that a
// batch solved right after another never launches a second node for the same
// pod.
package state
