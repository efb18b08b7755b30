policy "gdpr" { version = "1.0.0", kind = "residency" }
residency "pii-stays-in-eu" { data = "pii", stay_in = "EU", message = "EU personal data stays in the EU" }
