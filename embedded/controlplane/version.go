package main

import "k8s.io/component-base/version"

// kubernetesVersion reports the version stamped in at link time. Without the
// stamp the API server reports v0.0.0-master, which clients that parse the
// server version (kubectl, controller-runtime) reject.
func kubernetesVersion() string { return version.Get().GitVersion }
