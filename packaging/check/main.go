// Command check validates the container stack and the Helm chart, offline
// (make packaging-check):
//
//   - packaging/compose.yml is loaded with compose-go (the Compose spec's
//     schema and its loader) and must wire Postgres, Redis and MinIO into
//     agentops with AGENTOPS_* variables;
//   - packaging/helm/agentops passes helm lint (strict) and renders with
//     helm template for every values file in its ci/ folder (the SQLite and
//     the Postgres shapes);
//   - every rendered manifest is decoded strictly (unknown fields refused)
//     into its k8s.io/api type, and the objects are checked for what the
//     chart promises: probes, the Secret, the strategy, the volume, the
//     budget, the ingress timeouts;
//   - every AGENTOPS_* variable the compose file and the chart set is one
//     the README documents.
//
// It prints one line per check and exits 1 if any failed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

type checker struct{ failed int }

func (c *checker) ok(format string, args ...any) { fmt.Printf("ok: "+format+"\n", args...) }

func (c *checker) fail(format string, args ...any) {
	c.failed++
	fmt.Printf("FAIL: "+format+"\n", args...)
}

// expect records a check: ok when cond holds.
func (c *checker) expect(cond bool, format string, args ...any) {
	if cond {
		c.ok(format, args...)
	} else {
		c.fail(format, args...)
	}
}

