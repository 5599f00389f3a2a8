package plan

import (
	"errors"
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The checks here are those of the API server's validation of pods and
// workloads that tailor plan would otherwise get wrong or crash on, with
// its messages: negative counts, and resource quantities the scheduling
// core cannot hold.

// count reads a replicas, parallelism or completions field: absent means
// def, negative is refused.
func count(path *field.Path, n *int32, def int) (int, error) {
	if n == nil {
		return def, nil
	}
	if *n < 0 {
		return 0, field.Invalid(path, *n, "must be greater than or equal to 0")
	}
	return int(*n), nil
}

// defaultRequests gives each container the requests the API server
// defaults: its limit, for a resource it limits but does not request.
func defaultRequests(spec *corev1.PodSpec) {
	for _, containers := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range containers {
			r := &containers[i].Resources
			for name, limit := range r.Limits {
				if _, ok := r.Requests[name]; !ok {
					if r.Requests == nil {
						r.Requests = corev1.ResourceList{}
					}
					r.Requests[name] = limit.DeepCopy()
				}
			}
		}
	}
}

// checkPodSpec defaults the containers' requests and checks their
// resources, naming each container.
func checkPodSpec(path *field.Path, spec *corev1.PodSpec) error {
	defaultRequests(spec)
	var errs []error
	for _, group := range []struct {
		name       string
		containers []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i, c := range group.containers {
			if list := checkResources(path.Child(group.name).Index(i).Child("resources"), c.Resources); len(list) > 0 {
				errs = append(errs, fmt.Errorf("container %s: %w", c.Name, list.ToAggregate()))
			}
		}
	}
	return errors.Join(errs...)
}

// The largest quantities the scheduling core holds: it counts cpu in
// millicores and everything else in units, in int64.
var (
	maxMilli = *resource.NewMilliQuantity(math.MaxInt64, resource.DecimalSI)
	maxUnits = *resource.NewQuantity(math.MaxInt64, resource.DecimalSI)
)

// checkResources is the API server's ValidateResourceRequirements for a
// container, with an upper bound it does not have.
func checkResources(path *field.Path, r corev1.ResourceRequirements) field.ErrorList {
	var errs field.ErrorList
	for _, kind := range []struct {
		name string
		list corev1.ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for name, q := range kind.list {
			errs = append(errs, checkQuantity(path.Child(kind.name).Key(string(name)), name, q)...)
		}
	}
	requests := path.Child("requests")
	for name, q := range r.Requests {
		limit, ok := r.Limits[name]
		switch {
		case !ok && isExtended(name):
			errs = append(errs, field.Required(path.Child("limits"), "Limit must be set for non overcommitable resources"))
		case !ok:
		case isExtended(name) && q.Cmp(limit) != 0:
			errs = append(errs, field.Invalid(requests, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		case q.Cmp(limit) > 0:
			errs = append(errs, field.Invalid(requests, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		}
	}
	return errs
}

func checkQuantity(path *field.Path, name corev1.ResourceName, q resource.Quantity) field.ErrorList {
	if !strings.Contains(string(name), "/") {
		if !isStandardContainerResource(name) {
			return field.ErrorList{field.Invalid(path, string(name), "must be a standard resource for containers")}
		}
	} else if !isExtended(name) && !strings.Contains(string(name), "kubernetes.io/") {
		return field.ErrorList{field.Invalid(path, string(name), "doesn't follow extended resource name standard")}
	}
	largest := maxUnits
	if name == corev1.ResourceCPU {
		largest = maxMilli
	}
	switch {
	case q.Sign() < 0:
		return field.ErrorList{field.Invalid(path, q.String(), "must be greater than or equal to 0")}
	case q.Cmp(largest) > 0:
		return field.ErrorList{field.Invalid(path, q.String(), "must be at most "+largest.String())}
	case isExtended(name) && q.MilliValue()%1000 != 0:
		return field.ErrorList{field.Invalid(path, q.String(), "must be an integer")}
	}
	return nil
}

func isStandardContainerResource(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// isExtended: a resource of a domain outside kubernetes.io, such as
// nvidia.com/gpu, which the API server wants in whole units.
func isExtended(name corev1.ResourceName) bool {
	s := string(name)
	return strings.Contains(s, "/") && !strings.Contains(s, "kubernetes.io/") && !strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix)
}
