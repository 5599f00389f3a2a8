// Command gen-catalogs derives Tailor's built-in instance catalogs from the
// public price and limit data in the workspace's shared/data folder, and
// writes them to core/catalog/builtin. The output is committed; users
// and CI never need the input. Run it from the repository root:
//
//	go run ./hack/gen-catalogs -data ../shared/data
//
// docs/catalogs.md explains each derived figure.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tailor-sh/tailor/core/catalog"
)

func main() {
	data := flag.String("data", "../shared/data", "folder with the source data")
	out := flag.String("out", "core/catalog/builtin", "folder to write the catalogs to")
	flag.Parse()
	for name, build := range map[string]func(string) (*catalog.File, error){
		"aws-us-west-2":   awsCatalog,
		"gce-us-central1": gceCatalog,
	} {
		f, err := build(*data)
		if err != nil {
			fail(fmt.Errorf("%s: %w", name, err))
		}
		encoded, err := json.MarshalIndent(f, "", " ")
		if err != nil {
			fail(err)
		}
		// Validate what is written exactly as users' catalogs are.
		parsed, err := catalog.Parse(name, encoded)
		if err != nil {
			fail(err)
		}
		if len(parsed.Skipped) > 0 {
			fail(fmt.Errorf("%s: the generated catalog has unusable entries: %v", name, parsed.Skipped))
		}
		path := filepath.Join(*out, name+".json")
		if err := os.WriteFile(path, append(encoded, '\n'), 0o644); err != nil {
			fail(err)
		}
		fmt.Printf("wrote %s: %d instance types\n", path, len(f.InstanceTypes))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen-catalogs:", err)
	os.Exit(1)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// unit maps a string to a number in [0, 1), the same on every run.
func unit(s string) float64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return float64(h.Sum64()>>11) / (1 << 53)
}

func round5(f float64) float64 { return math.Round(f*1e5) / 1e5 }

// spotPrice simulates a spot price: each instance family gets a discount
// between 45% and 80% off on-demand, and each type and zone moves it by up
// to 6 points either way, clamped to 35-90% off.
func spotPrice(onDemand float64, family, instanceType, zone string) float64 {
	discount := 0.45 + 0.35*unit("family:"+family) + (unit("offering:"+instanceType+"/"+zone)-0.5)*0.12
	discount = min(max(discount, 0.35), 0.90)
	return round5(onDemand * (1 - discount))
}

type awsSource struct {
	InstanceTypes []struct {
		Name             string            `json:"name"`
		Arch             string            `json:"arch"`
		OperatingSystems []string          `json:"operatingSystems"`
		Resources        map[string]string `json:"resources"`
		Offerings        []struct {
			Zone         string  `json:"zone"`
			CapacityType string  `json:"capacityType"`
			Price        float64 `json:"price"`
			Available    bool    `json:"available"`
		} `json:"offerings"`
	} `json:"instanceTypes"`
}

type eniLimits struct {
	InstanceTypes map[string]struct {
		ENIs       int `json:"enis"`
		IPv4PerENI int `json:"ipv4PerEni"`
	} `json:"instanceTypes"`
}

// accelerator is the GPUs (or other accelerators) of one instance type.
type accelerator struct {
	resource     string
	count        int
	name         string
	manufacturer string
	memoryMiB    int // per device
}

// awsAccelerators lists the accelerators of AWS's GPU and ML families by size;
// the price and capacity data has none.
func awsAccelerators(name string) (accelerator, bool) {
	family, size, _ := strings.Cut(name, ".")
	type fam struct {
		resource, model, maker string
		memGiB                 int
		bySize                 map[string]int
		otherwise              int
	}
	families := map[string]fam{
		"g4dn":  {"nvidia.com/gpu", "t4", "nvidia", 16, map[string]int{"12xlarge": 4, "metal": 8}, 1},
		"g4ad":  {"amd.com/gpu", "v520", "amd", 8, map[string]int{"8xlarge": 2, "16xlarge": 4}, 1},
		"g5":    {"nvidia.com/gpu", "a10g", "nvidia", 24, map[string]int{"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}, 1},
		"g5g":   {"nvidia.com/gpu", "t4g", "nvidia", 16, map[string]int{"16xlarge": 2, "metal": 2}, 1},
		"g6":    {"nvidia.com/gpu", "l4", "nvidia", 24, map[string]int{"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}, 1},
		"g6e":   {"nvidia.com/gpu", "l40s", "nvidia", 48, map[string]int{"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}, 1},
		"gr6":   {"nvidia.com/gpu", "l4", "nvidia", 24, map[string]int{"8xlarge": 2}, 1},
		"p2":    {"nvidia.com/gpu", "k80", "nvidia", 12, map[string]int{"8xlarge": 8, "16xlarge": 16}, 1},
		"p3":    {"nvidia.com/gpu", "v100", "nvidia", 16, map[string]int{"8xlarge": 4, "16xlarge": 8}, 1},
		"p3dn":  {"nvidia.com/gpu", "v100", "nvidia", 32, nil, 8},
		"p4d":   {"nvidia.com/gpu", "a100", "nvidia", 40, nil, 8},
		"p5":    {"nvidia.com/gpu", "h100", "nvidia", 80, map[string]int{"4xlarge": 1}, 8},
		"inf1":  {"aws.amazon.com/neuron", "inferentia", "aws", 8, map[string]int{"6xlarge": 4, "24xlarge": 16}, 1},
		"inf2":  {"aws.amazon.com/neuron", "inferentia2", "aws", 32, map[string]int{"24xlarge": 6, "48xlarge": 12}, 1},
		"trn1":  {"aws.amazon.com/neuron", "trainium", "aws", 32, map[string]int{"32xlarge": 16}, 1},
		"trn1n": {"aws.amazon.com/neuron", "trainium", "aws", 32, nil, 16},
	}
	f, ok := families[family]
	if !ok {
		return accelerator{}, false
	}
	count, ok := f.bySize[size]
	if !ok {
		count = f.otherwise
	}
	return accelerator{resource: f.resource, count: count, name: f.model, manufacturer: f.maker, memoryMiB: f.memGiB * 1024}, true
}

func (a accelerator) apply(it *catalog.InstanceType) {
	it.Resources[a.resource] = strconv.Itoa(a.count)
	if a.resource == "aws.amazon.com/neuron" {
		return // not a GPU: no GPU labels
	}
	it.Labels = map[string]string{
		"tailor.sh/instance-gpu-name":         a.name,
		"tailor.sh/instance-gpu-manufacturer": a.manufacturer,
		"tailor.sh/instance-gpu-memory":       strconv.Itoa(a.count * a.memoryMiB),
	}
}

func awsCatalog(dataDir string) (*catalog.File, error) {
	var src awsSource
	if err := readJSON(filepath.Join(dataDir, "aws-us-west-2-catalog.json"), &src); err != nil {
		return nil, err
	}
	var enis eniLimits
	if err := readJSON(filepath.Join(dataDir, "aws-eni-limits.json"), &enis); err != nil {
		return nil, err
	}
	out := &catalog.File{
		Source: "AWS EC2, us-west-2. Capacity and on-demand prices: public list prices. Spot prices: simulated " +
			"per family, type and zone (docs/catalogs.md). Max pods: the VPC CNI's ENI limit, enis*(ipv4PerEni-1)+2. " +
			"Accelerators: per family and size. Overhead: the EKS-optimised AMI's.",
		Region:   "us-west-2",
		Overhead: "eks",
	}
	for _, t := range src.InstanceTypes {
		limits, ok := enis.InstanceTypes[t.Name]
		if !ok {
			continue // without ENI data, max pods would be a guess
		}
		arch := t.Arch
		if arch == "i386" {
			arch = "amd64" // these types run both; Kubernetes calls it amd64
		}
		family, _, _ := strings.Cut(t.Name, ".")
		memory := t.Resources["memory"]
		if memory == "0" {
			// The source rounds memory to whole GiB; these are the types
			// with less than one.
			memory = map[string]string{"t1.micro": "613Mi"}[t.Name]
			if memory == "" {
				memory = "512Mi"
			}
		}
		it := catalog.InstanceType{
			Name:             t.Name,
			Arch:             arch,
			OperatingSystems: t.OperatingSystems,
			Resources: map[string]string{
				"cpu":               t.Resources["cpu"],
				"memory":            memory,
				"ephemeral-storage": t.Resources["ephemeral-storage"],
				"pods":              strconv.Itoa(limits.ENIs*(limits.IPv4PerENI-1) + 2),
			},
		}
		if acc, ok := awsAccelerators(t.Name); ok {
			acc.apply(&it)
		}
		onDemand := map[string]float64{}
		for _, o := range t.Offerings {
			if o.CapacityType == "on-demand" {
				onDemand[o.Zone] = o.Price
			}
		}
		zones := slices.Sorted(maps.Keys(onDemand))
		for _, zone := range zones {
			yes := true
			it.Offerings = append(it.Offerings,
				catalog.Offering{Zone: zone, CapacityType: "on-demand", Price: onDemand[zone], Available: &yes},
				catalog.Offering{Zone: zone, CapacityType: "spot", Price: spotPrice(onDemand[zone], family, t.Name, zone), Available: &yes},
			)
		}
		if len(it.Offerings) > 0 {
			out.InstanceTypes = append(out.InstanceTypes, it)
		}
	}
	return out, nil
}

type gcePrices struct {
	Regions map[string]struct {
		OnDemand map[string]float64 `json:"on_demand"`
		Spot     map[string]float64 `json:"spot"`
	} `json:"regions"`
}

// gceShape gives memory per vCPU (GiB) by series and kind, and the
// architecture of each series. Series not listed (memory-optimised m*, HPC,
// storage-optimised, shared-core f1/g1) are left out of the catalog.
var gceShape = map[string]struct {
	arch   string
	perCPU map[string]float64
}{
	"e2":  {"amd64", map[string]float64{"standard": 4, "highmem": 8, "highcpu": 1}},
	"n1":  {"amd64", map[string]float64{"standard": 3.75, "highmem": 6.5, "highcpu": 0.9}},
	"n2":  {"amd64", map[string]float64{"standard": 4, "highmem": 8, "highcpu": 1}},
	"n2d": {"amd64", map[string]float64{"standard": 4, "highmem": 8, "highcpu": 1}},
	"n4":  {"amd64", map[string]float64{"standard": 4, "highmem": 8, "highcpu": 2}},
	"n4d": {"amd64", map[string]float64{"standard": 4, "highmem": 8, "highcpu": 2}},
	"n4a": {"arm64", map[string]float64{"standard": 4, "highmem": 8, "highcpu": 2}},
	"c2":  {"amd64", map[string]float64{"standard": 4}},
	"c2d": {"amd64", map[string]float64{"standard": 4, "highmem": 8, "highcpu": 2}},
	"c3":  {"amd64", map[string]float64{"standard": 4, "highmem": 8, "highcpu": 2}},
	"c3d": {"amd64", map[string]float64{"standard": 4, "highmem": 8, "highcpu": 2}},
	"c4":  {"amd64", map[string]float64{"standard": 3.75, "highmem": 7.75, "highcpu": 2}},
	"c4a": {"arm64", map[string]float64{"standard": 4, "highmem": 8, "highcpu": 2}},
	"c4d": {"amd64", map[string]float64{"standard": 3.875, "highmem": 7.75, "highcpu": 1.875}},
	"t2d": {"amd64", map[string]float64{"standard": 4}},
	"t2a": {"arm64", map[string]float64{"standard": 4}},
	"g2":  {"amd64", map[string]float64{"standard": 4}},
}

// gceGPU gives the GPUs of GCE's accelerator-optimised types.
func gceGPU(name string, cpus int) (accelerator, float64, bool) {
	parts := strings.Split(name, "-")
	switch {
	case parts[0] == "g2":
		count := map[int]int{24: 2, 48: 4, 96: 8}[cpus]
		if count == 0 {
			count = 1
		}
		return accelerator{resource: "nvidia.com/gpu", count: count, name: "l4", manufacturer: "nvidia", memoryMiB: 24 * 1024}, 0, true
	case parts[0] == "a2" || parts[0] == "a3":
		n, err := strconv.Atoi(strings.TrimSuffix(parts[len(parts)-1], "g"))
		if err != nil {
			return accelerator{}, 0, false
		}
		switch parts[0] + "-" + parts[1] {
		case "a2-highgpu", "a2-megagpu":
			return accelerator{resource: "nvidia.com/gpu", count: n, name: "a100", manufacturer: "nvidia", memoryMiB: 40 * 1024}, 85, true
		case "a2-ultragpu":
			return accelerator{resource: "nvidia.com/gpu", count: n, name: "a100", manufacturer: "nvidia", memoryMiB: 80 * 1024}, 170, true
		case "a3-highgpu":
			return accelerator{resource: "nvidia.com/gpu", count: n, name: "h100", manufacturer: "nvidia", memoryMiB: 80 * 1024}, 234, true
		}
	}
	return accelerator{}, 0, false
}

func gceCatalog(dataDir string) (*catalog.File, error) {
	var prices gcePrices
	if err := readJSON(filepath.Join(dataDir, "gcp-prices.json"), &prices); err != nil {
		return nil, err
	}
	const region = "us-central1"
	r, ok := prices.Regions[region]
	if !ok {
		return nil, fmt.Errorf("no prices for %s", region)
	}
	zones := []string{"us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"}
	out := &catalog.File{
		Source: "Google Compute Engine, us-central1. On-demand and spot prices: public list prices. Shapes: " +
			"vCPUs from the name, memory per vCPU by series and kind. Max pods: GKE's default 110. Overhead: GKE's.",
		Region:   region,
		Overhead: "gke",
	}
	for _, name := range slices.Sorted(maps.Keys(r.OnDemand)) {
		it, ok := gceInstanceType(name)
		if !ok {
			continue
		}
		yes := true
		for _, zone := range zones {
			it.Offerings = append(it.Offerings, catalog.Offering{Zone: zone, CapacityType: "on-demand", Price: round5(r.OnDemand[name]), Available: &yes})
			if spot, ok := r.Spot[name]; ok {
				it.Offerings = append(it.Offerings, catalog.Offering{Zone: zone, CapacityType: "spot", Price: round5(spot), Available: &yes})
			}
		}
		out.InstanceTypes = append(out.InstanceTypes, it)
	}
	return out, nil
}

func gceInstanceType(name string) (catalog.InstanceType, bool) {
	shared := map[string][2]string{"e2-micro": {"2", "1Gi"}, "e2-small": {"2", "2Gi"}, "e2-medium": {"2", "4Gi"}}
	it := catalog.InstanceType{Name: name, OperatingSystems: []string{"linux", "windows"}, Resources: map[string]string{
		"pods": "110", "ephemeral-storage": "100Gi",
	}}
	if s, ok := shared[name]; ok {
		it.Arch, it.Resources["cpu"], it.Resources["memory"] = "amd64", s[0], s[1]
		return it, true
	}
	parts := strings.Split(name, "-")
	if len(parts) != 3 {
		return it, false // e.g. -lssd variants and shared-core f1/g1
	}
	if acc, memPerGPU, ok := gceGPU(name, 0); ok && parts[0] != "g2" {
		cpus := 12 * acc.count
		switch {
		case parts[1] == "megagpu":
			cpus = 96
		case parts[0] == "a3":
			cpus = 26 * acc.count
		}
		mem := memPerGPU * float64(acc.count)
		if parts[1] == "megagpu" {
			mem = 1360
		}
		it.Arch, it.Resources["cpu"], it.Resources["memory"] = "amd64", strconv.Itoa(cpus), strconv.Itoa(int(mem))+"Gi"
		acc.apply(&it)
		return it, true
	}
	shape, ok := gceShape[parts[0]]
	if !ok {
		return it, false
	}
	perCPU, ok := shape.perCPU[parts[1]]
	if !ok {
		return it, false
	}
	cpus, err := strconv.Atoi(parts[2])
	if err != nil {
		return it, false
	}
	it.Arch = shape.arch
	it.Resources["cpu"] = strconv.Itoa(cpus)
	it.Resources["memory"] = strconv.Itoa(int(math.Round(perCPU*float64(cpus)*1024))) + "Mi"
	if acc, _, ok := gceGPU(name, cpus); ok {
		acc.apply(&it)
	}
	return it, true
}
