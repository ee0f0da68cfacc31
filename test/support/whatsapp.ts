/**
 * WhatsApp in the test stack: the workers send through a channel a test can switch (the
 * simulator by default, as in development; a CloudChannel pointed at the fake Graph API server
 * for the Cloud API path), and helpers to sign and post webhook deliveries as Meta does.
 */
import type { Knex } from 'knex';
import { config } from '../../platform/config';
import { SimulatorChannel } from '../../integrations/whatsapp/simulator';
import { CloudChannel } from '../../integrations/whatsapp/cloud';
import type { ChannelHealth, OutboundWhatsApp, SendResult, WhatsAppChannel } from '../../integrations/whatsapp/types';
import type { FakeGraph } from './fake-graph';

/** The workers' channel: the simulator until a test `use`s another (and `use()` to go back). */
export class SwitchableChannel implements WhatsAppChannel {
  private current?: WhatsAppChannel;
  private readonly simulator: SimulatorChannel;
  constructor(knex: Knex) {
    this.simulator = new SimulatorChannel(knex, config.whatsapp.phoneNumberId);
  }
  use(channel?: WhatsAppChannel): void {
    this.current = channel;
  }
  private get active(): WhatsAppChannel {
    return this.current ?? this.simulator;
  }
  get kind() { return this.active.kind; }
  get businessId() { return this.active.businessId; }
  send(to: string, message: OutboundWhatsApp, key: string): Promise<SendResult> {
    return this.active.send(to, message, key);
  }
  health(): ChannelHealth {
    return this.active.health();
  }
}

/** A Cloud API channel pointed at the fake Graph server (settings as WHATSAPP_* would give them). */
export function cloudChannelFor(graph: FakeGraph, overrides: Partial<ConstructorParameters<typeof CloudChannel>[0]> = {}): CloudChannel {
  return new CloudChannel({
    accessToken: graph.token, phoneNumberId: '109876543210', graphApiBase: graph.url, graphApiVersion: 'v21.0', sendTimeoutMs: 2_000, messagesPerSecond: 0, ...overrides,
  });
}
