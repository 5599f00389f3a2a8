package cloudprovider

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/config/crd"
)

// Provider is everything a cloud brings to Tailor. A provider's package
// registers one from its init function, and the folder providers/ links
// every provider in with one import line each; the cluster state, tailor
// plan, the playground and the operator find providers only here, so adding
// one touches nothing outside its own folder and that line.
type Provider struct {
	// Name selects the provider, as in --cloud-provider=NAME: "sim", "aws".
	Name string
	// Default marks the provider that needs no cloud account, which the
	// playground and tailor plan use when none is named. At most one
	// provider may set it.
	Default bool
	// NodeClass is an empty object of the provider's node-class kind. The
	// cluster state watches it and tailor plan reads it from manifests.
	NodeClass client.Object
	// NodeClassKind is the group and kind a NodePool's nodeClassRef names.
	NodeClassKind schema.GroupKind
	// AddToScheme adds the provider's API types to a scheme.
	AddToScheme func(*runtime.Scheme) error
	// CRDs returns the provider's CustomResourceDefinitions.
	CRDs func() ([]*apiextensionsv1.CustomResourceDefinition, error)
	// AddFlags adds the provider's own settings to fs, bound to the value it
	// returns, which New later receives as Options.Settings.
	AddFlags func(fs *pflag.FlagSet) any
	// New builds the provider on the manager, adding the runnables it needs
	// (a cloud simulation, an interruption queue poller) to it.
	New func(mgr manager.Manager, opts Options) (CloudProvider, error)
	// DefaultNodeClass returns the node class, named name, that the
	// playground creates and tailor plan assumes when the manifests give
	// none, priced from the given built-in catalog.
	DefaultNodeClass func(name, catalog string) client.Object
	// Catalog returns the built-in catalog a node class of this provider
	// prices from, for tailor plan, or "" when it names none.
	Catalog func(nodeClass client.Object) string
}

// NodeClassRef returns a nodeClassRef to the provider's node class named name.
func (p Provider) NodeClassRef(name string) *v1.NodeClassReference {
	return &v1.NodeClassReference{Group: p.NodeClassKind.Group, Kind: p.NodeClassKind.Kind, Name: name}
}

// Options are what the operator gives every provider.
type Options struct {
	// ClusterName tags every instance, so that clusters sharing an account
	// never touch each other's instances.
	ClusterName string
	// Unavailable is the cache of offerings that recently had no capacity,
	// shared with the controllers.
	Unavailable *UnavailableOfferings
	// Settings are the provider's own, as AddFlags returned them; nil means
	// the provider's defaults.
	Settings any
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Provider{}
)

// Register makes a provider available by name. It panics on a second
// provider of the same name or a second default: both are programming errors
// found when the binary starts, never user input.
func Register(p Provider) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[p.Name]; dup {
		panic(fmt.Sprintf("cloud provider %q registered twice", p.Name))
	}
	for _, other := range registry {
		if p.Default && other.Default {
			panic(fmt.Sprintf("cloud providers %q and %q both claim to be the default", other.Name, p.Name))
		}
	}
	registry[p.Name] = p
}

// Providers returns every registered provider, by name.
func Providers() []Provider {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]Provider, 0, len(registry))
	for _, p := range registry {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the names of the registered providers, sorted.
func Names() []string {
	var names []string
	for _, p := range Providers() {
		names = append(names, p.Name)
	}
	return names
}

// Lookup returns the provider with the name; "" means the default one.
func Lookup(name string) (Provider, error) {
	for _, p := range Providers() {
		if p.Name == name || (name == "" && p.Default) {
			return p, nil
		}
	}
	if name == "" {
		return Provider{}, fmt.Errorf("no default cloud provider is linked in; name one of: %s", strings.Join(Names(), ", "))
	}
	return Provider{}, fmt.Errorf("unknown cloud provider %q; this build has: %s", name, strings.Join(Names(), ", "))
}

// ForNodeClass returns the provider whose node class a nodeClassRef names.
func ForNodeClass(ref *v1.NodeClassReference) (Provider, bool) {
	if ref == nil {
		return Provider{}, false
	}
	providers := Providers()
	i := slices.IndexFunc(providers, func(p Provider) bool {
		return p.NodeClassKind == schema.GroupKind{Group: ref.Group, Kind: ref.Kind}
	})
	if i < 0 {
		return Provider{}, false
	}
	return providers[i], true
}

// NodeClassResource returns the resource name of the provider's node class,
// as kubectl takes it ("simnodeclasses"), from its CRD.
func (p Provider) NodeClassResource() (string, error) {
	crds, err := p.CRDs()
	if err != nil {
		return "", err
	}
	for _, c := range crds {
		if c.Spec.Group == p.NodeClassKind.Group && c.Spec.Names.Kind == p.NodeClassKind.Kind {
			return c.Spec.Names.Plural, nil
		}
	}
	return "", fmt.Errorf("cloud provider %s brings no CRD of its node class %s", p.Name, p.NodeClassKind)
}

// ForObject returns the provider whose node class obj is.
func ForObject(obj runtime.Object) (Provider, bool) {
	for _, p := range Providers() {
		if reflect.TypeOf(p.NodeClass) == reflect.TypeOf(obj) {
			return p, true
		}
	}
	return Provider{}, false
}

// NodeClasses returns an empty object of every registered node-class kind.
func NodeClasses() []client.Object {
	var out []client.Object
	for _, p := range Providers() {
		out = append(out, p.NodeClass.DeepCopyObject().(client.Object))
	}
	return out
}

// NewScheme returns a scheme with the built-in Kubernetes types, tailor.sh/v1
// and every registered provider's types.
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	adds := []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1.AddToScheme}
	for _, p := range Providers() {
		adds = append(adds, p.AddToScheme)
	}
	for _, add := range adds {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}

// CRDs returns Tailor's own CRDs and those of every registered provider.
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	out, err := crd.All()
	if err != nil {
		return nil, err
	}
	for _, p := range Providers() {
		crds, err := p.CRDs()
		if err != nil {
			return nil, fmt.Errorf("the CRDs of cloud provider %s: %w", p.Name, err)
		}
		out = append(out, crds...)
	}
	return out, nil
}
