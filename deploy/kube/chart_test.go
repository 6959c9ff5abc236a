package kube

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
	"github.com/roboshop-go/roboshop/topology"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	chartDir = "../helm/roboshop"
	release  = "shop"
)

// runHelm runs helm with its caches and configuration in a throwaway home,
// so a developer's repositories and plugins play no part.
func runHelm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	return runHelmOn(t, "", args...)
}

// runHelmOn is runHelm against the cluster of kubeconfig ("" none).
func runHelmOn(t *testing.T, kubeconfig string, args ...string) ([]byte, error) {
	t.Helper()
	home := t.TempDir()
	if kubeconfig == "" {
		kubeconfig = home + "/kubeconfig"
	}
	cmd := exec.Command(testkit.Tool(t, "ROBOSHOP_HELM", "helm", "scripts/deps.sh builds it (helm.sh/helm/v3/cmd/helm)"), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config",
		"HELM_DATA_HOME="+home+"/data", "KUBECONFIG="+kubeconfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, errors.New(strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// render is `helm template` of the chart as release "shop" with values set.
func render(t *testing.T, set ...string) []byte {
	t.Helper()
	args := append([]string{"template", release, chartDir, "--namespace", release}, setFlags(set)...)
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// decoder decodes strictly (an unknown or duplicate field is an error) into
// the k8s.io/api types of every kind the chart makes.
var decoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme,
		networkingv1.AddToScheme, autoscalingv2.AddToScheme, policyv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// object is one rendered document: the typed object and its YAML.
type object struct {
	obj  runtime.Object
	kind string
	name string
	raw  []byte
}

// decodeAll splits helm's output into documents and decodes each strictly.
func decodeAll(t *testing.T, out []byte) []object {
	t.Helper()
	var objs []object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("a rendered document does not decode strictly into k8s.io/api: %v\n%s", err, doc)
		}
		name := obj.(interface{ GetName() string }).GetName()
		objs = append(objs, object{obj: obj, kind: gvk.Kind, name: name, raw: doc})
	}
}

func stripComments(doc []byte) []byte {
	var keep [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			keep = append(keep, l)
		}
	}
	return bytes.Join(keep, []byte("\n"))
}

// podTemplate is a workload's pod template, and false for any other object.
func podTemplate(obj runtime.Object) (corev1.PodTemplateSpec, bool) {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return w.Spec.Template, true
	case *appsv1.StatefulSet:
		return w.Spec.Template, true
	case *batchv1.Job:
		return w.Spec.Template, true
	}
	return corev1.PodTemplateSpec{}, false
}

func kinds(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.kind+"/"+o.name)
	}
	slices.Sort(out)
	return out
}

func TestChartLintsStrictly(t *testing.T) {
	if out, err := runHelm(t, "lint", "--strict", chartDir); err != nil {
		t.Fatalf("helm lint --strict: %v\n%s", err, out)
	}
}

