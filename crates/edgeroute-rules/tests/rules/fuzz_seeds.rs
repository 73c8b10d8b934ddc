//! The fuzz property (`edgeroute_rules::fuzz::check`) as an ordinary test, over the seed
//! corpus in `testdata/fuzz-seeds/` and every expression of the conformance corpus.

use std::path::Path;

#[test]
fn fuzz_property_holds_on_the_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz-seeds");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        edgeroute_rules::fuzz::check(&data);
        n += 1;
    }
    assert!(n >= 10, "only {n} seeds");
}

#[test]
fn fuzz_property_holds_on_the_conformance_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let value: toml::Value =
                toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for case in value["case"].as_array().unwrap() {
                edgeroute_rules::fuzz::check(case["expr"].as_str().unwrap().as_bytes());
            }
        }
    }
}
