-- residency.gdpr: personal data stays in its jurisdiction.
--
-- EU personal data (data class `pii`) is processed in the EU only; UK personal data
-- (`uk-pii`, the open-banking product) in the UK only. At request time a request is forbidden
-- when one side handles the class and the other side (a service or an external host) may run
-- outside the jurisdiction, in either direction; a peer running in several regions counts as
-- outside when any of them is (docs/policy-language.md, "Residency").
--
-- At audit time the same rules find the leaks the routes allow: the failover of auth-accounts
-- to accounts@us-prod-1 (acme README #2), storefront -> recommendations -> ml-scoring
-- (#3), kyc -> api.verifid.eu (#11).

policy "residency.gdpr" {
  version = "2.1.0",
  kind = "residency",
  enforcement = "hard",
  severity = "critical",
  controls = { "GDPR-Art44", "GDPR-Art46", "UK-GDPR-Art44", "ISO27001-A.18.1.4" },
  description = "EU personal data stays in the EU; UK personal data stays in the UK",
}

residency "pii-stays-in-eu" {
  data = "pii",
  stay_in = "EU",
  message = "EU personal data (pii) is processed in the EU only",
}

residency "uk-pii-stays-in-uk" {
  data = "uk-pii",
  stay_in = "UK",
  message = "UK personal data (uk-pii) is processed in the UK only",
}
