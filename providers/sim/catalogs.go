package sim

import (
	"context"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-sh/tailor/core/catalog"
	"github.com/tailor-sh/tailor/core/instancetype"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// catalogLoader loads the catalog a SimNodeClass names and caches it until the
// class or its ConfigMap changes.
type catalogLoader struct {
	client client.Client

	mu    sync.Mutex
	cache map[string]cachedCatalog // by SimNodeClass name
}

type cachedCatalog struct {
	version       string // class generation + ConfigMap resource version
	instanceTypes []*instancetype.InstanceType
}

func newCatalogLoader(c client.Client) *catalogLoader {
	return &catalogLoader{client: c, cache: map[string]cachedCatalog{}}
}

// instanceTypes returns the class's catalog restricted to its zones. Each call
// returns fresh copies, which callers may modify.
func (l *catalogLoader) instanceTypes(ctx context.Context, class *simv1.SimNodeClass) ([]*instancetype.InstanceType, error) {
	var (
		cat     *catalog.Catalog
		version = fmt.Sprint(class.Generation)
		err     error
	)
	var data []byte
	if ref := class.Spec.CatalogConfigMap; ref != nil {
		cm := &corev1.ConfigMap{}
		if err := l.client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, cm); err != nil {
			return nil, fmt.Errorf("read catalog ConfigMap %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		version += "/" + cm.ResourceVersion
		key := ref.Key
		if key == "" {
			key = "catalog.json"
		}
		text, ok := cm.Data[key]
		if !ok {
			return nil, fmt.Errorf("catalog ConfigMap %s/%s has no key %q", ref.Namespace, ref.Name, key)
		}
		data = []byte(text)
	}
	l.mu.Lock()
	cached, ok := l.cache[class.Name]
	l.mu.Unlock()
	if !ok || cached.version != version {
		if data != nil {
			ref := class.Spec.CatalogConfigMap
			cat, err = catalog.Parse(fmt.Sprintf("ConfigMap %s/%s", ref.Namespace, ref.Name), data)
		} else {
			name := class.Spec.Catalog
			if name == "" {
				name = catalog.DefaultBuiltin
			}
			cat, err = catalog.Builtin(name)
		}
		if err != nil {
			return nil, err
		}
		its, err := inZones(cat, class.Spec.Zones)
		if err != nil {
			return nil, fmt.Errorf("SimNodeClass %s: %w", class.Name, err)
		}
		cached = cachedCatalog{version: version, instanceTypes: its}
		l.mu.Lock()
		l.cache[class.Name] = cached
		l.mu.Unlock()
	}
	out := make([]*instancetype.InstanceType, len(cached.instanceTypes))
	for i, it := range cached.instanceTypes {
		copied := *it
		copied.Offerings = slices.Clone(it.Offerings)
		out[i] = &copied
	}
	return out, nil
}

// inZones keeps the offerings in zones (all when zones is empty) and drops
// instance types left without any.
func inZones(cat *catalog.Catalog, zones []string) ([]*instancetype.InstanceType, error) {
	known := cat.Zones()
	for _, z := range zones {
		if !slices.Contains(known, z) {
			return nil, fmt.Errorf("zone %q is not in catalog %s (its zones: %v)", z, cat.Name, known)
		}
	}
	var out []*instancetype.InstanceType
	for _, it := range cat.InstanceTypes {
		copied := *it
		copied.Offerings = nil
		for _, o := range it.Offerings {
			if len(zones) == 0 || slices.Contains(zones, o.Zone) {
				copied.Offerings = append(copied.Offerings, o)
			}
		}
		if len(copied.Offerings) > 0 {
			out = append(out, &copied)
		}
	}
	return out, nil
}
