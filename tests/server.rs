mod support;
#[test]
fn stub() {}
