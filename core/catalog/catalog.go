package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
)

// File is the JSON form of a catalog.
type File struct {
	// Source says where the data comes from.
	Source string `json:"source,omitempty"`
	// Region is the topology.kubernetes.io/region of every offering.
	Region string `json:"region,omitempty"`
	// Overhead names the model of kubelet reservations: "eks", "gke" or
	// "none" (the default).
	Overhead string `json:"overhead,omitempty"`
	// InstanceTypes are the machines on sale.
	InstanceTypes []InstanceType `json:"instanceTypes"`
}

// InstanceType is the JSON form of one instance type.
type InstanceType struct {
	Name             string            `json:"name"`
	Arch             string            `json:"arch"`
	OperatingSystems []string          `json:"operatingSystems,omitempty"`
	Resources        map[string]string `json:"resources"`
	Labels           map[string]string `json:"labels,omitempty"`
	Offerings        []Offering        `json:"offerings"`
}

// Offering is the JSON form of one offering.
type Offering struct {
	Zone         string  `json:"zone"`
	CapacityType string  `json:"capacityType"`
	Price        float64 `json:"price"`
	// Available defaults to true when omitted.
	Available *bool `json:"available,omitempty"`
}

// Catalog is a parsed, validated catalog.
type Catalog struct {
	// Name is the built-in name or the file the catalog was read from.
	Name   string
	Source string
	Region string
	// OverheadModel is the model the instance types' overhead comes from.
	OverheadModel string
	// InstanceTypes are sorted by name.
	InstanceTypes []*instancetype.InstanceType
	// Skipped explains each instance type that was left out because its
	// entry was unusable (an architecture Kubernetes does not run, no
	// memory, no offerings, ...).
	Skipped []string
}

// Zones returns the zones that any offering is in, sorted.
func (c *Catalog) Zones() []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range c.InstanceTypes {
		for _, o := range it.Offerings {
			if !seen[o.Zone] {
				seen[o.Zone] = true
				out = append(out, o.Zone)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Parse reads and validates a catalog. name says where it came from and is
// used in error messages. Unknown fields and malformed JSON are errors, so
// that a typo does not silently change prices; an instance type whose entry
// is unusable is left out and explained in Catalog.Skipped, and a catalog
// with no usable instance type is an error that lists the problems.
func Parse(name string, data []byte) (*Catalog, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", name, describeJSONError(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("catalog %s: unexpected data after the catalog object", name)
	}
	return FromFile(name, &f)
}

// FromFile validates a decoded catalog and builds its instance types.
func FromFile(name string, f *File) (*Catalog, error) {
	model, ok := overheadModels[f.Overhead]
	if !ok {
		return nil, fmt.Errorf("catalog %s: unknown overhead model %q (known: %s)", name, f.Overhead, strings.Join(overheadModelNames(), ", "))
	}
	if len(f.InstanceTypes) == 0 {
		return nil, fmt.Errorf("catalog %s: no instance types (the file needs a non-empty \"instanceTypes\" list)", name)
	}
	c := &Catalog{Name: name, Source: f.Source, Region: f.Region, OverheadModel: f.Overhead}
	seen := map[string]bool{}
	var errs []error
	for i, spec := range f.InstanceTypes {
		it, err := buildInstanceType(spec, f.Region, model)
		if err != nil {
			label := fmt.Sprintf("instanceTypes[%d]", i)
			if spec.Name != "" {
				label = fmt.Sprintf("instance type %q", spec.Name)
			}
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
			continue
		}
		if seen[it.Name] {
			errs = append(errs, fmt.Errorf("instance type %q is listed twice", it.Name))
			continue
		}
		seen[it.Name] = true
		c.InstanceTypes = append(c.InstanceTypes, it)
	}
	if len(c.InstanceTypes) == 0 {
		if len(errs) > 10 {
			errs = append(errs[:10], fmt.Errorf("and %d more problems", len(errs)-10))
		}
		return nil, fmt.Errorf("catalog %s has no usable instance type: %w", name, errors.Join(errs...))
	}
	for _, err := range errs {
		c.Skipped = append(c.Skipped, err.Error())
	}
	sortInstanceTypes(c.InstanceTypes)
	return c, nil
}

var validCapacityTypes = map[string]bool{v1.CapacityTypeOnDemand: true, v1.CapacityTypeSpot: true, v1.CapacityTypeReserved: true}

func buildInstanceType(spec InstanceType, region string, model overheadModel) (*instancetype.InstanceType, error) {
	if spec.Name == "" {
		return nil, errors.New("name is empty")
	}
	if spec.Arch != "amd64" && spec.Arch != "arm64" {
		return nil, fmt.Errorf("arch %q: must be amd64 or arm64", spec.Arch)
	}
	capacity := corev1.ResourceList{}
	for key, value := range spec.Resources {
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return nil, fmt.Errorf("resources.%s %q: not a quantity such as \"4\", \"500m\" or \"16Gi\"", key, value)
		}
		if q.Sign() < 0 {
			return nil, fmt.Errorf("resources.%s %q: must not be negative", key, value)
		}
		capacity[corev1.ResourceName(key)] = q
	}
	for _, required := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		if q, ok := capacity[required]; !ok || q.IsZero() {
			return nil, fmt.Errorf("resources.%s is missing or zero", required)
		}
	}
	if len(spec.Offerings) == 0 {
		return nil, errors.New("no offerings (each instance type needs at least one zone and capacity type with a price)")
	}
	offerings := make(instancetype.Offerings, 0, len(spec.Offerings))
	seen := map[string]bool{}
	for j, o := range spec.Offerings {
		switch {
		case o.Zone == "":
			return nil, fmt.Errorf("offerings[%d]: zone is empty", j)
		case !validCapacityTypes[o.CapacityType]:
			return nil, fmt.Errorf("offerings[%d]: capacityType %q must be on-demand, spot or reserved", j, o.CapacityType)
		case math.IsNaN(o.Price) || math.IsInf(o.Price, 0) || o.Price < 0:
			return nil, fmt.Errorf("offerings[%d]: price %v must be a non-negative number of dollars per hour", j, o.Price)
		case seen[o.Zone+"/"+o.CapacityType]:
			return nil, fmt.Errorf("offerings[%d]: %s %s is listed twice", j, o.Zone, o.CapacityType)
		}
		seen[o.Zone+"/"+o.CapacityType] = true
		offerings = append(offerings, instancetype.Offering{
			Zone: o.Zone, CapacityType: o.CapacityType, Price: o.Price,
			Available: o.Available == nil || *o.Available,
		})
	}
	oses := spec.OperatingSystems
	if len(oses) == 0 {
		oses = []string{"linux"}
	}
	labels, err := wellKnownLabels(spec, capacity)
	if err != nil {
		return nil, err
	}
	reqs := requirements.FromLabels(labels)
	reqs.Add(requirements.MustNew(corev1.LabelOSStable, requirements.OpIn, oses...))
	if region != "" {
		reqs.Add(requirements.MustNew(corev1.LabelTopologyRegion, requirements.OpIn, region))
	}
	it := &instancetype.InstanceType{
		Name:         spec.Name,
		Requirements: reqs,
		Capacity:     capacity,
		Offerings:    offerings,
	}
	it.Overhead = model(it)
	return it, nil
}

