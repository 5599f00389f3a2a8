// Package cli holds the cobra commands of the tailor command-line tool: the
// user's way to run Tailor locally (playground), ask the core what it would do
// (plan), and inspect a cluster.
package cli
