// Command compare runs Karpenter's scheduler (sigs.k8s.io/karpenter, imported
// as a module) and Tailor's core solver on the same generated workloads and
// the same instance catalog, each in its own child process, and prints a
// comparison table.
//
//	go run ./cmd/compare                      # default set of runs
//	go run ./cmd/compare -runs resources:1000,mixed:1000
//	go run ./cmd/compare -nodepool getting-started -daemonsets -runs distinct:1000
//
// The pods come from core/scheduling/workload, the generator the core's own
// benchmarks use.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/tailor-sh/tailor/core/catalog"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/scheduling/workload"
)

// result is what a child process reports on stdout as JSON.
type result struct {
	Scheduler     string  `json:"scheduler"`
	Workload      string  `json:"workload"`
	Pods          int     `json:"pods"`
	Scheduled     int     `json:"scheduled"`
	Unschedulable int     `json:"unschedulable"`
	Nodes         int     `json:"nodes"`
	PricePerHour  float64 `json:"pricePerHour"`
	LowerBound    float64 `json:"lowerBound,omitempty"`
	BoundError    string  `json:"boundError,omitempty"`
	SolveSeconds  float64 `json:"solveSeconds"`
	SetupSeconds  float64 `json:"setupSeconds"`
	AllocMB       float64 `json:"allocMB"`
	PeakRSSMB     float64 `json:"peakRSSMB"`
	BaseRSSMB     float64 `json:"baseRSSMB"`
	Note          string  `json:"note,omitempty"`
	NodePool      string  `json:"nodePool,omitempty"`
	DaemonSets    int     `json:"daemonSets,omitempty"`
}

func main() {
	child := flag.String("child", "", "internal: run one scheduler (tailor, karpenter, bound) in this process")
	wlName := flag.String("workload", "resources", "internal: workload for -child (resources, mixed or distinct)")
	n := flag.Int("n", 1000, "internal: number of pods for -child")
	seed := flag.Uint64("seed", 7, "workload seed")
	workers := flag.Int("karpenter-workers", 5, "Karpenter NumConcurrentReconciles (its benchmark uses 5)")
	runs := flag.String("runs", "resources:1000,resources:5000,mixed:1000,mixed:5000", "comma-separated workload:pods to run")
	skipKarpenterAbove := flag.Int("karpenter-max", 1<<30, "skip Karpenter for runs with more pods than this")
	jsonOut := flag.String("json", "", "also write the raw results to this file")
	flag.IntVar(&maxCPU, "catalog-max-cpu", 0, "drop instance types with more vCPUs than this from the catalog, for both schedulers (0: keep all)")
	flag.StringVar(&nodePoolKind, "nodepool", "open", "the NodePool both schedulers get: open (no requirements) or getting-started (Karpenter's getting-started requirements: instance category c, m or r, generation > 2)")
	flag.BoolVar(&withDaemonSets, "daemonsets", false, "give both schedulers two DaemonSets that run on every node (a log agent, 100m/256Mi, and a node exporter, 50m/64Mi)")
	flag.Parse()
	if nodePoolKind != "open" && nodePoolKind != "getting-started" {
		fatalf("bad -nodepool %q, want open or getting-started", nodePoolKind)
	}

	if *child != "" {
		pods := generate(*wlName, *n, *seed, *child == "karpenter")
		var r result
		switch *child {
		case "tailor":
			r = runTailor(pods, false)
		case "bound":
			r = runTailor(pods, true)
		case "karpenter":
			r = runKarpenter(pods, *workers)
		default:
			fatalf("unknown -child %q", *child)
		}
		r.Scheduler, r.Workload, r.Pods = *child, *wlName, len(pods)
		r.NodePool = nodePoolKind
		if withDaemonSets {
			r.DaemonSets = len(workload.DaemonSets())
		}
		r.PeakRSSMB = vmHWM()
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			fatalf("%v", err)
		}
		return
	}

	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	var all []result
	tw := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(os.Stderr, "catalog aws-us-west-2 (%d types, max cpu %d), nodepool %s, daemonsets %v, seed %d, karpenter workers %d, GOMAXPROCS default\n",
		len(loadCatalog()), maxCPU, nodePoolKind, withDaemonSets, *seed, *workers)
	for _, spec := range strings.Split(*runs, ",") {
		wl, ns, ok := strings.Cut(strings.TrimSpace(spec), ":")
		count, err := strconv.Atoi(ns)
		if !ok || err != nil || !slices.Contains(workload.Kinds, workload.Kind(wl)) {
			fatalf("bad run %q, want resources:N, mixed:N or distinct:N", spec)
		}
		bound := runChild(self, "bound", wl, count, *seed, *workers)
		rows := []result{runChild(self, "tailor", wl, count, *seed, *workers)}
		if count <= *skipKarpenterAbove {
			rows = append(rows, runChild(self, "karpenter", wl, count, *seed, *workers))
		}
		for _, r := range rows {
			r.LowerBound, r.BoundError = bound.LowerBound, bound.BoundError
			all = append(all, r)
		}
		all = append(all, bound)
	}
	fmt.Fprintln(tw, "workload\tscheduler\tpods\tsolve s\tpods/s\tnodes\t$/hour\t÷ bound\tunsched\tpeak RSS MB\talloc MB\t")
	for _, r := range all {
		if r.Scheduler == "bound" {
			if r.LowerBound <= 0 {
				fmt.Fprintf(tw, "%s\t(tailor LP bound)\t%d\t%.2f\t\t\tskipped\t\t\t%.0f\t%.0f\t\n", r.Workload, r.Pods, r.SolveSeconds, r.PeakRSSMB, r.AllocMB)
				continue
			}
			fmt.Fprintf(tw, "%s\t(tailor LP bound)\t%d\t%.2f\t\t\t%.3f\t1.000\t\t%.0f\t%.0f\t\n", r.Workload, r.Pods, r.SolveSeconds, r.LowerBound, r.PeakRSSMB, r.AllocMB)
			continue
		}
		ratio := "n/a"
		if r.LowerBound > 0 {
			ratio = fmt.Sprintf("%.3f", r.PricePerHour/r.LowerBound)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.0f\t%d\t%.3f\t%s\t%d\t%.0f\t%.0f\t\n", r.Workload, r.Scheduler, r.Pods, r.SolveSeconds,
			float64(r.Pods)/r.SolveSeconds, r.Nodes, r.PricePerHour, ratio, r.Unschedulable, r.PeakRSSMB, r.AllocMB)
	}
	tw.Flush()
	for _, r := range all {
		if r.Note != "" || r.BoundError != "" {
			fmt.Printf("note %s/%s/%d: %s %s\n", r.Workload, r.Scheduler, r.Pods, r.Note, r.BoundError)
		}
	}
	if *jsonOut != "" {
		data, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(*jsonOut, data, 0o644); err != nil {
			fatalf("%v", err)
		}
	}
}

