// The Kubernetes manifests, checked offline: every overlay renders, every object passes the Kubernetes
// schemas (values and unknown fields), and the rules of deploy/README.md hold for every workload.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { serviceSettings } from '@mail/settings';
import {
  appOf,
  describe as name,
  environment,
  isEmptySelector,
  podTemplates,
  renderOverlay,
  resolvePort,
  selects,
  type K8sObject,
  type PodTemplate,
} from './manifests.js';
import { deployDir, kustomizeSkip, kustomizer, OVERLAYS, SERVICES, type OverlayName } from './repo.js';
import { typeCheck, validateObject } from './schemas.js';
import { REMOTE_JOB_CONSUMER, REMOTE_JOB_STREAM, NATS_SERVICES, natsAuthorizationConfig, natsPasswordVariable } from '@mail/contracts';

const skip = kustomizeSkip;
const byKind = (objects: K8sObject[], kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);
const find = (objects: K8sObject[], kind: string, objectName: string): K8sObject | undefined =>
  objects.find((o) => o.kind === kind && o.metadata.name === objectName);

/** What a service reads: its settings manifest (every variable of its config.ts and the shared groups it loads). */
const variablesRead = (service: string): Set<string> => new Set(serviceSettings(service).map((s) => s.variable));
/** The variables of a service's listeners: the settings host/port, httpHost/httpPort, grpcHost/grpcPort. */
function listenerVariables(service: string): Set<string> {
  const listeners = serviceSettings(service).filter((s) => /^(?:host|port|[a-z]+Host|[a-z]+Port)$/.test(s.key) && !/MAX|REMOTE/.test(s.variable));
  return new Set(listeners.map((s) => s.variable));
}
/** The Secrets that cert-manager makes from the overlay's Certificates. */
function certificateSecrets(objects: K8sObject[]): Set<string> {
  return new Set(byKind(objects, 'Certificate').map((c) => (c.spec as { secretName: string }).secretName));
}

interface CertificateSpec {
  secretName: string;
  commonName?: string;
  dnsNames?: string[];
  usages?: string[];
}

/** Read by libs/platform for every service. */
const PLATFORM_VARIABLES = new Set(['LOG_LEVEL', 'NATS_URL', 'MAILBOX_STORE_ADDRESS', 'NATS_SPOOL_MAX_BYTES']);
/**
 * Set in the manifests ahead of the services (deploy/README.md lists them): NATS credentials, stream
 * replicas, and the TLS listeners and certificate files, tolerated whether a service reads them yet or not.
 */
const PLANNED_VARIABLES = new Set([
  'NATS_USER',
  'NATS_PASSWORD',
  'NATS_STREAM_REPLICAS',
  'SMTP_SUBMISSION_PORT',
  'SMTPS_PORT',
  'POP3S_PORT',
  'TLS_CERT_FILE',
  'TLS_KEY_FILE',
  'TLS_SELF_SIGNED',
  'TLS_SELF_SIGNED_NAMES',
]);

/** The arrows of the architecture (docs: ARCHITECTURE.md), as "from -> to:port" between the pods. */
const ARROWS: Record<OverlayName, string[]> = {
  dev: [
    'smtp-ingress -> nats:4222',
    'smtp-ingress -> mailbox-store:50051',
    'queue-manager -> nats:4222',
    'delivery-agent -> nats:4222',
    'delivery-agent -> mailbox-store:50051',
    'pop3-access -> mailbox-store:50051',
    'mailbox-store -> nats:4222',
    'nats -> nats:6222',
  ],
  production: [],
};
ARROWS.production = [
  ...ARROWS.dev,
  'mailbox-store -> mongodb:27017',
  'mongodb -> mongodb:27017',
  'mongodb-rs-init -> mongodb:27017',
];
/** Ports open to any client (the load balancers' targets). */
const PUBLIC_PORTS = ['smtp-ingress:2525', 'smtp-ingress:2587', 'smtp-ingress:2465', 'pop3-access:1110', 'pop3-access:1995'];

