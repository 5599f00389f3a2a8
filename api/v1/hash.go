package v1

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
)

// TemplateHashVersion names the definition of TemplateHash; it changes
// whenever what the hash covers changes.
const TemplateHashVersion = "v2"

// TemplateHash identifies the parts of the pool's template that a node cannot
// change once launched: labels, annotations, taints, startup taints and node
// class. A NodeClaim records it in AnnotationNodePoolHash; a NodeClaim whose
// hash differs from its pool's has drifted. Left out: requirements (a node
// that still satisfies changed requirements has not drifted), and
// expireAfter and terminationGracePeriod, which change how long nodes live
// and drain, not what they are, so that changing them does not replace the
// whole fleet.
func (np *NodePool) TemplateHash() string {
	t := np.Spec.Template
	data, _ := json.Marshal(struct {
		Labels, Annotations map[string]string
		Spec                NodeClaimTemplateSpec
	}{t.ObjectMeta.Labels, t.ObjectMeta.Annotations, NodeClaimTemplateSpec{
		Taints: t.Spec.Taints, StartupTaints: t.Spec.StartupTaints, NodeClassRef: t.Spec.NodeClassRef,
	}})
	h := fnv.New64a()
	_, _ = h.Write(data)
	return strconv.FormatUint(h.Sum64(), 36)
}