func runChild(self, which, wl string, n int, seed uint64, workers int) result {
	start := time.Now()
	cmd := exec.Command(self, "-child", which, "-workload", wl, "-n", strconv.Itoa(n),
		"-seed", strconv.FormatUint(seed, 10), "-karpenter-workers", strconv.Itoa(workers), "-catalog-max-cpu", strconv.Itoa(maxCPU),
		"-nodepool", nodePoolKind, "-daemonsets="+strconv.FormatBool(withDaemonSets))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fatalf("child %s %s:%d: %v", which, wl, n, err)
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		fatalf("child %s %s:%d: bad output %q: %v", which, wl, n, out, err)
	}
	fmt.Fprintf(os.Stderr, "%-9s %-9s %6d pods: solve %.2fs, %d nodes, $%.3f/h, %d unschedulable, peak RSS %.0f MB (child wall %.1fs)\n",
		which, wl, n, r.SolveSeconds, r.Nodes, r.PricePerHour, r.Unschedulable, r.PeakRSSMB, time.Since(start).Seconds())
	return r
}

var (
	maxCPU         int
	nodePoolKind   string
	withDaemonSets bool
)

// generate makes the pods of a run. Both schedulers get the same draws
// (MaxReplicas 500, no dedicated pool); only the capacity-type label key of
// mixed's on-demand selector is each scheduler's own.
func generate(kind string, n int, seed uint64, karpenter bool) []*corev1.Pod {
	o := workload.Options{Kind: workload.Kind(kind), Pods: n, Seed: seed, MaxReplicas: 500}
	if karpenter {
		o.CapacityTypeLabel = karpv1.CapacityTypeLabelKey
	}
	return workload.Deployments(o)
}

// loadCatalog is the built-in aws-us-west-2 catalog, less the types above
// -catalog-max-cpu. Both schedulers get exactly this list.
func loadCatalog() []*instancetype.InstanceType {
	cat, err := catalog.Builtin("aws-us-west-2")
	if err != nil {
		fatalf("%v", err)
	}
	var out []*instancetype.InstanceType
	for _, it := range cat.InstanceTypes {
		if maxCPU > 0 && it.Capacity.Cpu().Value() > int64(maxCPU) {
			continue
		}
		out = append(out, it)
	}
	return out
}

// vmHWM is the process's peak resident set size in MB.
func vmHWM() float64 { return procStatusMB("VmHWM:") }

// vmRSS is the current resident set size in MB.
func vmRSS() float64 { return procStatusMB("VmRSS:") }

// procStatusMB reads a kB field of /proc/self/status in MB; 0 if absent.
func procStatusMB(field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...)
	os.Exit(1)
}