// The chart renders what each set of values asks for, and every document
// decodes strictly.
func TestChartRenders(t *testing.T) {
	services := []string{"user", "catalogue", "cart", "payment"}
	datastores := []string{"user-mongodb", "catalogue-mongodb", "cart-redis", "payment-mysql"}
	cases := []struct {
		name    string
		set     []string
		want    []string // kind/name that must be there
		wantNot []string // kind/name that must not
		check   func(t *testing.T, objs []object)
	}{
		{name: "defaults",
			want: append(append(each("Deployment", append(services, "frontend")), each("StatefulSet", datastores)...),
				append(append(each("HorizontalPodAutoscaler", append(services, "frontend")), each("PodDisruptionBudget", append(services, "frontend"))...),
					"Ingress/frontend", "NetworkPolicy/default-deny", "NetworkPolicy/cart", "NetworkPolicy/payment-mysql", "Secret/cart-redis-credentials")...),
			wantNot: []string{"NetworkPolicy/bastion", "NetworkPolicy/cart-redis-external"}},
		{name: "no autoscaling, no ingress, no policies",
			set:     []string{"services.user.autoscaling.enabled=false", "frontend.autoscaling.enabled=false", "ingress.enabled=false", "networkPolicy.enabled=false"},
			want:    []string{"Deployment/user", "HorizontalPodAutoscaler/cart"},
			wantNot: []string{"HorizontalPodAutoscaler/user", "HorizontalPodAutoscaler/frontend", "Ingress/frontend", "NetworkPolicy/default-deny"},
			check: func(t *testing.T, objs []object) {
				if d := find[*appsv1.Deployment](t, objs, "frontend"); d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
					t.Errorf("frontend without an autoscaler: replicas %v, want the value's 2", d.Spec.Replicas)
				}
			}},
		{name: "an external Redis",
			set:     []string{"datastores.cartRedis.external.uri=rediss://:pw@cache.example.com:6379/0", "datastores.cartRedis.external.cidr=10.20.0.0/16"},
			want:    []string{"Secret/cart-redis-credentials", "NetworkPolicy/cart-redis-external"},
			wantNot: []string{"StatefulSet/cart-redis", "Service/cart-redis"},
			check: func(t *testing.T, objs []object) {
				s := find[*corev1.Secret](t, objs, "cart-redis-credentials")
				if got := s.StringData["uri"]; got != "rediss://:pw@cache.example.com:6379/0" || len(s.StringData) != 1 {
					t.Errorf("the external Redis's Secret holds %v, want only its URI", s.StringData)
				}
				p := find[*networkingv1.NetworkPolicy](t, objs, "cart-redis-external")
				if got := p.Spec.Egress[0].To[0].IPBlock.CIDR; got != "10.20.0.0/16" || p.Spec.PodSelector.MatchLabels[ComponentLabel] != "cart" {
					t.Errorf("external egress: %s for %v, want 10.20.0.0/16 for cart", got, p.Spec.PodSelector.MatchLabels)
				}
			}},
		{name: "an external MySQL from an existing Secret",
			set:     []string{"datastores.paymentMysql.external.existingSecret=rds-dsn", "datastores.paymentMysql.external.cidr=10.30.0.0/16"},
			wantNot: []string{"StatefulSet/payment-mysql", "Secret/payment-mysql-credentials"},
			check: func(t *testing.T, objs []object) {
				d := find[*appsv1.Deployment](t, objs, "payment")
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					if e.Name == "MYSQL_DSN" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "rds-dsn") {
						t.Errorf("payment's MYSQL_DSN comes from %+v, want the Secret rds-dsn", e.ValueFrom)
					}
				}
			}},
		{name: "the load generator",
			set:  []string{"loadgen.enabled=true", "frontend.service.port=8000"},
			want: []string{"Job/loadgen"},
			check: func(t *testing.T, objs []object) {
				pod := find[*batchv1.Job](t, objs, "loadgen").Spec.Template
				if pod.Labels[NameLabel] == "roboshop" {
					t.Error("the load generator's pods carry the release's name label: the default-deny policy would cut them off")
				}
				if args := strings.Join(pod.Spec.Containers[0].Args, " "); !strings.Contains(args, "-target http://frontend:8000") {
					t.Errorf("the load generator's arguments %q miss the frontend Service's port", args)
				}
			}},
		{name: "a signing key of one's own",
			set:     []string{"signingKey.existingSecret=my-key"},
			wantNot: []string{"Secret/user-signing-key"},
			check: func(t *testing.T, objs []object) {
				for _, e := range find[*appsv1.Deployment](t, objs, "user").Spec.Template.Spec.Containers[0].Env {
					if e.Name == "SIGNING_KEY" && e.ValueFrom.SecretKeyRef.Name != "my-key" {
						t.Errorf("SIGNING_KEY comes from %s, want my-key", e.ValueFrom.SecretKeyRef.Name)
					}
				}
			}},
		{name: "a registry and a tag",
			set: []string{"image.registry=ghcr.io/you/", "image.tag=1.2.3"},
			check: func(t *testing.T, objs []object) {
				if got := find[*appsv1.Deployment](t, objs, "cart").Spec.Template.Spec.Containers[0].Image; got != "ghcr.io/you/roboshop/cart:1.2.3" {
					t.Errorf("cart's image is %s, want ghcr.io/you/roboshop/cart:1.2.3", got)
				}
			}},
		{name: "given passwords",
			set: []string{"datastores.paymentMysql.password=s3cret", "datastores.userMongodb.password=p@ss/word"},
			check: func(t *testing.T, objs []object) {
				if got := find[*corev1.Secret](t, objs, "payment-mysql-credentials").StringData["uri"]; got != "payment:s3cret@tcp(payment-mysql:3306)/payment?parseTime=true" {
					t.Errorf("payment's DSN is %s", got)
				}
				if got := find[*corev1.Secret](t, objs, "user-mongodb-credentials").StringData["uri"]; got != "mongodb://roboshop:p%40ss%2Fword@user-mongodb:27017/users?authSource=users" {
					t.Errorf("user's MongoDB URI is %s (the password must be escaped)", got)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := decodeAll(t, render(t, tc.set...))
			have := kinds(objs)
			for _, w := range tc.want {
				if !slices.Contains(have, w) {
					t.Errorf("%s is missing; rendered: %v", w, have)
				}
			}
			for _, w := range tc.wantNot {
				if slices.Contains(have, w) {
					t.Errorf("%s is rendered, but must not be", w)
				}
			}
			if tc.check != nil {
				tc.check(t, objs)
			}
		})
	}
}

