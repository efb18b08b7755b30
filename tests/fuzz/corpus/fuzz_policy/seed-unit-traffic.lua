policy "t.traffic" { version = "0.3.0-beta.1", kind = "traffic" }
require_mtls "strict" {}
