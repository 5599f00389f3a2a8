package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	fakecr "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/log"

	tailorv1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/scheduling/workload"

	v1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/cloudprovider/fake"
	ksched "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	"sigs.k8s.io/karpenter/pkg/events"
	"sigs.k8s.io/karpenter/pkg/operator/injection"
	"sigs.k8s.io/karpenter/pkg/operator/logging"
	"sigs.k8s.io/karpenter/pkg/operator/options"
	kscheduling "sigs.k8s.io/karpenter/pkg/scheduling"
	"sigs.k8s.io/karpenter/pkg/test"
	"sigs.k8s.io/karpenter/pkg/utils/daemonset"
)

// The AWS provider's labels for an instance type's category and generation.
// Karpenter's core does not know them; the AWS provider registers them as
// well-known, and so does this harness (see init).
const (
	labelInstanceCategory   = "karpenter.k8s.aws/instance-category"
	labelInstanceGeneration = "karpenter.k8s.aws/instance-generation"
)

func init() {
	v1.WellKnownLabels.Insert(labelInstanceCategory, labelInstanceGeneration)
}

// karpenterInstanceTypes converts Tailor's catalog into Karpenter instance
// types, the way a Karpenter cloud provider would describe them: a
// single-valued requirement per well-known label, zone and capacity type
// over the available offerings, and one offering per (zone, capacity type)
// with its price and availability.
func karpenterInstanceTypes(its []*instancetype.InstanceType) []*cloudprovider.InstanceType {
	var out []*cloudprovider.InstanceType
	for _, it := range its {
		labels := it.Requirements.Labels()
		zones, capacityTypes := sets.New[string](), sets.New[string]()
		var offerings cloudprovider.Offerings
		for _, o := range it.Offerings {
			if o.CapacityType != "on-demand" && o.CapacityType != "spot" {
				continue // reserved offerings need reservation IDs in Karpenter; the catalog has none
			}
			offerings = append(offerings, &cloudprovider.Offering{
				Requirements: kscheduling.NewLabelRequirements(map[string]string{
					v1.CapacityTypeLabelKey:  o.CapacityType,
					corev1.LabelTopologyZone: o.Zone,
				}),
				Price:     o.Price,
				Available: o.Available,
			})
			if o.Available {
				zones.Insert(o.Zone)
				capacityTypes.Insert(o.CapacityType)
			}
		}
		reqs := kscheduling.NewRequirements(
			kscheduling.NewRequirement(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, it.Name),
			kscheduling.NewRequirement(corev1.LabelArchStable, corev1.NodeSelectorOpIn, values(it, corev1.LabelArchStable)...),
			kscheduling.NewRequirement(corev1.LabelOSStable, corev1.NodeSelectorOpIn, values(it, corev1.LabelOSStable)...),
			kscheduling.NewRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, sets.List(zones)...),
			kscheduling.NewRequirement(v1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, sets.List(capacityTypes)...),
		)
		// As the AWS provider does: a type whose name gives no category or
		// generation gets a requirement without values (DoesNotExist).
		reqs.Add(
			kscheduling.NewRequirement(labelInstanceCategory, corev1.NodeSelectorOpIn, nonEmpty(labels[tailorv1.LabelInstanceCategory])...),
			kscheduling.NewRequirement(labelInstanceGeneration, corev1.NodeSelectorOpIn, nonEmpty(labels[tailorv1.LabelInstanceGeneration])...),
		)
		if region := labels[corev1.LabelTopologyRegion]; region != "" {
			reqs.Add(kscheduling.NewRequirement(corev1.LabelTopologyRegion, corev1.NodeSelectorOpIn, region))
		}
		out = append(out, &cloudprovider.InstanceType{
			Name:         it.Name,
			Requirements: reqs,
			Offerings:    offerings,
			Capacity:     it.Capacity.DeepCopy(),
			Overhead: &cloudprovider.InstanceTypeOverhead{
				KubeReserved:      it.Overhead.KubeReserved.DeepCopy(),
				SystemReserved:    it.Overhead.SystemReserved.DeepCopy(),
				EvictionThreshold: it.Overhead.EvictionThreshold.DeepCopy(),
			},
		})
	}
	return out
}

func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// values are the values Tailor's instance type allows for a label (arch and
// os; a type may run several operating systems).
func values(it *instancetype.InstanceType, key string) []string {
	if r := it.Requirements.Get(key); r != nil {
		return r.Values()
	}
	return nil
}

