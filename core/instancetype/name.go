package instancetype

import (
	"strings"
)

// InstanceName is an instance type name split into the parts that the
// tailor.sh/instance-* labels carry.
type InstanceName struct {
	// Family is the name without its size: c6i.large → c6i,
	// n2-standard-8 → n2-standard.
	Family string
	// Size is what follows the family: c6i.large → large, n2-standard-8 → 8.
	Size string
	// Category is the letters before the generation digit: c6i → c,
	// x2gd → x, inf2 → inf, n2-standard → n.
	Category string
	// Generation is the digits after the category: c6i → 6, n2d → 2.
	// Empty when the name has none (e.g. GCE's e2 has 2; "t" has none).
	Generation string
}

// ParseInstanceName splits AWS-style names (family.size, e.g. m7g.2xlarge)
// and GCE-style names (series-kind-size, e.g. n2-highmem-8, e2-medium). Names
// that follow neither convention keep the whole name as the family.
func ParseInstanceName(name string) InstanceName {
	var out InstanceName
	switch {
	case strings.Contains(name, "."):
		out.Family, out.Size, _ = strings.Cut(name, ".")
	case strings.Contains(name, "-"):
		i := strings.LastIndex(name, "-")
		out.Family, out.Size = name[:i], name[i+1:]
	default:
		out.Family = name
	}
	series, _, _ := strings.Cut(out.Family, "-")
	i := 0
	for i < len(series) && isLetter(series[i]) {
		i++
	}
	j := i
	for j < len(series) && isDigit(series[j]) {
		j++
	}
	out.Category, out.Generation = series[:i], series[i:j]
	return out
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
func isDigit(b byte) bool  { return b >= '0' && b <= '9' }
