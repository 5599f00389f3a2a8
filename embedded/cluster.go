package embedded

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KwokNodeAnnotation marks a Node that kwok plays the kubelet for. Every
// node of the embedded cluster needs it, since there are no real kubelets.
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

// KwokNodeAnnotationValue is the value of KwokNodeAnnotation that the
// embedded cluster's kwok selects.
const KwokNodeAnnotationValue = "fake"

// Config says where and how to start a cluster.
type Config struct {
	// Dir holds the cluster's data, certificates, logs and kubeconfig. An
	// existing Dir is reused: the cluster comes back with its objects.
	// Empty means a new temporary directory, removed by Stop.
	Dir string
	// Binary is the tailor-controlplane binary; empty means EnsureBinary.
	Binary string
	// Progress receives one line per start-up step; nil discards them.
	Progress io.Writer
}

// Cluster is a running embedded cluster: etcd, kube-apiserver,
// kube-scheduler, kube-controller-manager and kwok, each in its own process
// on loopback.
type Cluster struct {
	// Dir holds the cluster's files.
	Dir string
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// RESTConfig is the admin client configuration.
	RESTConfig *rest.Config
	// Binary is the tailor-controlplane binary the cluster runs.
	Binary string

	temporary bool
	processes []*process
	progress  io.Writer
}

// ports are the loopback ports of one cluster, kept in Dir so that a
// restarted cluster reuses them when it can (etcd remembers its peer URL).
type ports struct {
	EtcdClient, EtcdPeer, APIServer, Scheduler, ControllerManager int
}

// Start starts a cluster and waits until its API server is ready, its
// scheduler and controller manager are healthy and its default
// ServiceAccount exists, so that pods can be created at once. On error every
// process that was started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	if err := checkPlatform(); err != nil {
		return nil, err
	}
	began := time.Now()
	c := &Cluster{Dir: cfg.Dir, Binary: cfg.Binary, progress: cfg.Progress}
	if c.progress == nil {
		c.progress = io.Discard
	}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "tailor-cluster-"); err != nil {
			return nil, err
		}
		c.temporary = true
	}
	if c.Dir, err = filepath.Abs(c.Dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	if c.Binary == "" {
		if c.Binary, err = EnsureBinary(ctx, c.progress); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{"logs", "flexvolume"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	keys := pki{dir: filepath.Join(c.Dir, "pki")}
	if err := keys.ensure(); err != nil {
		return nil, fmt.Errorf("create certificates: %w", err)
	}
	p, err := c.choosePorts()
	if err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, keys, p.APIServer); err != nil {
		return nil, err
	}
	if c.RESTConfig, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return nil, err
	}

	c.step("starting etcd")
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(p.EtcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(p.EtcdPeer)
	etcdArgs := []string{
		"--name=tailor", "--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=tailor=" + peerURL,
		"--log-level=warn",
	}
	if c.temporary {
		// Throwaway data need not survive a power cut; skipping fsync makes
		// tests much faster on slow disks.
		etcdArgs = append(etcdArgs, "--unsafe-no-fsync=true")
	}
	if err := c.start("etcd", etcdArgs...); err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, "etcd", etcdURL+"/health", nil); err != nil {
		return nil, err
	}

	c.step("starting kube-apiserver")
	if err := c.start("kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The endpoint reconciler refuses loopback advertise addresses.
		"--endpoint-reconciler-type=none",
		"--secure-port="+strconv.Itoa(p.APIServer),
		"--tls-cert-file="+keys.servingCert(),
		"--tls-private-key-file="+keys.servingKey(),
		"--cert-dir="+filepath.Join(c.Dir, "pki", "apiserver"),
		"--client-ca-file="+keys.caCert(),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+keys.saPub(),
		"--service-account-signing-key-file="+keys.saKey(),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// A front-proxy CA keeps the scheduler and controller manager from
		// logging a missing CA bundle forever.
		"--requestheader-client-ca-file="+keys.caCert(),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
	); err != nil {
		return nil, err
	}
	adminTLS, err := rest.TLSConfigFor(c.RESTConfig)
	if err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, "kube-apiserver", c.RESTConfig.Host+"/readyz", adminTLS); err != nil {
		return nil, err
	}

	c.step("starting kube-scheduler, kube-controller-manager and kwok")
	// Their ports need not survive a restart; pick them now, not seconds
	// ago, so that another process (a parallel test's cluster or server)
	// has next to no time to take them first.
	if late, err := freePorts(2); err == nil {
		p.Scheduler, p.ControllerManager = late[0], late[1]
	}
	kubeconfigFlags := []string{"--kubeconfig=" + c.Kubeconfig, "--authentication-kubeconfig=" + c.Kubeconfig, "--authorization-kubeconfig=" + c.Kubeconfig}
	schedulerConfig, err := c.writeSchedulerConfig()
	if err != nil {
		return nil, err
	}
	if err := c.start("kube-scheduler", append(kubeconfigFlags, "--config="+schedulerConfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(p.Scheduler))...); err != nil {
		return nil, err
	}
	if err := c.start("kube-controller-manager", append(kubeconfigFlags,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(p.ControllerManager),
		"--service-account-private-key-file="+keys.saKey(),
		"--root-ca-file="+keys.caCert(),
		"--cluster-signing-cert-file="+keys.caCert(), "--cluster-signing-key-file="+keys.caKey(),
		// By default it creates a directory under /usr/libexec.
		"--flex-volume-plugin-dir="+filepath.Join(c.Dir, "flexvolume"))...); err != nil {
		return nil, err
	}
	if err := c.start("kwok", "--kubeconfig="+c.Kubeconfig,
		"--manage-nodes-with-annotation-selector="+KwokNodeAnnotation+"="+KwokNodeAnnotationValue); err != nil {
		return nil, err
	}
	// Their serving certificates are self-signed in memory; only liveness
	// matters here.
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback health check of a self-signed endpoint
	if err := c.waitHTTP(ctx, "kube-scheduler", "https://127.0.0.1:"+strconv.Itoa(p.Scheduler)+"/healthz", insecure); err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, "kube-controller-manager", "https://127.0.0.1:"+strconv.Itoa(p.ControllerManager)+"/healthz", insecure); err != nil {
		return nil, err
	}
	if err := c.waitDefaultServiceAccount(ctx); err != nil {
		return nil, err
	}
	c.step(fmt.Sprintf("cluster ready in %s", time.Since(began).Round(100*time.Millisecond)))
	return c, nil
}

