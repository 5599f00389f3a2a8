package scheduling

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
)

// maxBoundEntries caps the dense program's size: beyond it gonum's simplex
// takes minutes.
const maxBoundEntries = 1_500_000

// shape is the pods of one class that went to new nodes.
type shape struct {
	requests vec
	count    float64
	oneEach  bool
	class    *pending
}

// boundColumn is a kind of node in the bound's program: a price, the room a
// node has, and the shapes (a bitset by shape index) it can hold.
type boundColumn struct {
	price float64
	free  vec
	set   []uint64
}

// serves reports whether the column can hold pods of shape si.
func (c *boundColumn) serves(si int) bool { return c.set[si/64]&(1<<(si%64)) != 0 }

// lowerBound computes a lower bound on the hourly price of any set of new
// nodes that holds the pods the decision put on new nodes. It is the optimum
// of a linear program that ties each pod's resources to one instance type:
//
//	minimise    Σ_c price(c)·x(c)
//	subject to  Σ_c y(s,c) = n(s)                      for every pod shape s
//	            Σ_s req(s,r)·y(s,c) ≤ free(c,r)·x(c)   for every column c and resource r
//	            y(s,c) ≤ x(c)                           for shapes allowing one pod per node
//	            y, x ≥ 0
//
// where a column c is a kind of node (pool, instance type and offering),
// y(s,c) may be positive only if one pod of shape s fits an empty node of c,
// and x(c) is a (fractional) number of such nodes. Any real set of nodes is a
// feasible point, so the optimum is a valid bound; unlike a bound that buys
// cpu on one type and memory on another, it charges each pod on a single
// kind of node.
//
// Columns that another column dominates (it serves at least the same shapes,
// holds every one of their pods, and gives at least as much of every
// resource per dollar) are dropped first: the optimum never needs them, and
// the program stays small enough for a dense simplex.
func lowerBound(d *dims, pools []*pool, classes []*pending) (bound float64, problem string) {
	shapes := shapesOnNewNodes(classes)
	if len(shapes) == 0 {
		return 0, ""
	}
	resources := requestedResources(d, shapes)
	columns := undominatedColumns(nodeColumns(pools, shapes), shapes, resources)
	for i, s := range shapes {
		if !slices.ContainsFunc(columns, func(c *boundColumn) bool { return c.serves(i) }) {
			return 0, fmt.Sprintf("no kind of node holds a pod of %s", s.class.describe())
		}
	}
	prog := newBoundProgram(d, shapes, columns, resources)
	if prog.rows*prog.cols > maxBoundEntries {
		return 0, fmt.Sprintf("skipped: the bound's linear program would have %d×%d entries (%d pod shapes, %d kinds of node), more than this dense solver handles in reasonable time",
			prog.rows, prog.cols, len(shapes), len(columns))
	}
	prog.fill()
	return solveLP(prog.c, prog.A, prog.b, prog.startingBasis())
}

// shapesOnNewNodes are the classes that have pods on new nodes, as shapes.
func shapesOnNewNodes(classes []*pending) []*shape {
	var shapes []*shape
	for _, c := range classes {
		if c.onNewNodes > 0 {
			shapes = append(shapes, &shape{requests: c.requests, count: float64(c.onNewNodes), oneEach: c.perNodeLimit == 1, class: c})
		}
	}
	return shapes
}

// nodeColumns lists the kinds of node the pools can launch: per instance
// type, one column per distinct set of shapes its offerings serve, at the
// cheapest offering that serves that set. Offerings that serve no shape are
// left out.
func nodeColumns(pools []*pool, shapes []*shape) []*boundColumn {
	words := (len(shapes) + 63) / 64
	var columns []*boundColumn
	for _, p := range pools {
		for _, t := range p.types {
			bySet := map[string]*boundColumn{}
			for _, o := range t.offerings {
				set := make([]uint64, words)
				for i, s := range shapes {
					if _, ok := t.free.fits(s.requests); !ok {
						continue
					}
					if servesClass(p, t, o, s.class) {
						set[i/64] |= 1 << (i % 64)
					}
				}
				key := fmt.Sprint(set)
				if allZero(set) {
					continue
				}
				if c, ok := bySet[key]; !ok || o.Price < c.price {
					bySet[key] = &boundColumn{price: o.Price, free: t.free, set: set}
				}
			}
			for _, c := range bySet {
				columns = append(columns, c)
			}
		}
	}
	return columns
}

// requestedResources are the dimensions some shape asks for: the only ones
// the program constrains.
func requestedResources(d *dims, shapes []*shape) []int {
	var resources []int
	for r := range d.names {
		for _, s := range shapes {
			if s.requests[r] > 0 {
				resources = append(resources, r)
				break
			}
		}
	}
	return resources
}