func main() {
	root := flag.String("root", ".", "the repository's root")
	flag.Parse()
	c := &checker{}
	documented, err := documentedVars(filepath.Join(*root, "README.md"))
	if err != nil {
		c.fail("README: %v", err)
	}
	// The strict decoding must refuse what the API server would drop.
	var d appsv1.Deployment
	err = strict([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replica":1}}`), &d)
	c.expect(err != nil, "strict decoding refuses an unknown field (%v)", err)
	c.composeRefusesUnknownKeys()
	c.compose(filepath.Join(*root, "packaging", "compose.yml"), documented)
	c.chart(filepath.Join(*root, "packaging", "helm", "agentops"), documented)
	if c.failed > 0 {
		fmt.Printf("%d checks failed\n", c.failed)
		os.Exit(1)
	}
}

var varRE = regexp.MustCompile(`AGENTOPS_[A-Z0-9_]+`)

// documentedVars is every AGENTOPS_* name the README mentions (its flags
// and environment table).
func documentedVars(readme string) (map[string]bool, error) {
	b, err := os.ReadFile(readme)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range varRE.FindAllString(string(b), -1) {
		out[m] = true
	}
	return out, nil
}

func (c *checker) documented(where string, names []string, documented map[string]bool) {
	var unknown []string
	for _, n := range names {
		if strings.HasPrefix(n, "AGENTOPS_") && !documented[n] {
			unknown = append(unknown, n)
		}
	}
	c.expect(len(unknown) == 0, "%s: every AGENTOPS_* variable is in the README (unknown: %v)", where, unknown)
}

// ---- compose ----

func (c *checker) compose(path string, documented map[string]bool) {
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithName("agentops"), cli.WithWorkingDirectory(filepath.Dir(path)))
	if err != nil {
		c.fail("compose: %v", err)
		return
	}
	// Validated against the Compose spec's schema while loading;
	// variables take their defaults (${X:-default}), not this machine's
	// environment.
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		c.fail("compose: %s does not load: %v", path, err)
		return
	}
	c.ok("compose: %s loads and validates (compose-go), services %v", filepath.Base(path), p.ServiceNames())
	svc := map[string]types.ServiceConfig{}
	for _, s := range p.Services {
		svc[s.Name] = s
	}
	for _, name := range []string{"postgres", "redis", "minio", "minio-init", "agentops"} {
		if _, ok := svc[name]; !ok {
			c.fail("compose: no %s service", name)
		}
	}
	a, ok := svc["agentops"]
	if !ok {
		return
	}
	env := func(k string) string {
		if v := a.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	c.expect(strings.HasPrefix(env("AGENTOPS_DATABASE_URL"), "postgres://agentops:") && strings.Contains(env("AGENTOPS_DATABASE_URL"), "@postgres:5432/"),
		"compose: agentops uses the postgres service (%s)", redact(env("AGENTOPS_DATABASE_URL")))
	c.expect(env("AGENTOPS_PUBSUB") == "redis" && env("AGENTOPS_REDIS_URL") == "redis://redis:6379/0", "compose: agentops uses the redis service for pub/sub")
	c.expect(env("AGENTOPS_BLOB") == "s3" && env("AGENTOPS_S3_ENDPOINT") == "http://minio:9000" && env("AGENTOPS_S3_PATH_STYLE") == "true" &&
		env("AGENTOPS_S3_BUCKET") != "", "compose: agentops uses the minio service for artifacts")
	c.expect(env("AGENTOPS_S3_SECRET_KEY") == *svc["minio"].Environment["MINIO_ROOT_PASSWORD"], "compose: the S3 secret is MinIO's password")
	deps := a.DependsOn
	c.expect(deps["postgres"].Condition == types.ServiceConditionHealthy && deps["redis"].Condition == types.ServiceConditionHealthy &&
		deps["minio-init"].Condition == types.ServiceConditionCompletedSuccessfully, "compose: agentops starts after its dependencies are ready")
	dataVolume := false
	for _, v := range a.Volumes {
		dataVolume = dataVolume || (v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/agentops")
	}
	c.expect(dataVolume, "compose: the data dir is a named volume")
	c.expect(a.Build != nil && a.Build.Dockerfile == "packaging/Dockerfile", "compose: agentops is built from packaging/Dockerfile")
	var names []string
	for k := range a.Environment {
		names = append(names, k)
	}
	sort.Strings(names)
	c.documented("compose", names, documented)
}

// composeRefusesUnknownKeys: the loader validates against the schema (a
// misspelt key is an error, not ignored).
func (c *checker) composeRefusesUnknownKeys() {
	dir, err := os.MkdirTemp("", "agentops-compose-check")
	if err != nil {
		c.fail("compose: %v", err)
		return
	}
	defer os.RemoveAll(dir)
	bad := filepath.Join(dir, "compose.yml")
	if err := os.WriteFile(bad, []byte("services:\n  x:\n    image: busybox\n    restrat: always\n"), 0o600); err != nil {
		c.fail("compose: %v", err)
		return
	}
	opts, err := cli.NewProjectOptions([]string{bad}, cli.WithName("bad"), cli.WithWorkingDirectory(dir))
	if err == nil {
		_, err = opts.LoadProject(context.Background())
	}
	c.expect(err != nil, "compose: the schema refuses a misspelt key (%v)", err)
}

func redact(url string) string {
	if i, j := strings.Index(url, "://"), strings.LastIndex(url, "@"); i >= 0 && j > i {
		if k := strings.Index(url[i+3:j], ":"); k >= 0 {
			return url[:i+3+k+1] + "REDACTED" + url[j:]
		}
	}
	return url
}

// ---- Helm ----

func (c *checker) chart(dir string, documented map[string]bool) {
	files, _ := filepath.Glob(filepath.Join(dir, "ci", "*-values.yaml"))
	if len(files) == 0 {
		c.fail("chart: no values files in %s/ci", dir)
		return
	}
	chrt, err := loader.Load(dir)
	if err != nil {
		c.fail("chart: load: %v", err)
		return
	}
	for _, f := range files {
		shape := strings.TrimSuffix(filepath.Base(f), "-values.yaml")
		vals, err := chartutil.ReadValuesFile(f)
		if err != nil {
			c.fail("chart %s: %v", shape, err)
			continue
		}
		// helm lint --strict: warnings count.
		l := lint.All(dir, vals, "agentops", false)
		var msgs []string
		for _, m := range l.Messages {
			if m.Severity >= support.WarningSev {
				msgs = append(msgs, m.Error())
			}
		}
		c.expect(len(msgs) == 0, "chart %s: helm lint --strict %v", shape, msgs)

		// helm template
		inst := action.NewInstall(&action.Configuration{})
		inst.DryRun, inst.ClientOnly, inst.Replace, inst.IncludeCRDs = true, true, true, true
		inst.ReleaseName, inst.Namespace = "agentops", "agentops"
		rel, err := inst.Run(chrt, vals)
		if err != nil {
			c.fail("chart %s: helm template: %v", shape, err)
			continue
		}
		c.ok("chart %s: helm template renders", shape)
		objs := c.decode(shape, rel.Manifest)
		c.expectShape(shape, vals, objs, documented)
	}
	// A SQLite release without a volume, or replicas on a shared
	// ReadWriteOnce volume, is refused at render time.
	for _, bad := range []map[string]any{
		{"persistence": map[string]any{"enabled": false}},
		{"database": map[string]any{"url": "postgres://h/db"}, "replicaCount": 2},
	} {
		inst := action.NewInstall(&action.Configuration{})
		inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
		inst.ReleaseName, inst.Namespace = "agentops", "agentops"
		_, err := inst.Run(chrt, bad)
		c.expect(err != nil, "chart: values %v are refused (%v)", bad, err)
	}
}

// objects are the rendered manifests, by kind.
type objects struct {
	deployments []appsv1.Deployment
	services    []corev1.Service
	secrets     []corev1.Secret
	pvcs        []corev1.PersistentVolumeClaim
	ingresses   []networkingv1.Ingress
	pdbs        []policyv1.PodDisruptionBudget
}

// decode decodes every manifest strictly into its k8s.io/api type.
func (c *checker) decode(shape, manifest string) *objects {
	o := &objects{}
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		doc := docs[k]
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			c.fail("chart %s: %s is not YAML: %v", shape, k, err)
			continue
		}
		var head struct{ APIVersion, Kind string }
		if err := json.Unmarshal(js, &head); err != nil {
			c.fail("chart %s: %s: %v", shape, k, err)
			continue
		}
		var err2 error
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			var v appsv1.Deployment
			if err2 = strict(js, &v); err2 == nil {
				o.deployments = append(o.deployments, v)
			}
		case "v1 Service":
			var v corev1.Service
			if err2 = strict(js, &v); err2 == nil {
				o.services = append(o.services, v)
			}
		case "v1 Secret":
			var v corev1.Secret
			if err2 = strict(js, &v); err2 == nil {
				o.secrets = append(o.secrets, v)
			}
		case "v1 PersistentVolumeClaim":
			var v corev1.PersistentVolumeClaim
			if err2 = strict(js, &v); err2 == nil {
				o.pvcs = append(o.pvcs, v)
			}
		case "networking.k8s.io/v1 Ingress":
			var v networkingv1.Ingress
			if err2 = strict(js, &v); err2 == nil {
				o.ingresses = append(o.ingresses, v)
			}
		case "policy/v1 PodDisruptionBudget":
			var v policyv1.PodDisruptionBudget
			if err2 = strict(js, &v); err2 == nil {
				o.pdbs = append(o.pdbs, v)
			}
		default:
			err2 = fmt.Errorf("unexpected kind %s %s", head.APIVersion, head.Kind)
		}
		src := k
		if m := sourceRE.FindStringSubmatch(doc); m != nil {
			src = m[1]
		}
		if err2 != nil {
			c.fail("chart %s: %s (%s): %v", shape, src, head.Kind, err2)
		} else {
			c.ok("chart %s: %s decodes strictly as %s %s", shape, src, head.APIVersion, head.Kind)
		}
	}
	return o
}

