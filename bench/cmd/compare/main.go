package main

import (
	_ "github.com/tailor-sh/tailor/cloudprovider/catalog"
	_ "github.com/tailor-sh/tailor/core/scheduling"
	_ "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	_ "sigs.k8s.io/karpenter/pkg/controllers/state"
	_ "sigs.k8s.io/karpenter/pkg/cloudprovider/fake"
	_ "sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func main() {}