// wellKnownLabels derives the labels a node of the type carries from its name
// and resources, then adds the catalog's own labels, which may only be
// well-known ones.
func wellKnownLabels(spec InstanceType, capacity corev1.ResourceList) (map[string]string, error) {
	name := instancetype.ParseInstanceName(spec.Name)
	labels := map[string]string{
		corev1.LabelInstanceTypeStable: spec.Name,
		corev1.LabelArchStable:         spec.Arch,
		v1.LabelInstanceFamily:         name.Family,
		v1.LabelInstanceCategory:       name.Category,
		v1.LabelInstanceCPU:            strconv.FormatInt(capacity.Cpu().Value(), 10),
		v1.LabelInstanceMemory:         strconv.FormatInt(capacity.Memory().Value()/(1<<20), 10),
	}
	if name.Size != "" {
		labels[v1.LabelInstanceSize] = name.Size
	}
	if name.Generation != "" {
		labels[v1.LabelInstanceGeneration] = name.Generation
	}
	gpus := int64(0)
	for _, gpuResource := range []corev1.ResourceName{"nvidia.com/gpu", "amd.com/gpu"} {
		if q, ok := capacity[gpuResource]; ok {
			gpus += q.Value()
		}
	}
	if gpus > 0 {
		labels[v1.LabelInstanceGPUCount] = strconv.FormatInt(gpus, 10)
	}
	for k, v := range spec.Labels {
		if !v1.WellKnownLabels[k] {
			return nil, fmt.Errorf("labels.%s: only well-known labels (docs/labels.md) can be set by a catalog", k)
		}
		if k == v1.LabelNodePool || k == v1.LabelCapacityType || k == corev1.LabelTopologyZone {
			return nil, fmt.Errorf("labels.%s: set per node or offering, not per instance type", k)
		}
		labels[k] = v
	}
	return labels, nil
}

// describeJSONError adds the line and column to a JSON syntax or type error.
func describeJSONError(data []byte, err error) error {
	var offset int64
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		offset = syntaxErr.Offset
	case errors.As(err, &typeErr):
		offset = typeErr.Offset
	default:
		return err
	}
	line, col := 1, 1
	for _, b := range data[:min(int(offset), len(data))] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}
