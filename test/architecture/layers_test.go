package architecture

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/tailor-sh/tailor/"

// layers ranks the folders of the module, lowest first: a package may import
// packages of its own rank or lower, never higher. The longest matching
// prefix decides a folder's layer. docs/architecture.md draws the same.
var layers = []struct {
	rank     int
	prefixes []string
}{
	{0, []string{"buildinfo", "metrics", "config", "embedded"}},
	{1, []string{"api"}},
	{2, []string{"core"}},
	{3, []string{"cloudprovider"}},
	{4, []string{"controllers/state", "controllers/events"}},
	{5, []string{"controllers"}},
	{6, []string{"providers/"}},
	{7, []string{"operator", "plan"}},
	{8, []string{"providers"}},
	{9, []string{"cli"}},
	{10, []string{"cmd", "hack", "test", "embedded/clustertest"}},
}

// rank returns the layer of a folder of the module.
func rank(dir string) (int, bool) {
	best, found, length := 0, false, -1
	for _, l := range layers {
		for _, p := range l.prefixes {
			if inFolder(dir, p) && len(p) > length {
				best, found, length = l.rank, true, len(p)
			}
		}
	}
	return best, found
}

// inFolder reports whether dir is the folder prefix or below it; a prefix
// ending in "/" means only the folders below it.
func inFolder(dir, prefix string) bool {
	if parent, below := strings.CutSuffix(prefix, "/"); below {
		return strings.HasPrefix(dir, parent+"/")
	}
	return dir == prefix || strings.HasPrefix(dir, prefix+"/")
}

// importEdge is one import of a module package by a file of the module.
type importEdge struct {
	file, from, to string // from and to are folders relative to the module root
	test           bool
}

