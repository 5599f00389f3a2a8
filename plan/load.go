package plan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
)

// Objects are what a set of manifests holds.
type Objects struct {
	// Pods are the pods to place, workloads already expanded.
	Pods       []*corev1.Pod
	DaemonSets []*appsv1.DaemonSet
	NodePools  []*v1.NodePool
	// NodeClasses are the node classes of any registered cloud provider.
	NodeClasses []client.Object
	// Volumes: claims (including those StatefulSets would create from
	// their volumeClaimTemplates), volumes and storage classes.
	PersistentVolumeClaims []*corev1.PersistentVolumeClaim
	PersistentVolumes      []*corev1.PersistentVolume
	StorageClasses         []*storagev1.StorageClass
	// Namespaces carry the labels pod affinity's namespaceSelector matches.
	Namespaces []*corev1.Namespace
	// Ignored lists objects that were read but do not affect the plan yet
	// (ConfigMaps, Services, ServiceAccounts, NodeClaims), by source.
	Ignored []string
	// Source says where each pod came from: "file: Kind/namespace/name".
	Source map[*corev1.Pod]string
}

// Load reads every manifest under paths (files, or folders searched for
// .yaml, .yml and .json files).
func Load(paths ...string) (*Objects, error) {
	out := &Objects{Source: map[*corev1.Pod]string{}}
	scheme, err := cloudprovider.NewScheme()
	if err != nil {
		return nil, err
	}
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	var errs []error
	for _, path := range paths {
		files, err := manifestFiles(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, file := range files {
			if err := out.loadFile(decoder, file); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	if len(files) == 0 && err == nil {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json files", path)
	}
	return files, err
}

func (o *Objects) loadFile(decoder runtime.Decoder, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var errs []error
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", file, doc, err)
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		obj, gvk, err := decoder.Decode(raw, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", file, doc, describeDecodeError(err)))
			continue
		}
		meta, _ := obj.(metav1.Object)
		where := fmt.Sprintf("%s: %s", file, gvk.Kind)
		if meta != nil {
			where += "/" + qualified(meta.GetNamespace(), meta.GetName())
		}
		if err := o.add(obj, where); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return errors.Join(errs...)
}

func stripComments(raw []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func describeDecodeError(err error) error {
	if runtime.IsNotRegisteredError(err) {
		var classes []string
		for _, p := range cloudprovider.Providers() {
			classes = append(classes, p.NodeClassKind.Kind)
		}
		return fmt.Errorf("unknown kind (tailor plan reads Pods, Deployments, ReplicaSets, StatefulSets, Jobs, DaemonSets, PersistentVolumeClaims, PersistentVolumes, StorageClasses, Namespaces, NodePools and node classes: %s): %w", strings.Join(classes, ", "), err)
	}
	return err
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func (o *Objects) add(obj runtime.Object, where string) error {
	switch x := obj.(type) {
	case *corev1.Pod:
		o.addPods(where, []*corev1.Pod{x.DeepCopy()})
	case *appsv1.Deployment:
		hash := suffix(x.Name+"/template", 10)
		o.addPods(where, expand(x.ObjectMeta, x.Spec.Template, replicas(x.Spec.Replicas), func(i int) string {
			return x.Name + "-" + hash + "-" + suffix(fmt.Sprint(x.Name, i), 5)
		}))
	case *appsv1.ReplicaSet:
		o.addPods(where, expand(x.ObjectMeta, x.Spec.Template, replicas(x.Spec.Replicas), func(i int) string {
			return x.Name + "-" + suffix(fmt.Sprint(x.Name, i), 5)
		}))
	case *appsv1.StatefulSet:
		pods := expand(x.ObjectMeta, x.Spec.Template, replicas(x.Spec.Replicas), func(i int) string {
			return fmt.Sprintf("%s-%d", x.Name, i)
		})
		// The StatefulSet controller makes a claim per pod and template,
		// named <template>-<pod>, and mounts it.
		for _, pod := range pods {
			for _, template := range x.Spec.VolumeClaimTemplates {
				claim := &corev1.PersistentVolumeClaim{ObjectMeta: *template.ObjectMeta.DeepCopy(), Spec: *template.Spec.DeepCopy()}
				claim.Name, claim.Namespace = template.Name+"-"+pod.Name, pod.Namespace
				if claim.Namespace == "" {
					claim.Namespace = corev1.NamespaceDefault
				}
				o.PersistentVolumeClaims = append(o.PersistentVolumeClaims, claim)
				pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: template.Name, VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name}}})
			}
		}
		o.addPods(where, pods)
	case *batchv1.Job:
		n := 1
		if x.Spec.Parallelism != nil {
			n = int(*x.Spec.Parallelism)
		}
		if x.Spec.Completions != nil && int(*x.Spec.Completions) < n {
			n = int(*x.Spec.Completions)
		}
		o.addPods(where, expand(x.ObjectMeta, x.Spec.Template, n, func(i int) string {
			return x.Name + "-" + suffix(fmt.Sprint(x.Name, i), 5)
		}))
	case *appsv1.DaemonSet:
		o.DaemonSets = append(o.DaemonSets, x)
	case *v1.NodePool:
		o.NodePools = append(o.NodePools, x)
	case *corev1.PersistentVolumeClaim:
		if x.Namespace == "" {
			x.Namespace = corev1.NamespaceDefault
		}
		o.PersistentVolumeClaims = append(o.PersistentVolumeClaims, x)
	case *corev1.PersistentVolume:
		o.PersistentVolumes = append(o.PersistentVolumes, x)
	case *storagev1.StorageClass:
		o.StorageClasses = append(o.StorageClasses, x)
	case *corev1.Namespace:
		o.Namespaces = append(o.Namespaces, x)
	case *corev1.ConfigMap, *corev1.Service, *corev1.ServiceAccount, *v1.NodeClaim:
		o.Ignored = append(o.Ignored, where)
	default:
		if _, ok := cloudprovider.ForObject(obj); ok {
			o.NodeClasses = append(o.NodeClasses, obj.(client.Object))
			return nil
		}
		return fmt.Errorf("tailor plan does not use this kind")
	}
	return nil
}

func replicas(r *int32) int {
	if r == nil {
		return 1
	}
	return int(*r)
}

func expand(owner metav1.ObjectMeta, template corev1.PodTemplateSpec, n int, name func(int) string) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, n)
	for i := range n {
		pod := &corev1.Pod{ObjectMeta: *template.ObjectMeta.DeepCopy(), Spec: *template.Spec.DeepCopy()}
		pod.Name, pod.Namespace = name(i), owner.Namespace
		if pod.Namespace == "" {
			pod.Namespace = corev1.NamespaceDefault
		}
		out = append(out, pod)
	}
	return out
}

func (o *Objects) addPods(where string, pods []*corev1.Pod) {
	for _, p := range pods {
		if p.Namespace == "" {
			p.Namespace = corev1.NamespaceDefault
		}
		o.Pods = append(o.Pods, p)
		o.Source[p] = where
	}
}

// suffix is a deterministic stand-in for the random suffixes controllers
// add: lowercase consonants and digits, as Kubernetes' own generator uses.
func suffix(seed string, n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	h := fnv.New64a()
	h.Write([]byte(seed))
	x := h.Sum64()
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[x%uint64(len(alphabet))])
		x /= uint64(len(alphabet))
		if x == 0 {
			x = h.Sum64() ^ 0x9e3779b97f4a7c15
		}
	}
	return b.String()
}
