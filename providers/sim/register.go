package sim

import (
	"embed"
	"time"

	"github.com/spf13/pflag"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/config/crd"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// crdFiles are the sim.tailor.sh CRDs, generated from api/v1.
//
//go:embed crd/*.yaml
var crdFiles embed.FS

// Settings are the simulated cloud's own flags.
type Settings struct {
	// Tick is how often the simulated cloud acts: instances boot, Nodes
	// join, spot instances are interrupted.
	Tick time.Duration
}

func init() {
	cloudprovider.Register(cloudprovider.Provider{
		Name:          ProviderName,
		Default:       true,
		NodeClass:     &simv1.SimNodeClass{},
		NodeClassKind: schema.GroupKind{Group: simv1.Group, Kind: "SimNodeClass"},
		AddToScheme:   simv1.AddToScheme,
		CRDs: func() ([]*apiextensionsv1.CustomResourceDefinition, error) {
			return crd.FromFS(crdFiles, "crd/*.yaml")
		},
		AddFlags: func(fs *pflag.FlagSet) any {
			s := &Settings{}
			fs.DurationVar(&s.Tick, "sim-tick", time.Second, "how often the simulated cloud boots instances, joins their Nodes and interrupts spot instances")
			return s
		},
		New: newForManager,
		DefaultNodeClass: func(name, catalog string) client.Object {
			return &simv1.SimNodeClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: simv1.SimNodeClassSpec{Catalog: catalog}}
		},
		Catalog: func(nodeClass client.Object) string {
			if class, ok := nodeClass.(*simv1.SimNodeClass); ok {
				return class.Spec.Catalog
			}
			return ""
		},
	})
}

// newForManager builds the provider over the manager's client and runs the
// simulated cloud beside the controllers.
func newForManager(mgr manager.Manager, opts cloudprovider.Options) (cloudprovider.CloudProvider, error) {
	settings, _ := opts.Settings.(*Settings)
	if settings == nil {
		settings = &Settings{Tick: time.Second}
	}
	provider := New(mgr.GetClient(), Options{ClusterName: opts.ClusterName, Unavailable: opts.Unavailable})
	if err := mgr.Add(&Cloud{Provider: provider, Tick: settings.Tick}); err != nil {
		return nil, err
	}
	return provider, nil
}