// undominatedColumns drops the columns another column dominates, to keep
// the dense program small; of two equivalent ones, the first stays.
func undominatedColumns(columns []*boundColumn, shapes []*shape, resources []int) []*boundColumn {
	// b gives at least what a gives per dollar: of every resource, and of
	// room for whole pods of every shape a serves.
	perDollarAtLeast := func(a, b *boundColumn) bool {
		for _, r := range resources {
			if float64(b.free[r])*a.price < float64(a.free[r])*b.price {
				return false
			}
		}
		for si, s := range shapes {
			if a.serves(si) && float64(s.perNode(b.free))*a.price < float64(s.perNode(a.free))*b.price {
				return false
			}
		}
		return true
	}
	kept := columns[:0:0]
	for i, a := range columns {
		dominated := false
		for j, b := range columns {
			if i == j || !subset(a.set, b.set) || !perDollarAtLeast(a, b) {
				continue
			}
			equivalent := subset(b.set, a.set) && perDollarAtLeast(b, a)
			if !equivalent || j < i {
				dominated = true
				break
			}
		}
		if !dominated {
			kept = append(kept, a)
		}
	}
	return kept
}

// boundPair is a shape s that column c serves, with k(s,c), the most pods of
// s a node of c holds (one for pods that repel each other).
type boundPair struct {
	s, c int
	k    float64
}

// boundProgram is the bound's linear program in the form gonum's simplex
// takes: minimise c·v subject to A·v = b, v ≥ 0.
//
// Variables: y(s,c) for each served pair, then x(c), then one slack per
// inequality row. Rows: one per shape, one per column and resource, and one
// per pair saying that a node of c holds at most k(s,c) pods of s. The last
// rows are what make the bound tight: without them the program may put 1.9
// pods on a node that holds one.
type boundProgram struct {
	shapes    []*shape
	columns   []*boundColumn
	resources []int
	pairs     []boundPair
	// scale divides each resource so that the largest free amount is 1,
	// for the simplex's numerical health.
	scale []float64
	// rows and cols are the matrix's size; capacityRows counts the rows
	// per column and resource.
	rows, cols, capacityRows int
	// xAt and slackAt are the indices of the first x(c) and slack variable.
	xAt, slackAt int
	A            *mat.Dense
	b, c         []float64
}

// newBoundProgram lays out the program's variables and rows; fill sets
// them.
func newBoundProgram(d *dims, shapes []*shape, columns []*boundColumn, resources []int) *boundProgram {
	prog := &boundProgram{shapes: shapes, columns: columns, resources: resources, scale: make([]float64, len(d.names))}
	for _, r := range resources {
		for _, c := range columns {
			prog.scale[r] = math.Max(prog.scale[r], float64(c.free[r]))
		}
		if prog.scale[r] == 0 {
			prog.scale[r] = 1
		}
	}
	for ci, col := range columns {
		for si, s := range shapes {
			if col.serves(si) {
				prog.pairs = append(prog.pairs, boundPair{si, ci, float64(s.perNode(col.free))})
			}
		}
	}
	prog.capacityRows = len(columns) * len(resources)
	prog.rows = len(shapes) + prog.capacityRows + len(prog.pairs)
	prog.xAt = len(prog.pairs)
	prog.slackAt = prog.xAt + len(columns)
	prog.cols = prog.slackAt + prog.capacityRows + len(prog.pairs)
	return prog
}

// capRow is the row of column ci's capacity for the ri-th resource.
func (prog *boundProgram) capRow(ci, ri int) int {
	return len(prog.shapes) + ci*len(prog.resources) + ri
}

// pairRow is the row that caps pair pi's pods per node.
func (prog *boundProgram) pairRow(pi int) int { return len(prog.shapes) + prog.capacityRows + pi }

// fill allocates and sets the program's matrix and vectors.
func (prog *boundProgram) fill() {
	prog.A = mat.NewDense(prog.rows, prog.cols, nil)
	prog.b = make([]float64, prog.rows)
	prog.c = make([]float64, prog.cols)
	for ci, col := range prog.columns {
		prog.c[prog.xAt+ci] = col.price
	}
	for si, s := range prog.shapes {
		prog.b[si] = s.count
	}
	// The capacity rows are degenerate (their right-hand side is 0), which
	// can stall the dense simplex on a singular basis. Loosening each by a
	// distinct tiny amount breaks the ties; loosening a constraint can only
	// lower the optimum, so the bound stays valid.
	for row := len(prog.shapes); row < prog.rows; row++ {
		prog.b[row] = 1e-7 * (1 + float64(row%97)/97)
	}
	for pi, p := range prog.pairs {
		prog.A.Set(p.s, pi, 1)
		for ri, r := range prog.resources {
			prog.A.Set(prog.capRow(p.c, ri), pi, float64(prog.shapes[p.s].requests[r])/prog.scale[r])
		}
		prog.A.Set(prog.pairRow(pi), pi, 1)
		prog.A.Set(prog.pairRow(pi), prog.xAt+p.c, -p.k)
		prog.A.Set(prog.pairRow(pi), prog.slackAt+prog.capacityRows+pi, 1)
	}
	for ci, col := range prog.columns {
		for ri, r := range prog.resources {
			prog.A.Set(prog.capRow(ci, ri), prog.xAt+ci, -float64(col.free[r])/prog.scale[r])
			prog.A.Set(prog.capRow(ci, ri), prog.slackAt+(prog.capRow(ci, ri)-len(prog.shapes)), 1)
		}
	}
}