var sourceRE = regexp.MustCompile(`(?m)^# Source: (\S+)`)

// strict decodes JSON refusing unknown fields and trailing data.
func strict(js []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(js))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func (c *checker) expectShape(shape string, vals chartutil.Values, o *objects, documented map[string]bool) {
	sqlite := shape == "sqlite"
	if len(o.deployments) != 1 || len(o.services) != 1 || len(o.pdbs) != 1 {
		c.fail("chart %s: want one Deployment, Service and PodDisruptionBudget, got %d, %d, %d", shape, len(o.deployments), len(o.services), len(o.pdbs))
		return
	}
	d := o.deployments[0]
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		c.fail("chart %s: want one container", shape)
		return
	}
	ct := pod.Containers[0]
	probe := func(p *corev1.Probe) string {
		if p == nil || p.HTTPGet == nil {
			return ""
		}
		return p.HTTPGet.Path
	}
	c.expect(probe(ct.ReadinessProbe) == "/ready" && probe(ct.LivenessProbe) == "/health", "chart %s: readiness on /ready, liveness on /health", shape)
	c.expect(ct.Resources.Requests.Cpu().MilliValue() > 0 && ct.Resources.Requests.Memory().Value() > 0, "chart %s: resource requests", shape)
	sc := pod.SecurityContext
	c.expect(sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 10001 && sc.FSGroup != nil,
		"chart %s: runs as the image's non-root user, volume group-owned", shape)

	env := map[string]corev1.EnvVar{}
	var names []string
	for _, e := range ct.Env {
		env[e.Name] = e
		names = append(names, e.Name)
	}
	c.documented("chart "+shape, names, documented)
	key := env["AGENTOPS_INSTANCE_KEY"]
	c.expect(key.ValueFrom != nil && key.ValueFrom.SecretKeyRef != nil, "chart %s: the instance key comes from a Secret", shape)
	c.expect(env["AGENTOPS_DATA_DIR"].Value == "/var/lib/agentops" && env["AGENTOPS_LISTEN"].Value == "0.0.0.0:8787", "chart %s: data dir and listen address", shape)

	var dataVol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == "data" {
			dataVol = &pod.Volumes[i]
		}
	}
	replicas := int32(-1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if sqlite {
		c.expect(replicas == 1 && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType, "chart sqlite: one replica, strategy Recreate")
		c.expect(len(o.pvcs) == 1 && dataVol != nil && dataVol.PersistentVolumeClaim != nil && dataVol.PersistentVolumeClaim.ClaimName == o.pvcs[0].Name,
			"chart sqlite: the data dir is a persistent volume")
		_, hasURL := env["AGENTOPS_DATABASE_URL"]
		c.expect(!hasURL, "chart sqlite: no database URL (SQLite in the volume)")
		c.expect(len(o.secrets) == 1 && len(o.secrets[0].Data["AGENTOPS_INSTANCE_KEY"]) > 0, "chart sqlite: a Secret with a generated instance key")
		c.expect(o.pdbs[0].Spec.MaxUnavailable != nil && o.pdbs[0].Spec.MaxUnavailable.IntValue() == 1, "chart sqlite: the budget lets a drain move the one replica")
		if len(o.ingresses) != 1 {
			c.fail("chart sqlite: want the ingress, got %d", len(o.ingresses))
		} else {
			ing := o.ingresses[0]
			c.expect(ing.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600" && ing.Annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600",
				"chart sqlite: the ingress keeps sockets open for an hour")
			c.expect(len(ing.Spec.Rules) == 1 && ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name == o.services[0].Name, "chart sqlite: the ingress routes to the service")
		}
		return
	}
	want := int32(2)
	c.expect(replicas == want && d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType, "chart %s: %d replicas, rolling updates", shape, want)
	c.expect(len(o.pvcs) == 0 && dataVol != nil && dataVol.EmptyDir != nil, "chart %s: no shared volume (emptyDir per pod)", shape)
	url := env["AGENTOPS_DATABASE_URL"]
	c.expect(url.ValueFrom != nil && url.ValueFrom.SecretKeyRef != nil && url.Value == "", "chart %s: the database URL comes from a Secret", shape)
	c.expect(key.ValueFrom != nil && key.ValueFrom.SecretKeyRef != nil && key.ValueFrom.SecretKeyRef.Name == "my-instance-key", "chart %s: an existing Secret's instance key", shape)
	if len(o.secrets) == 1 {
		_, hasKey := o.secrets[0].Data["AGENTOPS_INSTANCE_KEY"]
		c.expect(string(o.secrets[0].Data["AGENTOPS_DATABASE_URL"]) == vals["database"].(map[string]any)["url"] && !hasKey,
			"chart %s: the chart's Secret holds the database URL only", shape)
	} else {
		c.fail("chart %s: want one Secret, got %d", shape, len(o.secrets))
	}
	c.expect(o.pdbs[0].Spec.MinAvailable != nil && o.pdbs[0].Spec.MinAvailable.IntValue() == 1, "chart %s: the budget keeps one replica up", shape)
	c.expect(len(ct.EnvFrom) == 1 && ct.EnvFrom[0].SecretRef != nil, "chart %s: variables from a Secret (envFrom)", shape)
	podIP := env["POD_IP"]
	c.expect(podIP.ValueFrom != nil && podIP.ValueFrom.FieldRef != nil && podIP.ValueFrom.FieldRef.FieldPath == "status.podIP" &&
		env["AGENTOPS_ADVERTISE_URL"].Value == "http://$(POD_IP):8787", "chart %s: each pod advertises its own IP for session leases", shape)
	ipAt, advAt := slices.Index(names, "POD_IP"), slices.Index(names, "AGENTOPS_ADVERTISE_URL")
	c.expect(ipAt >= 0 && ipAt < advAt, "chart %s: POD_IP comes before the variable that refers to it", shape)
}
