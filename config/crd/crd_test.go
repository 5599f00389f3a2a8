package crd

import "testing"

func TestAllParsesEveryGeneratedCRD(t *testing.T) {
	crds, err := All()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range crds {
		got[c.Name] = true
		if c.Spec.Scope != "Cluster" {
			t.Errorf("%s is %s-scoped, want Cluster", c.Name, c.Spec.Scope)
		}
	}
	for _, want := range []string{"nodepools.tailor.sh", "nodeclaims.tailor.sh"} {
		if !got[want] {
			t.Errorf("CRD %s is missing; run go generate ./...", want)
		}
	}
}
