// Package disruption removes and replaces nodes on Tailor's own account: the
// thin shell around core/disruption. Every interval it looks at the cluster
// and, within each NodePool's budgets, in this order:
//
//   - Empty: deletes nodes that have run nothing but DaemonSet pods for the
//     pool's consolidateAfter.
//   - Expired: replaces nodes older than their expireAfter.
//   - Drifted: replaces nodes whose pool template changed (a hash), that no
//     longer meet the pool's requirements, or that the cloud provider says
//     have drifted from their node class.
//   - Underutilized: deletes nodes whose pods fit elsewhere, and replaces one
//     or several nodes by cheaper ones, when the pool's policy is
//     WhenEmptyOrUnderutilized and the move saves at least the pool's
//     minSavingsPercent. Several nodes together are tried first, then one at
//     a time. A decision waits a validation delay and is decided again on
//     the cluster as it is then before anything moves.
//
// A replacement is launched first (pre-spin): the nodes to go are tainted so
// that no new pod lands on them, the replacements are created, and only when
// every replacement is initialized are the old NodeClaims deleted, which
// drains and terminates them through the usual termination path. A
// replacement that does not become ready in time aborts the move and the old
// nodes are untainted.
//
// Every decision is recorded as an event on the NodeClaims and the NodePool
// (reason, $/hour saved, pods moved), and every node that could go but is
// kept says why (budget, PodDisruptionBudget, do-not-disrupt, pods with
// nowhere to go, saving too small).
package disruption
