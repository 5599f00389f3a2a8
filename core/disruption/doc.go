// Package disruption holds the pure rules of voluntary disruption: how many
// of a NodePool's nodes its budgets let Tailor disrupt at a given moment and
// for a given reason. Like the scheduling core, it takes plain values and
// imports no API client.
package disruption
