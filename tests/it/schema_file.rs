//! `schema.graphql` is the contract front-end developers read: it must be
//! exactly the schema the server serves.

#[test]
fn schema_file_matches_the_served_schema() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    let served = ambito::graphql::sdl();
    assert!(
        on_disk == served,
        "schema.graphql differs from the served schema: run `cargo run -- export-schema -o schema.graphql`"
    );
}
