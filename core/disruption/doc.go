// Package disruption holds the pure rules of voluntary disruption: how many
// of a NodePool's nodes its budgets let Tailor disrupt at a given moment and
// for a given reason (Allowed, NextChange), and what taking nodes away would
// do (Consolidate for nodes that cost more than they need to, Replace for
// nodes that have drifted or expired). The decisions run the scheduling core
// on the cluster without the candidates, so a node goes only when every pod
// it runs has somewhere to go. Like the scheduling core, it takes plain
// values and imports no API client.
package disruption
