//! Compile-fail cases (`tests/ui/*.rs`, each with the `.stderr` it must produce) and cases
//! that must compile (`tests/pass/*.rs`). Bless new output with `TRYBUILD=overwrite`, then
//! review the `.stderr` diff like code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");
}
