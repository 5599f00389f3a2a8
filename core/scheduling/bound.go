package scheduling

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
)

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

func lowerBound(d *dims, pools []*pool, classes []*pending) (bound float64, problem string) {
	var shapes []*shape
	for _, c := range classes {
		if c.onNewNodes > 0 {
			shapes = append(shapes, &shape{requests: c.requests, count: float64(c.onNewNodes), oneEach: c.perNodeLimit == 1, class: c})
		}
	}
	if len(shapes) == 0 {
		return 0, ""
	}
	words := (len(shapes) + 63) / 64
	type column struct {
		price  float64
		free   vec
		serves []uint64 // bitset of shapes
	}
	var columns []*column
	for _, p := range pools {
		for _, t := range p.types {
			// One column per distinct set of shapes the type's offerings
			// serve, at the cheapest offering that serves that set.
			bySet := map[string]*column{}
			for _, o := range t.offerings {
				serves := make([]uint64, words)
				for i, s := range shapes {
					if _, ok := t.free.fits(s.requests); !ok {
						continue
					}
					if servesClass(p, t, o, s.class) {
						serves[i/64] |= 1 << (i % 64)
					}
				}
				key := fmt.Sprint(serves)
				if allZero(serves) {
					continue
				}
				if c, ok := bySet[key]; !ok || o.Price < c.price {
					bySet[key] = &column{price: o.Price, free: t.free, serves: serves}
				}
			}
			for _, c := range bySet {
				columns = append(columns, c)
			}
		}
	}
	// Resources any shape asks for; scale each so that the largest free
	// amount is 1, for the simplex's numerical health.
	var resources []int
	for r := range d.names {
		for _, s := range shapes {
			if s.requests[r] > 0 {
				resources = append(resources, r)
				break
			}
		}
	}
	// Drop dominated columns; of two equivalent ones, keep the first.
	// b gives at least what a gives per dollar: of every resource, and of
	// room for whole pods of every shape a serves.
	perDollarAtLeast := func(a, b *column) bool {
		for _, r := range resources {
			if float64(b.free[r])*a.price < float64(a.free[r])*b.price {
				return false
			}
		}
		for si, s := range shapes {
			if a.serves[si/64]&(1<<(si%64)) != 0 && float64(s.perNode(b.free))*a.price < float64(s.perNode(a.free))*b.price {
				return false
			}
		}
		return true
	}
	kept := columns[:0:0]
	for i, a := range columns {
		dominated := false
		for j, b := range columns {
			if i == j || !subset(a.serves, b.serves) || !perDollarAtLeast(a, b) {
				continue
			}
			equivalent := subset(b.serves, a.serves) && perDollarAtLeast(b, a)
			if !equivalent || j < i {
				dominated = true
				break
			}
		}
		if !dominated {
			kept = append(kept, a)
		}
	}
	columns = kept

	scale := make([]float64, len(d.names))
	for _, r := range resources {
		for _, c := range columns {
			scale[r] = math.Max(scale[r], float64(c.free[r]))
		}
		if scale[r] == 0 {
			scale[r] = 1
		}
	}
	for i, s := range shapes {
		served := false
		for _, c := range columns {
			served = served || c.serves[i/64]&(1<<(i%64)) != 0
		}
		if !served {
			return 0, fmt.Sprintf("no kind of node holds a pod of %s", s.class.describe())
		}
	}

	// Variables: y(s,c) for each served pair, then x(c), then one slack per
	// inequality row. Rows: one per shape, one per column and resource, and
	// one per pair saying that a node of c holds at most k(s,c) pods of s
	// (the most that fit, or one for pods that repel each other). The last
	// rows are what make the bound tight: without them the program may put
	// 1.9 pods on a node that holds one.
	type pair struct {
		s, c int
		k    float64
	}
	var pairs []pair
	for ci, col := range columns {
		for si, s := range shapes {
			if col.serves[si/64]&(1<<(si%64)) == 0 {
				continue
			}
			pairs = append(pairs, pair{si, ci, float64(s.perNode(col.free))})
		}
	}
	capacityRows := len(columns) * len(resources)
	rows := len(shapes) + capacityRows + len(pairs)
	xAt := len(pairs)
	slackAt := xAt + len(columns)
	cols := slackAt + capacityRows + len(pairs)
	if rows*cols > maxBoundEntries {
		return 0, fmt.Sprintf("skipped: the bound's linear program would have %d×%d entries (%d pod shapes, %d kinds of node), more than this dense solver handles in reasonable time",
			rows, cols, len(shapes), len(columns))
	}
	A := mat.NewDense(rows, cols, nil)
	b := make([]float64, rows)
	c := make([]float64, cols)
	for ci, col := range columns {
		c[xAt+ci] = col.price
	}
	for si, s := range shapes {
		b[si] = s.count
	}
	// The capacity rows are degenerate (their right-hand side is 0), which
	// can stall the dense simplex on a singular basis. Loosening each by a
	// distinct tiny amount breaks the ties; loosening a constraint can only
	// lower the optimum, so the bound stays valid.
	for row := len(shapes); row < rows; row++ {
		b[row] = 1e-7 * (1 + float64(row%97)/97)
	}
	capRow := func(ci, ri int) int { return len(shapes) + ci*len(resources) + ri }
	pairRow := func(pi int) int { return len(shapes) + capacityRows + pi }
	for pi, p := range pairs {
		A.Set(p.s, pi, 1)
		for ri, r := range resources {
			A.Set(capRow(p.c, ri), pi, float64(shapes[p.s].requests[r])/scale[r])
		}
		A.Set(pairRow(pi), pi, 1)
		A.Set(pairRow(pi), xAt+p.c, -p.k)
		A.Set(pairRow(pi), slackAt+capacityRows+pi, 1)
	}
	for ci, col := range columns {
		for ri, r := range resources {
			A.Set(capRow(ci, ri), xAt+ci, -float64(col.free[r])/scale[r])
			A.Set(capRow(ci, ri), slackAt+(capRow(ci, ri)-len(shapes)), 1)
		}
	}

	// A feasible starting basis: every shape on its cheapest column per
	// pod, as many nodes of each column as its most binding row needs, and
	// the slacks of all other rows.
	chosen := make([]int, len(shapes)) // pair index per shape
	for si := range chosen {
		chosen[si] = -1
	}
	for pi, p := range pairs {
		perPod := columns[p.c].price / p.k
		if q := chosen[p.s]; q < 0 || perPod < columns[pairs[q].c].price/pairs[q].k {
			chosen[p.s] = pi
		}
	}
	// x(c) is the least that satisfies every row of c as perturbed; the
	// row that needs the most is tight, and its slack leaves the basis.
	yValue := make([]float64, len(pairs))
	for si, q := range chosen {
		yValue[q] = shapes[si].count
	}
	binding := make([]int, len(columns)) // row whose slack leaves the basis
	for ci := range columns {
		binding[ci] = -1
		rowsOfColumn := make([]int, 0, len(resources)+len(shapes))
		for ri := range resources {
			rowsOfColumn = append(rowsOfColumn, capRow(ci, ri))
		}
		for pi, p := range pairs {
			if p.c == ci {
				rowsOfColumn = append(rowsOfColumn, pairRow(pi))
			}
		}
		most := 0.0
		for _, row := range rowsOfColumn {
			coef := -A.At(row, xAt+ci)
			if coef <= 0 {
				continue
			}
			lhs := 0.0
			for pi := range pairs {
				if yValue[pi] != 0 {
					lhs += A.At(row, pi) * yValue[pi]
				}
			}
			if need := (lhs - b[row]) / coef; lhs > 0 && need > most {
				most, binding[ci] = need, row
			}
		}
	}
	basic := make([]int, 0, rows)
	basic = append(basic, chosen...)
	leaves := map[int]bool{}
	for ci, row := range binding {
		if row >= 0 {
			basic = append(basic, xAt+ci)
			leaves[row] = true
		}
	}
	for row := len(shapes); row < rows; row++ {
		if !leaves[row] {
			basic = append(basic, slackAt+row-len(shapes))
		}
	}
	return solveLP(c, A, b, basic)
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
