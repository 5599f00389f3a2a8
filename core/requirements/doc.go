// Package requirements is the algebra of node label requirements: the sets of
// label values that NodePools, NodeClaims, instance types, offerings and pods
// allow for each label key.
//
// A Requirement is the set of values one key may take, in one of two shapes:
// a finite set (from In, or DoesNotExist which allows no value), or the
// complement of a finite set (from NotIn or Exists, which excludes nothing),
// optionally bounded on integers (from Gt and Lt). Independently it records
// whether a node without the label satisfies it, which is how Kubernetes
// treats NotIn and DoesNotExist. Every operator therefore maps to a set, and
// combining two requirements is set intersection, so the order in which
// NodePool, instance type and pod constraints are applied never matters.
//
// Requirements (plural) maps keys to a Requirement. A key that is absent from
// a Requirements places no constraint on that label.
//
// The package is pure: plain values in, plain values out, no API client and no
// global state, so the scheduling core can call it millions of times a second.
package requirements
