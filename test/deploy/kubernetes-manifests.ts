import type { RuleFile } from '../helpers/mixin.js';

// The parts of the Kubernetes objects in deploy/kubernetes/ that test/deploy/kubernetes.test.ts
// reads. YAML parsing promises no more than this; the test checks what a field must hold.
// Ports are referred to by name (metrics), so probe and Service ports are names here.

export interface ObjectMeta {
  readonly name: string;
  readonly labels?: Record<string, string>;
}

/** A parsed manifest, with the file it came from. */
export interface Manifest {
  readonly __file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly secretKeyRef?: { readonly name: string; readonly key: string } };
}

export interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
}

export interface Probe {
  readonly httpGet: { readonly path: string; readonly port: string };
}

export interface Container {
  readonly name: string;
  readonly args?: string[];
  readonly ports?: { readonly name: string; readonly containerPort: number }[];
  readonly env?: EnvVar[];
  readonly volumeMounts?: VolumeMount[];
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly resources?: {
    readonly requests?: { readonly cpu?: string; readonly memory?: string };
    readonly limits?: { readonly memory?: string };
  };
  readonly securityContext?: {
    readonly runAsNonRoot?: boolean;
    readonly runAsUser?: number;
    readonly readOnlyRootFilesystem?: boolean;
    readonly allowPrivilegeEscalation?: boolean;
    readonly capabilities?: { readonly drop?: string[] };
  };
}

export interface Volume {
  readonly name: string;
  readonly secret?: { readonly secretName: string; readonly items?: { readonly key: string; readonly path: string }[] };
  readonly persistentVolumeClaim?: { readonly claimName: string };
}

export interface Deployment extends Manifest {
  readonly spec: {
    readonly selector: { readonly matchLabels: Record<string, string> };
    readonly template: {
      readonly metadata: { readonly labels: Record<string, string> };
      readonly spec: { readonly containers: Container[]; readonly volumes?: Volume[] };
    };
  };
}

export interface Service extends Manifest {
  readonly spec: {
    readonly selector: Record<string, string>;
    readonly ports: { readonly name: string; readonly targetPort: string }[];
  };
}

export interface ServiceMonitor extends Manifest {
  readonly spec: {
    readonly selector: { readonly matchLabels: Record<string, string> };
    readonly endpoints: {
      readonly port: string;
      readonly authorization?: { readonly credentials?: { readonly name: string; readonly key: string } };
    }[];
  };
}

export interface Secret extends Manifest {
  readonly stringData?: Record<string, string>;
  readonly data?: Record<string, string>;
}

export interface ConfigMap extends Manifest {
  readonly data: Record<string, string>;
}

export interface PrometheusRule extends Manifest {
  readonly spec: { readonly groups: RuleFile['groups'] };
}

/** Object type by `kind`, for the kinds the test looks up. */
export interface ManifestKinds {
  readonly Deployment: Deployment;
  readonly Service: Service;
  readonly ServiceMonitor: ServiceMonitor;
  readonly Secret: Secret;
  readonly ConfigMap: ConfigMap;
  readonly PersistentVolumeClaim: Manifest;
  readonly PrometheusRule: PrometheusRule;
}

export interface Kustomization {
  readonly resources: string[];
}