// runKarpenter drives Karpenter's scheduler as its own scheduling benchmark
// does (scheduling_benchmark_test.go): fake controller-runtime client, empty
// cluster state, one NodePool with very large limits, NewTopology,
// NewScheduler, then Solve.
func runKarpenter(pods []*corev1.Pod, workers int) result {
	log.SetLogger(logging.NopLogger)
	setup := time.Now()
	instanceTypes := karpenterInstanceTypes(loadCatalog())
	if m := checkConversion(instanceTypes); m > 0 {
		fatalf("%d converted instance types lack arch or os", m)
	}

	ctx := options.ToContext(injection.WithControllerName(context.Background(), "provisioner"), test.Options())
	requirements := []v1.NodeSelectorRequirementWithMinValues{{
		Key: v1.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand", "spot"},
	}}
	if nodePoolKind == "getting-started" {
		// The instance requirements of Karpenter's getting-started NodePool.
		requirements = append(requirements,
			v1.NodeSelectorRequirementWithMinValues{Key: labelInstanceCategory, Operator: corev1.NodeSelectorOpIn, Values: []string{"c", "m", "r"}},
			v1.NodeSelectorRequirementWithMinValues{Key: labelInstanceGeneration, Operator: corev1.NodeSelectorOpGt, Values: []string{"2"}},
		)
	}
	var daemonSetPods []*corev1.Pod
	if withDaemonSets {
		// As the provisioner does: one pod per DaemonSet, from its template.
		for _, ds := range workload.DaemonSets() {
			daemonSetPods = append(daemonSetPods, daemonset.PodForDaemonSet(ds))
		}
	}
	nodePool := test.NodePool(v1.NodePool{
		Spec: v1.NodePoolSpec{
			Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
				Requirements: requirements,
			}},
			Limits: v1.Limits{
				corev1.ResourceCPU:    resource.MustParse("10000000"),
				corev1.ResourceMemory: resource.MustParse("10000000Gi"),
			},
		},
	})
	cp := fake.NewCloudProvider()
	cp.InstanceTypes = instanceTypes
	client := fakecr.NewFakeClient()
	clk := &clock.RealClock{}
	cluster := state.NewCluster(clk, client, cp)
	byPool := map[string][]*cloudprovider.InstanceType{nodePool.Name: instanceTypes}
	opts := []ksched.Options{ksched.NumConcurrentReconciles(workers)}
	topology, err := ksched.NewTopology(ctx, client, cluster, nil, []*v1.NodePool{nodePool}, byPool, pods, opts...)
	if err != nil {
		fatalf("karpenter topology: %v", err)
	}
	scheduler := ksched.NewScheduler(ctx, client, []*v1.NodePool{nodePool}, cluster, nil, topology, byPool, daemonSetPods,
		events.NewRecorder(&record.FakeRecorder{}), clk, nil, nil, opts...)
	setupSeconds := time.Since(setup).Seconds()

	runtime.GC()
	base := vmRSS()
	a0 := allocBytes()
	start := time.Now()
	res, err := scheduler.Solve(ctx, pods)
	elapsed := time.Since(start).Seconds()
	if err != nil {
		fatalf("karpenter solve: %v", err)
	}
	r := result{
		Nodes: len(res.NewNodeClaims), Unschedulable: len(res.PodErrors),
		SolveSeconds: elapsed, SetupSeconds: setupSeconds, BaseRSSMB: base,
		AllocMB: float64(allocBytes()-a0) / (1 << 20),
	}
	// What Karpenter would launch: the cheapest available offering compatible
	// with the NodeClaim's requirements among its instance type options.
	unpriced := 0
	for _, nc := range res.NewNodeClaims {
		r.Scheduled += len(nc.Pods)
		best, bestType := math.Inf(1), ""
		for _, it := range nc.InstanceTypeOptions {
			if of := it.Offerings.Available().Compatible(nc.Requirements).Cheapest(); of != nil && of.Price < best {
				best, bestType = of.Price, it.Name+"/"+of.CapacityType()
			}
		}
		if os.Getenv("COMPARE_DEBUG") != "" {
			req := corev1.ResourceList{}
			for _, p := range nc.Pods {
				for k, v := range p.Spec.Containers[0].Resources.Requests {
					q := req[k]
					q.Add(v)
					req[k] = q
				}
			}
			fmt.Fprintf(os.Stderr, "karpenter claim: %d pods, cpu %s mem %s, %d options, cheapest %s $%.3f\n", len(nc.Pods), req.Cpu(), req.Memory(), len(nc.InstanceTypeOptions), bestType, best)
		}
		if math.IsInf(best, 1) {
			unpriced++
			continue
		}
		r.PricePerHour += best
	}
	if unpriced > 0 {
		r.Note = fmt.Sprintf("%d NodeClaims with no available compatible offering", unpriced)
	}
	if len(res.PodErrors) > 0 {
		for _, e := range res.PodErrors {
			r.Note += fmt.Sprintf(" first pod error: %v", e)
			break
		}
	}
	return r
}

// checkConversion reports how many converted types lack an arch or os value.
func checkConversion(its []*cloudprovider.InstanceType) (missing int) {
	for _, it := range its {
		if !it.Requirements.Has(corev1.LabelArchStable) || it.Requirements.Get(corev1.LabelArchStable).Len() == 0 ||
			it.Requirements.Get(corev1.LabelOSStable).Len() == 0 {
			missing++
		}
	}
	return missing
}
