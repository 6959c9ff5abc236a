package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// apiClient speaks to the test's kube-apiserver over plain REST: discovery
// for where a kind lives, and POST for a create.
type apiClient struct {
	*testkit.KubeAPI
	resources map[string]string // "apps/v1 Deployment" -> "deployments"
}

type apiAnswer struct {
	status   int
	body     string
	warnings []string
}

func (c *apiClient) do(t *testing.T, method, path string, body []byte) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, c.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return apiAnswer{status: resp.StatusCode, body: string(b), warnings: resp.Header.Values("Warning")}
}

// path is where objects of apiVersion and kind are created in namespace ns,
// from the API server's own discovery.
func (c *apiClient) path(t *testing.T, apiVersion, kind, ns string) string {
	t.Helper()
	base := "/apis/" + apiVersion
	if !strings.Contains(apiVersion, "/") {
		base = "/api/" + apiVersion
	}
	key := apiVersion + " " + kind
	if _, ok := c.resources[key]; !ok {
		a := c.do(t, http.MethodGet, base, nil)
		var list metav1.APIResourceList
		if err := json.Unmarshal([]byte(a.body), &list); a.status != http.StatusOK || err != nil {
			t.Fatalf("discovery of %s: %d %v %s", base, a.status, err, a.body)
		}
		for _, r := range list.APIResources {
			if !strings.Contains(r.Name, "/") && r.Namespaced {
				c.resources[apiVersion+" "+r.Kind] = r.Name
			}
		}
	}
	resource, ok := c.resources[key]
	if !ok {
		t.Fatalf("the API server serves no namespaced %s in %s", kind, apiVersion)
	}
	return fmt.Sprintf("%s/namespaces/%s/%s", base, ns, resource)
}

// dryRun creates doc (YAML) in ns with dryRun=All and strict field
// validation: every check the API server makes, nothing stored.
func (c *apiClient) dryRun(t *testing.T, ns string, doc []byte) apiAnswer {
	t.Helper()
	body, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	var meta metav1.TypeMeta
	if err := json.Unmarshal(body, &meta); err != nil {
		t.Fatal(err)
	}
	return c.do(t, http.MethodPost, c.path(t, meta.APIVersion, meta.Kind, ns)+"?dryRun=All&fieldValidation=Strict", body)
}

// restrictedNamespace creates namespace ns with Pod Security "restricted"
// enforced (pods are refused) and warned (workloads get a Warning), and its
// default ServiceAccount (no controller runs here to make it).
func (c *apiClient) restrictedNamespace(t *testing.T, ns string) {
	t.Helper()
	for _, create := range []struct{ path, body string }{
		{"/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"` + ns + `","labels":{
			"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/enforce-version":"latest",
			"pod-security.kubernetes.io/warn":"restricted","pod-security.kubernetes.io/warn-version":"latest"}}}`},
		{"/api/v1/namespaces/" + ns + "/serviceaccounts", `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}`},
	} {
		if a := c.do(t, http.MethodPost, create.path, []byte(create.body)); a.status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", create.path, a.status, a.body)
		}
	}
}

// podOf is a workload's pod template as a Pod, for Pod Security's enforce
// mode, which judges pods (for a workload it only warns).
func podOf(t *testing.T, o object) []byte {
	t.Helper()
	tmpl, ok := podTemplate(o.obj)
	if !ok {
		return nil
	}
	tmpl = *tmpl.DeepCopy()
	if w, ok := o.obj.(*appsv1.StatefulSet); ok {
		// As the StatefulSet controller does: each claim template becomes
		// the pod's volume of that name.
		for _, claim := range w.Spec.VolumeClaimTemplates {
			tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{Name: claim.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name + "-" + w.Name + "-0"}}})
		}
	}
	pod := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: o.name + "-pod", Labels: tmpl.Labels}, Spec: tmpl.Spec}
	b, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every object the chart renders, under each set of values, passes a real
// kube-apiserver's validation and admission in a namespace that enforces Pod
// Security "restricted", with no warning; and the check itself refuses what
// it must.
func TestEveryObjectPassesTheAPIServerUnderRestrictedPodSecurity(t *testing.T) {
	c := &apiClient{KubeAPI: testkit.StartKubeAPIServer(t), resources: map[string]string{}}
	c.restrictedNamespace(t, release)

	for _, tc := range []struct {
		name   string
		values []string
	}{
		{"defaults", nil},
		{"TLS for one host", []string{"ingress.tls[0].secretName=shop-tls", "ingress.tls[0].hosts[0]=shop.example.com", "ingress.host=shop.example.com"}},
		{"the load generator", []string{"loadgen.enabled=true"}},
		{"an external Redis, fixed replicas, no spread", []string{"datastores.cartRedis.external.uri=rediss://:pw@cache.example.com:6379/0",
			"datastores.cartRedis.external.cidr=10.20.0.0/16", "services.cart.autoscaling.enabled=false", "topologySpread.enabled=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := decodeAll(t, render(t, tc.values...))
			for _, o := range objs {
				docs := [][]byte{o.raw}
				if pod := podOf(t, o); pod != nil {
					docs = append(docs, pod)
				}
				for _, doc := range docs {
					a := c.dryRun(t, release, doc)
					if a.status != http.StatusCreated && a.status != http.StatusOK {
						t.Errorf("%s/%s refused: %d %s", o.kind, o.name, a.status, a.body)
					}
					if len(a.warnings) > 0 {
						t.Errorf("%s/%s accepted with warnings: %v", o.kind, o.name, a.warnings)
					}
				}
			}
		})
	}

	// The same checks refuse what breaks them, so passing means something.
	objs := decodeAll(t, render(t))
	cart := find[*appsv1.Deployment](t, objs, "cart")
	refused := []struct {
		name   string
		doc    func() []byte
		status int
		says   string
	}{
		{"a pod whose container may escalate privileges", func() []byte {
			d := cart.DeepCopy()
			d.Spec.Template.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = new(true)
			return podOf(t, object{obj: d, name: "escalating"})
		}, http.StatusForbidden, "allowPrivilegeEscalation"},
		{"a pod that keeps a capability", func() []byte {
			d := cart.DeepCopy()
			d.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Drop = nil
			return podOf(t, object{obj: d, name: "capable"})
		}, http.StatusForbidden, "capabilities"},
		{"a Deployment with a field no API version has", func() []byte {
			for _, o := range objs {
				if o.kind == "Deployment" && o.name == "cart" {
					return bytes.Replace(o.raw, []byte("\nspec:\n"), []byte("\nspec:\n  replicaz: 3\n"), 1)
				}
			}
			return nil
		}, http.StatusBadRequest, `unknown field \"spec.replicaz\"`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			a := c.dryRun(t, release, tc.doc())
			if a.status != tc.status || !strings.Contains(a.body, tc.says) {
				t.Errorf("answered %d %s; want %d mentioning %q", a.status, a.body, tc.status, tc.says)
			}
		})
	}
	if t.Failed() {
		return
	}
	// A workload that breaks the profile is let in with a Warning, which the
	// loop above counts as a failure.
	d := cart.DeepCopy()
	d.Spec.Template.Spec.SecurityContext.RunAsNonRoot = new(false)
	d.Spec.Template.Spec.SecurityContext.RunAsUser = new(int64(0))
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.dryRun(t, release, raw); len(a.warnings) == 0 || !strings.Contains(strings.Join(a.warnings, " "), "restricted") {
		t.Errorf("a Deployment running as root drew no Pod Security warning: %d %v", a.status, a.warnings)
	}
}
