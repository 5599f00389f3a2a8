package scheduling

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
)

// boundCases is how many small random cases are solved by brute force.
const boundCases = 300

// TestLowerBoundBelowBruteForceOptimum checks the lower bound, and the
// plan, against the true optimum on small random cases: a few pod shapes in
// small counts, a few instance types with random prices, one pool without
// limits. The optimum is found by exhaustive search over how many pods of
// each shape each node takes, so the bound may not exceed it and the plan
// may not cost less.
func TestLowerBoundBelowBruteForceOptimum(t *testing.T) {
	rng := rand.New(rand.NewPCG(20260301, 12))
	var tight int
	for seed := range boundCases {
		bc := randomBoundCase(rng)
		pool := &NodePool{NodePool: &v1.NodePool{}, InstanceTypes: bc.types}
		pool.NodePool.Name = "default"
		in := Input{Pods: bc.pods(), NodePools: []*NodePool{pool}, LowerBound: true}
		r := Solve(in)
		checkValid(t, in, r)
		if len(r.Unschedulable) > 0 {
			t.Fatalf("case %d (%s): %d pods refused, the first because %s", seed, bc, len(r.Unschedulable), r.Unschedulable[0].Reason)
		}
		if r.LowerBoundError != "" {
			t.Fatalf("case %d (%s): no bound: %s", seed, bc, r.LowerBoundError)
		}
		optimum := bc.optimum()
		const tolerance = 1e-6
		if r.LowerBound > optimum*(1+tolerance)+tolerance {
			t.Fatalf("case %d (%s): lower bound %.6f above the optimum %.6f", seed, bc, r.LowerBound, optimum)
		}
		if r.PricePerHour < optimum*(1-tolerance)-tolerance {
			t.Fatalf("case %d (%s): plan costs %.6f, below the optimum %.6f: the brute force or the plan is wrong", seed, bc, r.PricePerHour, optimum)
		}
		if r.LowerBound >= optimum*(1-tolerance) {
			tight++
		}
	}
	t.Logf("%d cases: the bound equals the optimum in %d", boundCases, tight)
}

// boundCase is a small problem: pods of a few shapes and instance types.
type boundCase struct {
	// milliCPU and memMiB are each shape's requests; counts how many pods
	// have it.
	milliCPU, memMiB, counts []int64
	types                    []*instancetype.InstanceType
}

func randomBoundCase(rng *rand.Rand) *boundCase {
	bc := &boundCase{}
	shapes := 1 + rng.IntN(3)
	for range shapes {
		bc.milliCPU = append(bc.milliCPU, 250*(1+rng.Int64N(8)))
		bc.memMiB = append(bc.memMiB, 256*(1+rng.Int64N(16)))
		bc.counts = append(bc.counts, 1+rng.Int64N(4))
	}
	for i := range 2 + rng.IntN(3) {
		cpu := int64(1) << rng.IntN(4)         // 1 to 8 cores
		mem := cpu * 1024 * (1 << rng.IntN(3)) // 1, 2 or 4 GiB a core
		if i == 0 {
			cpu, mem = 8, 32*1024 // one type holds any pod
		}
		price := (0.02 + 0.01*rng.Float64()) * float64(cpu) * (1 + 0.3*rng.Float64()*float64(mem/cpu/1024))
		name := fmt.Sprintf("t%d-%dc-%dg", i, cpu, mem/1024)
		bc.types = append(bc.types, &instancetype.InstanceType{
			Name:         name,
			Requirements: requirements.NewRequirements(requirements.MustNew(corev1.LabelInstanceTypeStable, requirements.OpIn, name)),
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewQuantity(cpu, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(mem<<20, resource.BinarySI),
				corev1.ResourcePods:   *resource.NewQuantity(int64(2+rng.IntN(10)), resource.DecimalSI),
			},
			Offerings: instancetype.Offerings{{Zone: "z1", CapacityType: v1.CapacityTypeOnDemand, Price: price, Available: true}},
		})
	}
	return bc
}

func (bc *boundCase) String() string {
	s := ""
	for i := range bc.counts {
		s += fmt.Sprintf("%d×(%dm, %dMi) ", bc.counts[i], bc.milliCPU[i], bc.memMiB[i])
	}
	for _, it := range bc.types {
		s += fmt.Sprintf("%s(%s pods, $%.4f) ", it.Name, it.Capacity.Pods(), it.Offerings[0].Price)
	}
	return s
}

func (bc *boundCase) pods() []*corev1.Pod {
	var out []*corev1.Pod
	for i, n := range bc.counts {
		for j := range n {
			out = append(out, pod(fmt.Sprintf("shape%d-%d", i, j), fmt.Sprintf("%dm", bc.milliCPU[i]), fmt.Sprintf("%dMi", bc.memMiB[i])))
		}
	}
	return out
}

// optimum is the least price of nodes that hold every pod, by exhaustive
// search: the cheapest way to place what is left is, over every type and
// every non-empty number of pods of each shape that fits one node of it,
// that node's price plus the cheapest way to place the rest.
func (bc *boundCase) optimum() float64 {
	memo := map[[3]int64]float64{}
	var best func(left [3]int64) float64
	best = func(left [3]int64) float64 {
		if left == ([3]int64{}) {
			return 0
		}
		if v, ok := memo[left]; ok {
			return v
		}
		out := math.Inf(1)
		for _, it := range bc.types {
			cpu, mem, maxPods := it.Capacity.Cpu().MilliValue(), it.Capacity.Memory().Value()>>20, it.Capacity.Pods().Value()
			var take [3]int64
			var try func(shape int, cpuLeft, memLeft, podsLeft int64)
			try = func(shape int, cpuLeft, memLeft, podsLeft int64) {
				if shape == len(bc.counts) {
					if take != ([3]int64{}) {
						rest := left
						for i := range take {
							rest[i] -= take[i]
						}
						out = min(out, it.Offerings[0].Price+best(rest))
					}
					return
				}
				for k := int64(0); k <= left[shape]; k++ {
					if k*bc.milliCPU[shape] > cpuLeft || k*bc.memMiB[shape] > memLeft || k > podsLeft {
						break
					}
					take[shape] = k
					try(shape+1, cpuLeft-k*bc.milliCPU[shape], memLeft-k*bc.memMiB[shape], podsLeft-k)
				}
				take[shape] = 0
			}
			try(0, cpu, mem, maxPods)
		}
		memo[left] = out
		return out
	}
	var start [3]int64
	copy(start[:], bc.counts)
	return best(start)
}