func (c *Cluster) step(msg string) { fmt.Fprintln(c.progress, "  "+msg) }

// choosePorts reuses the ports recorded in Dir when all are still free, and
// picks new free ones otherwise.
func (c *Cluster) choosePorts() (ports, error) {
	path := filepath.Join(c.Dir, "ports.json")
	var p ports
	if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &p) == nil &&
		portFree(p.EtcdClient) && portFree(p.EtcdPeer) && portFree(p.APIServer) && portFree(p.Scheduler) && portFree(p.ControllerManager) {
		return p, nil
	}
	free, err := freePorts(5)
	if err != nil {
		return ports{}, err
	}
	p = ports{EtcdClient: free[0], EtcdPeer: free[1], APIServer: free[2], Scheduler: free[3], ControllerManager: free[4]}
	data, err := json.Marshal(p)
	if err != nil {
		return ports{}, err
	}
	return p, os.WriteFile(path, data, 0o600)
}

func portFree(port int) bool {
	if port <= 0 {
		return false
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freePorts asks the kernel for n distinct free loopback ports. They are free
// when returned; a process may still take one before the cluster does, which
// then fails to start with a clear bind error.
func freePorts(n int) ([]int, error) {
	var out []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func writeKubeconfig(path string, keys pki, port int) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["tailor"] = &clientcmdapi.Cluster{
		Server:               "https://127.0.0.1:" + strconv.Itoa(port),
		CertificateAuthority: keys.caCert(),
	}
	cfg.AuthInfos["tailor-admin"] = &clientcmdapi.AuthInfo{
		ClientCertificate: keys.adminCert(),
		ClientKey:         keys.adminKey(),
	}
	cfg.Contexts["tailor"] = &clientcmdapi.Context{Cluster: "tailor", AuthInfo: "tailor-admin"}
	cfg.CurrentContext = "tailor"
	return clientcmd.WriteToFile(*cfg, path)
}

// waitHTTP polls url until it answers 200, the process dies, or a minute
// passes.
func (c *Cluster) waitHTTP(ctx context.Context, component, url string, tlsConfig *tls.Config) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.processExited(component); err != nil {
			return false, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		last = fmt.Sprintf("%s: %s", resp.Status, body)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("%s did not become healthy (%s; last answer: %s); see %s", component, err, last, c.logPath(component))
	}
	return nil
}

func (c *Cluster) waitDefaultServiceAccount(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(corev1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, c.processExited("kube-controller-manager")
		}
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("default ServiceAccount was not created: %w; see %s", err, c.logPath("kube-controller-manager"))
	}
	return nil
}

// Stop stops every component, newest first, and removes a temporary Dir.
// It is safe to call more than once.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.processes) - 1; i >= 0; i-- {
		if err := c.processes[i].stop(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	c.processes = nil
	if c.temporary && c.Dir != "" {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, err)
		}
		c.Dir = ""
	}
	return errors.Join(errs...)
}

// logPath returns the log file of a component ("etcd", "kube-apiserver",
// "kube-scheduler", "kube-controller-manager", "kwok").
func (c *Cluster) logPath(component string) string {
	return filepath.Join(c.Dir, "logs", component+".log")
}

// writeSchedulerConfig writes kube-scheduler's configuration: no leader
// election, and an API budget of 200 requests a second instead of 50, so
// that binding and reporting hundreds of pods, which a real control plane
// sized for such a cluster does quickly, is not what a playground or test
// waits for.
func (c *Cluster) writeSchedulerConfig() (string, error) {
	path := filepath.Join(c.Dir, "kube-scheduler.yaml")
	config := fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 200
  burst: 400
leaderElection:
  leaderElect: false
`, c.Kubeconfig)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return "", fmt.Errorf("write kube-scheduler configuration: %w", err)
	}
	return path, nil
}
