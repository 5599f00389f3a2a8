package workload

import (
	"reflect"
	"testing"
)

func TestDeployments(t *testing.T) {
	for _, kind := range Kinds {
		for _, n := range []int{1, 1000, 10000} {
			pods := Deployments(Options{Kind: kind, Pods: n, Seed: 7})
			if len(pods) != n {
				t.Fatalf("%s:%d made %d pods", kind, n, len(pods))
			}
			if !reflect.DeepEqual(pods, Deployments(Options{Kind: kind, Pods: n, Seed: 7})) {
				t.Fatalf("%s:%d: the same seed gave other pods", kind, n)
			}
			if kind != Distinct {
				continue
			}
			shapes := map[[2]string]string{}
			for _, p := range pods {
				r := p.Spec.Containers[0].Resources.Requests
				shape := [2]string{r.Cpu().String(), r.Memory().String()}
				if app, ok := shapes[shape]; ok && app != p.Labels["app"] {
					t.Fatalf("%s and %s share the shape %v", app, p.Labels["app"], shape)
				}
				shapes[shape] = p.Labels["app"]
			}
		}
	}
}
