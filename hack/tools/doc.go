// Package tools pins the developer tools Tailor runs with `go tool`: the
// generators and linters that CI uses, at versions fixed in this go.mod so that
// they never leak into the dependency graph of projects that import Tailor.
//
//	go tool -modfile=hack/tools/go.mod controller-gen ...
//	go tool -modfile=hack/tools/go.mod staticcheck ./...
package tools
