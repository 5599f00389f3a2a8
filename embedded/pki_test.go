package embedded

import (
	"crypto/x509"
	"os"
	"testing"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

func TestPKIIssuesChainedCertificatesAndKeepsThem(t *testing.T) {
	p := pki{dir: t.TempDir()}
	if err := p.ensure(); err != nil {
		t.Fatal(err)
	}
	roots, err := certutil.NewPool(p.caCert())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cert, key string
		usage     x509.ExtKeyUsage
		dnsName   string
		org       string
	}{
		{p.servingCert(), p.servingKey(), x509.ExtKeyUsageServerAuth, "kubernetes.default.svc", ""},
		{p.adminCert(), p.adminKey(), x509.ExtKeyUsageClientAuth, "", "system:masters"},
	} {
		certs, err := certutil.CertsFromFile(tc.cert)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.dnsName, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
			t.Errorf("%s does not chain to the CA for %v: %v", tc.cert, tc.usage, err)
		}
		if tc.org != "" && (len(certs[0].Subject.Organization) == 0 || certs[0].Subject.Organization[0] != tc.org) {
			t.Errorf("%s: organization %v, want %s", tc.cert, certs[0].Subject.Organization, tc.org)
		}
		if _, err := keyutil.PrivateKeyFromFile(tc.key); err != nil {
			t.Errorf("%s: %v", tc.key, err)
		}
	}
	if keys, err := keyutil.PublicKeysFromFile(p.saPub()); err != nil || len(keys) != 1 {
		t.Errorf("service account public key: %v, %v", keys, err)
	}
	before, _ := os.ReadFile(p.caCert())
	if err := p.ensure(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(p.caCert()); string(after) != string(before) {
		t.Error("a second ensure replaced the CA; clients of a restarted playground would stop trusting it")
	}
}
