package lifecycle

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/util/sets"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-sh/tailor/controllers/state"
	"github.com/tailor-sh/tailor/core/drain"
)

// AttachedVolumes returns the persistent volumes still attached to a drained
// node that the pods left on it do not use. Terminating the instance before
// they detach would leave them attached to a machine that is gone, and the
// pods that moved could not mount them elsewhere until the cloud gives up
// on the old attachment (minutes, on most clouds).
func (d *Drainer) AttachedVolumes(ctx context.Context, node *corev1.Node) ([]string, error) {
	attachments := &storagev1.VolumeAttachmentList{}
	if err := d.Client.List(ctx, attachments); err != nil {
		return nil, fmt.Errorf("list VolumeAttachments: %w", err)
	}
	var onNode []storagev1.VolumeAttachment
	for _, va := range attachments.Items {
		if va.Spec.NodeName == node.Name && va.Spec.Source.PersistentVolumeName != nil {
			onNode = append(onNode, va)
		}
	}
	if len(onNode) == 0 {
		return nil, nil
	}
	// Volumes of the pods that stay (DaemonSet pods that tolerate the
	// taint, static pods) detach only when the node goes.
	pods := &corev1.PodList{}
	if err := d.Client.List(ctx, pods, client.MatchingFields{state.FieldPodNodeName: node.Name}); err != nil {
		return nil, fmt.Errorf("list the pods of Node %s: %w", node.Name, err)
	}
	drained := map[*corev1.Pod]bool{}
	list := make([]*corev1.Pod, len(pods.Items))
	for i := range pods.Items {
		list[i] = &pods.Items[i]
	}
	for _, p := range drain.NewPlan(list, d.now()).All() {
		drained[p] = true
	}
	inUse := sets.New[string]()
	for _, pod := range list {
		if drained[pod] || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, vol := range pod.Spec.Volumes {
			if vol.PersistentVolumeClaim == nil {
				continue
			}
			pvc := &corev1.PersistentVolumeClaim{}
			if err := d.Client.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: vol.PersistentVolumeClaim.ClaimName}, pvc); err == nil && pvc.Spec.VolumeName != "" {
				inUse.Insert(pvc.Spec.VolumeName)
			}
		}
	}
	var out []string
	for _, va := range onNode {
		if pv := *va.Spec.Source.PersistentVolumeName; !inUse.Has(pv) {
			out = append(out, pv)
		}
	}
	return out, nil
}