// Values that cannot work are refused with a message that says what to set.
func TestChartRefusesAnExternalDatastoreWithoutItsAddresses(t *testing.T) {
	_, err := runHelm(t, "template", release, chartDir, "--set", "datastores.userMongodb.external.uri=mongodb://db.example.com/users")
	if err == nil || !strings.Contains(err.Error(), "datastores.userMongodb.external.cidr") {
		t.Fatalf("an external MongoDB without external.cidr rendered (err %v); the NetworkPolicy would block it", err)
	}
}

// Generated passwords differ per datastore and are long; the user service's
// signing key is a fresh 32-byte seed, in a Secret it reads.
func TestChartGeneratesEachPassword(t *testing.T) {
	objs := decodeAll(t, render(t))
	key := find[*corev1.Secret](t, objs, "user-signing-key").Data["signing-key"]
	if seed, err := base64.StdEncoding.DecodeString(string(key)); err != nil || len(seed) != 32 {
		t.Errorf("the signing key is %d bytes of base64 (%v), want a 32-byte seed", len(seed), err)
	}
	var fromSecret bool
	for _, e := range find[*appsv1.Deployment](t, objs, "user").Spec.Template.Spec.Containers[0].Env {
		fromSecret = fromSecret || (e.Name == "SIGNING_KEY" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name == "user-signing-key")
	}
	if !fromSecret {
		t.Error("the user service does not take SIGNING_KEY from the Secret user-signing-key: it would keep its key in MongoDB")
	}
	seen := map[string]string{}
	for _, ds := range []string{"user-mongodb", "catalogue-mongodb", "cart-redis", "payment-mysql"} {
		s := find[*corev1.Secret](t, objs, ds+"-credentials")
		for key, v := range s.StringData {
			if key == "uri" {
				continue
			}
			if len(v) < 32 {
				t.Errorf("%s %s is %d characters, want 32", ds, key, len(v))
			}
			if other, dup := seen[v]; dup {
				t.Errorf("%s %s repeats %s", ds, key, other)
			}
			seen[v] = ds + " " + key
			if key == "password" && !strings.Contains(s.StringData["uri"], v) {
				t.Errorf("%s's URI does not carry its password", ds)
			}
		}
	}
}

// Each service's Deployment is wired as topology.Service.Env says, with the
// Service names (the security groups' names) as hosts: the wiring docker
// compose is checked against too.
func TestChartWiresServicesAsTopologySays(t *testing.T) {
	objs := decodeAll(t, render(t))
	shop := topology.Roboshop()
	for _, svc := range shop.Services {
		t.Run(svc.Name, func(t *testing.T) {
			want := svc.Env(shop, ":"+strconv.Itoa(topology.ServicePort), "(secret)", func(name string) string {
				return "http://" + name + ":" + strconv.Itoa(topology.ServicePort)
			})
			d := find[*appsv1.Deployment](t, objs, svc.Name)
			got := map[string]string{}
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				v := e.Value
				if e.ValueFrom != nil {
					v = "(secret)"
					ref := e.ValueFrom.SecretKeyRef
					if e.Name == shop.Datastore(svc.Store).Engine.EnvVar() && (ref == nil || ref.Name != svc.Store+"-credentials" || ref.Key != "uri") {
						t.Errorf("%s comes from %+v, want key uri of %s-credentials", e.Name, e.ValueFrom, svc.Store)
					}
				}
				if _, wired := want[e.Name]; wired {
					got[e.Name] = v
				}
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s=%q, topology says %q", k, got[k], v)
				}
			}
			// The shop-wide secrets, each from its Secret.
			for _, name := range svc.Secrets {
				var fromSecret bool
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					fromSecret = fromSecret || (e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
						e.ValueFrom.SecretKeyRef.Name == "settle-token" && e.ValueFrom.SecretKeyRef.Key == "token")
				}
				if !fromSecret {
					t.Errorf("%s does not take %s from the Secret settle-token", svc.Name, name)
				}
			}
			store := shop.Datastore(svc.Store)
			if s := find[*corev1.Service](t, objs, svc.Store); s.Spec.Ports[0].Port != int32(store.Port) {
				t.Errorf("Service %s listens on %d, topology says %d", svc.Store, s.Spec.Ports[0].Port, store.Port)
			}
			if uri := find[*corev1.Secret](t, objs, svc.Store+"-credentials").StringData["uri"]; !strings.Contains(uri, fmt.Sprintf("%s:%d)/%s?", svc.Store, store.Port, store.Database)) &&
				!strings.Contains(uri, fmt.Sprintf("@%s:%d/%s", svc.Store, store.Port, store.Database)) {
				t.Errorf("%s's connection string %q names another host, port or database than topology's %s:%d/%s", svc.Name, uri, svc.Store, store.Port, store.Database)
			}
		})
	}
}

