package plan

import (
	"fmt"
	"hash/fnv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The alphabet of Kubernetes' own name generator: lowercase consonants and
// digits, so that no word is spelled by chance.
const alphabet = "bcdfghjklmnpqrstvwxz2456789"

// suffix is a deterministic stand-in for the random suffixes controllers
// add.
func suffix(seed string, n int) string {
	h := fnv.New64a()
	h.Write([]byte(seed))
	x := h.Sum64()
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[x%uint64(len(alphabet))])
		x /= uint64(len(alphabet))
		if x == 0 {
			x = h.Sum64() ^ 0x9e3779b97f4a7c15
		}
	}
	return b.String()
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// suffixes returns the suffixes of the n pods of one workload: five
// characters as controllers make them (more past 27^5 pods), looking
// random but distinct, since the i-th is the seed's offset plus i steps
// of a number prime to 27^w around the 27^w suffixes of w characters.
func suffixes(seed string, n int) func(i int) string {
	width, size := 5, uint64(1)
	for range 5 {
		size *= uint64(len(alphabet))
	}
	for size < uint64(n) {
		width++
		size *= uint64(len(alphabet))
	}
	const step = 8868083 // not a multiple of 3, so prime to 27^w
	h := fnv.New64a()
	h.Write([]byte(seed))
	base := h.Sum64() % size
	return func(i int) string {
		x := (base + uint64(i)%size*(step%size)) % size
		b := make([]byte, width)
		for j := range b {
			b[j] = alphabet[x%uint64(len(alphabet))]
			x /= uint64(len(alphabet))
		}
		return string(b)
	}
}

// uniqueNames makes every pod's namespace and name unique, as the API
// server would have it. Two Pods of one name are an error; a pod whose name
// Tailor made up and which another pod already has is lengthened, by a
// character at a time, deterministically.
func (l *loader) uniqueNames(o *Objects) error {
	taken := map[string]*corev1.Pod{}
	key := func(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }
	for _, p := range o.Pods {
		if l.generated[p] {
			continue
		}
		if other, ok := taken[key(p)]; ok {
			return fmt.Errorf("%s: a pod of this name and namespace is already in %s", o.Source[p], o.Source[other])
		}
		taken[key(p)] = p
	}
	for _, p := range o.Pods {
		if !l.generated[p] {
			continue
		}
		for attempt := 0; taken[key(p)] != nil; attempt++ {
			p.Name += suffix(fmt.Sprint(key(p), attempt), 1)
		}
		taken[key(p)] = p
	}
	return nil
}
