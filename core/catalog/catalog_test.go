package catalog

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

func TestParseRejectsBadCatalogsWithAClearMessage(t *testing.T) {
	const offering = `{"zone":"z1","capacityType":"on-demand","price":0.1}`
	for _, tc := range []struct {
		name, json, want string
	}{
		{"not JSON", `{"instanceTypes": [`, "catalog test.json: unexpected EOF"},
		{"syntax error has a position", "{\n \"instanceTypes\": [}\n", "line 2, column"},
		{"unknown field", `{"instanceTypes":[{"name":"a","arch":"amd64","resources":{"cpu":"1","memory":"1Gi","pods":"1"},"offerings":[` + offering + `],"prices":1}]}`, `unknown field "prices"`},
		{"no instance types", `{"instanceTypes":[]}`, "no instance types"},
		{"no name", `{"instanceTypes":[{"arch":"amd64","resources":{"cpu":"1","memory":"1Gi","pods":"1"},"offerings":[` + offering + `]}]}`, "instanceTypes[0]: name is empty"},
		{"bad arch", `{"instanceTypes":[{"name":"a","arch":"x86","resources":{"cpu":"1","memory":"1Gi","pods":"1"},"offerings":[` + offering + `]}]}`, `instance type "a": arch "x86": must be amd64 or arm64`},
		{"bad quantity", `{"instanceTypes":[{"name":"a","arch":"amd64","resources":{"cpu":"lots","memory":"1Gi","pods":"1"},"offerings":[` + offering + `]}]}`, `resources.cpu "lots": not a quantity`},
		{"missing memory", `{"instanceTypes":[{"name":"a","arch":"amd64","resources":{"cpu":"1","pods":"1"},"offerings":[` + offering + `]}]}`, "resources.memory is missing or zero"},
		{"no offerings", `{"instanceTypes":[{"name":"a","arch":"amd64","resources":{"cpu":"1","memory":"1Gi","pods":"1"},"offerings":[]}]}`, `instance type "a": no offerings`},
		{"bad capacity type", `{"instanceTypes":[{"name":"a","arch":"amd64","resources":{"cpu":"1","memory":"1Gi","pods":"1"},"offerings":[{"zone":"z","capacityType":"preemptible","price":1}]}]}`, `capacityType "preemptible" must be on-demand, spot or reserved`},
		{"negative price", `{"instanceTypes":[{"name":"a","arch":"amd64","resources":{"cpu":"1","memory":"1Gi","pods":"1"},"offerings":[{"zone":"z","capacityType":"spot","price":-1}]}]}`, "price -1 must be a non-negative number"},
		{"unknown overhead model", `{"overhead":"aks","instanceTypes":[{"name":"a","arch":"amd64","resources":{"cpu":"1","memory":"1Gi","pods":"1"},"offerings":[` + offering + `]}]}`, `unknown overhead model "aks" (known: eks, gke, none)`},
		{"custom label", `{"instanceTypes":[{"name":"a","arch":"amd64","labels":{"team":"x"},"resources":{"cpu":"1","memory":"1Gi","pods":"1"},"offerings":[` + offering + `]}]}`, "labels.team: only well-known labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.json", []byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseSkipsUnusableTypesAndSaysWhy(t *testing.T) {
	const good = `{"name":"a","arch":"amd64","resources":{"cpu":"1","memory":"1Gi","pods":"1"},"offerings":[{"zone":"z","capacityType":"spot","price":1}]}`
	c, err := Parse("mixed.json", []byte(`{"instanceTypes":[`+good+`,`+good+`,
		{"name":"old","arch":"i386","resources":{"cpu":"1","memory":"1Gi","pods":"1"},"offerings":[{"zone":"z","capacityType":"spot","price":1}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.InstanceTypes) != 1 || len(c.Skipped) != 2 ||
		!strings.Contains(c.Skipped[0], `instance type "a" is listed twice`) || !strings.Contains(c.Skipped[1], `instance type "old": arch "i386"`) {
		t.Fatalf("types %d, skipped %q", len(c.InstanceTypes), c.Skipped)
	}
}

func TestParseDefaultsAvailabilityAndOperatingSystem(t *testing.T) {
	c, err := Parse("test.json", []byte(`{"instanceTypes":[{"name":"m7g.large","arch":"arm64","resources":{"cpu":"2","memory":"8Gi","pods":"29"},
		"offerings":[{"zone":"z1","capacityType":"spot","price":0.03},{"zone":"z2","capacityType":"spot","price":0.04,"available":false}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	it := c.InstanceTypes[0]
	if !it.Offerings[0].Available || it.Offerings[1].Available {
		t.Errorf("availability = %v, %v; want true (default), false", it.Offerings[0].Available, it.Offerings[1].Available)
	}
	labels := it.Requirements.Labels()
	for key, want := range map[string]string{
		corev1.LabelOSStable:           "linux",
		corev1.LabelArchStable:         "arm64",
		v1.LabelInstanceCategory:       "m",
		v1.LabelInstanceGeneration:     "7",
		v1.LabelInstanceFamily:         "m7g",
		v1.LabelInstanceSize:           "large",
		v1.LabelInstanceCPU:            "2",
		v1.LabelInstanceMemory:         "8192",
		corev1.LabelInstanceTypeStable: "m7g.large",
	} {
		if labels[key] != want {
			t.Errorf("label %s = %q, want %q", key, labels[key], want)
		}
	}
	if got := c.Zones(); len(got) != 2 || got[0] != "z1" {
		t.Errorf("Zones = %v", got)
	}
}

func TestBuiltinCatalogs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		minTypes  int
		zones     int
		sample    string
		gpuSample string
	}{
		{"aws-us-west-2", 800, 4, "m6i.large", "g5.xlarge"},
		{"gce-us-central1", 300, 4, "n2-standard-8", "g2-standard-24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Builtin(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.InstanceTypes) < tc.minTypes {
				t.Errorf("%d instance types, want at least %d", len(c.InstanceTypes), tc.minTypes)
			}
			if got := len(c.Zones()); got != tc.zones {
				t.Errorf("%d zones, want %d", got, tc.zones)
			}
			found := map[string]bool{}
			for _, it := range c.InstanceTypes {
				found[it.Name] = true
				var onDemand, spot float64
				for _, o := range it.Offerings {
					switch o.CapacityType {
					case v1.CapacityTypeOnDemand:
						onDemand = o.Price
					case v1.CapacityTypeSpot:
						spot = o.Price
					}
				}
				if spot > 0 && spot >= onDemand {
					t.Errorf("%s: spot %.5f is not below on-demand %.5f", it.Name, spot, onDemand)
				}
				if it.Name == tc.gpuSample {
					gpus := it.Capacity[corev1.ResourceName("nvidia.com/gpu")]
					if gpus.Value() < 1 || it.Requirements.Labels()[v1.LabelInstanceGPUName] == "" {
						t.Errorf("%s has no GPU: capacity %v", it.Name, it.Capacity)
					}
				}
			}
			if !found[tc.sample] || !found[tc.gpuSample] {
				t.Errorf("missing %s or %s", tc.sample, tc.gpuSample)
			}
		})
	}
	if _, err := Builtin("azure-westeurope"); err == nil || !strings.Contains(err.Error(), "aws-us-west-2") {
		t.Errorf("an unknown built-in name should list the known ones, got %v", err)
	}
}

// TestEKSOverhead checks the EKS-optimised AMI model on m6i.large: 2 vCPUs and
// 29 pods reserve 70m of cpu (60m + 10m) and 255Mi + 29×11Mi of memory, and
// eviction keeps 100Mi more.
func TestEKSOverhead(t *testing.T) {
	c, err := Builtin("aws-us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range c.InstanceTypes {
		if it.Name != "m6i.large" {
			continue
		}
		alloc := it.Allocatable()
		if got, want := alloc.Cpu().MilliValue(), int64(2000-70); got != want {
			t.Errorf("allocatable cpu = %dm, want %dm", got, want)
		}
		want := resource.MustParse("8Gi")
		want.Sub(resource.MustParse("574Mi"))
		want.Sub(resource.MustParse("100Mi"))
		if got := alloc[corev1.ResourceMemory]; got.Cmp(want) != 0 {
			t.Errorf("allocatable memory = %s, want %s", got.String(), want.String())
		}
		return
	}
	t.Fatal("m6i.large not found")
}

func TestReservedCPU(t *testing.T) {
	for cores, want := range map[int64]int64{1: 60, 2: 70, 4: 80, 8: 90, 96: 310} {
		if got := reservedCPUMillis(cores * 1000); got != want {
			t.Errorf("%d cores reserve %dm, want %dm", cores, got, want)
		}
	}
}
