package state

// SawDeleted is what the NodeClaim informer's delete handler does with obj,
// a NodeClaim or its tombstone.
func (c *Cluster) SawDeleted(obj any) { c.onDelete(obj) }
