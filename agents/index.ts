/**
 * The registry: every agent with a definition. The catalog (catalog.ts) lists all 28; an agent
 * missing here is "not yet available". Each definition lives in agents/<kebab-name>/.
 */
import type { AnyAgent, AnyTool } from './types';
import type { AgentName } from './catalog';
import { revenueMaximizer } from './revenue-maximizer';
import { bookingOptimizer } from './booking-optimizer';
import { supplyChain } from './supply-chain';
import { riskManager } from './risk-manager';
import { crisisManager } from './crisis-manager';
import { multiChannelHub } from './multi-channel-hub';
import { cyberSentinel } from './cyber-sentinel';
import { dataPrivacy } from './data-privacy';
import { fraudGuardian } from './fraud-guardian';

export const AGENTS: readonly AnyAgent[] = [
  revenueMaximizer,
  bookingOptimizer,
  supplyChain,
  riskManager,
  crisisManager,
  multiChannelHub,
  cyberSentinel,
  dataPrivacy,
  fraudGuardian,
];

export function agentDefinition(name: string): AnyAgent | undefined {
  return AGENTS.find((a) => a.name === name);
}

export function isAvailable(name: AgentName): boolean {
  return AGENTS.some((a) => a.name === name);
}

/** Every tool of every agent, once by name (two agents may share a tool; two tools may not share a name). */
export function allTools(agents: readonly AnyAgent[] = AGENTS): AnyTool[] {
  const byName = new Map<string, AnyTool>();
  for (const agent of agents) {
    for (const tool of agent.tools) {
      const seen = byName.get(tool.name);
      if (seen && seen !== tool) throw new Error(`two different tools are named "${tool.name}"`);
      byName.set(tool.name, tool);
    }
  }
  return [...byName.values()];
}
