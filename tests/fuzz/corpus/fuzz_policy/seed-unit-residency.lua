policy "t.residency" { version = "2.1.0", kind = "residency" }
residency "pii-eu" { data = "pii", stay_in = "EU", message = "pii stays in the EU" }
