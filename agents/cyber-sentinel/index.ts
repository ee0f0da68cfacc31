/** CyberSentinel: every minute (and on request), brute force, credential stuffing, 401/403 bursts and refresh-token reuse → temporary blocks and an alert. */
import { z } from 'zod';
import { defineAgent } from '../types';
import { analyseSecurityEvents, DEFAULT_THRESHOLDS, type ActiveBlockFact, type EventCount } from './core';
import { securityActiveBlocks, securityAlert, securityBlock, securityEvents, securityRecentAlerts } from './tools';

const input = z.object({
  windowMinutes: z.int().min(1).max(1440).default(15),
  bruteForceFailures: z.int().min(1).default(DEFAULT_THRESHOLDS.bruteForceFailures),
  distributedAddresses: z.int().min(2).default(DEFAULT_THRESHOLDS.distributedAddresses),
  stuffingAccounts: z.int().min(2).default(DEFAULT_THRESHOLDS.stuffingAccounts),
  burstResponses: z.int().min(1).default(DEFAULT_THRESHOLDS.burstResponses),
  blockMinutes: z.int().min(1).max(7 * 1440).default(DEFAULT_THRESHOLDS.blockMinutes),
});

const finding = z.record(z.string(), z.unknown());
const output = z.object({
  windowMinutes: z.number(), events: z.number(), findings: z.array(finding),
  blocks: z.array(z.object({ scope: z.enum(['ip', 'account']), value: z.string(), minutes: z.number(), reason: z.string() })),
  alert: z.object({ severity: z.string(), summary: z.string() }).nullable(),
});

export const cyberSentinel = defineAgent({
  name: 'CyberSentinel',
  description: 'Watches failed logins, refresh-token reuse and 401/403 bursts by account and address; blocks attackers for a while and alerts the admins.',
  trigger: { kind: 'schedule', every: '1 minute', description: 'every minute, over the last 15 minutes of security events (and on request)' },
  audience: 'operations',
  input,
  output,
  tools: [securityEvents, securityActiveBlocks, securityRecentAlerts, securityBlock, securityAlert],
  prompt: 'You are CyberSentinel, the security watch of a tour operator\'s platform. Read the security events of the window and the active blocks; '
    + 'block an address that brute-forces an account, stuffs credentials or draws a burst of 401/403 answers; block an account only against a brute force from many addresses; '
    + 'never block a trusted address; put one alert with your findings in the admins\' inbox. Blocks are temporary and an admin can lift them.',
  gather: (i) => [{ tool: 'security.events', input: { windowMinutes: i.windowMinutes } }, { tool: 'security.activeBlocks', input: { windowMinutes: i.windowMinutes } },
    { tool: 'security.recentAlerts', input: { windowMinutes: i.windowMinutes } }],
  compute: (i, gathered) => {
    const seen = gathered['security.events'] as { events: EventCount[]; trustedAddresses: string[] };
    return analyseSecurityEvents({
      events: seen.events, trustedAddresses: seen.trustedAddresses, activeBlocks: gathered['security.activeBlocks'] as ActiveBlockFact[], windowMinutes: i.windowMinutes,
      alerted: gathered['security.recentAlerts'] as string[],
      thresholds: { bruteForceFailures: i.bruteForceFailures, distributedAddresses: i.distributedAddresses, stuffingAccounts: i.stuffingAccounts, burstResponses: i.burstResponses, blockMinutes: i.blockMinutes },
    });
  },
});
