package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/core/catalog"
	"github.com/tailor-sh/tailor/core/launch"
	"github.com/tailor-sh/tailor/core/scheduling"
	"github.com/tailor-sh/tailor/plan"
)

type planOptions struct {
	files      []string
	catalog    string
	output     string
	lowerBound bool
	// catalogSet says --catalog was given: it then prices every pool,
	// whatever catalog their node classes name.
	catalogSet bool
}

func newPlanCommand() *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan -f PATH...",
		Short: "Show the nodes Tailor would launch for some manifests, with their price",
		Long: `Reads ordinary Kubernetes manifests (Pods, Deployments, ReplicaSets, StatefulSets,
Jobs, CronJobs, DaemonSets, NodePools, node classes, volumes, Namespaces) and
prints the nodes Tailor's scheduling core would launch for their pods, as if
none of them were running yet: instance types, zones, capacity types, prices,
which pod goes where, and what cannot be placed and why. No cluster is needed.

Other kinds (Services, ConfigMaps, Secrets, RBAC, custom resources...) are
skipped and counted on stderr. Objects are decoded strictly (a misspelled field
is an error), checked as the API server would check them (negative replicas,
bad resource quantities, NodePools against Tailor's CRD and its rules), and
NodePool limits are honoured.

With no NodePool in the manifests, a default one allows every instance type,
on-demand and spot. The catalog is a built-in one or a JSON file
(docs/catalogs.md).`,
		Example: `  tailor plan -f deploy.yaml
  tailor plan -f manifests/ --catalog gce-us-central1 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.catalogSet = cmd.Flags().Changed("catalog")
			return runPlan(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	cmd.Flags().StringArrayVarP(&o.files, "filename", "f", nil, "manifest file or folder (repeatable)")
	cmd.Flags().StringVar(&o.catalog, "catalog", catalog.DefaultBuiltin, fmt.Sprintf("built-in catalog %v or a catalog JSON file", catalog.BuiltinNames()))
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	cmd.Flags().BoolVar(&o.lowerBound, "lower-bound", true, "compute a lower bound on the price of any plan (a linear program; slow for thousands of distinct pod shapes)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// planCatalogs loads, once each, the catalogs the plan's pools price from.
type planCatalogs struct {
	stderr      io.Writer
	options     planOptions
	nodeClasses []client.Object
	loaded      map[string]*catalog.Catalog
	order       []string
}

func newPlanCatalogs(stderr io.Writer, o planOptions, nodeClasses []client.Object) *planCatalogs {
	return &planCatalogs{stderr: stderr, options: o, nodeClasses: nodeClasses, loaded: map[string]*catalog.Catalog{}}
}

// forPool returns the catalog a pool prices from: --catalog when given,
// else the one its node class in the manifests names, else the default.
func (c *planCatalogs) forPool(pool *v1.NodePool) (*catalog.Catalog, error) {
	name := c.options.catalog
	if !c.options.catalogSet {
		if named := c.nodeClassCatalog(pool.Spec.Template.Spec.NodeClassRef); named != "" {
			name = named
		}
	}
	if cat, ok := c.loaded[name]; ok {
		return cat, nil
	}
	cat, err := loadCatalog(name)
	if err != nil {
		return nil, fmt.Errorf("NodePool %s: %w", pool.Name, err)
	}
	if n := len(cat.Skipped); n > 0 {
		fmt.Fprintf(c.stderr, "warning: catalog %s: left out %d unusable instance types, for example: %s\n", cat.Name, n, cat.Skipped[0])
	}
	c.loaded[name] = cat
	c.order = append(c.order, cat.Name)
	return cat, nil
}

// nodeClassCatalog returns the catalog that the node class ref names, when
// the manifests hold that class and its provider says which catalog it uses.
func (c *planCatalogs) nodeClassCatalog(ref *v1.NodeClassReference) string {
	provider, ok := cloudprovider.ForNodeClass(ref)
	if !ok || provider.Catalog == nil {
		return ""
	}
	for _, class := range c.nodeClasses {
		if owner, ok := cloudprovider.ForObject(class); ok && owner.Name == provider.Name && class.GetName() == ref.Name {
			return provider.Catalog(class)
		}
	}
	return ""
}

func (c *planCatalogs) names() string { return strings.Join(c.order, ", ") }

func loadCatalog(nameOrFile string) (*catalog.Catalog, error) {
	if slices.Contains(catalog.BuiltinNames(), nameOrFile) {
		return catalog.Builtin(nameOrFile)
	}
	data, err := os.ReadFile(nameOrFile)
	if err != nil {
		return nil, fmt.Errorf("--catalog %s is neither a built-in catalog (%s) nor a readable file: %w", nameOrFile, strings.Join(catalog.BuiltinNames(), ", "), err)
	}
	return catalog.Parse(nameOrFile, data)
}

// planDefaultNodePool allows every instance type, on-demand and spot, of the
// default provider's node class.
func planDefaultNodePool() (*v1.NodePool, error) {
	provider, err := cloudprovider.Lookup("")
	if err != nil {
		return nil, err
	}
	return &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
		Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
			NodeClassRef: provider.NodeClassRef("default"),
			Requirements: []v1.NodeSelectorRequirementWithMinValues{{
				Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand, v1.CapacityTypeSpot},
			}},
		}}},
	}, nil
}

// planOutput is the JSON form of a plan.
type planOutput struct {
	Nodes                  []planNode          `json:"nodes"`
	Existing               []planExisting      `json:"existing"`
	Unschedulable          []planUnschedulable `json:"unschedulable"`
	PodsScheduled          int                 `json:"podsScheduled"`
	TotalPricePerHour      float64             `json:"totalPricePerHour"`
	LowerBoundPricePerHour float64             `json:"lowerBoundPricePerHour"`
	LowerBoundError        string              `json:"lowerBoundError,omitempty"`
	SolveSeconds           float64             `json:"solveSeconds"`
	Warnings               []string            `json:"warnings,omitempty"`
}

type planNode struct {
	NodePool     string   `json:"nodePool"`
	InstanceType string   `json:"instanceType"`
	Zone         string   `json:"zone"`
	CapacityType string   `json:"capacityType"`
	Price        float64  `json:"price"`
	Pods         []string `json:"pods"`
	// Alternatives are the other instance types that could hold the same
	// pods, cheapest first.
	Alternatives []string `json:"alternatives,omitempty"`
}

type planExisting struct {
	Pod  string `json:"pod"`
	Node string `json:"node"`
}

type planUnschedulable struct {
	Pod    string `json:"pod"`
	Source string `json:"source"`
	Reason string `json:"reason"`
}

func runPlan(stdout, stderr io.Writer, o planOptions) error {
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("unknown output format %q: use table or json", o.output)
	}
	objects, err := plan.Load(o.files...)
	if err != nil {
		return err
	}
	if len(objects.Pods) == 0 {
		if skipped := objects.SkippedSummary(); skipped != "" {
			fmt.Fprintln(stderr, "skipped (no effect on placement):", skipped)
		}
		return fmt.Errorf("no pods in %s: give Pods or workloads (Deployments, ReplicaSets, StatefulSets, Jobs)", strings.Join(o.files, ", "))
	}
	pools := objects.NodePools
	if len(pools) == 0 {
		pool, err := planDefaultNodePool()
		if err != nil {
			return err
		}
		pools = []*v1.NodePool{pool}
	}
	in := scheduling.Input{
		Pods: objects.Pods, DaemonSets: objects.DaemonSets, LowerBound: o.lowerBound,
		PersistentVolumeClaims: objects.PersistentVolumeClaims, PersistentVolumes: objects.PersistentVolumes, StorageClasses: objects.StorageClasses,
		Namespaces: objects.Namespaces,
	}
	catalogs := newPlanCatalogs(stderr, o, objects.NodeClasses)
	for _, np := range pools {
		cat, err := catalogs.forPool(np)
		if err != nil {
			return err
		}
		// A pool's limits hold in the plan as in the cluster, which starts
		// here with no nodes: the pool may launch up to its limits.
		in.NodePools = append(in.NodePools, &scheduling.NodePool{NodePool: np, InstanceTypes: cat.InstanceTypes,
			Remaining: launch.Remaining(np, cat.InstanceTypes, nil)})
	}
	began := time.Now()
	result := scheduling.Solve(in)
	out := planOutput{
		TotalPricePerHour:      round(result.PricePerHour),
		LowerBoundPricePerHour: round(result.LowerBound),
		LowerBoundError:        result.LowerBoundError,
		SolveSeconds:           time.Since(began).Seconds(),
		Warnings:               result.Warnings,
		Nodes:                  []planNode{},
		Existing:               []planExisting{},
		Unschedulable:          []planUnschedulable{},
	}
	for _, nc := range result.NodeClaims {
		best := nc.Candidates[0]
		node := planNode{NodePool: nc.NodePool, InstanceType: best.InstanceType.Name, Zone: best.Offering.Zone,
			CapacityType: best.Offering.CapacityType, Price: best.Offering.Price}
		for _, p := range nc.Pods {
			node.Pods = append(node.Pods, p.Name)
		}
		for _, c := range nc.Candidates[1:min(len(nc.Candidates), 6)] {
			node.Alternatives = append(node.Alternatives, c.InstanceType.Name)
		}
		out.Nodes = append(out.Nodes, node)
		out.PodsScheduled += len(nc.Pods)
	}
	for _, e := range result.Existing {
		out.Existing = append(out.Existing, planExisting{Pod: e.Pod.Name, Node: e.Node})
		out.PodsScheduled++
	}
	for _, u := range result.Unschedulable {
		out.Unschedulable = append(out.Unschedulable, planUnschedulable{Pod: u.Pod.Name, Source: objects.Source[u.Pod], Reason: u.Reason})
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printPlanTable(stdout, out, catalogs.names())
	}
	for _, w := range out.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	for _, w := range objects.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if skipped := objects.SkippedSummary(); skipped != "" {
		fmt.Fprintln(stderr, "skipped (no effect on placement):", skipped)
	}
	if len(out.Unschedulable) > 0 {
		byReason := map[string][]string{}
		var order []string
		for _, u := range out.Unschedulable {
			key := u.Source + ": " + u.Reason
			if _, ok := byReason[key]; !ok {
				order = append(order, key)
			}
			byReason[key] = append(byReason[key], u.Pod)
		}
		for _, key := range order {
			fmt.Fprintf(stderr, "cannot schedule %d pod(s) of %s\n", len(byReason[key]), key)
		}
		return fmt.Errorf("%d of %d pods cannot be scheduled", len(out.Unschedulable), len(objects.Pods))
	}
	return nil
}

func round(f float64) float64 { return float64(int64(f*1e5+0.5)) / 1e5 }

const hoursPerMonth = 730

func printPlanTable(w io.Writer, out planOutput, catalogName string) {
	type row struct {
		pool, instanceType, capacityType string
		zones                            map[string]int
		nodes, pods                      int
		price, total                     float64
	}
	rows := map[string]*row{}
	var order []string
	for _, n := range out.Nodes {
		key := n.NodePool + "/" + n.InstanceType + "/" + n.CapacityType
		r, ok := rows[key]
		if !ok {
			r = &row{pool: n.NodePool, instanceType: n.InstanceType, capacityType: n.CapacityType, price: n.Price, zones: map[string]int{}}
			rows[key] = r
			order = append(order, key)
		}
		r.nodes++
		r.pods += len(n.Pods)
		r.total += n.Price
		r.zones[n.Zone]++
	}
	slices.SortStableFunc(order, func(a, b string) int {
		switch {
		case rows[a].total > rows[b].total:
			return -1
		case rows[a].total < rows[b].total:
			return 1
		}
		return strings.Compare(a, b)
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODEPOOL\tINSTANCE TYPE\tCAPACITY\tZONES\tNODES\tPODS\t$/HOUR EACH\t$/HOUR\t$/MONTH")
	for _, key := range order {
		r := rows[key]
		var zones []string
		for z := range r.zones {
			zones = append(zones, z)
		}
		slices.Sort(zones)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%.4f\t%.4f\t%.2f\n", r.pool, r.instanceType, r.capacityType,
			strings.Join(zones, ","), r.nodes, r.pods, r.price, r.total, r.total*hoursPerMonth)
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t\t%d\t%d\t\t%.4f\t%.2f\n", len(out.Nodes), out.PodsScheduled-len(out.Existing), out.TotalPricePerHour, out.TotalPricePerHour*hoursPerMonth)
	tw.Flush()
	fmt.Fprintln(w)
	if out.LowerBoundPricePerHour > 0 {
		fmt.Fprintf(w, "Lower bound for any plan: $%.4f/hour; this plan costs %.1f%% more.\n", out.LowerBoundPricePerHour,
			100*(out.TotalPricePerHour/out.LowerBoundPricePerHour-1))
	} else if out.LowerBoundError != "" {
		fmt.Fprintf(w, "No lower bound: %s\n", out.LowerBoundError)
	}
	fmt.Fprintf(w, "Catalog %s; planned %d pods in %.3fs.\n", catalogName, out.PodsScheduled+len(out.Unschedulable), out.SolveSeconds)
}
