package scheduling

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// namespaces are the labels of the cluster's namespaces, which the
// namespaceSelector of pod affinity terms matches.
type namespaces map[string]labels.Set

func newNamespaces(list []*corev1.Namespace) namespaces {
	out := make(namespaces, len(list))
	for _, n := range list {
		l := maps.Clone(labels.Set(n.Labels))
		if l == nil {
			l = labels.Set{}
		}
		// The API server sets it on every namespace; manifests may not.
		l[corev1.LabelMetadataName] = n.Name
		out[n.Name] = l
	}
	return out
}

// labels are a namespace's labels. A namespace the input does not list has
// the one label the API server gives every namespace, its name.
func (n namespaces) labels(name string) labels.Set {
	if l, ok := n[name]; ok {
		return l
	}
	return labels.Set{corev1.LabelMetadataName: name}
}

// matcher reports whether the affinity term of a pod in namespace selects a
// pod, as kube-scheduler reads the term: the pod must be in one of the
// term's namespaces or in a namespace its namespaceSelector matches (with
// neither, the term's own namespace; an empty selector matches every
// namespace), and have labels its labelSelector matches (none without one).
func (n namespaces) matcher(term corev1.PodAffinityTerm, namespace string) func(*corev1.Pod) bool {
	if term.LabelSelector == nil {
		return func(*corev1.Pod) bool { return false }
	}
	selector, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return func(*corev1.Pod) bool { return false }
	}
	names := term.Namespaces
	if len(names) == 0 && term.NamespaceSelector == nil {
		names = []string{namespace}
	}
	namespaceSelector := labels.Nothing()
	if term.NamespaceSelector != nil {
		if namespaceSelector, err = metav1.LabelSelectorAsSelector(term.NamespaceSelector); err != nil {
			return func(*corev1.Pod) bool { return false }
		}
	}
	inScope := map[string]bool{}
	return func(p *corev1.Pod) bool {
		in, ok := inScope[p.Namespace]
		if !ok {
			in = slices.Contains(names, p.Namespace) || namespaceSelector.Matches(n.labels(p.Namespace))
			inScope[p.Namespace] = in
		}
		return in && selector.Matches(labels.Set(p.Labels))
	}
}

// selectsItself reports whether an affinity term of the pod selects the pod
// itself.
func (n namespaces) selectsItself(pod *corev1.Pod, term corev1.PodAffinityTerm) bool {
	return n.matcher(term, pod.Namespace)(pod)
}

// pendingMatches returns the classes with pods still to place that the
// term matches.
func (n namespaces) pendingMatches(term corev1.PodAffinityTerm, namespace string, classes []*pending) []*pending {
	matches := n.matcher(term, namespace)
	var out []*pending
	for _, p := range classes {
		if p.left() > 0 && p.err == nil && slices.ContainsFunc(p.pods[p.placed:], matches) {
			out = append(out, p)
		}
	}
	return out
}
