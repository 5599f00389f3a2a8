// Package integration runs Tailor's controllers against the embedded cluster
// (a real API server, scheduler and controller manager, with kwok as the
// kubelets) and the simulated cloud, and checks what a user would see:
// pods that could not be placed end up Running on the nodes Tailor launched.
package integration
