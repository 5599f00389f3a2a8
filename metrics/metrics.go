// Package metrics defines the Prometheus metrics Tailor exports. They are
// registered once, on controller-runtime's registry, so that the manager's
// /metrics endpoint serves them next to controller-runtime's own. docs/metrics.md
// lists them; keep the two in step.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

const namespace = "tailor"

// DurationBuckets span 5 ms to about 10 minutes: a solve, a cloud call and a
// node's launch all fall inside.
var DurationBuckets = prometheus.ExponentialBuckets(0.005, 2, 18)

var (
	// PendingPods is the number of pods that kube-scheduler could not place
	// and Tailor considered in its latest batch.
	PendingPods = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "provisioner", Name: "pending_pods",
		Help: "Pods kube-scheduler could not place, as seen by the latest provisioning batch.",
	})
	// BatchSize is the number of pending pods per provisioning batch.
	BatchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "provisioner", Name: "batch_size",
		Help:    "Pending pods per provisioning batch.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 15),
	})
	// BatchWindow is how long a batch collected pods before it was solved.
	BatchWindow = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "provisioner", Name: "batch_window_seconds",
		Help:    "Time from a batch's first pending pod to its solve.",
		Buckets: DurationBuckets,
	})
	// SolveDuration is the time the scheduling core took per batch.
	SolveDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "provisioner", Name: "solve_duration_seconds",
		Help:    "Time the scheduling core took to decide a batch.",
		Buckets: DurationBuckets,
	})
	// UnschedulablePods is the number of pods the latest batch could place
	// nowhere.
	UnschedulablePods = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "provisioner", Name: "unschedulable_pods",
		Help: "Pods the latest batch found no node or instance type for.",
	})
	// NodeClaimsCreated counts NodeClaims created, by NodePool.
	NodeClaimsCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "nodeclaims", Name: "created_total",
		Help: "NodeClaims created, by NodePool.",
	}, []string{"nodepool"})
	// DisruptionDecisions counts the disruptions Tailor carried out.
	DisruptionDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "disruption", Name: "decisions_total",
		Help: "Disruption decisions carried out, by NodePool, reason (Empty, Underutilized, Drifted, Expired) and action (delete, replace).",
	}, []string{"nodepool", "reason", "action"})
	// DisruptionSavings sums the hourly price saved by disruptions.
	DisruptionSavings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "disruption", Name: "savings_dollars_per_hour_total",
		Help: "Sum of the hourly prices saved by disruption decisions, in US dollars per hour, by NodePool and reason.",
	}, []string{"nodepool", "reason"})
	// DisruptionsAllowed is what each pool's budgets allow now.
	DisruptionsAllowed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "nodepool", Name: "disruptions_allowed",
		Help: "Nodes the NodePool's budgets let Tailor disrupt now, by reason.",
	}, []string{"nodepool", "reason"})
	// NodeClaimsTerminated counts NodeClaims deleted by Tailor, by reason.
	NodeClaimsTerminated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "nodeclaims", Name: "terminated_total",
		Help: "NodeClaims Tailor deleted, by NodePool and reason (insufficient_capacity, launch_timeout, registration_timeout, node_deleted, instance_gone, leaked, interrupted, Empty, Underutilized, Drifted, Expired).",
	}, []string{"nodepool", "reason"})
	// NodeClaims is the number of NodeClaims by NodePool and phase.
	NodeClaims = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "nodeclaims", Name: "current",
		Help: "NodeClaims by NodePool and phase (Pending, Launched, Registered, Ready, Terminating).",
	}, []string{"nodepool", "phase"})
	// PhaseDuration is the time from a NodeClaim's creation to each phase.
	PhaseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "nodeclaims", Name: "phase_seconds",
		Help:    "Time from a NodeClaim's creation until it was Launched, Registered and Initialized.",
		Buckets: DurationBuckets,
	}, []string{"nodepool", "phase"})
	// CloudCallDuration is the latency of cloud provider calls.
	CloudCallDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "cloudprovider", Name: "call_duration_seconds",
		Help:    "Latency of cloud provider calls, by provider and method.",
		Buckets: DurationBuckets,
	}, []string{"provider", "method"})
	// CloudCallErrors counts failed cloud provider calls.
	CloudCallErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "cloudprovider", Name: "errors_total",
		Help: "Failed cloud provider calls, by provider, method and error (insufficient_capacity, not_found, nodeclass_not_ready, retryable, other).",
	}, []string{"provider", "method", "error"})
	// ClusterCost is the hourly price of every node Tailor launched.
	ClusterCost = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "nodepool", Name: "cost_per_hour",
		Help: "Hourly price in US dollars of the nodes launched for each NodePool.",
	}, []string{"nodepool"})
	// NodePoolUsage is what each NodePool's nodes hold, by resource.
	NodePoolUsage = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "nodepool", Name: "usage",
		Help: "Capacity of each NodePool's nodes, by resource (cpu in cores, memory in bytes, nodes).",
	}, []string{"nodepool", "resource"})
	// NodePoolLimit is each NodePool's limit, by resource.
	NodePoolLimit = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "nodepool", Name: "limit",
		Help: "Each NodePool's limit, by resource.",
	}, []string{"nodepool", "resource"})
)

func init() {
	crmetrics.Registry.MustRegister(PendingPods, BatchSize, BatchWindow, SolveDuration, UnschedulablePods,
		DisruptionDecisions, DisruptionSavings, DisruptionsAllowed,
		NodeClaimsCreated, NodeClaimsTerminated, NodeClaims, PhaseDuration,
		CloudCallDuration, CloudCallErrors, ClusterCost, NodePoolUsage, NodePoolLimit)
}
