// Package embedded runs a real Kubernetes control plane on this machine, with
// nothing downloaded: etcd, kube-apiserver, kube-scheduler,
// kube-controller-manager and kwok (which plays the kubelet of every node),
// each its own process on loopback. It backs `tailor playground` and the
// integration tests.
//
// The components are one multi-call binary, tailor-controlplane, built from
// the nested module in embedded/controlplane. That module depends on
// k8s.io/kubernetes and its replace directives; keeping it apart means that
// Tailor's main module, and every project that imports Tailor's API or core,
// never does. This package only builds and starts that binary, and generates
// the certificates and kubeconfig the components share.
package embedded
