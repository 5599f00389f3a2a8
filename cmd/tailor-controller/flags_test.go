package main

import (
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tailor-sh/tailor/providers/sim"
)

func parse(t *testing.T, args []string, env map[string]string) (*config, error) {
	t.Helper()
	var got *config
	cmd := newCommand(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, func(c *config) error {
		got = c
		return nil
	})
	// Every case but those about the cluster name gives one, as it must.
	if _, named := env["TAILOR_CLUSTER_NAME"]; !named && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--cluster-name") }) {
		args = append(args, "--cluster-name=test")
	}
	cmd.SetArgs(args)
	cmd.SetOut(&strings.Builder{})
	cmd.SetErr(&strings.Builder{})
	err := cmd.Execute()
	return got, err
}

func TestEnvironmentSetsFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*config) bool
	}{
		{"1 means true", nil, map[string]string{"TAILOR_LEADER_ELECT": "1"}, func(c *config) bool { return c.operator.LeaderElection }},
		{"0 means false", nil, map[string]string{"TAILOR_LEADER_ELECT": "0"}, func(c *config) bool { return !c.operator.LeaderElection }},
		{"durations", nil, map[string]string{"TAILOR_BATCH_MAX_DURATION": "3s"}, func(c *config) bool { return c.operator.BatchMax == 3*time.Second }},
		{"qps", nil, map[string]string{"TAILOR_KUBE_CLIENT_QPS": "50"}, func(c *config) bool { return c.operator.KubeClientQPS == 50 }},
		{"downward API namespace", nil, map[string]string{"POD_NAMESPACE": "tailor"}, func(c *config) bool { return c.operator.LeaderElectionNamespace == "tailor" }},
		{"the command line wins", []string{"--cluster-name=cli"}, map[string]string{"TAILOR_CLUSTER_NAME": "env"}, func(c *config) bool { return c.operator.ClusterName == "cli" }},
		{"cluster name from env", nil, map[string]string{"TAILOR_CLUSTER_NAME": "prod"}, func(c *config) bool { return c.operator.ClusterName == "prod" }},
		{"controller-runtime's --kubeconfig is taken", []string{"--kubeconfig=/tmp/kc"}, nil, func(*config) bool {
			return flag.Lookup("kubeconfig").Value.String() == "/tmp/kc"
		}},
		{"provider flags reach the provider", []string{"--sim-tick=250ms"}, nil, func(c *config) bool {
			s, ok := c.operator.ProviderSettings.(*sim.Settings)
			return ok && s.Tick == 250*time.Millisecond
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("configuration %+v does not hold what %v and %v set", c.operator, tc.args, tc.env)
			}
		})
	}
}

func TestBadInputIsRefusedWithItsName(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad bool in env", nil, map[string]string{"TAILOR_LEADER_ELECT": "yes please"}, "TAILOR_LEADER_ELECT"},
		{"bad duration in env", nil, map[string]string{"TAILOR_LAUNCH_TIMEOUT": "soon"}, "TAILOR_LAUNCH_TIMEOUT"},
		{"bad qps in env", nil, map[string]string{"TAILOR_KUBE_CLIENT_QPS": "fast"}, "TAILOR_KUBE_CLIENT_QPS"},
		{"bad flag", []string{"--batch-max-duration=x"}, nil, "batch-max-duration"},
		{"unknown provider", []string{"--cloud-provider=azure"}, nil, `unknown cloud provider "azure"`},
		{"bad log level", []string{"--log-level=loud"}, nil, "log level"},
		{"no cluster name", nil, map[string]string{"TAILOR_CLUSTER_NAME": ""}, "--cluster-name (TAILOR_CLUSTER_NAME) is required"},
		{"empty cluster name", []string{"--cluster-name="}, nil, "is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
