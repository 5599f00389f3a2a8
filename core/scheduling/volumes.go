package scheduling

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/tailor-sh/tailor/core/requirements"
)

// volumes answers where a pod's persistent volumes let it run.
type volumes struct {
	claims  map[string]*corev1.PersistentVolumeClaim // by namespace/name
	volumes map[string]*corev1.PersistentVolume      // by name
	classes map[string]*storagev1.StorageClass       // by name
	// defaultClass is the StorageClass marked as the cluster's default.
	defaultClass *storagev1.StorageClass
}

const defaultStorageClassAnnotation = "storageclass.kubernetes.io/is-default-class"

func newVolumes(in Input) *volumes {
	v := &volumes{claims: map[string]*corev1.PersistentVolumeClaim{}, volumes: map[string]*corev1.PersistentVolume{}, classes: map[string]*storagev1.StorageClass{}}
	for _, c := range in.PersistentVolumeClaims {
		v.claims[c.Namespace+"/"+c.Name] = c
	}
	for _, pv := range in.PersistentVolumes {
		v.volumes[pv.Name] = pv
	}
	for _, sc := range in.StorageClasses {
		v.classes[sc.Name] = sc
		if sc.Annotations[defaultStorageClassAnnotation] == "true" {
			v.defaultClass = sc
		}
	}
	return v
}

// terms returns the node requirements (OR-ed terms) that the pod's
// persistent volumes impose: a bound volume's node affinity, or for a claim
// that waits for its first consumer, its StorageClass's allowed topologies.
// nil means no constraint. An error says why no node can do.
func (v *volumes) terms(pod *corev1.Pod) ([]requirements.Requirements, error) {
	var out []requirements.Requirements
	for _, vol := range pod.Spec.Volumes {
		if vol.PersistentVolumeClaim == nil {
			continue
		}
		name := vol.PersistentVolumeClaim.ClaimName
		claim, ok := v.claims[pod.Namespace+"/"+name]
		if !ok {
			return nil, fmt.Errorf("PersistentVolumeClaim %s/%s does not exist", pod.Namespace, name)
		}
		var terms []requirements.Requirements
		switch {
		case claim.Spec.VolumeName != "":
			pv, ok := v.volumes[claim.Spec.VolumeName]
			if !ok {
				return nil, fmt.Errorf("PersistentVolume %s of claim %s/%s does not exist", claim.Spec.VolumeName, pod.Namespace, name)
			}
			if pv.Spec.NodeAffinity != nil && pv.Spec.NodeAffinity.Required != nil {
				for _, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
					reqs, err := requirements.FromNodeSelector(term.MatchExpressions)
					if err != nil {
						return nil, fmt.Errorf("PersistentVolume %s: node affinity: %w", pv.Name, err)
					}
					terms = append(terms, reqs)
				}
			}
		default:
			sc := v.storageClass(claim)
			if sc == nil {
				return nil, fmt.Errorf("PersistentVolumeClaim %s/%s is not bound and has no StorageClass to provision it", pod.Namespace, name)
			}
			if sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
				return nil, fmt.Errorf("PersistentVolumeClaim %s/%s is not bound yet and StorageClass %s binds immediately: the pod waits for the volume, not for a node", pod.Namespace, name, sc.Name)
			}
			for _, topology := range sc.AllowedTopologies {
				reqs := requirements.Requirements{}
				for _, expr := range topology.MatchLabelExpressions {
					r, err := requirements.New(expr.Key, requirements.OpIn, expr.Values...)
					if err != nil {
						return nil, fmt.Errorf("StorageClass %s: allowedTopologies: %w", sc.Name, err)
					}
					reqs.Add(r)
				}
				terms = append(terms, reqs)
			}
		}
		if len(terms) > 0 {
			out = and(out, terms)
		}
	}
	return out, nil
}

func (v *volumes) storageClass(claim *corev1.PersistentVolumeClaim) *storagev1.StorageClass {
	if claim.Spec.StorageClassName == nil {
		return v.defaultClass
	}
	return v.classes[*claim.Spec.StorageClassName]
}

// and combines two sets of OR-ed terms: every pair, intersected.
func and(a, b []requirements.Requirements) []requirements.Requirements {
	if a == nil {
		return b
	}
	var out []requirements.Requirements
	for _, x := range a {
		for _, y := range b {
			out = append(out, x.Merge(y))
		}
	}
	return out
}

// describeTerms is a stable description of OR-ed terms, for class keys.
func describeTerms(terms []requirements.Requirements) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = t.String()
	}
	return strings.Join(parts, " | ")
}
