package cloudprovider

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

// withRegistry runs f with only the given providers registered.
func withRegistry(t *testing.T, providers ...Provider) {
	t.Helper()
	registryMu.Lock()
	saved := registry
	registry = map[string]Provider{}
	registryMu.Unlock()
	t.Cleanup(func() {
		registryMu.Lock()
		registry = saved
		registryMu.Unlock()
	})
	for _, p := range providers {
		Register(p)
	}
}

func TestLookupFindsByNameDefaultAndNodeClass(t *testing.T) {
	withRegistry(t,
		Provider{Name: "b", NodeClassKind: schema.GroupKind{Group: "b.tailor.sh", Kind: "BNodeClass"}},
		Provider{Name: "a", Default: true, NodeClassKind: schema.GroupKind{Group: "a.tailor.sh", Kind: "ANodeClass"}},
	)
	if got := Names(); strings.Join(got, ",") != "a,b" {
		t.Errorf("Names() = %v, want sorted [a b]", got)
	}
	if p, err := Lookup(""); err != nil || p.Name != "a" {
		t.Errorf(`Lookup("") = %v, %v; want the default, a`, p.Name, err)
	}
	if p, err := Lookup("b"); err != nil || p.Name != "b" {
		t.Errorf(`Lookup("b") = %v, %v`, p.Name, err)
	}
	if _, err := Lookup("azure"); err == nil || !strings.Contains(err.Error(), "a, b") {
		t.Errorf(`Lookup("azure") = %v, want an error listing a, b`, err)
	}
	if p, ok := ForNodeClass(&v1.NodeClassReference{Group: "b.tailor.sh", Kind: "BNodeClass", Name: "x"}); !ok || p.Name != "b" {
		t.Errorf("ForNodeClass(BNodeClass) = %v, %v", p.Name, ok)
	}
	if _, ok := ForNodeClass(&v1.NodeClassReference{Group: "b.tailor.sh", Kind: "ANodeClass"}); ok {
		t.Error("ForNodeClass matched a kind of another group")
	}
	if ref := (Provider{NodeClassKind: schema.GroupKind{Group: "g", Kind: "K"}}).NodeClassRef("n"); *ref != (v1.NodeClassReference{Group: "g", Kind: "K", Name: "n"}) {
		t.Errorf("NodeClassRef = %+v", ref)
	}
}

func TestRegisterRefusesDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		second Provider
	}{
		{"same name", Provider{Name: "a"}},
		{"second default", Provider{Name: "b", Default: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withRegistry(t, Provider{Name: "a", Default: true})
			defer func() {
				if recover() == nil {
					t.Error("Register accepted it")
				}
			}()
			Register(tc.second)
		})
	}
}

func TestNoDefaultSaysWhatIsLinked(t *testing.T) {
	withRegistry(t, Provider{Name: "aws"})
	if _, err := Lookup(""); err == nil || !strings.Contains(err.Error(), "aws") {
		t.Errorf(`Lookup("") = %v, want an error naming aws`, err)
	}
}

func TestNodeClassResourceComesFromTheCRD(t *testing.T) {
	crd := &apiextensionsv1.CustomResourceDefinition{Spec: apiextensionsv1.CustomResourceDefinitionSpec{
		Group: "a.tailor.sh", Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "ANodeClass", Plural: "anodeclasses"},
	}}
	p := Provider{Name: "a", NodeClassKind: schema.GroupKind{Group: "a.tailor.sh", Kind: "ANodeClass"},
		CRDs: func() ([]*apiextensionsv1.CustomResourceDefinition, error) {
			return []*apiextensionsv1.CustomResourceDefinition{crd}, nil
		}}
	if got, err := p.NodeClassResource(); err != nil || got != "anodeclasses" {
		t.Errorf("NodeClassResource = %q, %v; want anodeclasses", got, err)
	}
	p.NodeClassKind.Kind = "Other"
	if _, err := p.NodeClassResource(); err == nil {
		t.Error("a provider with no CRD of its node class was not refused")
	}
}
