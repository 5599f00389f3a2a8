package catalog

import (
	"embed"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tailor-sh/tailor/core/instancetype"
)

// DefaultBuiltin is the catalog used when none is named: AWS us-west-2.
const DefaultBuiltin = "aws-us-west-2"

//go:embed builtin/*.json
var builtinFiles embed.FS

var builtinCache sync.Map // name → *Catalog

// BuiltinNames lists the built-in catalogs.
func BuiltinNames() []string {
	entries, err := builtinFiles.ReadDir("builtin")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	return out
}

// Builtin returns a built-in catalog by name. The result is shared and must
// not be modified; copy instance types before changing their offerings.
func Builtin(name string) (*Catalog, error) {
	if c, ok := builtinCache.Load(name); ok {
		return c.(*Catalog), nil
	}
	data, err := builtinFiles.ReadFile("builtin/" + name + ".json")
	if err != nil {
		return nil, fmt.Errorf("no built-in catalog %q (built-in: %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	c, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	actual, _ := builtinCache.LoadOrStore(name, c)
	return actual.(*Catalog), nil
}

func sortInstanceTypes(its []*instancetype.InstanceType) {
	slices.SortFunc(its, func(a, b *instancetype.InstanceType) int { return strings.Compare(a.Name, b.Name) })
}
