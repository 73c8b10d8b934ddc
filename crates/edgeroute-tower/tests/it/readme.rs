//! The root README's "Embedding in a gateway" code is the code of the examples, which `cargo
//! test` builds as examples and this binary compiles and runs as modules: a README edit that is
//! not mirrored in an example, or the other way round, fails here.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

fn excerpt(file: &str, tag: &str) -> String {
    let s = read(file);
    let begin = format!("// README:begin {tag}\n");
    let a = s.find(&begin).unwrap() + begin.len();
    let b = s.find(&format!("// README:end {tag}")).unwrap();
    s[a..b].trim_end().to_owned()
}

fn readme_blocks() -> Vec<String> {
    let readme = read("../../README.md");
    let start = readme
        .find("## Embedding in a gateway")
        .expect("README has the section");
    let section = &readme[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let section = &section[..end];
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(i) = rest.find("```rust\n") {
        let body = &rest[i + 8..];
        let j = body.find("```").unwrap();
        blocks.push(body[..j].trim_end().to_owned());
        rest = &body[j + 3..];
    }
    blocks
}

#[test]
fn readme_examples_are_the_compiled_examples() {
    let blocks = readme_blocks();
    assert_eq!(blocks.len(), 2, "a tower and a pingora example");
    assert_eq!(
        blocks[0],
        excerpt("examples/tower_layer.rs", "tower"),
        "README tower example differs from examples/tower_layer.rs"
    );
    assert_eq!(
        blocks[1],
        excerpt("examples/pingora_filter.rs", "pingora"),
        "README pingora example differs from examples/pingora_filter.rs"
    );
}

#[path = "../../examples/tower_layer.rs"]
mod tower_example;

#[cfg(feature = "pingora")]
#[path = "../../examples/pingora_filter.rs"]
mod pingora_example;

/// Runs the tower example's code (it is compiled into this test binary too): its assertions hold.
#[tokio::test]
async fn tower_example_runs() {
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/aybiza.toml");
    tower_example::run(&policy).await.unwrap();
}

/// Runs the pingora example: a real pingora server on loopback in front of a local upstream,
/// answering a probe and a preflight in `request_filter` and proxying an API call with the
/// policy's header edits (feature `pingora`, which CI enables).
#[cfg(feature = "pingora")]
#[test]
fn pingora_example_runs() {
    pingora_example::demo().unwrap();
}