func each(kind string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = kind + "/" + n
	}
	return out
}

// find returns the rendered object of type T named name.
func find[T runtime.Object](t *testing.T, objs []object, name string) T {
	t.Helper()
	for _, o := range objs {
		if typed, ok := o.obj.(T); ok && o.name == name {
			return typed
		}
	}
	var zero T
	t.Fatalf("no %T named %s rendered", zero, name)
	return zero
}

// TestRedisReadsItsPasswordFromAFile: Redis's password is in a file mounted
// from its Secret, never on its command line (ps and the pod's spec show
// arguments) nor in its environment.
func TestRedisReadsItsPasswordFromAFile(t *testing.T) {
	objs := decodeAll(t, render(t))
	secret := find[*corev1.Secret](t, objs, "cart-redis-credentials")
	if want := "requirepass " + secret.StringData["password"] + "\n"; secret.StringData["auth.conf"] != want {
		t.Fatalf("the Secret's auth.conf is %q, want the requirepass line", secret.StringData["auth.conf"])
	}
	pod := find[*appsv1.StatefulSet](t, objs, "cart-redis").Spec.Template.Spec
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "/etc/redis/auth.conf" || strings.Contains(strings.Join(c.Args, " "), "requirepass") ||
		strings.Contains(strings.Join(c.Args, " "), "$(") {
		t.Errorf("Redis's arguments %q: want the auth file first and no password", c.Args)
	}
	for _, e := range c.Env {
		t.Errorf("Redis has the environment variable %s: its password stays in the file", e.Name)
	}
	var mounted bool
	for _, v := range pod.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secret.Name && len(v.Secret.Items) == 1 && v.Secret.Items[0].Key == "auth.conf" {
			for _, m := range c.VolumeMounts {
				mounted = mounted || (m.Name == v.Name && m.MountPath == "/etc/redis" && m.ReadOnly)
			}
		}
	}
	if !mounted {
		t.Error("the Secret's auth.conf is not mounted read-only at /etc/redis")
	}
}