// startingBasis is a feasible basis to start the simplex from, which spares
// it a first phase: every shape on its cheapest column per pod, as many
// nodes of each column as its most binding row needs, and the slacks of all
// other rows.
func (prog *boundProgram) startingBasis() []int {
	chosen := prog.cheapestPairs()
	yValue := make([]float64, len(prog.pairs))
	for si, q := range chosen {
		yValue[q] = prog.shapes[si].count
	}
	basic := make([]int, 0, prog.rows)
	basic = append(basic, chosen...)
	leaves := map[int]bool{}
	for ci := range prog.columns {
		if row := prog.bindingRow(ci, yValue); row >= 0 {
			basic = append(basic, prog.xAt+ci)
			leaves[row] = true
		}
	}
	for row := len(prog.shapes); row < prog.rows; row++ {
		if !leaves[row] {
			basic = append(basic, prog.slackAt+row-len(prog.shapes))
		}
	}
	return basic
}

// cheapestPairs gives, per shape, the pair whose column holds its pods for
// the least per pod.
func (prog *boundProgram) cheapestPairs() []int {
	chosen := make([]int, len(prog.shapes))
	for si := range chosen {
		chosen[si] = -1
	}
	for pi, p := range prog.pairs {
		perPod := prog.columns[p.c].price / p.k
		if q := chosen[p.s]; q < 0 || perPod < prog.columns[prog.pairs[q].c].price/prog.pairs[q].k {
			chosen[p.s] = pi
		}
	}
	return chosen
}

// bindingRow is the row of column ci that needs the most nodes of it for
// the pods yValue puts there (as perturbed), or -1 when none needs any:
// x(c) is the least that satisfies every row of c, so that row is tight and
// its slack leaves the basis.
func (prog *boundProgram) bindingRow(ci int, yValue []float64) int {
	binding := -1
	rowsOfColumn := make([]int, 0, len(prog.resources)+len(prog.shapes))
	for ri := range prog.resources {
		rowsOfColumn = append(rowsOfColumn, prog.capRow(ci, ri))
	}
	for pi, p := range prog.pairs {
		if p.c == ci {
			rowsOfColumn = append(rowsOfColumn, prog.pairRow(pi))
		}
	}
	most := 0.0
	for _, row := range rowsOfColumn {
		coef := -prog.A.At(row, prog.xAt+ci)
		if coef <= 0 {
			continue
		}
		lhs := 0.0
		for pi := range prog.pairs {
			if yValue[pi] != 0 {
				lhs += prog.A.At(row, pi) * yValue[pi]
			}
		}
		if need := (lhs - prog.b[row]) / coef; lhs > 0 && need > most {
			most, binding = need, row
		}
	}
	return binding
}

// perNode is how many pods of the shape a node with free room holds.
func (s *shape) perNode(free vec) int64 {
	if s.oneEach {
		return min(1, free.times(s.requests))
	}
	return free.times(s.requests)
}

func solveLP(c []float64, A *mat.Dense, b []float64, basic []int) (opt float64, problem string) {
	defer func() {
		if r := recover(); r != nil {
			opt, problem = 0, fmt.Sprintf("the lower bound's linear program failed: %v", r)
		}
	}()
	opt, _, err := lp.Simplex(c, A, b, 1e-9, basic)
	if err != nil {
		return 0, fmt.Sprintf("the lower bound's linear program failed: %v", err)
	}
	return opt, ""
}

// servesClass reports whether a node of type t in pool p, bought at offering
// o, can hold pods of class c.
func servesClass(p *pool, t *poolType, o instancetype.Offering, c *pending) bool {
	if c.err != nil || !tolerates(c.tolerations, p.taints) {
		return false
	}
	for _, term := range c.terms {
		if p.reqs.Compatible(term, func(key string) bool { return v1.WellKnownLabels[key] }) != nil {
			continue
		}
		reqs := p.reqs.Merge(term)
		if t.it.Compatible(reqs) == nil && len(instancetype.Offerings{o}.Compatible(reqs)) == 1 {
			return true
		}
	}
	return false
}

func allZero(set []uint64) bool {
	for _, w := range set {
		if w != 0 {
			return false
		}
	}
	return true
}

func subset(a, b []uint64) bool {
	for i := range a {
		if a[i]&^b[i] != 0 {
			return false
		}
	}
	return true
}
