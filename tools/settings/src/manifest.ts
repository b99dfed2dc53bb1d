// The settings manifest: for each service, every variable it reads, with its default and what it is for,
// taken from the settings the services themselves load (`setting(…)` in each config.ts and in
// libs/platform). The README's settings tables are written from it (`npm run docs:settings`), and
// deploy-check reads it to know what each service reads.
import { DELIVERY_AGENT_SETTING_GROUPS } from '@mail/delivery-agent/config';
import { MAILBOX_STORE_SETTING_GROUPS } from '@mail/mailbox-store/config';
import type { SettingGroup, SettingInfo } from '@mail/platform';
import { POP3_ACCESS_SETTING_GROUPS } from '@mail/pop3-access/config';
import { QUEUE_MANAGER_SETTING_GROUPS } from '@mail/queue-manager/config';
import { SMTP_INGRESS_SETTING_GROUPS } from '@mail/smtp-ingress/config';

export type { SettingInfo } from '@mail/platform';

/** Each service and the groups of settings it reads, its own first. */
const SERVICE_GROUPS: Record<string, SettingGroup[]> = {
  'smtp-ingress': SMTP_INGRESS_SETTING_GROUPS,
  'queue-manager': QUEUE_MANAGER_SETTING_GROUPS,
  'delivery-agent': DELIVERY_AGENT_SETTING_GROUPS,
  'mailbox-store': MAILBOX_STORE_SETTING_GROUPS,
  'pop3-access': POP3_ACCESS_SETTING_GROUPS,
};

export const MANIFEST_SERVICES = Object.keys(SERVICE_GROUPS);

/** Every setting a service reads (its own, then the shared ones it loads). */
export function serviceSettings(service: string): SettingInfo[] {
  const groups = SERVICE_GROUPS[service];
  if (!groups) throw new Error(`no settings manifest for ${service}; services: ${MANIFEST_SERVICES.join(', ')}`);
  return groups.flatMap((group) => group.manifest());
}

/** service → its settings. */
export const settingsManifest = (): Record<string, SettingInfo[]> => Object.fromEntries(MANIFEST_SERVICES.map((service) => [service, serviceSettings(service)]));

/** Of `variables`, those that no service declares (a misspelt or forgotten setting). */
export function undeclaredVariables(variables: Iterable<string>): string[] {
  const declared = new Set(MANIFEST_SERVICES.flatMap((service) => serviceSettings(service).map((s) => s.variable)));
  return [...variables].filter((variable) => !declared.has(variable));
}

/** The groups of all services, each once, in the order the services name them: the README's tables. */
export function settingGroups(): { title: string; settings: SettingInfo[] }[] {
  const seen = new Set<SettingGroup>();
  for (const groups of Object.values(SERVICE_GROUPS)) for (const group of groups) seen.add(group);
  return [...seen].map((group) => ({ title: group.title, settings: group.manifest() }));
}
