// Package scheduling is Tailor's scheduling and cost core: given pods the
// scheduler cannot place, the nodes that exist and the NodePools with their
// instance types, it decides which pods fit on existing nodes, which new nodes
// to launch (instance type candidates ranked by price, with the requirement
// set each new node must meet) and which pods cannot be helped, each with a
// reason a person can act on. It also computes a lower bound on the price of
// any set of new nodes that fits the pods, to say how close a decision is to
// the cheapest possible.
//
// It is pure: plain values in, a decision out. It holds no API client, starts
// no goroutines, reads no clock and keeps no state between calls, so that the
// controllers, `tailor plan` and the benchmarks all run exactly the same code.
//
// Speed comes from three things: identical pods (same requests and the same
// constraints) are grouped into equivalence classes and handled as counts;
// each NodePool's instance types are prepared once per call (allocatable less
// DaemonSet overhead, cheapest offering); and nodes are filled with whole
// counts of a class at a time.
package scheduling
