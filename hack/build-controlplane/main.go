// Command build-controlplane builds (or confirms current) the
// tailor-controlplane binary behind the embedded cluster, with the same flags
// that tailor playground and the tests use, and prints its path. `make test`
// and CI run it first so that the long first build shows its progress and
// does not count against a test's timeout.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/tailor-sh/tailor/embedded"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	path, err := embedded.EnsureBinary(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-controlplane:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
