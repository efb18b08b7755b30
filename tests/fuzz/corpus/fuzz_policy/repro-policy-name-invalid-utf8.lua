policy "t.tra›™" { version = "1.0.0", kind = "traffic" }
require_mtls "strict" {}
