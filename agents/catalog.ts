/**
 * The 28 agents of ../shared/spec/agents.md, by name. Those with a definition are registered in
 * agents/index.ts; the others are listed (GET /api/v1/agents) as not yet available and refused
 * with a 409 when someone asks to run them.
 */
export const AGENT_CATALOG = [
  { name: 'MultiChannelHub', summary: 'Every inbound message: language, intent and entities; routes to a flow or the human queue' },
  { name: 'ContentMaster', summary: 'Tour descriptions, email copy and social posts in the requested languages from catalog data' },
  { name: 'CompetitiveIntel', summary: 'Daily comparison of departure prices with competitor price observations' },
  { name: 'CustomerProphet', summary: 'Churn risk, lifetime value and next best action per customer' },
  { name: 'ExperienceCurator', summary: 'A bookable itinerary from the catalog within budget, dates, interests and party' },
  { name: 'RevenueMaximizer', summary: 'Daily price recommendation per departure from its load against the booking curve' },
  { name: 'SocialSentiment', summary: 'Sentiment and topics of reviews and mentions; alerts on a negative spike' },
  { name: 'BookingOptimizer', summary: 'Funnel statistics, abandoned-booking recovery and suggested experiments' },
  { name: 'DemandForecaster', summary: 'Weekly 90-day demand forecast per tour with intervals' },
  { name: 'CyberSentinel', summary: 'Brute force, credential stuffing and token abuse in the auth and API events; temporary blocks' },
  { name: 'FraudGuardian', summary: 'A fraud score for every payment attempt: go on, review, or refuse' },
  { name: 'DataPrivacy', summary: 'Data-subject export and erasure, consent audit and retention sweeps' },
  { name: 'MarketIntel', summary: 'Monthly source markets, emerging destinations and lead-time shifts' },
  { name: 'RegulatoryWatch', summary: 'Travel-document requirements by nationality and destination' },
  { name: 'QualityGuardian', summary: 'Weekly supplier quality score from reviews, incidents and failed confirmations' },
  { name: 'ContractAnalyzer', summary: 'Release days, cancellation terms, rates and validity from supplier contracts' },
  { name: 'SupplyChain', summary: 'A supplier failure: the affected bookings, alternatives, rebooking after approval' },
  { name: 'PartnershipScout', summary: 'Monthly partner ranking and commission-tier proposals' },
  { name: 'RiskManager', summary: 'Daily risk score and go/no-go per departure; cancelling needs approval' },
  { name: 'EcoImpact', summary: 'CO2e of itineraries per transport mode and the offset cost' },
  { name: 'CulturalGuardian', summary: 'Daily visitor caps per site across departures, off-peak alternatives, etiquette' },
  { name: 'AccessibilityChampion', summary: "Passengers' declared needs against the tour's accessibility features" },
  { name: 'EthicsMonitor', summary: 'Weekly supplier ethics checklist and the tours using non-compliant suppliers' },
  { name: 'WellnessAdvisor', summary: 'Health and safety advice for the itinerary' },
  { name: 'CommunityImpact', summary: 'Monthly share of spend with local suppliers and guides per tour' },
  { name: 'CrisisManager', summary: 'An incident: the travellers there, notices, acknowledgements, escalation of the silent' },
  { name: 'DigitalWellness', summary: 'Quiet hours and digest mode for messages during a trip' },
  { name: 'EnvironmentalImpact', summary: 'Water, waste and biodiversity sensitivity and a sustainability score per tour' },
] as const;

export type AgentName = (typeof AGENT_CATALOG)[number]['name'];

export const AGENT_NAMES: readonly AgentName[] = AGENT_CATALOG.map((a) => a.name);

export function isAgentName(name: string): name is AgentName {
  return (AGENT_NAMES as readonly string[]).includes(name);
}
