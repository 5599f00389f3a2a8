// Package provisioning turns pods that kube-scheduler cannot place into new
// NodeClaims. A Batcher gathers the pods that arrive close together; the
// Provisioner snapshots the cluster, asks the scheduling core for the
// cheapest nodes that fit them, and creates a NodeClaim for each, within the
// NodePools' limits. It never binds pods: kube-scheduler places them once
// their nodes join.
package provisioning
