/**
 * What a model turn costs, from the provider's token counts. US dollars per million tokens
 * (input, output), from the providers' public price lists as of late 2026; edit when they change.
 * A model not listed (a self-hosted one, say) costs 0, and the start-up log says so.
 */
const PER_MILLION: Record<string, { input: number; output: number }> = {
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1': { input: 2, output: 8 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
};

/** The longest listed name the model's name starts with (`gpt-4o-mini-2024-07-18` is `gpt-4o-mini`). */
export function modelPrice(model: string): { input: number; output: number } | undefined {
  const name = model.toLowerCase();
  const match = Object.keys(PER_MILLION).filter((k) => name === k || name.startsWith(`${k}-`)).sort((a, b) => b.length - a.length)[0];
  return match ? PER_MILLION[match] : undefined;
}

export function modelCost(model: string, inputTokens: number, outputTokens: number): number {
  const price = modelPrice(model);
  if (!price) return 0;
  return Math.round(((inputTokens * price.input + outputTokens * price.output) / 1_000_000) * 1e8) / 1e8;
}