interface PolicyRule {
  ports?: { port?: string | number; protocol?: string }[];
  from?: Peer[];
  to?: Peer[];
}
interface Peer {
  podSelector?: { matchLabels?: Record<string, string> };
  namespaceSelector?: { matchLabels?: Record<string, string> };
  ipBlock?: { cidr: string; except?: string[] };
}

function rulePortAllows(rule: PolicyRule, pod: PodTemplate, port: number): boolean {
  if (!rule.ports || rule.ports.length === 0) return true;
  return rule.ports.some((p) => p.port === undefined || resolvePort(pod, p.port) === port || p.port === port);
}
/** A peer in the same namespace given by pod labels alone (no namespace or IP block). */
const samePodPeer = (peer: Peer): boolean => peer.podSelector !== undefined && peer.namespaceSelector === undefined && peer.ipBlock === undefined;

/** The allowed connections between the pods of one namespace: both the egress and the ingress side. */
function allowedArrows(objects: K8sObject[]): Set<string> {
  const pods = podTemplates(objects);
  const policies = byKind(objects, 'NetworkPolicy');
  const rulesFor = (pod: PodTemplate, type: 'Ingress' | 'Egress'): PolicyRule[] =>
    policies
      .filter((p) => selects(p.spec.podSelector, pod.labels) && (p.spec.policyTypes as string[]).includes(type))
      .flatMap((p) => (type === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? []);
  const arrows = new Set<string>();
  for (const source of pods) {
    for (const target of pods) {
      for (const port of target.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort))) {
        const egress = rulesFor(source, 'Egress').some(
          (rule) => (rule.to ?? []).some((peer) => samePodPeer(peer) && selects(peer.podSelector, target.labels)) && rulePortAllows(rule, target, port),
        );
        const ingress = rulesFor(target, 'Ingress').some(
          (rule) => (rule.from ?? []).some((peer) => samePodPeer(peer) && selects(peer.podSelector, source.labels)) && rulePortAllows(rule, target, port),
        );
        if (egress && ingress) arrows.add(`${appOf(source)} -> ${appOf(target)}:${port}`);
      }
    }
  }
  return arrows;
}