// moduleImports parses every Go file of the main module (not the bench and
// control-plane modules, which have go.mod files of their own).
func moduleImports(t *testing.T) []importEdge {
	t.Helper()
	root := filepath.Join("..", "..")
	var edges []importEdge
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || fileExists(filepath.Join(path, "go.mod"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			target := strings.Trim(imp.Path.Value, `"`)
			if to, ok := strings.CutPrefix(target, module); ok {
				edges = append(edges, importEdge{file: rel, from: filepath.ToSlash(filepath.Dir(rel)), to: to, test: strings.HasSuffix(path, "_test.go")})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(edges) < 100 {
		t.Fatalf("found only %d imports between the module's packages; is the walk reading the tree?", len(edges))
	}
	return edges
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// testSupport are packages that any test may import, whatever its layer:
// those that exist for tests, and the folder that links every provider in,
// for tests that read or run a provider's objects.
var testSupport = []string{"embedded/clustertest", "controllers/controllertest", "cloudprovider/fake", "providers"}

func TestImportsPointDownTheLayers(t *testing.T) {
	for _, e := range moduleImports(t) {
		if e.test && slices.Contains(testSupport, e.to) {
			continue
		}
		from, ok := rank(e.from)
		if !ok {
			t.Errorf("%s: folder %s has no layer; add it to layers and docs/architecture.md", e.file, e.from)
			continue
		}
		to, ok := rank(e.to)
		if !ok {
			t.Errorf("%s imports %s, which has no layer", e.file, e.to)
			continue
		}
		if to > from {
			t.Errorf("%s imports %s: layer %d imports layer %d above it", e.file, e.to, from, to)
		}
	}
}

func TestControllersImportNoSibling(t *testing.T) {
	shared := []string{"controllers/state", "controllers/events"}
	for _, e := range moduleImports(t) {
		if !strings.HasPrefix(e.from, "controllers/") || !strings.HasPrefix(e.to, "controllers/") || e.from == e.to {
			continue
		}
		if !slices.Contains(shared, e.to) && !strings.HasPrefix(e.to, "controllers/controllertest") {
			t.Errorf("%s imports the controller %s: move what they share into core/ or controllers/state", e.file, e.to)
		}
	}
}

// TestNothingAboveTheProvidersNamesOne keeps providers pluggable: outside
// providers/, non-test code reaches them only through the registry in
// cloudprovider and the one folder that links them all in.
func TestNothingAboveTheProvidersNamesOne(t *testing.T) {
	for _, e := range moduleImports(t) {
		if e.test || e.from == "providers" || strings.HasPrefix(e.from, "providers/") || !strings.HasPrefix(e.to, "providers/") {
			continue
		}
		t.Errorf("%s imports the provider package %s: use cloudprovider's registry, or import github.com/tailor-sh/tailor/providers to link every provider in", e.file, e.to)
	}
}

// TestNoImportCycleBetweenTopLevelFolders reads the packages as go list
// does, without their tests.
func TestNoImportCycleBetweenTopLevelFolders(t *testing.T) {
	graph := map[string]map[string]bool{}
	for _, e := range moduleImports(t) {
		from, to := topLevel(e.from), topLevel(e.to)
		if from == to || e.test {
			continue
		}
		if graph[from] == nil {
			graph[from] = map[string]bool{}
		}
		graph[from][to] = true
	}
	if cycle := findCycle(graph); cycle != nil {
		t.Errorf("top-level folders import each other in a cycle: %s", strings.Join(cycle, " → "))
	}
}

func topLevel(dir string) string {
	first, _, _ := strings.Cut(dir, "/")
	return first
}

// findCycle returns one cycle of the graph, or nil.
func findCycle(graph map[string]map[string]bool) []string {
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(n string) []string {
		state[n] = open
		stack = append(stack, n)
		var next []string
		for m := range graph[n] {
			next = append(next, m)
		}
		slices.Sort(next)
		for _, m := range next {
			switch state[m] {
			case open:
				i := slices.Index(stack, m)
				return append(slices.Clone(stack[i:]), m)
			case unseen:
				if c := visit(m); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	var nodes []string
	for n := range graph {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		if state[n] == unseen {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

func TestFindCycleFindsOne(t *testing.T) {
	for _, tc := range []struct {
		graph map[string]map[string]bool
		want  bool
	}{
		{map[string]map[string]bool{"core": {"api": true}, "controllers": {"core": true}}, false},
		{map[string]map[string]bool{"core": {"cloudprovider": true}, "cloudprovider": {"core": true}}, true},
		{map[string]map[string]bool{"a": {"b": true}, "b": {"c": true}, "c": {"a": true}}, true},
	} {
		if got := findCycle(tc.graph) != nil; got != tc.want {
			t.Errorf("findCycle(%v) found a cycle: %v, want %v", tc.graph, got, tc.want)
		}
	}
}

func TestRankPlacesFolders(t *testing.T) {
	for dir, want := range map[string]int{
		"core/scheduling": 2, "controllers/state": 4, "controllers/disruption": 5, "providers": 8,
		"providers/sim": 6, "providers/sim/api/v1": 6, "embedded": 0, "embedded/clustertest": 10, "cli": 9,
	} {
		if got, ok := rank(dir); !ok || got != want {
			t.Errorf("rank(%s) = %d, %v; want %d", dir, got, ok, want)
		}
	}
}

// maxFunctionLines is the longest a function of core/ or controllers/ may
// be, signature and closing brace included, unless its doc comment says why
// with the words "is long because".
const maxFunctionLines = 80

func TestFunctionsFitInOnesHead(t *testing.T) {
	for _, dir := range []string{"core", "controllers"} {
		root := filepath.Join("..", "..", dir)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				lines := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
				if lines > maxFunctionLines && !strings.Contains(fn.Doc.Text(), "is long because") {
					t.Errorf("%s: %s is %d lines; split it, or say in its doc why it %s", fset.Position(fn.Pos()), name(fn), lines, "is long because …")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func name(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	return fmt.Sprintf("%s.%s", exprString(fn.Recv.List[0].Type), fn.Name.Name)
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return exprString(x.X)
	case *ast.Ident:
		return x.Name
	case *ast.IndexExpr:
		return exprString(x.X)
	}
	return "?"
}
