package plan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
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
	// Skipped counts the objects read that do not affect placement
	// (Services, ConfigMaps, RBAC, custom resources of other groups...), by
	// kind: "Service", or "Certificate.cert-manager.io" for a kind of a
	// group this build does not know.
	Skipped map[string]int
	// Warnings are about checks tailor plan could not make.
	Warnings []string
	// Source says where each pod came from: "file: Kind/namespace/name".
	Source map[*corev1.Pod]string
}

// SkippedSummary lists the skipped objects by kind, most first:
// "3 Service, 1 Secret"; "" when none were skipped.
func (o *Objects) SkippedSummary() string {
	kinds := make([]string, 0, len(o.Skipped))
	for kind := range o.Skipped {
		kinds = append(kinds, kind)
	}
	slices.SortFunc(kinds, func(a, b string) int {
		if o.Skipped[a] != o.Skipped[b] {
			return o.Skipped[b] - o.Skipped[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(kinds))
	for i, kind := range kinds {
		parts[i] = fmt.Sprintf("%d %s", o.Skipped[kind], kind)
	}
	return strings.Join(parts, ", ")
}

// maxPods bounds the pods one run expands workloads into, so that a typo
// such as replicas: 2000000000 is an error rather than an exhausted memory.
var maxPods = 1_000_000

// loader holds what reading manifests needs.
type loader struct {
	scheme *runtime.Scheme
	// decoder refuses unknown and duplicate fields.
	decoder runtime.Decoder
	// read are the kinds that feed the plan, each in the version read.
	read       map[schema.GroupKind]string
	validators map[schema.GroupVersionKind]*crdValidator
	// generated marks the pods whose names Tailor made up, which may be
	// lengthened should two pods end up with one name.
	generated map[*corev1.Pod]bool
}

// shared is the loader's scheme, decoder and validators, made once: they
// do not change.
var shared struct {
	once   sync.Once
	loader *loader
	err    error
}

func newLoader() (*loader, error) {
	scheme, err := cloudprovider.NewScheme()
	if err != nil {
		return nil, err
	}
	l := &loader{
		scheme:    scheme,
		decoder:   serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer(),
		generated: map[*corev1.Pod]bool{},
		read: map[schema.GroupKind]string{
			{Kind: "Pod"}: "v1", {Kind: "PersistentVolumeClaim"}: "v1", {Kind: "PersistentVolume"}: "v1", {Kind: "Namespace"}: "v1",
			{Group: "apps", Kind: "Deployment"}: "v1", {Group: "apps", Kind: "ReplicaSet"}: "v1",
			{Group: "apps", Kind: "StatefulSet"}: "v1", {Group: "apps", Kind: "DaemonSet"}: "v1",
			{Group: "batch", Kind: "Job"}: "v1", {Group: "batch", Kind: "CronJob"}: "v1",
			{Group: "storage.k8s.io", Kind: "StorageClass"}:        "v1",
			{Group: v1.SchemeGroupVersion.Group, Kind: "NodePool"}: v1.SchemeGroupVersion.Version,
		},
	}
	for _, p := range cloudprovider.Providers() {
		gvks, _, err := scheme.ObjectKinds(p.NodeClass)
		if err != nil {
			return nil, fmt.Errorf("cloud provider %s: %w", p.Name, err)
		}
		l.read[gvks[0].GroupKind()] = gvks[0].Version
	}
	if l.validators, err = crdValidators(); err != nil {
		return nil, err
	}
	return l, nil
}

// Load reads every manifest under paths (files, or folders searched for
// .yaml, .yml and .json files).
func Load(paths ...string) (*Objects, error) {
	out := &Objects{Source: map[*corev1.Pod]string{}, Skipped: map[string]int{}}
	shared.once.Do(func() { shared.loader, shared.err = newLoader() })
	if shared.err != nil {
		return nil, shared.err
	}
	l := *shared.loader
	l.generated = map[*corev1.Pod]bool{}
	var errs []error
	for _, path := range paths {
		files, err := manifestFiles(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, file := range files {
			if err := l.loadFile(out, file); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) == 0 {
		errs = append(errs, l.uniqueNames(out))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
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

func (l *loader) loadFile(o *Objects, file string) error {
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
		// Strict YAML: a key given twice is an error, as kubectl has it.
		data, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", file, doc, err))
			continue
		}
		if err := l.loadDocument(o, file, fmt.Sprintf("document %d", doc), data); err != nil {
			errs = append(errs, err)
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

// loadDocument reads one object, given as JSON: it feeds the plan, is
// skipped and counted, or is an error.
func (l *loader) loadDocument(o *Objects, file, doc string, data []byte) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s: %s", file, doc, fmt.Sprintf(format, args...))
	}
	var content any
	if err := utiljson.Unmarshal(data, &content); err != nil {
		return fail("%v", err)
	}
	if content == nil {
		return nil // "null", as a document of only "---" and comments may be
	}
	object, ok := content.(map[string]any)
	if !ok {
		return fail("not a Kubernetes object: want a mapping with apiVersion and kind, not %T", content)
	}
	apiVersion, _ := object["apiVersion"].(string)
	kind, _ := object["kind"].(string)
	switch {
	case kind == "":
		return fail("no kind")
	case apiVersion == "":
		return fail("%s: no apiVersion", kind)
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return fail("%v", err)
	}
	gvk := gv.WithKind(kind)
	if gvk.GroupKind() == (schema.GroupKind{Kind: "List"}) {
		items, _ := object["items"].([]any)
		var errs []error
		for i, item := range items {
			data, err := utiljson.Marshal(item)
			if err != nil {
				return fail("items[%d]: %v", i, err)
			}
			errs = append(errs, l.loadDocument(o, file, fmt.Sprintf("%s, items[%d]", doc, i), data))
		}
		return errors.Join(errs...)
	}
	version, read := l.read[gvk.GroupKind()]
	switch {
	case read && version != gvk.Version:
		return fail("%s %s: tailor plan reads %s as %s: use apiVersion %s", apiVersion, kind, kind, schema.GroupVersion{Group: gvk.Group, Version: version}, schema.GroupVersion{Group: gvk.Group, Version: version})
	case read:
	case l.scheme.Recognizes(gvk) || l.kindOfGroup(gvk.GroupKind()):
		o.Skipped[kind]++
		return nil
	case l.scheme.IsGroupRegistered(gvk.Group):
		return fail("no kind %q in %s (misspelled? tailor plan reads %s, and skips the other kinds of %s)", kind, apiVersion, l.readKinds(), apiVersion)
	case gvk.Group == "" || strings.HasSuffix(gvk.Group, ".k8s.io"):
		o.Skipped[kind]++
		return nil
	default:
		o.Skipped[kind+"."+gvk.Group]++
		return nil
	}
	name := describe(object)
	if v := l.validators[gvk]; v != nil {
		if err := v.validate(object); err != nil {
			return fmt.Errorf("%s: %s/%s: %w", file, kind, name, err)
		}
	}
	obj, _, err := l.decoder.Decode(data, nil, nil)
	if err != nil {
		return fail("%s/%s: %v", kind, name, err)
	}
	where := fmt.Sprintf("%s: %s/%s", file, kind, name)
	if err := l.add(o, obj, where); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// kindOfGroup says whether the scheme knows the kind in any version of
// its group: an old HorizontalPodAutoscaler version is skipped as the
// others are.
func (l *loader) kindOfGroup(gk schema.GroupKind) bool {
	for gvk := range l.scheme.AllKnownTypes() {
		if gvk.GroupKind() == gk {
			return true
		}
	}
	return false
}

func (l *loader) readKinds() string {
	var kinds []string
	for gk := range l.read {
		kinds = append(kinds, gk.Kind)
	}
	slices.Sort(kinds)
	return strings.Join(kinds, ", ")
}

// describe names an object as errors and sources do: namespace/name.
func describe(object map[string]any) string {
	meta, _ := object["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, _ := meta["namespace"].(string)
	return qualified(namespace, name)
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func (l *loader) add(o *Objects, obj runtime.Object, where string) error {
	switch x := obj.(type) {
	case *corev1.Pod:
		if err := checkPodSpec(field.NewPath("spec"), &x.Spec); err != nil {
			return err
		}
		return l.addPods(o, where, []*corev1.Pod{x.DeepCopy()}, false)
	case *appsv1.Deployment:
		n, err := count(field.NewPath("spec", "replicas"), x.Spec.Replicas, 1)
		if err != nil {
			return err
		}
		hash := suffix(x.Name+"/template", 10)
		names := suffixes("Deployment/"+x.Name, n)
		return l.expand(o, where, x.Namespace, &x.Spec.Template, field.NewPath("spec", "template"), n, func(i int) string {
			return x.Name + "-" + hash + "-" + names(i)
		})
	case *appsv1.ReplicaSet:
		n, err := count(field.NewPath("spec", "replicas"), x.Spec.Replicas, 1)
		if err != nil {
			return err
		}
		names := suffixes("ReplicaSet/"+x.Name, n)
		return l.expand(o, where, x.Namespace, &x.Spec.Template, field.NewPath("spec", "template"), n, func(i int) string {
			return x.Name + "-" + names(i)
		})
	case *appsv1.StatefulSet:
		return l.addStatefulSet(o, where, x)
	case *batchv1.Job:
		return l.addJob(o, where, x.Name, x.Namespace, &x.Spec, field.NewPath("spec"))
	case *batchv1.CronJob:
		if x.Spec.Suspend != nil && *x.Spec.Suspend {
			o.Skipped["CronJob (suspended)"]++
			return nil
		}
		// One run of its job, named as the CronJob controller names jobs:
		// <name>-<minutes since the epoch of the scheduled time>.
		job := fmt.Sprintf("%s-%d", x.Name, 29000000+fnv32(x.Namespace+"/"+x.Name)%1000000)
		return l.addJob(o, where, job, x.Namespace, &x.Spec.JobTemplate.Spec, field.NewPath("spec", "jobTemplate", "spec"))
	case *appsv1.DaemonSet:
		if err := checkPodSpec(field.NewPath("spec", "template", "spec"), &x.Spec.Template.Spec); err != nil {
			return err
		}
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
	default:
		if _, ok := cloudprovider.ForObject(obj); ok {
			o.NodeClasses = append(o.NodeClasses, obj.(client.Object))
			return nil
		}
		return fmt.Errorf("tailor plan does not read %T", obj)
	}
	return nil
}

func (l *loader) addStatefulSet(o *Objects, where string, x *appsv1.StatefulSet) error {
	n, err := count(field.NewPath("spec", "replicas"), x.Spec.Replicas, 1)
	if err != nil {
		return err
	}
	if err := l.room(o, n); err != nil {
		return err
	}
	if err := checkPodSpec(field.NewPath("spec", "template", "spec"), &x.Spec.Template.Spec); err != nil {
		return err
	}
	pods := expand(x.Namespace, &x.Spec.Template, n, func(i int) string { return fmt.Sprintf("%s-%d", x.Name, i) })
	// The StatefulSet controller makes a claim per pod and template,
	// named <template>-<pod>, and mounts it.
	for _, pod := range pods {
		for _, template := range x.Spec.VolumeClaimTemplates {
			claim := &corev1.PersistentVolumeClaim{ObjectMeta: *template.ObjectMeta.DeepCopy(), Spec: *template.Spec.DeepCopy()}
			claim.Name, claim.Namespace = template.Name+"-"+pod.Name, pod.Namespace
			o.PersistentVolumeClaims = append(o.PersistentVolumeClaims, claim)
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: template.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name}}})
		}
	}
	return l.addPods(o, where, pods, true)
}

// addJob adds the pods a Job runs at once: parallelism of them, or fewer
// when fewer completions are asked for.
func (l *loader) addJob(o *Objects, where, name, namespace string, spec *batchv1.JobSpec, path *field.Path) error {
	if spec.Suspend != nil && *spec.Suspend {
		o.Skipped["Job (suspended)"]++
		return nil
	}
	n, err := count(path.Child("parallelism"), spec.Parallelism, 1)
	if err != nil {
		return err
	}
	if spec.Completions != nil {
		c, err := count(path.Child("completions"), spec.Completions, 1)
		if err != nil {
			return err
		}
		n = min(n, c)
	}
	names := suffixes("Job/"+name, n)
	return l.expand(o, where, namespace, &spec.Template, path.Child("template"), n, func(i int) string {
		return name + "-" + names(i)
	})
}

// expand checks a workload's pod template and adds the n pods its
// controller would make.
func (l *loader) expand(o *Objects, where, namespace string, template *corev1.PodTemplateSpec, path *field.Path, n int, name func(int) string) error {
	if err := l.room(o, n); err != nil {
		return err
	}
	if err := checkPodSpec(path.Child("spec"), &template.Spec); err != nil {
		return err
	}
	return l.addPods(o, where, expand(namespace, template, n, name), true)
}

// room refuses to make more than maxPods pods in all.
func (l *loader) room(o *Objects, n int) error {
	if len(o.Pods)+n > maxPods {
		return fmt.Errorf("%d pods, with the %d before, are more than the %d tailor plan plans at once", n, len(o.Pods), maxPods)
	}
	return nil
}

func expand(namespace string, template *corev1.PodTemplateSpec, n int, name func(int) string) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, n)
	for i := range n {
		pod := &corev1.Pod{ObjectMeta: *template.ObjectMeta.DeepCopy(), Spec: *template.Spec.DeepCopy()}
		pod.Name, pod.Namespace = name(i), namespace
		if pod.Namespace == "" {
			pod.Namespace = corev1.NamespaceDefault
		}
		out = append(out, pod)
	}
	return out
}

func (l *loader) addPods(o *Objects, where string, pods []*corev1.Pod, generated bool) error {
	for _, p := range pods {
		if p.Namespace == "" {
			p.Namespace = corev1.NamespaceDefault
		}
		o.Pods = append(o.Pods, p)
		o.Source[p] = where
		if generated {
			l.generated[p] = true
		}
	}
	return nil
}