for (const overlay of OVERLAYS) {
  describe(`overlay ${overlay}`, () => {
    const objects = (): K8sObject[] => renderOverlay(overlay);
    const pods = (): PodTemplate[] => podTemplates(objects());

    test(`renders with ${kustomizer?.description ?? 'kustomize'}`, { skip }, () => {
      const rendered = objects();
      assert.ok(rendered.length > 0);
      for (const service of SERVICES) assert.ok(find(rendered, 'Deployment', service), `Deployment/${service}`);
      assert.ok(find(rendered, 'StatefulSet', 'nats'), 'StatefulSet/nats');
      const namespaces = new Set(rendered.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace));
      assert.deepEqual([...namespaces], [overlay === 'dev' ? 'mail-dev' : 'mail'], 'every object in the overlay namespace');
    });

    test('every object validates against its Kubernetes schema (kubernetes-models validate())', { skip }, async () => {
      const problems: string[] = [];
      for (const object of objects()) {
        const problem = await validateObject(object);
        if (problem) problems.push(`${name(object)}: ${problem}`);
      }
      assert.deepEqual(problems, []);
    });

    test('every object type-checks as its model interface (no unknown fields)', { skip }, () => {
      assert.equal(typeCheck(overlay, objects()), '');
    });

    test('every container has probes, requests and limits, and a restrictive securityContext', { skip }, () => {
      const problems: string[] = [];
      for (const pod of pods()) {
        const where = name(pod.owner);
        const podContext = pod.spec.securityContext ?? {};
        if (podContext.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${where}: seccompProfile RuntimeDefault`);
        const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
        const isJob = pod.owner.kind === 'Job';
        for (const container of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
          const at = `${where} ${container.name}`;
          const isInit = (pod.spec.initContainers ?? []).includes(container);
          if (!isJob && !isInit && (!container.readinessProbe || !container.livenessProbe)) problems.push(`${at}: readiness and liveness probes`);
          for (const kind of ['requests', 'limits'] as const) {
            for (const resource of ['cpu', 'memory']) if (!container.resources?.[kind]?.[resource]) problems.push(`${at}: ${kind}.${resource}`);
          }
          const context = container.securityContext ?? {};
          const runAsNonRoot = context.runAsNonRoot ?? podContext.runAsNonRoot;
          const runAsUser = context.runAsUser ?? podContext.runAsUser;
          if (runAsNonRoot !== true) problems.push(`${at}: runAsNonRoot`);
          if (typeof runAsUser !== 'number' || runAsUser === 0) problems.push(`${at}: a numeric non-root runAsUser`);
          if (context.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation false`);
          if (context.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem`);
          if (!(context.capabilities?.drop ?? []).includes('ALL')) problems.push(`${at}: capabilities drop ALL`);
          if (context.privileged) problems.push(`${at}: privileged`);
          if (!isInit) {
            const tmp = (container.volumeMounts ?? []).find((m) => m.mountPath === '/tmp');
            if (!tmp || !volumes.get(tmp.name)?.emptyDir) problems.push(`${at}: an emptyDir on /tmp (the root filesystem is read-only)`);
          }
          for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
            const port = probe?.httpGet?.port;
            if (port !== undefined && resolvePort({ ...pod, spec: { ...pod.spec, containers: [container] } }, port) === undefined) {
              problems.push(`${at}: probe port ${port} is not a container port`);
            }
          }
        }
      }
      assert.deepEqual(problems, []);
    });

    test('the services probe /readyz and /healthz on their http port and shut down gracefully', { skip }, () => {
      for (const service of SERVICES) {
        const pod = pods().find((p) => p.owner.kind === 'Deployment' && p.owner.metadata.name === service);
        assert.ok(pod, service);
        const container = pod.spec.containers[0]!;
        assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'http' }, `${service} readiness`);
        assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'http' }, `${service} liveness`);
        const preStop = container.lifecycle?.preStop?.exec?.command ?? [];
        assert.equal(preStop[0], 'sleep', `${service} preStop sleeps while the endpoints go`);
        const sleep = Number(preStop[1]);
        // libs/platform lifecycle.ts gives the shutdown 25 s; the grace period must cover preStop + that.
        assert.ok((pod.spec.terminationGracePeriodSeconds ?? 30) >= sleep + 25 + 5, `${service} terminationGracePeriodSeconds`);
      }
    });

    test('listeners bind 0.0.0.0 on the ports the containers declare; every setting is one the service reads', { skip }, () => {
      const problems: string[] = [];
      for (const service of SERVICES) {
        const pod = pods().find((p) => p.owner.kind === 'Deployment' && p.owner.metadata.name === service)!;
        const container = pod.spec.containers[0]!;
        const env = environment(container, objects());
        const read = variablesRead(service);
        for (const [key, value] of env) {
          if (!read.has(key) && !PLATFORM_VARIABLES.has(key) && !PLANNED_VARIABLES.has(key)) problems.push(`${service}: ${key} is read by nobody`);
        }
        // A listener address left at its default (127.0.0.1) is unreachable in a pod; a port left at its
        // default is fine, a port that is set must be declared.
        for (const key of listenerVariables(service)) {
          const value = env.get(key);
          if (key.endsWith('_HOST') && value !== '0.0.0.0') problems.push(`${service}: ${key}=${value ?? '(default 127.0.0.1)'} (must be 0.0.0.0 in a pod)`);
        }
        for (const [key, value] of env) {
          if (/_PORT$/.test(key) && !/REMOTE/.test(key) && resolvePort(pod, Number(value)) === undefined) problems.push(`${service}: ${key}=${value} is not a container port`);
        }
      }
      assert.deepEqual(problems, []);
    });

    test('every Service selects pods, and its target ports are their container ports', { skip }, () => {
      const problems: string[] = [];
      for (const service of byKind(objects(), 'Service')) {
        const selected = pods().filter((p) => selects(service.spec.selector, p.labels));
        if (selected.length === 0) problems.push(`${name(service)} selects no pod`);
        for (const port of service.spec.ports ?? []) {
          const target = port.targetPort ?? port.port;
          for (const pod of selected) {
            if (resolvePort(pod, target) === undefined) problems.push(`${name(service)} port ${port.name}: ${target} is not a port of ${name(pod.owner)}`);
          }
        }
      }
      assert.deepEqual(problems, []);
    });

    test('the public load balancers carry SMTP 25/587/465 and POP3 110/995; gRPC and metrics stay inside', { skip }, () => {
      const balancers = byKind(objects(), 'Service').filter((s) => s.spec.type === 'LoadBalancer');
      const ports = balancers.map((s) => `${s.metadata.name}:${(s.spec.ports as { port: number }[]).map((p) => p.port).join(',')}`).sort();
      assert.deepEqual(ports, ['pop3-access:110,995', 'smtp-ingress:25,587,465']);
      assert.equal(find(objects(), 'Service', 'mailbox-store')?.spec.type, 'ClusterIP');
      for (const service of SERVICES) assert.equal(find(objects(), 'Service', `${service}-metrics`)?.spec.type, 'ClusterIP', `${service}-metrics`);
    });

    test('autoscalers target workloads that exist, one autoscaler per workload, which sets no replicas itself', { skip }, () => {
      const targets = [...byKind(objects(), 'HorizontalPodAutoscaler'), ...byKind(objects(), 'ScaledObject')].map((scaler) => ({
        scaler,
        kind: scaler.spec.scaleTargetRef.kind ?? 'Deployment',
        name: scaler.spec.scaleTargetRef.name as string,
      }));
      assert.ok(targets.some((t) => t.name === 'smtp-ingress' && t.scaler.kind === 'HorizontalPodAutoscaler'));
      assert.ok(targets.some((t) => t.name === 'pop3-access' && t.scaler.kind === 'HorizontalPodAutoscaler'));
      for (const target of targets) {
        const workload = find(objects(), target.kind, target.name);
        assert.ok(workload, `${name(target.scaler)} targets ${target.kind}/${target.name}, which exists`);
        assert.equal(workload.spec.replicas, undefined, `${target.kind}/${target.name} leaves replicas to its autoscaler`);
        assert.equal(targets.filter((t) => t.name === target.name).length, 1, `one autoscaler for ${target.name}`);
      }
      if (overlay === 'production') {
        const scaled = find(objects(), 'ScaledObject', 'delivery-agent');
        assert.ok(scaled, 'ScaledObject/delivery-agent');
        // Its lane's consumer (the remote one of libs/contracts nats.ts; mailbox-store takes the local lane).
        const lanes = (scaled.spec.triggers as { metadata: { stream: string; consumer: string } }[]).map((t) => `${t.metadata.stream}/${t.metadata.consumer}`);
        assert.deepEqual(lanes, [`${REMOTE_JOB_STREAM}/${REMOTE_JOB_CONSUMER}`]);
        const trigger = scaled.spec.triggers[0];
        assert.equal(trigger.type, 'nats-jetstream');
        const [host, port] = (trigger.metadata.natsServerMonitoringEndpoint as string).split(':');
        const service = find(objects(), 'Service', host!.split('.')[0]!);
        assert.ok(service, `the monitoring endpoint ${host} is a Service`);
        assert.ok((service.spec.ports as { port: number }[]).some((p) => p.port === Number(port)), 'and serves the monitoring port');
        assert.equal(host!.split('.')[1], 'mail', 'in the overlay namespace');
      }
    });

    test('every pod has a PodDisruptionBudget', { skip }, () => {
      const budgets = byKind(objects(), 'PodDisruptionBudget');
      for (const pod of pods().filter((p) => p.owner.kind !== 'Job')) {
        assert.ok(budgets.some((b) => selects(b.spec.selector, pod.labels)), `a budget for ${name(pod.owner)}`);
      }
    });

    test('every pod is selected by a NetworkPolicy of its own, under a default deny', { skip }, () => {
      const policies = byKind(objects(), 'NetworkPolicy');
      const deny = policies.find((p) => isEmptySelector(p.spec.podSelector) && !p.spec.ingress && !p.spec.egress);
      assert.ok(deny, 'a default-deny policy');
      assert.deepEqual([...deny.spec.policyTypes].sort(), ['Egress', 'Ingress']);
      for (const pod of pods()) {
        assert.ok(
          policies.some((p) => !isEmptySelector(p.spec.podSelector) && selects(p.spec.podSelector, pod.labels)),
          `a policy selects ${name(pod.owner)}`,
        );
      }
      for (const policy of policies.filter((p) => !isEmptySelector(p.spec.podSelector))) {
        assert.ok(pods().some((p) => selects(policy.spec.podSelector, p.labels)), `${name(policy)} selects some pod`);
        const rules: PolicyRule[] = [...(policy.spec.ingress ?? []), ...(policy.spec.egress ?? [])];
        for (const peer of rules.flatMap((r) => [...(r.from ?? []), ...(r.to ?? [])]).filter(samePodPeer)) {
          assert.ok(pods().some((p) => selects(peer.podSelector, p.labels)), `${name(policy)}: a peer ${JSON.stringify(peer.podSelector)} that exists`);
        }
      }
    });

    test('the NetworkPolicies allow exactly the arrows of the architecture', { skip }, () => {
      assert.deepEqual([...allowedArrows(objects())].sort(), [...ARROWS[overlay]].sort());
    });

    test('only the SMTP and POP3 ports are open to everyone; the Internet only on 25 from delivery-agent', { skip }, () => {
      const open: string[] = [];
      const internet: string[] = [];
      const policies = byKind(objects(), 'NetworkPolicy');
      for (const pod of pods()) {
        for (const policy of policies.filter((p) => selects(p.spec.podSelector, pod.labels))) {
          for (const rule of (policy.spec.ingress ?? []) as PolicyRule[]) {
            if (rule.from && rule.from.length > 0) continue;
            for (const port of rule.ports ?? []) open.push(`${appOf(pod)}:${resolvePort(pod, port.port!)}`);
            assert.ok(rule.ports && rule.ports.length > 0, `${name(policy)} opens every port`);
          }
          for (const rule of (policy.spec.egress ?? []) as PolicyRule[]) {
            if ((rule.to ?? []).some((peer) => peer.ipBlock)) internet.push(`${appOf(pod)}:${(rule.ports ?? []).map((p) => p.port).join(',')}`);
            assert.ok(rule.to && rule.to.length > 0, `${name(policy)} allows egress anywhere`);
          }
        }
      }
      assert.deepEqual(open.sort(), [...PUBLIC_PORTS].sort());
      assert.deepEqual(internet, ['delivery-agent:25']);
    });

    test('Prometheus reaches every metrics port, and nothing else from outside the namespace but clients and KEDA', { skip }, () => {
      const policies = byKind(objects(), 'NetworkPolicy');
      for (const service of SERVICES) {
        const pod = pods().find((p) => appOf(p) === service)!;
        const reached = policies
          .filter((p) => selects(p.spec.podSelector, pod.labels))
          .flatMap((p) => (p.spec.ingress ?? []) as PolicyRule[])
          .filter((rule) => (rule.from ?? []).some((peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring'))
          .flatMap((rule) => (rule.ports ?? []).map((p) => resolvePort(pod, p.port!)));
        assert.deepEqual(reached, [resolvePort(pod, 'http')], `${service}: monitoring reaches only the metrics port`);
      }
    });

    test('mailbox-store: on MongoDB several replicas with the URI from a Secret; embedded, one replica on a volume', { skip }, () => {
      const deployment = find(objects(), 'Deployment', 'mailbox-store')!;
      const pod = podTemplates([deployment])[0]!;
      const container = pod.spec.containers[0]!;
      const env = environment(container, objects());
      assert.equal(env.get('MAIL_STORE'), overlay === 'production' ? 'mongo' : 'embedded');
      if (env.get('MAIL_STORE') === 'mongo') {
        assert.ok(deployment.spec.replicas >= 2, 'replicas');
        assert.equal(deployment.spec.strategy.type, 'RollingUpdate');
        const uri = container.env?.find((v) => v.name === 'MONGODB_URI')?.valueFrom?.secretKeyRef;
        assert.equal(uri?.name, 'mongodb-credentials');
        assert.notEqual(uri?.optional, true, 'required');
        assert.ok(!pod.spec.volumes?.some((v) => v.persistentVolumeClaim), 'no volume');
        assert.equal(find(objects(), 'StatefulSet', 'mongodb')?.spec.replicas, 3, 'a three-member replica set');
        return;
      }
      assert.equal(deployment.spec.replicas, 1);
      assert.equal(deployment.spec.strategy.type, 'Recreate');
      const mount = pod.spec.containers[0]!.volumeMounts!.find((m) => m.mountPath === env.get('MAILBOX_DATA_DIR'));
      assert.ok(mount, 'MAILBOX_DATA_DIR is a mounted volume');
      const claim = pod.spec.volumes!.find((v) => v.name === mount.name)?.persistentVolumeClaim?.claimName;
      assert.ok(claim && find(objects(), 'PersistentVolumeClaim', claim), 'backed by a PersistentVolumeClaim of the overlay');
    });

    test('NATS runs as a three-node JetStream cluster whose routes name its own pods', { skip }, () => {
      const nats = find(objects(), 'StatefulSet', 'nats')!;
      assert.equal(nats.spec.replicas, 3);
      assert.ok(nats.spec.volumeClaimTemplates?.length === 1, 'a volume per node');
      const config = byKind(objects(), 'ConfigMap').find((c) => c.metadata.name.startsWith('nats-config'))!;
      const text = config.data!['nats.conf']!;
      assert.match(text, /jetstream\s*\{[^}]*store_dir: \/data/);
      const routes = [...text.matchAll(/nats:\/\/(nats-\d)\.([a-z-]+):6222/g)];
      assert.deepEqual(routes.map((r) => r[1]), ['nats-0', 'nats-1', 'nats-2']);
      for (const route of routes) assert.equal(route[2], nats.spec.serviceName);
      const mount = nats.spec.template.spec.volumes.find((v: { configMap?: { name: string } }) => v.configMap)?.configMap.name;
      assert.equal(mount, config.metadata.name, 'the pods mount the rendered config');
    });

    test('each Deployment that uses NATS has NATS credentials of its own, the others none; nats.conf gives each user its permissions', { skip }, () => {
      const problems: string[] = [];
      /** The Secrets a container takes NATS_USER / NATS_PASSWORD from (envFrom, or a secretKeyRef). */
      const natsSecrets = (container: PodTemplate['spec']['containers'][number]): string[] => {
        const names = new Set<string>();
        for (const source of container.envFrom ?? []) if (source.secretRef && /^nats-/.test(source.secretRef.name)) names.add(source.secretRef.name);
        for (const variable of container.env ?? []) {
          const ref = variable.valueFrom?.secretKeyRef;
          if (ref && /^NATS_(USER|PASSWORD)$/.test(variable.name)) names.add(ref.name);
        }
        return [...names];
      };
      const owners = new Map<string, string[]>();
      for (const service of SERVICES) {
        const pod = pods().find((p) => p.owner.kind === 'Deployment' && p.owner.metadata.name === service)!;
        const secrets = natsSecrets(pod.spec.containers[0]!);
        for (const secret of secrets) owners.set(secret, [...(owners.get(secret) ?? []), service]);
        const uses = (NATS_SERVICES as readonly string[]).includes(service);
        if (!uses) {
          if (secrets.length > 0) problems.push(`${service} has no NATS user, yet gets ${secrets.join(', ')}`);
          continue;
        }
        if (secrets.length !== 1 || secrets[0] !== `nats-${service}`) problems.push(`${service}: its NATS credentials come from Secret/nats-${service} alone, not ${secrets.join(', ') || 'nothing'}`);
        // Where the overlay renders the Secret (dev), it names the service's own user.
        const secret = find(objects(), 'Secret', `nats-${service}`);
        if (secret) {
          const user = Buffer.from((secret.data ?? {}).NATS_USER ?? '', 'base64').toString('utf8');
          if (user !== service) problems.push(`Secret/nats-${service}: NATS_USER=${user}, not ${service}`);
          if (!(secret.data ?? {}).NATS_PASSWORD) problems.push(`Secret/nats-${service}: no NATS_PASSWORD`);
        }
      }
      for (const [secret, users] of owners) if (users.length > 1) problems.push(`Secret/${secret} is shared by ${users.join(', ')}`);
      // nats-server knows each password from the same Secret, and its users and permissions are libs/contracts'.
      const nats = find(objects(), 'StatefulSet', 'nats')!;
      const natsEnv = (nats.spec.template.spec.containers[0].env ?? []) as { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
      for (const service of NATS_SERVICES) {
        const ref = natsEnv.find((e) => e.name === natsPasswordVariable(service))?.valueFrom?.secretKeyRef;
        if (ref?.name !== `nats-${service}` || ref.key !== 'NATS_PASSWORD') problems.push(`nats: ${natsPasswordVariable(service)} is not NATS_PASSWORD of Secret/nats-${service}`);
      }
      if ((nats.spec.template.spec.containers[0].envFrom ?? []).some((s: { secretRef?: unknown }) => s.secretRef)) problems.push('nats: takes a whole Secret into its environment');
      const text = byKind(objects(), 'ConfigMap').find((c) => c.metadata.name.startsWith('nats-config'))!.data!['nats.conf']!;
      const block = text.slice(text.indexOf('authorization {'));
      if (block !== natsAuthorizationConfig((service) => `$${natsPasswordVariable(service)}`)) {
        problems.push("nats.conf's authorization block is not libs/contracts nats-permissions.ts's: run node scripts/nats-authorization.mjs");
      }
      assert.deepEqual(problems, []);
    });

    test('every ConfigMap and Secret a pod uses is in the overlay, or created out of band as deploy/README.md says', { skip }, () => {
      const readme = readFileSync(join(deployDir, 'README.md'), 'utf8');
      const missing: string[] = [];
      for (const pod of pods()) {
        const references: { kind: string; name: string; optional?: boolean }[] = [];
        for (const container of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
          for (const source of container.envFrom ?? []) {
            if (source.configMapRef) references.push({ kind: 'ConfigMap', ...source.configMapRef });
            if (source.secretRef) references.push({ kind: 'Secret', ...source.secretRef });
          }
          for (const variable of container.env ?? []) {
            const ref = variable.valueFrom?.secretKeyRef ?? variable.valueFrom?.configMapKeyRef;
            if (ref) references.push({ kind: variable.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', ...ref });
          }
        }
        for (const volume of pod.spec.volumes ?? []) {
          if (volume.secret) references.push({ kind: 'Secret', name: volume.secret.secretName });
          if (volume.configMap) references.push({ kind: 'ConfigMap', name: volume.configMap.name });
        }
        for (const ref of references) {
          if (find(objects(), ref.kind, ref.name)) continue;
          if (ref.kind === 'Secret' && certificateSecrets(objects()).has(ref.name)) continue; // made by cert-manager
          if (ref.kind === 'Secret' && overlay === 'production' && readme.includes(`\`${ref.name}\``)) continue;
          if (ref.optional) continue;
          missing.push(`${name(pod.owner)} needs ${ref.kind}/${ref.name}`);
        }
      }
      assert.deepEqual(missing, []);
    });

    test('gRPC between the services is mutual TLS by default, each service with a certificate naming it', { skip }, () => {
      const certificates = new Map(byKind(objects(), 'Certificate').map((c) => [(c.spec as { secretName: string }).secretName, c.spec as CertificateSpec]));
      const problems: string[] = [];
      for (const service of SERVICES) {
        const pod = pods().find((p) => p.owner.kind === 'Deployment' && p.owner.metadata.name === service)!;
        const container = pod.spec.containers[0]!;
        const env = environment(container, objects());
        for (const [key, value] of [['GRPC_TLS', 'true'], ['GRPC_MTLS', 'true']]) if (env.get(key!) !== value) problems.push(`${service}: ${key}=${value}`);
        const mount = (container.volumeMounts ?? []).find((m) => env.get('GRPC_TLS_CERT_FILE')?.startsWith(`${m.mountPath}/`));
        const secret = (pod.spec.volumes ?? []).find((v) => v.name === mount?.name)?.secret?.secretName;
        if (!secret) {
          problems.push(`${service}: GRPC_TLS_CERT_FILE is not on a Secret volume`);
          continue;
        }
        const certificate = certificates.get(secret);
        if (!certificate) problems.push(`${service}: no cert-manager Certificate makes Secret/${secret}`);
        else if (certificate.commonName !== service) problems.push(`${service}: its certificate's CN is ${certificate.commonName}, not the name its callers are authorized by`);
        else if (!certificate.usages?.includes('client auth')) problems.push(`${service}: its certificate lacks client auth`);
      }
      for (const server of ['mailbox-store', 'queue-manager']) {
        const certificate = certificates.get(`${server}-grpc-tls`);
        if (!certificate?.dnsNames?.includes(server) || !certificate.usages?.includes('server auth')) problems.push(`${server}: a server certificate for the name its clients dial`);
      }
      if (certificates.get('mailctl-grpc-tls')?.commonName !== 'mailctl') problems.push('mailctl: a certificate with CN mailctl, the only administrator');
      assert.deepEqual(problems, []);
    });

    test(overlay === 'production' ? 'no Secret is rendered: production never applies placeholders' : 'the Secrets are marked placeholders', { skip }, () => {
      const secrets = byKind(objects(), 'Secret');
      if (overlay === 'production') {
        assert.deepEqual(secrets.map(name), []);
        return;
      }
      assert.ok(secrets.length > 0);
      for (const secret of secrets) {
        for (const [key, value] of Object.entries(secret.data ?? {})) {
          const text = Buffer.from(value, 'base64').toString('utf8');
          if (/PASSWORD|URI/.test(key)) assert.match(text, /PLACEHOLDER/, `${name(secret)} ${key} is a marked placeholder`);
        }
      }
    });

    test('the five images come from one registry path and carry the overlay tag', { skip }, () => {
      for (const service of SERVICES) {
        const image = find(objects(), 'Deployment', service)!.spec.template.spec.containers[0].image as string;
        assert.match(image, new RegExp(`/mail/${service}:[\\w.-]+$`));
        assert.ok(!image.endsWith(':latest'), `${service} is not :latest (${image})`);
      }
    });
  });
}
