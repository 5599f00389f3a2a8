package interruption

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tailor-sh/tailor/metrics"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/controllers/controllertest"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// notices is an InterruptionSource that returns what it holds.
type notices struct {
	list []cloudprovider.Interruption
	err  error
}

func (n *notices) Interruptions(context.Context) ([]cloudprovider.Interruption, error) {
	return n.list, n.err
}

func launched(name, providerID string, finalizers ...string) *v1.NodeClaim {
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: "uid-" + "name", Finalizers: finalizers, Labels: map[string]string{
			v1.LabelNodePool: "default", corev1.LabelInstanceTypeStable: "m5.large", corev1.LabelTopologyZone: "us-west-2a", v1.LabelCapacityType: v1.CapacityTypeSpot,
		}},
		Status: v1.NodeClaimStatus{ProviderID: providerID},
	}
}

func TestNoticesDrainTheirNodeAndRetireTheOffering(t *testing.T) {
	spotLarge := cloudprovider.OfferingKey{InstanceType: "m5.large", Zone: "us-west-2a", CapacityType: v1.CapacityTypeSpot}
	for _, tc := range []struct {
		name       string
		claims     []client.Object
		notices    []cloudprovider.Interruption
		wantGone   []string // NodeClaims deleted (or deleting)
		wantKept   []string
		wantMarked bool
		wantEvent  string
	}{
		{name: "a notice for a node", claims: []client.Object{launched("a", "sim:///us-west-2a/i-a"), launched("b", "sim:///us-west-2a/i-b")},
			notices:  []cloudprovider.Interruption{{ProviderID: "sim:///us-west-2a/i-a", At: epoch.Add(2 * time.Minute), Kind: "SpotInterruption"}},
			wantGone: []string{"a"}, wantKept: []string{"b"}, wantMarked: true,
			wantEvent: "SpotInterruption: the cloud takes instance sim:///us-west-2a/i-a away in 2m0s"},
		{name: "a notice without a time", claims: []client.Object{launched("a", "sim:///us-west-2a/i-a")},
			notices:  []cloudprovider.Interruption{{ProviderID: "sim:///us-west-2a/i-a", Kind: "ScheduledChange"}},
			wantGone: []string{"a"}, wantMarked: true, wantEvent: "away soon"},
		{name: "a notice for an instance no NodeClaim has", claims: []client.Object{launched("b", "sim:///us-west-2a/i-b")},
			notices:  []cloudprovider.Interruption{{ProviderID: "sim:///us-west-2a/i-gone"}},
			wantKept: []string{"b"}},
		{name: "no notice", claims: []client.Object{launched("a", "sim:///us-west-2a/i-a")}, wantKept: []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := controllertest.NewClientBuilder(tc.claims...).Build()
			recorder, log := controllertest.NewLog()
			unavailable := cloudprovider.NewUnavailableOfferings(0, nil)
			ctrl := New(c, &notices{list: tc.notices}, unavailable, recorder, Options{Clock: testingclock.NewFakeClock(epoch)})
			for range 3 { // notices stand until the instance is gone; acting again must change nothing
				if err := ctrl.Handle(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range tc.wantGone {
				nc := &v1.NodeClaim{}
				if err := c.Get(context.Background(), client.ObjectKey{Name: name}, nc); !apierrors.IsNotFound(err) && (err != nil || nc.DeletionTimestamp == nil) {
					t.Errorf("NodeClaim %s is not being deleted (err %v)", name, err)
				}
			}
			for _, name := range tc.wantKept {
				nc := &v1.NodeClaim{}
				if err := c.Get(context.Background(), client.ObjectKey{Name: name}, nc); err != nil || nc.DeletionTimestamp != nil {
					t.Errorf("NodeClaim %s was deleted without a notice (err %v)", name, err)
				}
			}
			if got := unavailable.IsUnavailable(spotLarge); got != tc.wantMarked {
				t.Errorf("offering %s unavailable = %v, want %v", spotLarge, got, tc.wantMarked)
			}
			if tc.wantEvent != "" && !log.Has("a", "Interrupted", tc.wantEvent) {
				t.Errorf("no Interrupted event saying %q: %v", tc.wantEvent, log.Events())
			}
			if n := len(log.Find("a", "Interrupted")); n > 1 {
				t.Errorf("%d Interrupted events for one notice, want 1", n)
			}
		})
	}
}

func TestANodeClaimWithFinalizersIsDeletedOnce(t *testing.T) {
	c := controllertest.NewClientBuilder(launched("a", "sim:///us-west-2a/i-a", v1.TerminationFinalizer)).Build()
	recorder, log := controllertest.NewLog()
	interrupted := metrics.NodeClaimsTerminated.WithLabelValues("default", "interrupted")
	before := counted(t, interrupted)
	ctrl := New(c, &notices{list: []cloudprovider.Interruption{{ProviderID: "sim:///us-west-2a/i-a", Kind: "SpotInterruption"}}},
		cloudprovider.NewUnavailableOfferings(0, nil), recorder, Options{Clock: testingclock.NewFakeClock(epoch)})
	for range 2 {
		if err := ctrl.Handle(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	nc := &v1.NodeClaim{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "a"}, nc); err != nil || nc.DeletionTimestamp == nil {
		t.Fatalf("the NodeClaim is not being deleted, its finalizer left for the lifecycle's drain: %v", err)
	}
	if n := len(log.Find("a", "Interrupted")); n != 1 {
		t.Errorf("%d Interrupted events, want 1", n)
	}
	if n := counted(t, interrupted) - before; n != 1 {
		t.Errorf("counted %v interruptions, want 1: a NodeClaim already going is not interrupted again", n)
	}
}

func TestASourceErrorIsReported(t *testing.T) {
	c := controllertest.NewClientBuilder().Build()
	recorder, _ := controllertest.NewLog()
	ctrl := New(c, &notices{err: errors.New("queue unreachable")}, cloudprovider.NewUnavailableOfferings(0, nil), recorder, Options{})
	if err := ctrl.Handle(context.Background()); err == nil || !strings.Contains(err.Error(), "queue unreachable") {
		t.Errorf("Handle = %v, want the source's error with context", err)
	}
}

// counted reads a counter's value.
func counted(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
