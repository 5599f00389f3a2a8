package cli

import (
	"github.com/spf13/cobra"
)

// NewRootCommand returns the tailor command with all its subcommands.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "tailor",
		Short: "Tailor fits Kubernetes nodes to the pods that need them",
		Long: `Tailor is a Kubernetes node autoscaler. It launches the cheapest nodes that
fit pods the scheduler cannot place, and removes or replaces nodes that are
empty, under-used, drifted or expired.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand(), newPlaygroundCommand(), newPlanCommand())
	return root
}