// TestChartBelievesClientAddressesOnlyFromItsProxy: the user service takes a
// shopper's address (its login throttle's key) from the frontend pods alone,
// found by a headless Service that lists them from their start, never from a
// range any pod is in; nginx believes X-Forwarded-For from nobody unless
// frontend.realIPFrom names the Ingress controller, and NOTES.txt says so.
func TestChartBelievesClientAddressesOnlyFromItsProxy(t *testing.T) {
	envOf := func(c corev1.Container, name string) string {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
		return "(unset)"
	}
	tests := []struct {
		name         string
		set          []string
		wantRealIP   string
		notesWarning bool
	}{
		{"defaults", nil, "unix:", true},
		{"behind a named controller", []string{"frontend.realIPFrom=10.42.0.17"}, "10.42.0.17", false},
		{"without an Ingress", []string{"ingress.enabled=false"}, "unix:", false},
	}
	// helm renders NOTES.txt only for an install, which asks a cluster its
	// version even when it only simulates: a real API server answers.
	api := testkit.StartKubeAPIServer(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := decodeAll(t, render(t, tc.set...))
			user := find[*appsv1.Deployment](t, objs, "user").Spec.Template.Spec.Containers[0]
			if got := envOf(user, topology.TrustedProxiesVar); got != "frontend-pods" {
				t.Errorf("the user service believes X-Real-IP from %q, want only the frontend pods (frontend-pods)", got)
			}
			for _, other := range []string{"catalogue", "cart", "payment"} {
				if got := envOf(find[*appsv1.Deployment](t, objs, other).Spec.Template.Spec.Containers[0], topology.TrustedProxiesVar); got != "(unset)" {
					t.Errorf("%s has %s=%q: only the user service takes client addresses", other, topology.TrustedProxiesVar, got)
				}
			}
			pods := find[*corev1.Service](t, objs, "frontend-pods")
			frontend := find[*appsv1.Deployment](t, objs, "frontend")
			if pods.Spec.ClusterIP != corev1.ClusterIPNone || !pods.Spec.PublishNotReadyAddresses ||
				!maps.Equal(pods.Spec.Selector, frontend.Spec.Selector.MatchLabels) {
				t.Errorf("frontend-pods is %+v: want headless, listing not-ready pods, selecting exactly the frontend's pods %v",
					pods.Spec, frontend.Spec.Selector.MatchLabels)
			}
			if got := envOf(frontend.Spec.Template.Spec.Containers[0], "real_ip_from"); got != tc.wantRealIP {
				t.Errorf("nginx believes X-Forwarded-For from %q, want %q", got, tc.wantRealIP)
			}
			out, err := runHelmOn(t, api.Kubeconfig, append([]string{"install", release, chartDir, "--dry-run=client", "--namespace", release},
				setFlags(tc.set)...)...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(out), "every shopper shares the controller's limit"); got != tc.notesWarning {
				t.Errorf("NOTES.txt warns that shoppers share one limit: %v, want %v", got, tc.notesWarning)
			}
		})
	}
}

func setFlags(set []string) []string {
	var out []string
	for _, s := range set {
		out = append(out, "--set", s)
	}
	return out
}

// TestPaymentsOwnMySQLUserHasRowsOnly: the chart's MySQL makes the schema's
// owner (MYSQL_USER, whom the migrations connect as through
// MYSQL_MIGRATE_DSN) and, by its init script, the service's own user with
// exactly topology.MySQLAppPrivileges; payment's MYSQL_DSN is that user's.
func TestPaymentsOwnMySQLUserHasRowsOnly(t *testing.T) {
	objs := decodeAll(t, render(t))
	secret := find[*corev1.Secret](t, objs, "payment-mysql-credentials").StringData
	userOf := func(dsn string) string { return strings.SplitN(dsn, ":", 2)[0] }
	mysqlPod := find[*appsv1.StatefulSet](t, objs, "payment-mysql").Spec.Template.Spec
	env := map[string]string{}
	for _, e := range mysqlPod.Containers[0].Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil {
			env[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	script := find[*corev1.ConfigMap](t, objs, "payment-mysql-init").Data["app-user.sh"]
	compose, err := os.ReadFile("../compose/mysql-app-user.sh")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := script, string(stripComments(compose)); strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("the chart's app-user.sh is not compose's (deploy/compose/mysql-app-user.sh):\n%s\nwant\n%s", got, want)
	}
	var mounted bool
	for _, m := range mysqlPod.Containers[0].VolumeMounts {
		mounted = mounted || (m.MountPath == "/docker-entrypoint-initdb.d" && m.ReadOnly)
	}
	var payment corev1.Container = find[*appsv1.Deployment](t, objs, "payment").Spec.Template.Spec.Containers[0]
	var migrateKey, dsnKey string
	for _, e := range payment.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			switch e.Name {
			case topology.MigrateDSNVar:
				migrateKey = e.ValueFrom.SecretKeyRef.Key
			case "MYSQL_DSN":
				dsnKey = e.ValueFrom.SecretKeyRef.Key
			}
		}
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"MYSQL_USER is the owner, with the owner's password", env["MYSQL_USER"] == userOf(secret["migrate-uri"]) && env["MYSQL_PASSWORD"] == "secret:owner-password"},
		{"the service's user is another", userOf(secret["uri"]) != userOf(secret["migrate-uri"]) && env["ROBOSHOP_MYSQL_APP_USER"] == userOf(secret["uri"])},
		{"the init script grants the service's user rows only", strings.Contains(script, "GRANT "+topology.MySQLAppPrivileges+" ON") && !strings.Contains(script, "ALL")},
		{"the init script is mounted where the image runs it", mounted},
		{"payment connects as its user and migrates as the owner", dsnKey == "uri" && migrateKey == "migrate-uri"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: no (MySQL env %v, payment keys %q/%q)", c.name, env, dsnKey, migrateKey)
		}
	}
}
