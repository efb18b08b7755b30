policy "guide.empty" { version = "1.0.0", kind = "rbac" }
