//go:build ignore

// crdbounds runs after controller-gen (see doc.go): it gives the strings
// that no marker of ours can reach (those of the Kubernetes core types the
// CRDs embed, and the values of a map) the maximum lengths Kubernetes itself
// enforces on them. The API server prices every CEL rule by the longest input
// it could see; without these bounds, the rules that check taints (their
// keys and values, and that none repeats a key and effect) and the
// characters of label values are priced as if one string could fill a whole
// request, and the CRD is refused.
//
// It inserts a maxLength line where controller-gen would have put one (after
// the description, before the type), so that the generated files stay as
// controller-gen writes them otherwise, and does nothing where the line is
// already there: running it twice changes nothing.
//
//	go run crdbounds.go ../../config/crd/tailor.sh_nodepools.yaml ...
package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// bounds are maximum lengths of strings in the schema, by the path of
// property names that leads to them from a property of any name (the first
// element), wherever that is in the schema.
var bounds = []struct {
	path  []string
	limit int
}{
	// corev1.Taint: a key is a qualified name (a DNS subdomain of at most
	// 253 characters, '/', and at most 63), a value a label value, and the
	// longest effect is PreferNoSchedule.
	{[]string{"taints", "items", "properties", "key"}, 253 + 1 + 63},
	{[]string{"taints", "items", "properties", "value"}, 63},
	{[]string{"taints", "items", "properties", "effect"}, 16},
	{[]string{"startupTaints", "items", "properties", "key"}, 253 + 1 + 63},
	{[]string{"startupTaints", "items", "properties", "value"}, 63},
	{[]string{"startupTaints", "items", "properties", "effect"}, 16},
	// The values of a template's labels, a map[string]string: no marker
	// reaches a map's values.
	{[]string{"labels", "additionalProperties"}, 63},
}

func main() {
	for _, path := range os.Args[1:] {
		if err := bound(path); err != nil {
			fmt.Fprintf(os.Stderr, "crdbounds: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

// insertion is a line to insert before the line of a node, at its column.
type insertion struct {
	line, column int
	text         string
}

func bound(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	var inserts []insertion
	walk(&doc, func(name string, schema *yaml.Node) {
		for _, b := range bounds {
			if b.path[0] != name {
				continue
			}
			p := schema
			for _, step := range b.path[1:] {
				p = get(p, step)
			}
			if p == nil || get(p, "maxLength") != nil {
				continue
			}
			if typ := key(p, "type"); typ != nil {
				inserts = append(inserts, insertion{typ.Line, typ.Column, fmt.Sprintf("maxLength: %d", b.limit)})
			}
		}
	})
	if len(inserts) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(data), "\n")
	// From the bottom up, so that the line numbers above stay true.
	slices.SortFunc(inserts, func(a, b insertion) int { return b.line - a.line })
	for _, in := range inserts {
		line := strings.Repeat(" ", in.column-1) + in.text + "\n"
		lines = slices.Insert(lines, in.line-1, line)
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644)
}

// walk calls f with the name and value of every entry of every mapping.
func walk(n *yaml.Node, f func(name string, value *yaml.Node)) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			f(n.Content[i].Value, n.Content[i+1])
		}
	}
	for _, c := range n.Content {
		walk(c, f)
	}
}

// key returns the key node of the entry name of the mapping n, or nil.
func key(n *yaml.Node, name string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i]
		}
	}
	return nil
}

// get returns the value of the entry name of the mapping n, or nil.
func get(n *yaml.Node, name string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i+1]
		}
	}
	return nil
}
