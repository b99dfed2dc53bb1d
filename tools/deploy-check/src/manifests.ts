// Rendering the kustomize overlays and reading the rendered objects: the workloads' pod templates,
// label selectors, container ports and environment, as the structural checks need them.
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { k8sDir, kustomizer, run, type OverlayName } from './repo.js';

/** A rendered Kubernetes object, loosely typed: the checks read what they need and validate the rest. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  [key: string]: unknown;
}

const cache = new Map<string, K8sObject[]>();

/** Renders deploy/k8s/overlays/<overlay> (or any kustomization directory) into objects. */
export function render(directory: string): K8sObject[] {
  const cached = cache.get(directory);
  if (cached) return cached;
  if (!kustomizer) throw new Error('no kustomize available');
  const result = run(kustomizer.command, [...kustomizer.args, directory]);
  if (result.status !== 0) throw new Error(`${kustomizer.description} ${directory} failed:\n${result.stderr}`);
  const objects: K8sObject[] = [];
  for (const document of parseAllDocuments(result.stdout)) {
    if (document.errors.length > 0) throw new Error(`unparsable output of ${directory}: ${document.errors[0]?.message}`);
    const value = document.toJS() as K8sObject | null;
    if (!value) continue;
    // kustomize wraps long base64 values at 70 columns; the API server's decoder skips the newlines.
    if (value.kind === 'Secret' && value.data) {
      for (const [key, encoded] of Object.entries(value.data)) value.data[key] = encoded.replace(/\s+/g, '');
    }
    objects.push(value);
  }
  cache.set(directory, objects);
  return objects;
}

export const overlayDir = (overlay: OverlayName): string => join(k8sDir, 'overlays', overlay);
export const renderOverlay = (overlay: OverlayName): K8sObject[] => render(overlayDir(overlay));

export const describe = (object: K8sObject): string => `${object.kind}/${object.metadata.name}`;

export interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  env?: { name: string; value?: string; valueFrom?: any }[];
  envFrom?: { configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean } }[];
  readinessProbe?: any;
  livenessProbe?: any;
  startupProbe?: any;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: any;
  volumeMounts?: { name: string; mountPath: string }[];
}

/** A workload's pod template with the object that owns it. */
export interface PodTemplate {
  owner: K8sObject;
  labels: Record<string, string>;
  spec: {
    containers: Container[];
    initContainers?: Container[];
    securityContext?: any;
    volumes?: { name: string; emptyDir?: unknown; secret?: { secretName: string }; configMap?: { name: string }; persistentVolumeClaim?: { claimName: string } }[];
    terminationGracePeriodSeconds?: number;
  };
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);

export function podTemplates(objects: K8sObject[]): PodTemplate[] {
  return objects
    .filter((object) => WORKLOADS.has(object.kind))
    .map((owner) => ({ owner, labels: owner.spec.template.metadata?.labels ?? {}, spec: owner.spec.template.spec }));
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Whether a label selector (or a Service's plain selector map) selects these labels. */
export function selects(selector: LabelSelector | Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const isLabelSelector = 'matchLabels' in selector || 'matchExpressions' in selector;
  const matchLabels = (isLabelSelector ? (selector as LabelSelector).matchLabels : selector) as Record<string, string> | undefined;
  for (const [key, value] of Object.entries(matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const expression of (isLabelSelector ? (selector as LabelSelector).matchExpressions : undefined) ?? []) {
    const value = labels[expression.key];
    const values = expression.values ?? [];
    if (expression.operator === 'In' && (value === undefined || !values.includes(value))) return false;
    if (expression.operator === 'NotIn' && value !== undefined && values.includes(value)) return false;
    if (expression.operator === 'Exists' && value === undefined) return false;
    if (expression.operator === 'DoesNotExist' && value !== undefined) return false;
  }
  return true;
}

export const isEmptySelector = (selector: LabelSelector | undefined): boolean =>
  !selector || (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0);

/** The application a pod belongs to (its app.kubernetes.io/name label). */
export const appOf = (pod: PodTemplate): string => pod.labels['app.kubernetes.io/name'] ?? pod.owner.metadata.name;

/** A named or numbered port of a pod resolved to its number, or undefined when the pod has no such port. */
export function resolvePort(pod: PodTemplate, port: string | number): number | undefined {
  for (const container of pod.spec.containers) {
    for (const declared of container.ports ?? []) {
      if (typeof port === 'number' ? declared.containerPort === port : declared.name === port) return declared.containerPort;
    }
  }
  return undefined;
}

/** A container's environment as the pod sees it: envFrom ConfigMaps and Secrets first, then env values. */
export function environment(container: Container, objects: K8sObject[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
    const object = objects.find((o) => o.kind === kind && o.metadata.name === ref?.name);
    for (const [key, value] of Object.entries(object?.data ?? {})) {
      env.set(key, kind === 'Secret' ? Buffer.from(value, 'base64').toString('utf8') : value);
    }
    for (const [key, value] of Object.entries((object?.stringData as Record<string, string> | undefined) ?? {})) env.set(key, value);
  }
  for (const variable of container.env ?? []) if (variable.value !== undefined) env.set(variable.name, variable.value);
  return env;
}
